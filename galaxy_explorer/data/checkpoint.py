"""The project's checkpoint format: one safetensors file holding the weights and, in its header's
``__metadata__`` (key ``galaxy_explorer``), the JSON description of what they are.

Weights and description are written together in one atomic rename, so a crash can never pair the weights of one
step with the description of another. ``model.json`` beside ``model.safetensors`` is a readable copy, written after
the weights; loading reads the header and refuses a copy that disagrees with it. Checkpoints written before the
description moved into the header (the two-file format: no header key, description only in the ``.json``) still
load. Loading never unpickles: safetensors holds raw tensors only, and a ``.pt``/``.pth``/``.ckpt`` file
(pickle-based) is refused.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import torch

from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.errors import CheckpointError

FORMAT_NAME = "galaxy-explorer-checkpoint"
FORMAT_VERSION = 1
HEADER_KEY = "galaxy_explorer"  # the safetensors __metadata__ entry that holds the JSON description
# A save elsewhere (a training run) can replace weights and copy between our two reads: read again before refusing.
READ_ATTEMPTS, READ_RETRY_S = 3, 0.1
_T = TypeVar("_T")


class StaleCopyError(CheckpointError):
    """The readable ``.json`` copy disagrees with the description in the safetensors header."""
_PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin"}


def metadata_path_for(weights_path: str | os.PathLike) -> Path:
    """``model.safetensors`` -> ``model.json``."""
    return Path(weights_path).with_suffix(".json")


def resolve_weights_path(path: str | os.PathLike) -> Path:
    """Accept either the ``.safetensors`` file or its ``.json`` companion; return the weights path."""
    path = Path(path)
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: refusing to load a pickle-based checkpoint (suffix {path.suffix!r}); "
            "Galaxy Explorer loads only safetensors weights with a JSON description"
        )
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: expected a '.safetensors' checkpoint file (with a '.json' beside it)")
    return path


def save_checkpoint(
    weights_path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]
) -> Path:
    """Write weights with their description in the header (one atomic rename), then the readable ``.json`` copy."""
    from safetensors.torch import save_file

    weights_path = resolve_weights_path(weights_path)
    contiguous = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **dict(metadata)}
    header_text = json.dumps(document, sort_keys=False, allow_nan=False)
    with atomic_path(metadata_path_for(weights_path)) as tmp_json:
        tmp_json.write_text(json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n")
        with atomic_path(weights_path) as tmp_weights:  # renamed first: the header is the record
            save_file(contiguous, str(tmp_weights), metadata={HEADER_KEY: header_text})
    return weights_path


def _read_safetensors(weights_path: Path, device: str | None) -> tuple[str | None, dict[str, torch.Tensor]]:
    """The header's JSON description (None for a two-file checkpoint) and, if ``device``, every tensor: both from
    one open file, so a save that replaces the file meanwhile cannot mix two versions.

    Not through ``safetensors.safe_open``: it opens the path more than once, so a file replaced in between gives
    one version's header with the next one's size ("smaller than the required mapping size"; 4% of reads of a file
    replaced in a loop here). A training run saving while the app or a command reads is that case."""
    from safetensors import SafetensorError
    from safetensors.torch import load as tensors_from_bytes

    if not weights_path.exists():
        raise CheckpointError(f"{weights_path}: checkpoint weights not found")
    try:
        with open(weights_path, "rb") as file:
            header, header_bytes = _safetensors_header(file, weights_path)
            tensors = {}
            if device:
                data = header_bytes + file.read()
                tensors = {name: tensor.to(device) for name, tensor in tensors_from_bytes(data).items()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights_path}: not a readable safetensors file ({exc})") from exc
    metadata = header.get("__metadata__") or {}
    return metadata.get(HEADER_KEY), tensors


def _safetensors_header(file, weights_path: Path) -> tuple[dict, bytes]:
    """A safetensors file's JSON header (an 8-byte little-endian length, then the JSON) and the bytes read."""
    prefix = file.read(8)
    if len(prefix) < 8:
        raise ValueError(f"{len(prefix)} bytes, shorter than a safetensors header")
    length = int.from_bytes(prefix, "little")
    # Checked before reading: any other file's first 8 bytes read as a length of up to 2**64, and reading that
    # much would fail with a MemoryError that names nothing.
    available = os.fstat(file.fileno()).st_size - len(prefix)
    if length > available:
        raise ValueError(f"the header says {length} bytes of JSON, the file holds {available}")
    text = file.read(length)
    header = json.loads(text)
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header, prefix + text


