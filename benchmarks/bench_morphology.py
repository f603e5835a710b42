"""Milliseconds per 5x64x64 stamp for ``morphology.measure`` in fast and full mode (median of repeats).

    python benchmarks/bench_morphology.py [--stamps 64] [--repeats 5] [--full-stamps 16] [--workers 1]

Stamps: the built-in synthetic survey when it is available (realistic sizes, noise and neighbours), otherwise
analytic Sérsic galaxies blurred by a Gaussian PSF with Gaussian noise. Target: fast <= 5 ms a stamp.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from galaxy_explorer.measure.morphology import measure


def analytic_stamps(count: int, seed: int = 0) -> np.ndarray:
    """Elliptical Sérsic profiles (n in 0.7..4), PSF-blurred, with unit Gaussian noise."""
    from scipy.ndimage import gaussian_filter
    from scipy.special import gammaincinv

    rng = np.random.default_rng(seed)
    yy, xx = np.indices((64, 64)) - 31.5
    stamps = np.empty((count, 5, 64, 64), dtype=np.float32)
    for k in range(count):
        n = rng.uniform(0.7, 4.0)
        r_e = rng.uniform(2.0, 8.0)
        q = rng.uniform(0.3, 1.0)
        angle = rng.uniform(0, np.pi)
        x_rot = xx * np.cos(angle) + yy * np.sin(angle)
        y_rot = -xx * np.sin(angle) + yy * np.cos(angle)
        radius = np.sqrt(x_rot**2 + (y_rot / q) ** 2)
        profile = np.exp(-gammaincinv(2 * n, 0.5) * ((radius / r_e) ** (1 / n) - 1))
        image = gaussian_filter(rng.uniform(5, 50) * profile, 2.0)
        stamps[k] = image[None] + rng.normal(0, 1.0, (5, 64, 64))
    return stamps


def survey_stamps(count: int) -> np.ndarray | None:
    try:
        from galaxy_explorer.synthetic import SyntheticSurvey
    except ImportError:
        return None
    return SyntheticSurvey(seed=123).sample(count)["image"].numpy()


def time_per_stamp(images: np.ndarray, repeats: int, **kwargs) -> float:
    measure(images[:2], **kwargs)  # warm imports and caches
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        measure(images, **kwargs)
        timings.append((time.perf_counter() - start) / len(images) * 1e3)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stamps", type=int, default=64)
    parser.add_argument("--full-stamps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="processes for full mode")
    args = parser.parse_args()

    images = survey_stamps(max(args.stamps, args.full_stamps))
    source = "built-in synthetic survey"
    if images is None:
        images = analytic_stamps(max(args.stamps, args.full_stamps))
        source = "analytic Sérsic stamps"
    fast = time_per_stamp(images[: args.stamps], args.repeats, mode="fast")
    print(f"morphology fast: {fast:.2f} ms/stamp (median of {args.repeats}, {args.stamps} stamps, {source})")
    full = time_per_stamp(images[: args.full_stamps], max(1, args.repeats // 2), mode="full", workers=args.workers)
    print(f"morphology full: {full:.1f} ms/stamp (median of {max(1, args.repeats // 2)}, {args.full_stamps} stamps, "
          f"workers={args.workers}, {source})")


if __name__ == "__main__":
    main()
