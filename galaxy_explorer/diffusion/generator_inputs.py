"""What callers hand ``Generator``, checked and put in the form sampling needs: seeds, redshifts, condition values,
images to invert and explicit initial noise. Each check raises ``GenerationError`` naming the argument, the value
and what was expected, before any network runs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping, NamedTuple

import numpy as np
import torch

from galaxy_explorer.errors import GalaxyExplorerError


class GenerationError(GalaxyExplorerError, ValueError):
    """Arguments to ``Generator.frames`` that cannot be sampled (unknown sampler, missing condition, …)."""


class Guidance(NamedTuple):
    """Classifier-free guidance as sampled: its scale, and per condition whether the guidance pushes towards it."""
    scale: float
    guided: tuple[bool, ...]


def validated_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 63:
        raise GenerationError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    return int(seed)


def redshift_array(redshifts) -> np.ndarray:
    redshifts = np.atleast_1d(np.asarray(redshifts, dtype=np.float64))
    if redshifts.ndim != 1:
        raise GenerationError(f"redshifts must be a number or a 1-D sequence, got shape {redshifts.shape}")
    return redshifts


def checked_images(image_flux, image_shape: tuple[int, int, int]) -> np.ndarray:
    """One image or (n, …) images in survey flux, as a C-contiguous float32 (n, …) array with finite pixels."""
    images = np.asarray(image_flux, dtype=np.float32)
    if images.shape == image_shape:
        images = images[None]
    if images.ndim != 4 or images.shape[1:] != image_shape:
        raise GenerationError(f"images must be shaped {image_shape} or (n, {', '.join(map(str, image_shape))})"
                              f" in survey flux, got shape {images.shape}")
    if not np.isfinite(images).all():
        bad = int(np.argwhere(~np.isfinite(images).reshape(images.shape[0], -1).all(axis=1))[0][0])
        raise GenerationError(f"image {bad} has non-finite pixels (NaN or inf); fill or mask them before inverting")
    return np.ascontiguousarray(images)


def checked_noise(x_T, n: int, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """An initial noise for every one of ``n`` frames (1, …) or for each (n, …), as a finite float32 CPU tensor."""
    noise = x_T if isinstance(x_T, torch.Tensor) else torch.from_numpy(np.asarray(x_T, dtype=np.float32))
    noise = noise.detach().to("cpu", torch.float32)
    if tuple(noise.shape) == image_shape:
        noise = noise[None]
    if noise.ndim != 4 or tuple(noise.shape[1:]) != image_shape or noise.shape[0] not in (1, n):
        raise GenerationError(f"x_T must be shaped {image_shape}, (1, …) or one per redshift ({n}, …), "
                              f"got shape {tuple(noise.shape)}")
    if not torch.isfinite(noise).all():
        raise GenerationError("x_T has non-finite values (NaN or inf)")
    return noise


@dataclass(frozen=True)
class ModelConditions:
    """The conditions a checkpoint was trained on: names (redshift first), training ranges, and whether they may be
    left out (only a model trained with condition dropout has null embeddings to stand in for them)."""

    names: tuple[str, ...]
    ranges: Mapping[str, tuple[float, float]]
    can_leave_out: bool
    checkpoint_name: str

    def matrix(self, redshifts: np.ndarray, other_conditions: Mapping[str, object]):
        """(n, k) condition values and an (n, k) mask of conditions left out (null-embedded)."""
        unknown = sorted(set(other_conditions) - set(self.names[1:]))
        if unknown:
            raise GenerationError(f"condition {unknown[0]!r} is not one this model was trained on "
                                  f"{self.names} ({self.checkpoint_name})")
        n = len(redshifts)
        values = np.zeros((n, len(self.names)), dtype=np.float32)
        left_out = np.zeros((n, len(self.names)), dtype=bool)
        values[:, 0] = redshifts
        for k, name in enumerate(self.names[1:], start=1):
            if name not in other_conditions or other_conditions[name] is None:
                if not self.can_leave_out:
                    raise GenerationError(f"condition {name!r} is required by {self.checkpoint_name} "
                                          "(it was trained without condition dropout, so it cannot be left out)")
                left_out[:, k] = True
                continue
            column = np.asarray(other_conditions[name], dtype=np.float64)
            if column.ndim == 0:
                column = np.full(n, float(column))
            if column.shape != (n,):
                raise GenerationError(f"condition {name!r} must be a number or one value per redshift ({n}), "
                                      f"got shape {column.shape}")
            values[:, k] = column
        finite = np.isfinite(values) | left_out
        if not finite.all():
            k = int(np.argwhere(~finite)[0][1])
            raise GenerationError(f"condition {self.names[k]!r} has a non-finite value")
        self._warn_outside_training_ranges(values, left_out)
        return torch.from_numpy(values), torch.from_numpy(left_out)

    def _warn_outside_training_ranges(self, values: np.ndarray, left_out: np.ndarray) -> None:
        for k, name in enumerate(self.names):
            lo, hi = self.ranges[name]
            used = values[~left_out[:, k], k]
            if used.size and (used.min() < lo or used.max() > hi):
                # stacklevel 5: the caller of Generator.frames (here, matrix, _in_batches, frames, caller)
                warnings.warn(f"{name} outside the training range [{lo:g}, {hi:g}] of {self.checkpoint_name}: "
                              "the model extrapolates there", stacklevel=5)
