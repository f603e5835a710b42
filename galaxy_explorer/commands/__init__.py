"""Sub-commands of ``galaxy-explorer``; each module provides ``register(subparsers)`` (see ``galaxy_explorer.cli``)."""

from __future__ import annotations

import sys
from typing import Iterable


def print_notes(command: str, notes: Iterable[str]) -> None:
    """One line on stderr per note (a value moved onto the training range, a stale file removed, …)."""
    for note in notes:
        print(f"galaxy-explorer {command}: note: {note}", file=sys.stderr)
