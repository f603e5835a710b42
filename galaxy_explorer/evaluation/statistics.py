"""The comparisons the evaluation report makes between real and generated galaxies: pure functions of arrays.

Every function ignores non-finite values (a stamp without a detection has NaN measurements) and returns NaN where
a statistic is undefined (too few values), so a bad model yields a report full of gaps rather than an exception.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


def finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def mean_with_interval(values, *, seed: int = 0, confidence: float = CONFIDENCE,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, float]:
    """Mean and its bootstrap percentile interval (95% by default).

    A bootstrap rather than mean ± 1.96 s/sqrt(n), because sizes and areas are skewed and bins can be small.
    """
    values = finite(values)
    n = values.size
    if n == 0:
        return {"n": 0, "mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    mean = float(values.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "ci_low": float("nan"), "ci_high": float("nan")}
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return {"n": int(n), "mean": mean, "ci_low": float(low), "ci_high": float(high)}


def bin_masks(redshift, edges) -> list[np.ndarray]:
    """Boolean masks of half-open bins [edges[k], edges[k+1])."""
    redshift = np.asarray(redshift, dtype=np.float64)
    return [(redshift >= low) & (redshift < high) for low, high in zip(edges[:-1], edges[1:])]


def binned_means(values, redshift, edges, *, seed: int = 0) -> list[dict[str, float]]:
    """Per-redshift-bin mean with 95% interval: [{z_low, z_high, n, mean, ci_low, ci_high}, ...]."""
    values = np.asarray(values, dtype=np.float64)
    return [
        {"z_low": float(low), "z_high": float(high), **mean_with_interval(values[mask], seed=seed + k)}
        for k, ((low, high), mask) in enumerate(zip(zip(edges[:-1], edges[1:]), bin_masks(redshift, edges)))
    ]


def binned_medians(values, redshift, edges) -> list[dict[str, float]]:
    values = np.asarray(values, dtype=np.float64)
    rows = []
    for (low, high), mask in zip(zip(edges[:-1], edges[1:]), bin_masks(redshift, edges)):
        inside = finite(values[mask])
        rows.append({"z_low": float(low), "z_high": float(high), "n": int(inside.size),
                     "median": float(np.median(inside)) if inside.size else float("nan")})
    return rows


def distribution_distance(real, generated, min_count: int = 2) -> dict[str, float]:
    """Two-sample Kolmogorov-Smirnov statistic (and p-value) and 1-Wasserstein distance (in the metric's units)."""
    real, generated = finite(real), finite(generated)
    result = {"n_real": int(real.size), "n_generated": int(generated.size),
              "ks_statistic": float("nan"), "ks_pvalue": float("nan"), "wasserstein": float("nan")}
    if real.size >= min_count and generated.size >= min_count:
        test = stats.ks_2samp(real, generated)
        result.update(ks_statistic=float(test.statistic), ks_pvalue=float(test.pvalue),
                      wasserstein=float(stats.wasserstein_distance(real, generated)))
    return result


def binned_distances(real, generated, redshift_real, redshift_generated, edges) -> list[dict[str, float]]:
    real, generated = np.asarray(real, dtype=np.float64), np.asarray(generated, dtype=np.float64)
    return [
        {"z_low": float(low), "z_high": float(high), **distribution_distance(real[mask_r], generated[mask_g])}
        for low, high, mask_r, mask_g in zip(edges[:-1], edges[1:], bin_masks(redshift_real, edges),
                                             bin_masks(redshift_generated, edges))
    ]


def summary(values) -> dict[str, float]:
    values = finite(values)
    if not values.size:
        return {"n_valid": 0, "mean": float("nan"), "median": float("nan"), "std": float("nan")}
    return {"n_valid": int(values.size), "mean": float(values.mean()), "median": float(np.median(values)),
            "std": float(values.std(ddof=1)) if values.size > 1 else float("nan")}


def means_inside_real_interval(real_bins, generated_bins, z_max: float) -> dict:
    """Which bins below ``z_max`` have the generated mean inside the real galaxies' 95% interval.

    Bins where either side has no interval / mean are not counted (they are listed as ``None``).
    """
    inside = []
    for real, generated in zip(real_bins, generated_bins):
        if real["z_high"] > z_max + 1e-9:
            continue
        usable = np.isfinite(real["ci_low"]) and np.isfinite(real["ci_high"]) and np.isfinite(generated["mean"])
        inside.append(bool(real["ci_low"] <= generated["mean"] <= real["ci_high"]) if usable else None)
    counted = [flag for flag in inside if flag is not None]
    return {"inside": inside, "bins_counted": len(counted), "bins_inside": int(sum(counted)),
            "fraction": float(np.mean(counted)) if counted else float("nan")}


def relative_deviation(recovered, truth) -> np.ndarray:
    recovered, truth = np.asarray(recovered, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return recovered / truth - 1.0
