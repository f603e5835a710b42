"""Photometric-redshift quality metrics as used with GalaxiesML and HSC (Tanaka et al. 2018; Nishizawa et al. 2020).

All metrics are functions of the normalised residual ``dz = (z_pred - z_true) / (1 + z_true)``:

- bias: mean of dz (the median is reported beside it as ``median_dz``);
- sigma_NMAD = 1.4826 * median(|dz - median(dz)|), a robust scatter that ignores outliers;
- outlier fraction: share of objects with |dz| > 0.15;
- loss = 1 - 1 / (1 + (dz / 0.15)^2) per object (Tanaka et al. 2018), bounded in [0, 1) so a catastrophic
  outlier costs at most 1; reported as its mean.

Each is also given in bins of true redshift of width 0.2. Pairs with a non-finite value are left out and counted.
"""

from __future__ import annotations

import numpy as np

from galaxy_explorer.errors import GalaxyExplorerError

OUTLIER_THRESHOLD = 0.15
LOSS_SCALE = 0.15
BIN_WIDTH = 0.2
NMAD_SCALE = 1.4826  # makes the median absolute deviation equal sigma for a Gaussian


class PhotozMetricsError(GalaxyExplorerError, ValueError):
    """Predicted and true redshifts that cannot be compared."""


def normalized_residual(predicted, true) -> np.ndarray:
    """dz = (z_pred - z_true) / (1 + z_true), element-wise."""
    predicted = np.asarray(predicted, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if predicted.shape != true.shape:
        raise PhotozMetricsError(f"predicted redshifts have shape {predicted.shape}, true ones {true.shape}")
    if np.any(true[np.isfinite(true)] <= -1.0):
        raise PhotozMetricsError("true redshifts must be > -1 (dz divides by 1 + z)")
    with np.errstate(invalid="ignore", divide="ignore"):  # non-finite pairs are dropped by the callers
        return (predicted - true) / (1.0 + true)


def bias(dz) -> float:
    """Mean normalised residual; NaN for an empty sample."""
    dz = np.asarray(dz, dtype=np.float64)
    return float(np.mean(dz)) if dz.size else float("nan")


def sigma_nmad(dz) -> float:
    """Normalised median absolute deviation, 1.4826 * median(|dz - median(dz)|)."""
    dz = np.asarray(dz, dtype=np.float64)
    if not dz.size:
        return float("nan")
    return float(NMAD_SCALE * np.median(np.abs(dz - np.median(dz))))


def outlier_fraction(dz, threshold: float = OUTLIER_THRESHOLD) -> float:
    """Fraction of objects with |dz| > threshold."""
    dz = np.asarray(dz, dtype=np.float64)
    return float(np.mean(np.abs(dz) > threshold)) if dz.size else float("nan")


def redshift_loss(dz, scale: float = LOSS_SCALE) -> np.ndarray:
    """Per-object loss 1 - 1 / (1 + (dz / scale)^2): 0 for a perfect prediction, approaching 1 for outliers."""
    dz = np.asarray(dz, dtype=np.float64)
    return 1.0 - 1.0 / (1.0 + (dz / scale) ** 2)


def summarize(dz) -> dict[str, float]:
    """Every metric of one sample of residuals (already finite)."""
    dz = np.asarray(dz, dtype=np.float64)
    return {
        "n": int(dz.size),
        "bias": bias(dz),
        "median_dz": float(np.median(dz)) if dz.size else float("nan"),
        "sigma_nmad": sigma_nmad(dz),
        "outlier_fraction": outlier_fraction(dz),
        "mean_loss": float(np.mean(redshift_loss(dz))) if dz.size else float("nan"),
    }


def redshift_bin_edges(true, bin_width: float = BIN_WIDTH) -> np.ndarray:
    """Edges 0, 0.2, 0.4, ... covering every finite true redshift (starting lower for negative ones)."""
    true = np.asarray(true, dtype=np.float64)
    true = true[np.isfinite(true)]
    if bin_width <= 0:
        raise PhotozMetricsError(f"bin_width must be positive, got {bin_width}")
    if not true.size:
        return np.array([0.0, bin_width])
    low = min(0.0, np.floor(true.min() / bin_width) * bin_width)
    high = max(low + bin_width, (np.floor(true.max() / bin_width + 1e-9) + 1) * bin_width)
    count = int(round((high - low) / bin_width))
    return np.round(low + bin_width * np.arange(count + 1), 10)  # 0.6, not 0.6000000000000001


def photoz_metrics(predicted, true, bin_width: float = BIN_WIDTH) -> dict:
    """``{'overall': {...}, 'bins': [{z_low, z_high, n, bias, ...}, ...], 'n_invalid': k}``.

    Bins are half-open [z_low, z_high) in *true* redshift; empty bins carry n = 0 and NaN metrics.
    """
    dz = normalized_residual(predicted, true)
    true = np.asarray(true, dtype=np.float64)
    valid = np.isfinite(dz)
    edges = redshift_bin_edges(true[valid], bin_width)
    bins = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = valid & (true >= low) & (true < high)
        bins.append({"z_low": float(low), "z_high": float(high), **summarize(dz[inside])})
    return {"overall": summarize(dz[valid]), "bins": bins, "n_invalid": int((~valid).sum()), "bin_width": bin_width}
