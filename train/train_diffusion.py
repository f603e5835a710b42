"""Train the conditional diffusion model; the same function as ``galaxy-explorer train``.

Examples:
    python train/train_diffusion.py --preset small --out runs/small              # built-in synthetic survey
    python train/train_diffusion.py --data 5x64x64_training_with_morphology.hdf5 --out runs/galaxiesml
    torchrun --nproc_per_node 4 train/train_diffusion.py --preset base --device cuda --out runs/base
"""

from __future__ import annotations

import argparse
import sys

from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.commands.train import add_training_arguments, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except GalaxyExplorerError as exc:
        print(f"train_diffusion: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("train_diffusion: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
