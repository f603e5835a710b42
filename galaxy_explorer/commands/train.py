"""``galaxy-explorer train``: the command line of diffusion training (``train/train_diffusion.py`` is the same);
it only parses arguments into a ``TrainConfig`` for ``galaxy_explorer.training.diffusion.train``."""

from __future__ import annotations

import os


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train the redshift-conditioned diffusion model",
        description="Train the conditional diffusion model on the built-in synthetic survey (default) or a "
                    "GalaxiesML-schema HDF5 file. Under torchrun, trains on several processes with DDP.")
    add_training_arguments(p)
    p.set_defaults(func=run)


def add_training_arguments(parser) -> None:
    """Every option of ``TrainConfig`` (``--out`` is its run directory)."""
    training_arguments().add_to(parser)


def training_arguments():
    """The options of ``TrainConfig``, as this command (and ``train/train_diffusion.py``) takes them: all of them."""
    from galaxy_explorer.commands.config_arguments import ConfigArguments
    from galaxy_explorer.training.config import TrainConfig

    return ConfigArguments(TrainConfig)


def config_from_args(args):
    from galaxy_explorer.output_path import check_output_folder
    from galaxy_explorer.training.config import TrainConfig

    check_output_folder(args.out, (), overwrite=True)  # a file, or a place that cannot be written: refuse now
    return TrainConfig(**training_arguments().kwargs(args))


def run(args) -> int:
    from galaxy_explorer.training.diffusion import train

    result = train(config_from_args(args))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"checkpoint: {result.checkpoint} (step {result.step}, {result.images_seen} images seen)")
    return 0
