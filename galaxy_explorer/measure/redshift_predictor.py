"""A small CNN that predicts a galaxy's redshift from its 5-band image (after Li et al. 2024's CNNRedshift).

The evaluation report feeds it real and generated galaxies alike: if the diffusion model has learnt what a galaxy
at redshift z looks like (colours, size, surface brightness), the predictor should recover z from generated
images about as well as from real ones. The shipped weights (``assets/redshift-cnn.safetensors``) were trained on
the built-in *synthetic* survey, so they judge models of that survey; train on GalaxiesML for real data
(``train/train_redshift_cnn.py --data``).

The network regresses log(1 + z): an error there is approximately the normalised residual dz = dz/(1+z) used by
the photo-z metrics, so the training loss weighs all redshifts alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.data.checkpoint import load_checkpoint, load_state_into, save_checkpoint
from galaxy_explorer.errors import CheckpointError
from galaxy_explorer.paths import DEFAULT_REDSHIFT_CHECKPOINT

MODEL_KIND = "redshift-cnn"
DEFAULT_ARCHITECTURE = {"in_channels": 5, "width": 16, "image_size": 64}


def _conv_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class RedshiftCNN(nn.Module):
    """Conv stages at 64, 32, 16 and 8 pixels, then global average and max pooling and a small MLP head.

    Max pooling keeps the brightest (central) pixels' colours, average pooling the extent; both carry redshift.
    Output: log(1 + z), shape (n,).
    """

    def __init__(self, in_channels: int = 5, width: int = 16, image_size: int = 64):
        super().__init__()
        self.in_channels, self.width, self.image_size = in_channels, width, image_size
        w = width
        self.features = nn.Sequential(
            _conv_block(in_channels, w, 1),
            _conv_block(w, 2 * w, 2),  # 32 px
            _conv_block(2 * w, 2 * w, 1),
            _conv_block(2 * w, 4 * w, 2),  # 16 px
            _conv_block(4 * w, 4 * w, 1),
            _conv_block(4 * w, 8 * w, 2),  # 8 px
            _conv_block(8 * w, 8 * w, 1),
        )
        self.head = nn.Sequential(nn.Linear(16 * w, 8 * w), nn.ReLU(inplace=True), nn.Linear(8 * w, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return self.head(pooled).squeeze(1)

    def architecture(self) -> dict[str, int]:
        return {"in_channels": self.in_channels, "width": self.width, "image_size": self.image_size}


def log1p_redshift(redshift: torch.Tensor | np.ndarray):
    """The regression target: log(1 + z)."""
    return torch.log1p(redshift) if isinstance(redshift, torch.Tensor) else np.log1p(redshift)


class RedshiftPredictor:
    """A trained :class:`RedshiftCNN` with the normalization it was trained with.

    ``predict(images)`` takes survey-flux images (n, 5, H, W) and returns redshifts (n,) as float64.
    """

    def __init__(self, network: RedshiftCNN, normalization, *, bands=BANDS, metadata: dict | None = None,
                 checkpoint_path: Path | None = None, device: str | torch.device = "cpu"):
        self.network = network.to(device).eval()
        self.normalization = normalization
        self.bands = tuple(bands)
        self.metadata = dict(metadata or {})
        self.checkpoint_path = checkpoint_path
        self.device = torch.device(device)

    # ------------------------------------------------------------------------------------------------ I/O
    @classmethod
    def load(cls, checkpoint: str | os.PathLike | None = None,
             device: str | torch.device = "cpu") -> "RedshiftPredictor":
        """Read a checkpoint (``None`` -> the shipped ``assets/redshift-cnn.safetensors``)."""
        from galaxy_explorer.data.normalization import Normalization

        path = Path(checkpoint) if checkpoint is not None else DEFAULT_REDSHIFT_CHECKPOINT
        tensors, metadata = load_checkpoint(path, device="cpu")
        if metadata.get("kind") != MODEL_KIND:
            raise CheckpointError(f"{path}: key 'kind' is {metadata.get('kind')!r}, expected {MODEL_KIND!r} "
                                  "(is this a diffusion checkpoint?)")
        for key in ("architecture", "normalization", "bands"):
            if key not in metadata:
                raise CheckpointError(f"{path}: key {key!r} missing from the checkpoint description")
        architecture = metadata["architecture"]
        try:
            network = RedshiftCNN(**{k: int(architecture[k]) for k in DEFAULT_ARCHITECTURE})
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: key 'architecture' is malformed ({exc}); expected keys like {DEFAULT_ARCHITECTURE}") from exc
        load_state_into(network, tensors, path)
        try:
            normalization = Normalization.from_dict(metadata["normalization"])
        except Exception as exc:
            raise CheckpointError(f"{path}: key 'normalization' is malformed ({exc})") from exc
        return cls(network, normalization, bands=metadata["bands"], metadata=metadata,
                   checkpoint_path=path.with_suffix(".safetensors"), device=device)

    def save(self, path: str | os.PathLike, extra_metadata: dict[str, Any] | None = None,
             half_precision: bool = True) -> Path:
        """Write weights (fp16 by default: plenty for a regressor, half the size) and the JSON description."""
        state = {name: (t.half() if half_precision and t.is_floating_point() else t)
                 for name, t in self.network.state_dict().items()}
        metadata = {
            **{k: v for k, v in self.metadata.items() if k not in ("format", "format_version")},
            **(extra_metadata or {}),
            "kind": MODEL_KIND,
            "architecture": self.network.architecture(),
            "normalization": self.normalization.to_dict(),
            "bands": list(self.bands),
            "target": "log(1 + z)",
        }
        return save_checkpoint(path, state, metadata)

    # ------------------------------------------------------------------------------------------------ use
    def to_model_space(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Survey flux -> normalised network input (non-finite pixels, e.g. GalaxiesML artefacts, set to 0 flux)."""
        tensor = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        tensor = torch.nan_to_num(tensor.to(torch.float32), nan=0.0, posinf=0.0, neginf=0.0)
        return self.normalization.to_model(tensor).to(torch.float32)

    @torch.no_grad()
    def predict(self, images, batch_size: int = 256, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Redshift of each (5, H, W) survey-flux image; float64 array (n,)."""
        array = images if isinstance(images, torch.Tensor) else np.asarray(images)
        if array.ndim != 4 or array.shape[1] != len(self.bands):
            raise ValueError(f"images must be shaped (n, {len(self.bands)}, H, W), got {tuple(array.shape)}")
        self.network.eval()
        outputs = []
        for start in range(0, len(array), batch_size):
            batch = self.to_model_space(array[start:start + batch_size]).to(self.device)
            outputs.append(torch.expm1(self.network(batch)).clamp_min(0.0).double().cpu())
            if progress is not None:
                progress(min(start + batch_size, len(array)), len(array))
        if not outputs:
            return np.zeros(0, dtype=np.float64)
        return torch.cat(outputs).numpy()
