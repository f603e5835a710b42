"""Write files so that a crash or an interrupt never leaves a half-written file under the final name.

A file being written lives beside its final name as ``.<stem>.pid<PID>.<random>.partial<suffix>`` and is renamed
into place when complete. ``kill -9`` (or a power cut) leaves that hidden file behind; the next write to the same
final name removes every such file whose process is gone (``remove_stale_partials``), so leaks do not pile up.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Iterator

from galaxy_explorer.errors import GalaxyExplorerError

# Partial files written before the process id was part of their name; removed once this old (no owner to ask).
LEGACY_PARTIAL_AGE_S = 3600.0


class DestinationExistsError(GalaxyExplorerError, FileExistsError):
    """The final name appeared while the file was being written, and replacing it was not allowed."""


def _partial_pattern(final_path: Path) -> re.Pattern:
    stem, suffix = re.escape(final_path.stem), re.escape(final_path.suffix)
    return re.compile(rf"\.{stem}\.(?:pid(?P<pid>\d+)\.)?[A-Za-z0-9_]+\.partial{suffix}")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_partials(final_path: str | os.PathLike) -> list[Path]:
    """Hidden partial files of ``final_path`` left by processes that no longer run (or, for old-style names
    without a process id, older than ``LEGACY_PARTIAL_AGE_S``)."""
    final_path = Path(final_path)
    folder = final_path.parent
    if not folder.is_dir():
        return []
    pattern = _partial_pattern(final_path)
    stale = []
    for entry in folder.iterdir():
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        if match["pid"] is not None:
            if not _process_alive(int(match["pid"])):
                stale.append(entry)
            continue
        with contextlib.suppress(FileNotFoundError):
            if time.time() - entry.stat().st_mtime > LEGACY_PARTIAL_AGE_S:
                stale.append(entry)
    return sorted(stale)


def remove_stale_partials(final_path: str | os.PathLike) -> list[Path]:
    """Delete the partial files ``stale_partials`` finds; return what was removed (for a note to the user)."""
    removed = []
    for path in stale_partials(final_path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def _no_clobber_rename(tmp_path: Path, final_path: Path) -> None:
    """Rename unless ``final_path`` exists (a hard link fails on an existing name; atomic on POSIX)."""
    try:
        os.link(tmp_path, final_path)
    except FileExistsError:
        raise DestinationExistsError(f"{final_path}: appeared while it was being written; not replaced "
                                     "(pass --overwrite to replace an existing file)") from None
    except OSError:  # file systems without hard links: check, then rename (a small race, no worse than before)
        if final_path.exists():
            raise DestinationExistsError(f"{final_path}: already exists; not replaced "
                                         "(pass --overwrite to replace an existing file)") from None
        os.replace(tmp_path, final_path)
        return
    tmp_path.unlink()


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only if the block succeeds.

    The temporary file lives in the same directory so the final rename is atomic on POSIX.
    It keeps the final suffix, because writers such as imageio and astropy choose the format from it.
    On any exception (KeyboardInterrupt included) the temporary file is removed and the exception re-raised,
    so a pre-existing file at ``final_path`` is left untouched. ``overwrite=False`` never replaces an existing
    ``final_path`` (``DestinationExistsError``), even one that appeared while the block ran.
    Stale partial files of the same final name from crashed runs are removed first.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final_path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final_path.stem}.pid{os.getpid()}.", suffix=f".partial{final_path.suffix}", dir=final_path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp_name)
    # mkstemp creates the file owner-only (0600); give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        if overwrite:
            os.replace(tmp_path, final_path)
        else:
            _no_clobber_rename(tmp_path, final_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
