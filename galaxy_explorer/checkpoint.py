"""The project's checkpoint format: weights in safetensors, everything else in a JSON file beside them.

A checkpoint named ``model.safetensors`` has its description in ``model.json``. Loading never unpickles:
safetensors holds raw tensors only, and a ``.pt``/``.pth``/``.ckpt`` file (pickle-based) is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from .atomic import atomic_path
from .errors import CheckpointError

FORMAT_NAME = "galaxy-explorer-checkpoint"
FORMAT_VERSION = 1
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
    """Write weights and metadata atomically (each to a temporary file, then renamed into place)."""
    from safetensors.torch import save_file

    weights_path = resolve_weights_path(weights_path)
    contiguous = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **dict(metadata)}
    text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False)
    with atomic_path(weights_path) as tmp_weights:
        save_file(contiguous, str(tmp_weights))
    with atomic_path(metadata_path_for(weights_path)) as tmp_json:
        tmp_json.write_text(text + "\n")
    return weights_path


def load_metadata(weights_path: str | os.PathLike) -> dict[str, Any]:
    """Read and check the JSON description of a checkpoint."""
    weights_path = resolve_weights_path(weights_path)
    json_path = metadata_path_for(weights_path)
    if not json_path.exists():
        raise CheckpointError(f"{json_path}: checkpoint description not found (expected beside {weights_path.name})")
    try:
        document = json.loads(json_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{json_path}: not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{json_path}: key 'format' must be {FORMAT_NAME!r}; this is not a Galaxy Explorer checkpoint")
    if document.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{json_path}: key 'format_version' is {document.get('format_version')!r}, this version reads {FORMAT_VERSION}"
        )
    return document


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
    """Return ``(tensors, metadata)``."""
    metadata = load_metadata(weights_path)
    return load_tensors(weights_path, device), metadata


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
