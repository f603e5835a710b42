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
import sys

from galaxy_explorer.commands.config_arguments import ConfigArguments
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.training.redshift_cnn import RedshiftTrainingConfig, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ConfigArguments(RedshiftTrainingConfig).add_to(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> RedshiftTrainingConfig:
    return RedshiftTrainingConfig(**ConfigArguments(RedshiftTrainingConfig).kwargs(args))


def main(argv: list[str] | None = None) -> int:
    config = config_from_args(build_parser().parse_args(argv))
    try:
        train(config)
    except GalaxyExplorerError as exc:
        print(f"train_redshift_cnn: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
