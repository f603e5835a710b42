"""HSC-style colour composites (Lupton et al. 2004 asinh stretch) with a fixed stretch.

The stretch is a fixed number, never fitted to the frame, so brightness does not flicker while a seed walks
through redshift and real and generated galaxies shown side by side are on the same scale. Flux units are those
of the survey (the built-in synthetic survey uses an AB zero point of 27, the HSC coadd convention).
"""

from __future__ import annotations

import numpy as np
from astropy.visualization import make_lupton_rgb

from galaxy_explorer.instrument import BANDS

# i, r, g -> R, G, B, as HSC colour images do.
RGB_BANDS = ("i", "r", "g")
DEFAULT_STRETCH = 0.5
DEFAULT_Q = 8.0
# Per-band weights applied before the stretch; mild boosts of the bluer bands give HSC-like neutral colours.
DEFAULT_BAND_WEIGHTS = {"i": 1.0, "r": 1.15, "g": 1.6}


def _band_index(band: str, bands: tuple[str, ...] = BANDS) -> int:
    if band not in bands:
        raise ValueError(f"band {band!r} is not one of {bands}")
    return bands.index(band)


def lupton_rgb(
    images: np.ndarray,
    stretch: float = DEFAULT_STRETCH,
    Q: float = DEFAULT_Q,
    bands: tuple[str, ...] = BANDS,
    band_weights: dict[str, float] | None = None,
) -> np.ndarray:
    """Colour composite(s) of (…,5,H,W) survey-flux images as uint8 (…,H,W,3); i,r,g -> R,G,B."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim < 3 or images.shape[-3] != len(bands):
        raise ValueError(f"expected images shaped (..., {len(bands)}, H, W), got {images.shape}")
    weights = {**DEFAULT_BAND_WEIGHTS, **(band_weights or {})}
    lead_shape = images.shape[:-3]
    flat = images.reshape((-1,) + images.shape[-3:])
    out = np.empty(flat.shape[:1] + flat.shape[-2:] + (3,), dtype=np.uint8)
    channels = [_band_index(b, bands) for b in RGB_BANDS]
    for k, stamp in enumerate(flat):
        red, green, blue = (np.nan_to_num(stamp[c]) * weights[b] for c, b in zip(channels, RGB_BANDS))
        # Blank (all-zero) pixels make astropy divide 0 by 0 before masking the result; that is harmless.
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k] = make_lupton_rgb(red, green, blue, minimum=0.0, stretch=stretch, Q=Q)
    return out.reshape(lead_shape + out.shape[-3:])


def band_image(
    images: np.ndarray,
    band: str,
    stretch: float = DEFAULT_STRETCH,
    Q: float = DEFAULT_Q,
    bands: tuple[str, ...] = BANDS,
) -> np.ndarray:
    """One band of (…,5,H,W) images as a grey uint8 (…,H,W,3) with the same asinh stretch as the composite."""
    images = np.asarray(images, dtype=np.float64)
    single = np.nan_to_num(images[..., _band_index(band, bands), :, :])
    # Lupton's asinh on the band alone: I = asinh(Q * x / stretch) / Q, clipped to [0, 1].
    scaled = np.arcsinh(Q * np.clip(single, 0.0, None) / stretch) / Q
    grey = np.clip(scaled, 0.0, 1.0)
    grey = (grey * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)
