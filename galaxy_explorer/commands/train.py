"""``galaxy-explorer train``: the command line of diffusion training (``train/train_diffusion.py`` is the same);
it only parses arguments into a ``TrainConfig`` for ``galaxy_explorer.training.diffusion.train``."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train the redshift-conditioned diffusion model",
        description="Train the conditional diffusion model on the built-in synthetic survey (default) or a "
                    "GalaxiesML-schema HDF5 file. Under torchrun, trains on several processes with DDP.")
    add_training_arguments(p)
    p.set_defaults(func=run)


def add_training_arguments(parser) -> None:
    from galaxy_explorer.commands import arguments
    from galaxy_explorer.diffusion.prediction import PREDICTIONS
    from galaxy_explorer.diffusion.schedule import SCHEDULE_KINDS
    from galaxy_explorer.diffusion.unet import PRESETS
    from galaxy_explorer.training.config import LOSS_WEIGHTINGS, TrainConfig

    defaults = {f.name: f.default for f in fields(TrainConfig)}
    add = parser.add_argument
    add("--out", required=True, type=Path, metavar="DIR", help="run directory (checkpoint, state, sample grids, log)")
    add("--preset", default=defaults["preset"], choices=tuple(PRESETS), help="network size (default: %(default)s)")
    add("--steps", type=int, default=defaults["steps"], help="total optimizer steps (default: %(default)s)")
    add("--batch-size", type=int, default=defaults["batch_size"], help="images per step per process (default: %(default)s)")
    add("--lr", type=float, default=defaults["lr"], help="AdamW learning rate after warm-up (default: %(default)s)")
    add("--warmup-steps", type=int, default=defaults["warmup_steps"], help="linear learning-rate warm-up (default: %(default)s)")
    add("--weight-decay", type=float, default=defaults["weight_decay"], help="AdamW weight decay (default: %(default)s)")
    add("--ema-decay", type=float, default=defaults["ema_decay"], help="EMA decay of the saved weights (default: %(default)s)")
    add("--prediction", default=defaults["prediction"], choices=PREDICTIONS,
        help="network target: v (default) or eps (as in the seed paper)")
    add("--schedule", default=defaults["schedule"], choices=SCHEDULE_KINDS, help="noise schedule (default: %(default)s)")
    add("--redshift-noise", type=float, default=defaults["redshift_noise"],
        help="std of Gaussian noise added to the redshift condition (default: %(default)s)")
    add("--condition-dropout", type=float, default=defaults["condition_dropout"],
        help="probability of replacing each condition by its null embedding (enables guidance; default: %(default)s)")
    add("--labels-free-dropout", type=float, default=defaults["labels_free_dropout"],
        help="share of examples whose labels (every condition after redshift) are all dropped together, on top "
             "of --condition-dropout: trains the labels-free sampling the app opens on (default: %(default)s)")
    add("--loss-weighting", default=defaults["loss_weighting"], choices=LOSS_WEIGHTINGS,
        help="weighting of the loss over noise levels: uniform or min-snr (Hang et al. 2023; default: %(default)s)")
    add("--min-snr-gamma", type=float, default=defaults["min_snr_gamma"],
        help="the SNR cap of --loss-weighting min-snr (default: %(default)s)")
    add("--flat-redshift-fraction", type=float, default=defaults["flat_redshift_fraction"],
        help="share of each synthetic-survey batch drawn uniformly in redshift, other properties given z "
             "(feeds the sparse high-z end; default: %(default)s)")
    add("--max-minutes", type=float, default=None,
        help="time budget: stop and save at the first step past it, even before --steps (default: none)")
    add("--condition", dest="extra_conditions", action="append", default=[], metavar="COLUMN",
        help="a further condition: a 1-D column of the survey file (repeatable)")
    add("--data", default=None, metavar="FILE",
        help="GalaxiesML-schema HDF5 file, or 'synthetic': the built-in synthetic survey generated on the fly "
             "(the default)")
    add("--seed", type=arguments.seed, default=defaults["seed"], help="run seed, 0 to 2**63-1 (default: %(default)s)")
    add("--device", default=defaults["device"], help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    add("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    add("--checkpoint-every", type=int, default=defaults["checkpoint_every"], help="steps between checkpoints (default: %(default)s)")
    add("--sample-every", type=int, default=defaults["sample_every"], help="steps between sample grids, 0 for none (default: %(default)s)")
    add("--log-every", type=int, default=defaults["log_every"], help="steps between progress lines (default: %(default)s)")
    add("--normalization-sample", type=int, default=defaults["normalization_sample"],
        help="images used to fit the normalization (default: %(default)s)")
    add("--no-bf16", action="store_true", help="train in fp32 on GPU too")
    add("--resume", action="store_true", help="continue the run in --out from its saved state")
    add("--overwrite", action="store_true",
        help="start a new run in an --out that already holds a run or a model, replacing them")
    add("--init-from", default=None, metavar="CHECKPOINT",
        help="start a new run from this diffusion checkpoint's weights, normalization and step count "
             "(e.g. assets/diffusion-small.safetensors to train it further); the optimizer starts afresh")


def config_from_args(args):
    from galaxy_explorer.output_path import check_output_folder
    from galaxy_explorer.training.config import TrainConfig

    check_output_folder(args.out, (), overwrite=True)  # a file, or a place that cannot be written: refuse now
    return TrainConfig(
        out_dir=args.out, preset=args.preset, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        warmup_steps=args.warmup_steps, weight_decay=args.weight_decay, ema_decay=args.ema_decay,
        prediction=args.prediction, schedule=args.schedule, redshift_noise=args.redshift_noise,
        condition_dropout=args.condition_dropout, labels_free_dropout=args.labels_free_dropout, conditions=("redshift", *args.extra_conditions),
        loss_weighting=args.loss_weighting, min_snr_gamma=args.min_snr_gamma,
        flat_redshift_fraction=args.flat_redshift_fraction, max_minutes=args.max_minutes,
        data=args.data, seed=args.seed, device=args.device, threads=args.threads,
        checkpoint_every=args.checkpoint_every, sample_every=args.sample_every, log_every=args.log_every,
        normalization_sample=args.normalization_sample, resume=args.resume, overwrite=args.overwrite, init_from=args.init_from,
        bf16=not args.no_bf16)


def run(args) -> int:
    from galaxy_explorer.training.diffusion import train

    result = train(config_from_args(args))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"checkpoint: {result.checkpoint} (step {result.step}, {result.images_seen} images seen)")
    return 0
