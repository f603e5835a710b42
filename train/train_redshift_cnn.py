#!/usr/bin/env python
"""Train the CNN redshift predictor used by ``galaxy-explorer evaluate``.

    # the shipped assets/redshift-cnn.safetensors (built-in synthetic survey, CPU, one thread):
    python train/train_redshift_cnn.py --steps 2500 --max-minutes 14 --threads 1
    # on GalaxiesML (validation file found beside the training file, or give --validation-data):
    python train/train_redshift_cnn.py --data 5x64x64_training_with_morphology.hdf5 --steps 20000 \\
        --out runs/redshift-cnn-galaxiesml.safetensors

All options map one to one onto ``galaxy_explorer.training.redshift_cnn.RedshiftTrainingConfig``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.training.redshift_cnn import RedshiftTrainingConfig, train


def build_parser() -> argparse.ArgumentParser:
    defaults = RedshiftTrainingConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=defaults.out, help="checkpoint to write (.safetensors; .json beside it)")
    parser.add_argument("--data", default=None,
                        help="GalaxiesML-schema training file (default: built-in synthetic survey)")
    parser.add_argument("--validation-data", default=None, help="validation file (default: see module docstring)")
    for field in dataclasses.fields(RedshiftTrainingConfig):
        if field.name in ("out", "data", "validation_data", "half_precision", "progress"):
            continue
        kind = float if field.name in ("learning_rate", "weight_decay", "max_minutes") else int
        parser.add_argument("--" + field.name.replace("_", "-"), type=kind, default=getattr(defaults, field.name))
    parser.add_argument("--fp32", action="store_true", help="store fp32 weights (default fp16)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k not in ("fp32", "no_progress")}
    config = RedshiftTrainingConfig(**values, half_precision=not args.fp32, progress=not args.no_progress)
    try:
        train(config)
    except GalaxyExplorerError as exc:
        print(f"train_redshift_cnn: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
