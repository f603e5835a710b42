"""Check what a generator produced before anything is written: a network whose activations overflow gives NaN or
infinite pixels, which would otherwise become an all-NaN FITS file or a black animation with exit status 0."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from galaxy_explorer.diffusion.generator_inputs import GenerationError


class NonFiniteFramesError(GenerationError):
    """Generated images hold NaN or infinite pixels."""


def require_finite_frames(images: np.ndarray, redshifts: Sequence[float] | None, source) -> np.ndarray:
    """Return ``images`` (n, bands, H, W) if every pixel is finite; else ``NonFiniteFramesError`` naming
    ``source`` (the checkpoint), how many images are bad, and their redshifts."""
    images = np.asarray(images)
    bad = ~np.isfinite(images).reshape(len(images), -1).all(axis=1)
    if not bad.any():
        return images
    where = ""
    if redshifts is not None:
        values = np.asarray(redshifts, dtype=np.float64).reshape(-1)[bad]
        where = " at z = " + ", ".join(f"{z:.4g}" for z in values[:5]) + (" ..." if values.size > 5 else "")
    raise NonFiniteFramesError(
        f"{source}: {int(bad.sum())} of {len(images)} generated images have NaN or infinite pixels{where}; "
        "the network's output overflowed (a diverged or corrupt checkpoint?), so nothing was written")
