"""``galaxy-explorer`` command line. Each sub-command lives in ``galaxy_explorer/commands/<name>.py``
and provides ``register(subparsers)``, which adds its parser and sets ``func(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import GalaxyExplorerError

COMMANDS = ("info", "mock", "train", "sample", "evaluate", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="galaxy-explorer",
        description="Explore a redshift-conditioned diffusion model of galaxy images.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"galaxy_explorer.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"galaxy_explorer.commands.{name}":
                continue  # sub-command not built in this version
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GalaxyExplorerError as exc:
        print(f"galaxy-explorer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"galaxy-explorer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
