"""Check an output location before any work starts: a command that would fail to write, or would replace a file
it was not asked to replace, says so at once instead of after minutes of generating.

``check_output_file`` and ``check_output_folder`` refuse (``OutputPathError``, naming the path and the option):
the path being a folder where a file is expected or the reverse, a parent that is a file, a folder that cannot be
written (found by creating and removing a probe file, which also works for root and read-only mounts), and an
existing file unless ``overwrite``. They also remove hidden partial files that crashed runs left under the same
name (``atomic.remove_stale_partials``) and return notes saying so.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable

from galaxy_explorer.atomic import remove_stale_partials
from galaxy_explorer.errors import OutputPathError


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def _require_writable_folder(folder: Path, option: str, target: Path) -> None:
    """``folder`` exists: it must be a folder we can create files in."""
    if not folder.is_dir():
        raise OutputPathError(f"{option} {target}: cannot be created because {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".galaxy-explorer-write-probe.", dir=folder)
    except OSError as exc:
        raise OutputPathError(f"{option} {target}: cannot write in {folder} ({exc.strerror or exc})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _require_parent(path: Path, option: str) -> None:
    """The parent folder of ``path`` exists and is writable, or can be created."""
    parent = path.parent if str(path.parent) else Path(".")
    _require_writable_folder(_nearest_existing(parent), option, path)


def check_output_file(path: str | os.PathLike, *, overwrite: bool, option: str = "--out") -> list[str]:
    """Refuse an output file name that cannot be written or would replace a file unasked; returns notes."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{option} {path}: is a folder; expected a file name")
    if str(path).endswith(os.sep):
        raise OutputPathError(f"{option} {path}: ends in {os.sep!r}; expected a file name")
    _require_parent(path, option)
    if os.path.lexists(path) and not overwrite:
        raise OutputPathError(f"{option} {path}: already exists; pass --overwrite to replace it")
    return _cleanup_notes([path])


def check_output_folder(path: str | os.PathLike, produces: Iterable[str], *, overwrite: bool,
                        option: str = "--out") -> list[str]:
    """Refuse an output folder that cannot be written, or that holds one of the files ``produces`` names
    (unless ``overwrite``); returns notes."""
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise OutputPathError(f"{option} {path}: is a file; expected a folder (it will be created if missing)")
    if path.is_dir():
        _require_writable_folder(path, option, path)
    else:
        _require_parent(path, option)
    existing = [name for name in produces if os.path.lexists(path / name)]
    if existing and not overwrite:
        raise OutputPathError(f"{option} {path}: already holds {existing[0]}; pass --overwrite to replace it "
                              "or choose another folder")
    return _cleanup_notes([path / name for name in produces])


def _cleanup_notes(finals: Iterable[Path]) -> list[str]:
    notes = []
    for final in finals:
        for removed in remove_stale_partials(final):
            notes.append(f"removed {removed}, a partial file left by an interrupted run")
    return notes
