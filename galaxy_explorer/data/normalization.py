"""Invertible map between survey flux and the space a model works in: per-band asinh with robust scales.

    x = max(asinh(flux / softening_b) / scale_b, clip_min)          (to_model)
    flux = softening_b * sinh(x * scale_b)                          (to_flux, exact inverse above clip_min)

Why asinh (Lupton, Gunn & Szalay 1999): it is linear for |flux| below the sky noise, so noise keeps its Gaussian
shape, and logarithmic for bright cores, so one scale covers faint discs and bright nuclei. Per band:

* ``softening_b`` = the sky noise, 1.4826 x the median absolute deviation of the stamps' outer 8-pixel frame
  (galaxy light barely reaches it; the MAD ignores the large negative outliers GalaxiesML has),
* ``scale_b`` = asinh(p_b / softening_b), p_b the 99.9th percentile of that band's pixels, so bright galaxy light
  maps to ~1 and the sky to ~0,
* ``clip_min`` (default -1): negative artefacts more negative than -p_b are clipped; real sky noise
  (|flux| ~ softening) maps to ~±1/scale, far above it.

So model space is about [-1, a few]. The parameters are plain floats (``to_dict``/``from_dict``), carried in a
checkpoint's JSON, so a model and its normalisation travel together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.errors import GalaxyExplorerError

FRAME_PIXELS = 8
BRIGHT_PERCENTILE = 99.9
MAD_TO_SIGMA = 1.4826


class NormalizationError(GalaxyExplorerError, ValueError):
    """Normalization parameters are missing or invalid; the message names the key."""


@dataclass(frozen=True)
class Normalization:
    """Per-band asinh normalisation (see the module docstring). Band axis is -3 of (..., bands, H, W)."""

    softening: tuple[float, ...]
    scale: tuple[float, ...]
    bands: tuple[str, ...] = field(default=BANDS)
    clip_min: float | None = -1.0

    def __post_init__(self):
        object.__setattr__(self, "softening", tuple(float(v) for v in self.softening))
        object.__setattr__(self, "scale", tuple(float(v) for v in self.scale))
        object.__setattr__(self, "bands", tuple(str(b) for b in self.bands))
        for name in ("softening", "scale"):
            values = getattr(self, name)
            if len(values) != len(self.bands):
                raise NormalizationError(f"normalization key {name!r} has {len(values)} values; expected one per band "
                                         f"({len(self.bands)}: {','.join(self.bands)})")
            if not all(math.isfinite(v) and v > 0 for v in values):
                raise NormalizationError(f"normalization key {name!r} must hold positive finite numbers, got {values}")
        if self.clip_min is not None and not math.isfinite(float(self.clip_min)):
            raise NormalizationError(f"normalization key 'clip_min' must be finite or null, got {self.clip_min}")

    # ------------------------------------------------------------------ transform
    def _parameters(self, like):
        shape = (len(self.bands), 1, 1)
        if isinstance(like, torch.Tensor):
            dtype = like.dtype if like.is_floating_point() else torch.float32
            make = lambda v: torch.tensor(v, dtype=dtype, device=like.device).reshape(shape)  # noqa: E731
        else:
            dtype = like.dtype if np.issubdtype(like.dtype, np.floating) else np.float32
            make = lambda v: np.asarray(v, dtype=dtype).reshape(shape)  # noqa: E731
        return make(self.softening), make(self.scale)

    def _check_shape(self, array) -> None:
        if array.ndim < 3 or array.shape[-3] != len(self.bands):
            raise NormalizationError(f"expected images shaped (..., {len(self.bands)}, H, W), got {tuple(array.shape)}")

    def to_model(self, flux):
        """Survey flux -> model space; numpy in, numpy out; torch in, torch out (same device and float dtype)."""
        if not isinstance(flux, torch.Tensor):
            flux = np.asarray(flux)
        self._check_shape(flux)
        softening, scale = self._parameters(flux)
        if isinstance(flux, torch.Tensor):
            x = torch.asinh(flux / softening) / scale
            return x if self.clip_min is None else x.clamp_min(self.clip_min)
        x = np.arcsinh(flux / softening) / scale
        return x if self.clip_min is None else np.maximum(x, np.asarray(self.clip_min, dtype=x.dtype))

    def to_flux(self, x):
        """Model space -> survey flux; the exact inverse of ``to_model`` wherever it did not clip."""
        if not isinstance(x, torch.Tensor):
            x = np.asarray(x)
        self._check_shape(x)
        softening, scale = self._parameters(x)
        if isinstance(x, torch.Tensor):
            return softening * torch.sinh(x * scale)
        return softening * np.sinh(x * scale)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "asinh", "bands": list(self.bands), "softening": list(self.softening),
                "scale": list(self.scale), "clip_min": self.clip_min}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Normalization":
        if not isinstance(d, dict):
            raise NormalizationError(f"normalization must be a JSON object, got {type(d).__name__}")
        if d.get("kind", "asinh") != "asinh":
            raise NormalizationError(f"normalization key 'kind' is {d.get('kind')!r}; this version reads 'asinh'")
        for key in ("softening", "scale"):
            if key not in d:
                raise NormalizationError(f"normalization key {key!r} is missing")
            if not isinstance(d[key], (list, tuple)) or not all(isinstance(v, (int, float)) for v in d[key]):
                raise NormalizationError(f"normalization key {key!r} must be a list of numbers, got {d[key]!r}")
        bands = d.get("bands", list(BANDS))
        if not isinstance(bands, (list, tuple)) or not all(isinstance(b, str) for b in bands):
            raise NormalizationError(f"normalization key 'bands' must be a list of band names, got {bands!r}")
        clip_min = d.get("clip_min", -1.0)
        if clip_min is not None and not isinstance(clip_min, (int, float)):
            raise NormalizationError(f"normalization key 'clip_min' must be a number or null, got {clip_min!r}")
        return cls(softening=tuple(d["softening"]), scale=tuple(d["scale"]), bands=tuple(bands), clip_min=clip_min)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, images, bands: tuple[str, ...] = BANDS, clip_min: float | None = -1.0) -> "Normalization":
        """Robust per-band parameters from a training sample (n, bands, H, W) (numpy or torch; NaN/inf ignored)."""
        if isinstance(images, torch.Tensor):
            images = images.detach().cpu().numpy()
        images = np.asarray(images, dtype=np.float64)
        if images.ndim != 4 or images.shape[1] != len(bands):
            raise NormalizationError(f"fit expects images shaped (n, {len(bands)}, H, W), got {images.shape}")
        height, width = images.shape[-2:]
        frame = np.zeros((height, width), dtype=bool)
        edge = min(FRAME_PIXELS, height // 4, width // 4)
        frame[:edge, :] = frame[-edge:, :] = frame[:, :edge] = frame[:, -edge:] = True
        softening, scale = [], []
        for b, band in enumerate(bands):
            pixels = images[:, b]
            sky = pixels[:, frame]
            sky = sky[np.isfinite(sky)]
            everything = pixels[np.isfinite(pixels)]
            if sky.size == 0:
                raise NormalizationError(f"fit: band {band!r} has no finite pixels")
            sigma = MAD_TO_SIGMA * np.median(np.abs(sky - np.median(sky)))
            if not sigma > 0:  # noiseless images: fall back to the spread of all pixels
                sigma = float(np.std(everything)) or 1.0
            bright = np.percentile(everything, BRIGHT_PERCENTILE)
            softening.append(float(sigma))
            scale.append(float(np.arcsinh(max(bright, 3.0 * sigma) / sigma)))
        return cls(softening=tuple(softening), scale=tuple(scale), bands=tuple(bands), clip_min=clip_min)
