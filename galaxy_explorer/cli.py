"""``galaxy-explorer`` command line. Each sub-command lives in ``galaxy_explorer/commands/<name>.py``
and provides ``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.

Exit status: 0 done; 2 bad input (an option, a file, a value), with one line naming it; 1 a failure of the
system (disk full, …) or a bug, with one line; 130 interrupted. No traceback reaches the user unless ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from galaxy_explorer.errors import GalaxyExplorerError

COMMANDS = ("info", "mock", "train", "sample", "evaluate", "export", "augment")


class UsageError(Exception):
    """A command line that argparse refuses; ``main`` prints it in one line."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog, self.message = prog, message


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors reach ``main`` instead of exiting from inside the parser."""

    def error(self, message: str):
        raise UsageError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="galaxy-explorer",
        description="Explore a redshift-conditioned diffusion model of galaxy images.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"galaxy_explorer.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"galaxy_explorer.commands.{name}":
                continue  # sub-command not built in this version
            raise
        module.register(subparsers)
    for subparser in subparsers.choices.values():  # --debug after the command name too
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                               help="show the full traceback of an error")
    return parser


def _describe_os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    return f"{where}{exc.strerror or exc}"


def _one_line_warning(prefix: str):
    """Warnings as one line each ("<command>: warning: <message>"), without the source line Python adds."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prefix}: warning: {message}", file=sys.stderr)
    return show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{exc.prog}: error: {exc.message} (see {exc.prog} --help)", file=sys.stderr)
        return 2
    prefix = f"galaxy-explorer {args.command}"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(prefix)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        if isinstance(exc, GalaxyExplorerError):
            print(f"{prefix}: error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, OSError):
            print(f"{prefix}: error: {_describe_os_error(exc)}", file=sys.stderr)
            return 1
        print(f"{prefix}: internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
