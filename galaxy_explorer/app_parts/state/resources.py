"""The model and the survey, loaded once per process and shared by every app session; the app's arguments.

Both live in a process-wide store keyed by the file's resolved path and modification time, so a retrained
checkpoint at the same path is picked up while an unchanged one is never loaded twice. Loading is serialised by
a lock per file: two browser tabs opening at once load the model once, and writing the built-in survey on the
first start does not hold up the model. (A plain dict rather than ``pn.state.cache``, which is the same per-process
dict, so that the controllers using this module need no Panel.)
"""

from __future__ import annotations

import argparse
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from galaxy_explorer.errors import CheckpointError, SurveyError
from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT, shipped_or_given

_STORE_LOCK = threading.Lock()
_SHARED: dict = {}
_MAKING: dict[tuple, threading.Lock] = {}
T = TypeVar("T")


def shared(key: tuple, make: Callable[[], T]) -> T:
    """The process-wide object under ``key``, made by ``make()`` the first time: once, whatever the threads, and
    without holding up threads that want other keys."""
    with _STORE_LOCK:
        if key in _SHARED:
            return _SHARED[key]
        making = _MAKING.setdefault(key, threading.Lock())
    with making:
        with _STORE_LOCK:
            if key in _SHARED:
                return _SHARED[key]
        value = make()
        with _STORE_LOCK:
            _SHARED[key] = value
        return value


@dataclass(frozen=True)
class AppArguments:
    checkpoint: Path | None  # None: the shipped checkpoint
    data: Path | None  # None: the built-in synthetic survey's test split
    steps: int | None = None  # sampler steps to start with (None: the app's default)
    grid_frames: int | None = None  # frames baked per seed (None: the app's default, 64)
    torch_threads: int = 1  # intra-op threads for the model (see configure_torch_threads)
    seed: int | None = None  # noise seed to start with


def parse_app_arguments(argv: list[str] | None) -> AppArguments:
    """Arguments after ``panel serve galaxy_explorer/app.py --args``; unknown ones are ignored (Panel's own)."""
    parser = argparse.ArgumentParser(prog="panel serve galaxy_explorer/app.py --args", add_help=False)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--grid-frames", type=int, default=None)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None)
    known, _ = parser.parse_known_args(argv or [])
    return AppArguments(known.checkpoint, known.data, known.steps, known.grid_frames, known.torch_threads,
                        known.seed)


def configure_torch_threads(threads: int) -> None:
    """Give the model ``threads`` intra-op threads (process-wide; the served app uses 1 by default).

    On a small CPU the event loop needs a core of its own to answer the slider, and torch's thread pool
    degrades badly when another process takes one of its cores: on the shared 2-core machine a small-preset
    denoising step took ~30 ms with one thread but 0.2-0.7 s with two. Sessions' workers still run in parallel,
    one thread each.
    """
    import torch

    if threads < 1:
        raise ValueError(f"--torch-threads must be at least 1, got {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _file_key(kind: str, path: Path) -> tuple:
    resolved = path.expanduser().resolve()
    stat = resolved.stat()
    return (kind, str(resolved), stat.st_mtime_ns, stat.st_size)


def checkpoint_path(path: str | Path | None) -> Path:
    """The checkpoint a user asked for (the shipped one when empty), or CheckpointError saying what is missing."""
    chosen = DEFAULT_DIFFUSION_CHECKPOINT if path in (None, "") else shipped_or_given(path)
    if not chosen.exists():
        if chosen == DEFAULT_DIFFUSION_CHECKPOINT:
            raise CheckpointError(
                f"the shipped model checkpoint {chosen} is missing: train one with 'galaxy-explorer train' "
                "(see README) or enter the path of a .safetensors checkpoint in the sidebar"
            )
        raise CheckpointError(f"no checkpoint at {chosen}: expected a .safetensors file with its .json beside it")
    return chosen


def load_generator(path: str | Path | None):
    """The diffusion Generator for ``path`` (shipped one when None), shared by all sessions of this process."""
    from galaxy_explorer.diffusion import Generator

    chosen = checkpoint_path(path)

    def make():
        generator = Generator.load(chosen, device="cpu")
        _MODEL_IDS[generator] = file_digest(chosen)
        return generator

    return shared(_file_key("generator", chosen), make)


def loaded_generator(path: str | Path | None):
    """The Generator for ``path`` if this process has loaded it already, else None (never loads)."""
    try:
        key = _file_key("generator", checkpoint_path(path))
    except (OSError, CheckpointError):
        return None
    with _STORE_LOCK:
        return _SHARED.get(key)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's contents (a 13 MB checkpoint: ~30 ms)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_MODEL_IDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def model_identity(generator) -> str:
    """What identifies a loaded model's weights in frame caches: the digest of its checkpoint file, so frames of a
    checkpoint retrained in place are never shown for the new one (the file's path for stand-in models)."""
    try:
        return _MODEL_IDS[generator]
    except (KeyError, TypeError):
        return str(getattr(generator, "checkpoint_path", ""))


def survey_path(path: str | Path | None) -> Path:
    """The survey a user asked for; the built-in SYNTHETIC survey's test split when empty."""
    if path in (None, ""):
        from galaxy_explorer.data.survey import builtin_survey_path

        return builtin_survey_path("testing")
    chosen = Path(path).expanduser()
    if not chosen.exists():
        raise SurveyError(f"no survey file at {chosen}: expected a GalaxiesML-schema HDF5 file")
    return chosen


def load_survey(path: str | Path | None):
    """The Survey for ``path`` (built-in synthetic test split when None), shared by all sessions."""
    from galaxy_explorer.data.survey import Survey

    chosen = survey_path(path)  # writes the built-in survey on first use (once, whatever the threads)
    return shared(_file_key("survey", chosen), lambda: Survey(chosen))
