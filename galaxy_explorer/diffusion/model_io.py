"""Diffusion checkpoints: the network's weights in safetensors, and a JSON description (in the file's header, with
a readable ``.json`` copy beside it; see ``galaxy_explorer.data.checkpoint``) that says how to use them.

The description holds the architecture, the condition names and their training
ranges, the normalization between survey flux and model space, the noise schedule, a description of the training
data, and the training step and number of images seen. The weights are the EMA weights, the ones to sample with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.data.checkpoint import load_checkpoint, load_state_into, metadata_source, resolve_weights_path, save_checkpoint
from galaxy_explorer.errors import CheckpointError
from galaxy_explorer.diffusion.prediction import PREDICTIONS
from galaxy_explorer.diffusion.schedule import NoiseSchedule
from galaxy_explorer.diffusion.unet import ConditionalUNet, UNetConfig

MODEL_KIND = "conditional-ddpm"


@dataclass
class DiffusionCheckpoint:
    """A loaded diffusion checkpoint: the network (eval mode), its schedule and normalization, and the JSON."""

    path: Path
    model: ConditionalUNet
    schedule: NoiseSchedule
    normalization: Any  # galaxy_explorer.data.normalization.Normalization
    metadata: dict[str, Any]
    prediction: str  # what the network outputs: 'v' or 'eps' (see prediction.py)


def checkpoint_metadata(config: UNetConfig, schedule: NoiseSchedule, normalization, *, preset: str,
                        data: Mapping[str, Any], training: Mapping[str, Any],
                        prediction: str = "v", condition_dropout: float = 0.0,
                        labels_free_dropout: float = 0.0) -> dict[str, Any]:
    """The JSON description of a diffusion checkpoint (without the format keys the writer adds)."""
    return {
        "model": MODEL_KIND,
        "preset": preset,
        "bands": list(BANDS),
        "image_shape": [config.image_channels, config.image_size, config.image_size],
        "architecture": config.to_dict(),
        "conditions": {
            "names": list(config.condition_names),
            "training_ranges": {name: list(r) for name, r in zip(config.condition_names, config.condition_ranges)},
            # Classifier-free guidance needs a model that saw its null condition in training.
            "dropout_probability": float(condition_dropout),
            # On top of it: the share of examples with every label (all but redshift) dropped together.
            "labels_free_dropout_probability": float(labels_free_dropout),
        },
        "normalization": normalization.to_dict(),
        "schedule": schedule.to_dict(),
        "prediction": prediction,
        "weights": "ema",
        "data": dict(data),
        "training": dict(training),
    }


WEIGHTS_DTYPES = {"float32": torch.float32, "float16": torch.float16}
FLOAT16_MAX = float(torch.finfo(torch.float16).max)


def save_diffusion_checkpoint(path: str | os.PathLike, model: torch.nn.Module, metadata: Mapping[str, Any],
                              weights_dtype: str = "float32") -> Path:
    """Write ``model``'s weights and ``metadata`` atomically as ``path`` (.safetensors, description in its header)
    plus a readable .json copy.

    ``weights_dtype`` 'float16' stores the floating-point weights at half the size (for a larger preset under a
    transfer limit; the network's outputs move by ~1e-3 of their scale), recorded as the description's
    ``weights_dtype``; loading converts them back to float32 (``data.checkpoint.load_state_into``)."""
    if weights_dtype not in WEIGHTS_DTYPES:
        raise CheckpointError(f"{path}: weights dtype {weights_dtype!r} is not one of {tuple(WEIGHTS_DTYPES)}")
    dtype = WEIGHTS_DTYPES[weights_dtype]
    tensors = {name: t.detach().to(dtype) if t.is_floating_point() else t.detach()
               for name, t in model.state_dict().items()}
    if dtype == torch.float16:
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point() and float(tensor.detach().abs().max()) > FLOAT16_MAX:
                raise CheckpointError(f"{path}: tensor {name!r} holds values beyond float16's range "
                                      f"(±{FLOAT16_MAX:g}); save it with weights dtype float32")
    return save_checkpoint(path, tensors, {**metadata, "weights_dtype": weights_dtype})


def _require(metadata: Mapping[str, Any], key: str, kind: type, source: Path):
    if key not in metadata:
        raise CheckpointError(f"{source}: checkpoint description lacks key {key!r}")
    value = metadata[key]
    if not isinstance(value, kind):
        raise CheckpointError(f"{source}: key {key!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def load_diffusion_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> DiffusionCheckpoint:
    """Load weights and description; every inconsistency is a ``CheckpointError`` naming the file and key."""
    from galaxy_explorer.data.normalization import Normalization

    weights_path = resolve_weights_path(path)
    tensors, metadata = load_checkpoint(weights_path, device="cpu")
    source = metadata_source(weights_path)  # the header, or the .json of a two-file checkpoint
    if metadata.get("model") != MODEL_KIND:
        raise CheckpointError(f"{source}: key 'model' is {metadata.get('model')!r}, expected {MODEL_KIND!r} "
                              "(not a diffusion checkpoint)")
    config = UNetConfig.from_dict(_require(metadata, "architecture", dict, source), source=str(source))
    schedule = NoiseSchedule.from_dict(_require(metadata, "schedule", dict, source), source=str(source))
    try:
        normalization = Normalization.from_dict(_require(metadata, "normalization", dict, source))
    except CheckpointError:
        raise
    except Exception as exc:  # the normalization's own error names its key; add the file
        raise CheckpointError(f"{source}: invalid 'normalization' ({exc})") from exc
    prediction = _require(metadata, "prediction", str, source)
    if prediction not in PREDICTIONS:
        raise CheckpointError(f"{source}: key 'prediction' is {prediction!r}, expected one of {PREDICTIONS}")
    bands = _require(metadata, "bands", list, source)
    if len(bands) != config.image_channels:
        raise CheckpointError(f"{source}: key 'bands' lists {len(bands)} bands, the network has "
                              f"{config.image_channels} image channels")
    model = ConditionalUNet(config)
    load_state_into(model, tensors, weights_path)
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{weights_path}: tensor {name!r} holds NaN or infinite values")
    model.to(device).eval().requires_grad_(False)
    return DiffusionCheckpoint(weights_path, model, schedule, normalization, metadata, prediction)

