"""``galaxy-explorer train``: train the diffusion model (a thin wrapper over ``galaxy_explorer.training.diffusion``)."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train the redshift-conditioned diffusion model",
        description="Train the conditional diffusion model on the built-in synthetic survey (default) or a "
                    "GalaxiesML-schema HDF5 file. Under torchrun, trains on several processes with DDP.")
    from ..training.diffusion import add_training_arguments

    add_training_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..training.diffusion import run_from_args

    return run_from_args(args)
