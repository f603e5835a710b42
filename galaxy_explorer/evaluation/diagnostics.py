"""Diagnostics that explain the quality checks (they are not checks themselves): pure functions of arrays.

* **Pixel noise by brightness**: how much pixel-to-pixel noise (grain) the galaxies carry at each brightness, in
  units of the sky noise: the rms of (pixel − median of its 3×3 neighbourhood). The median cancels most of a smooth
  profile, so what is left is the sky's noise, the source's photon noise and, in the brightest cores, the profile's
  curvature; all three are the same for a model that draws from the survey, so the generated value is compared with
  the survey's at the same brightness. A model that adds its own grain (a speckled, "noisy blob" look) shows a
  ratio above 1. The redshift CNN barely reacts to such grain; the eye does.
* **Colour scatter at fixed redshift**: the spread (σ_NMAD) of each aperture colour in each redshift bin, generated
  over survey. Colours carry most of a galaxy's redshift, so a ratio well above 1 is a blurred colour-redshift
  relation: the galaxies' colours then say less about their redshift, and the redshift CNN's scatter on them grows.

Each comes with its real-vs-real value (the second survey half over the first), which is what a model drawing
exactly from the survey would show at this sample size.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import median_filter

from galaxy_explorer.measure.photoz_metrics import sigma_nmad

# Brightness levels, in sky sigmas of the 3×3 median: the sky itself, then faint, bright and very bright galaxy light.
BRIGHTNESS_LEVELS = ((-1.0, 1.0), (5.0, 20.0), (20.0, 100.0), (100.0, math.inf))
MIN_PIXELS = 200  # an rms over fewer pixels is too noisy to report
MIN_GALAXIES = 30  # a colour spread from fewer galaxies a bin is too noisy to report


def grain_sums(images: np.ndarray, sky_sigma: float, levels=BRIGHTNESS_LEVELS) -> np.ndarray:
    """Per stamp and brightness level, the two sums a grain rms is made of: (N, levels, 2) holding the sum of
    squared (pixel − median of its 3×3 neighbourhood) in sky sigmas over the pixels whose 3×3 median lies in that
    level (also in sky sigmas), and the number of those pixels. Summing them over any set of stamps gives that
    set's grain, so a check can re-split galaxies many times without filtering images again."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"expected single-band stamps shaped (N, H, W), got {images.shape}")
    if not sky_sigma > 0:
        raise ValueError(f"sky_sigma must be positive, got {sky_sigma}")
    smooth = median_filter(images, size=(1, 3, 3), mode="nearest")
    residual = ((images - smooth) / sky_sigma).reshape(len(images), -1)
    level = (smooth / sky_sigma).reshape(len(images), -1)
    finite = np.isfinite(residual) & np.isfinite(level)
    squared = np.where(finite, residual, 0.0) ** 2
    out = np.zeros((len(images), len(levels), 2))
    for k, (low, high) in enumerate(levels):
        chosen = finite & (level >= low) & (level < high)
        out[:, k, 0] = np.sum(squared * chosen, axis=1)
        out[:, k, 1] = np.sum(chosen, axis=1)
    return out


def grain_rms(sums: np.ndarray) -> np.ndarray:
    """(levels,) rms from summed ``grain_sums`` rows; NaN where a level has fewer than MIN_PIXELS pixels."""
    total = np.asarray(sums, dtype=np.float64).reshape(-1, *np.shape(sums)[-2:]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[:, 1] >= MIN_PIXELS, np.sqrt(total[:, 0] / total[:, 1]), np.nan)


def pixel_noise_by_brightness(images: np.ndarray, sky_sigma: float, levels=BRIGHTNESS_LEVELS) -> list[dict]:
    """For single-band stamps (N, H, W): at each brightness level, the rms of (pixel − median of its 3×3
    neighbourhood) in sky sigmas, over the pixels whose 3×3 median lies in that level (also in sky sigmas).

    The median, not a mean, so a galaxy's smooth profile mostly cancels; for pure Gaussian sky noise the value is
    ~0.96 at every level. Only a comparison at the same brightness means anything (see the module docstring)."""
    sums = grain_sums(images, sky_sigma, levels)
    rms = grain_rms(sums)
    return [{"low": float(low), "high": float(high), "pixels": int(sums[:, k, 1].sum()), "rms": float(rms[k])}
            for k, (low, high) in enumerate(levels)]


def pixel_noise(real: np.ndarray, generated: np.ndarray, other_real: np.ndarray, sky_sigma: float) -> dict:
    """Pixel noise by brightness of the three single-band sets, and generated / real and real-vs-real ratios."""
    rows = [pixel_noise_by_brightness(images, sky_sigma) for images in (real, generated, other_real)]
    levels = []
    for r, g, o in zip(*rows):
        levels.append({"low": r["low"], "high": r["high"], "real": r["rms"], "generated": g["rms"],
                       "real_vs_real_other": o["rms"], "ratio": _ratio(g["rms"], r["rms"]),
                       "real_vs_real": _ratio(o["rms"], r["rms"]),
                       "pixels": {"real": r["pixels"], "generated": g["pixels"], "other_real": o["pixels"]}})
    return {"sky_sigma": float(sky_sigma), "levels": levels}


def colour_scatter(real: dict, real_z, generated: dict, generated_z, other: dict, other_z, edges,
                   min_galaxies: int = MIN_GALAXIES) -> dict:
    """{colour: [per-bin {z_low, z_high, n, real, generated, ratio, real_vs_real}]}: σ_NMAD of each colour in each
    redshift bin; bins with fewer than ``min_galaxies`` finite colours in any set are left out."""
    edges = np.asarray(edges, dtype=np.float64)
    out = {}
    for name in real:
        bins = []
        for low, high in zip(edges[:-1], edges[1:]):
            values = [_in_bin(c[name], z, low, high) for c, z in ((real, real_z), (generated, generated_z),
                                                                   (other, other_z))]
            if min(v.size for v in values) < min_galaxies:
                continue
            spread_real, spread_generated, spread_other = (sigma_nmad(v) for v in values)
            bins.append({"z_low": float(low), "z_high": float(high), "n": int(values[0].size),
                         "real": spread_real, "generated": spread_generated,
                         "ratio": _ratio(spread_generated, spread_real),
                         "real_vs_real": _ratio(spread_other, spread_real)})
        out[name] = bins
    return out


def summary(colours: dict) -> dict:
    """The median over bins of each colour's generated/real and real-vs-real spread ratios (NaN where no bin)."""
    out = {}
    for name, bins in colours.items():
        out[name] = {key: float(np.median([b[key] for b in bins])) if bins else float("nan")
                     for key in ("ratio", "real_vs_real")}
    return out


def _in_bin(values, redshift, low: float, high: float) -> np.ndarray:
    values, redshift = np.asarray(values, dtype=np.float64), np.asarray(redshift, dtype=np.float64)
    chosen = (redshift >= low) & (redshift < high) & np.isfinite(values)
    return values[chosen]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 and math.isfinite(numerator) else float("nan")