def _header_text(weights_path: Path) -> str | None:
    return _read_safetensors(weights_path, None)[0]


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{source}: not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{source}: key 'format' must be {FORMAT_NAME!r}; this is not a Galaxy Explorer checkpoint")
    if document.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: key 'format_version' is {document.get('format_version')!r}, this version reads {FORMAT_VERSION}"
        )
    return document


def _first_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return key
    return ""


def load_metadata(weights_path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's description: from the safetensors header (refusing a ``.json`` copy that disagrees), or
    from the ``.json`` of a two-file checkpoint."""
    weights_path = resolve_weights_path(weights_path)
    return _consistent(lambda: _description(weights_path, _header_text(weights_path)))


def _consistent(read: Callable[[], _T]) -> _T:
    """``read()``, again after a short wait if the copy disagreed (a save may have been half-way through
    replacing the pair); a disagreement that stays is refused."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return read()
        except StaleCopyError:
            if attempt == READ_ATTEMPTS - 1:
                raise
            time.sleep(READ_RETRY_S)
    raise AssertionError("unreachable")


def _description(weights_path: Path, header_text: str | None) -> dict[str, Any]:
    json_path = metadata_path_for(weights_path)
    if header_text is None:  # the two-file format
        if not json_path.exists():
            raise CheckpointError(f"{json_path}: checkpoint description not found (expected beside "
                                  f"{weights_path.name}, whose header holds none)")
        return _parse(_read_text(json_path), str(json_path))
    document = _parse(header_text, f"{weights_path} (metadata header)")
    if json_path.exists():
        copy = _parse(_read_text(json_path), str(json_path))
        if copy != document:
            raise StaleCopyError(
                f"{json_path}: disagrees with the description inside {weights_path.name} (key "
                f"{_first_difference(copy, document)!r}); the .json is only a copy (an interrupted save, or an "
                "edit?): delete it or restore the matching pair")
    return document


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint description ({exc})") from exc


def metadata_source(weights_path: str | os.PathLike) -> str:
    """Where a checkpoint's description is read from, for error messages: its header, or a two-file ``.json``."""
    weights_path = resolve_weights_path(weights_path)
    if _header_text(weights_path) is None:
        return str(metadata_path_for(weights_path))
    return f"{weights_path} (metadata header)"


def load_tensors(weights_path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read the safetensors weights (no pickle involved); errors name the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_path = resolve_weights_path(weights_path)
    if not weights_path.exists():
        raise CheckpointError(f"{weights_path}: checkpoint weights not found")
    try:
        return load_file(str(weights_path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights_path}: not a readable safetensors file ({exc})") from exc


def load_checkpoint(
    weights_path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return ``(tensors, metadata)``, both read from one open file."""
    weights_path = resolve_weights_path(weights_path)

    def read():
        header_text, tensors = _read_safetensors(weights_path, str(device))
        return tensors, _description(weights_path, header_text)

    return _consistent(read)


def load_state_into(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], source: str | os.PathLike) -> None:
    """Copy ``tensors`` into ``module``; a missing, unexpected or mis-shaped tensor gets an error naming it."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        raise CheckpointError(f"{source}: tensor {missing[0]!r} is missing ({len(missing)} missing in all)")
    if unexpected:
        raise CheckpointError(f"{source}: unexpected tensor {unexpected[0]!r} ({len(unexpected)} not in the model)")
    for name, reference in expected.items():
        if tuple(tensors[name].shape) != tuple(reference.shape):
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {tuple(tensors[name].shape)}, "
                f"the model expects {tuple(reference.shape)}"
            )
    module.load_state_dict({name: t.to(reference.dtype) for (name, t), reference in
                            zip(((n, tensors[n]) for n in expected), expected.values())})
