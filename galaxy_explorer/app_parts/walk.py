"""The per-seed frame cache behind the redshift slider.

A *walk* is everything that fixes the generated pixels except the redshift: checkpoint, seed, sampler, steps and
the further conditions. For the current walk the app bakes frames on a fixed redshift grid in the background;
while the slider is dragged it shows the nearest frame it has, and on release it computes the exact one, which
joins the cache too. The grid is baked coarse-to-fine, so a usable frame is near every redshift early on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

DEFAULT_GRID_FRAMES = 64
# Redshifts closer than this are the same frame (the slider's step is 0.01).
REDSHIFT_KEY_DECIMALS = 6
MATCH_TOLERANCE = 10.0 ** -REDSHIFT_KEY_DECIMALS


@dataclass(frozen=True)
class WalkKey:
    """What fixes a walk's pixels apart from redshift. Hashable, so it can key caches."""

    checkpoint: str
    seed: int
    sampler: str
    steps: int
    conditions: tuple[tuple[str, float], ...] = ()

    @property
    def condition_dict(self) -> dict[str, float]:
        return dict(self.conditions)


def redshift_key(redshift: float) -> float:
    return round(float(redshift), REDSHIFT_KEY_DECIMALS)


def bake_order(n: int) -> list[int]:
    """Indices 0..n-1 coarse-to-fine: both ends, then midpoints of ever smaller gaps.

    After k frames the largest gap in redshift is about range/k, whatever k is, so dragging during baking
    already finds a frame close by.
    """
    if n <= 0:
        return []
    if n == 1:
        return [0]
    order = [0, n - 1]
    seen = {0, n - 1}
    gaps = [(0, n - 1)]
    while gaps:
        next_gaps = []
        for low, high in gaps:
            if high - low < 2:
                continue
            middle = (low + high) // 2
            if middle not in seen:
                seen.add(middle)
                order.append(middle)
            next_gaps += [(low, middle), (middle, high)]
        gaps = next_gaps
    return order


@dataclass(eq=False)
class Frame:
    redshift: float  # rounded to REDSHIFT_KEY_DECIMALS
    image: np.ndarray  # (5,H,W) float32 survey flux
    measurements: dict[str, float]  # morphology of this frame (fast mode); NaN where not detected
    exact_grid: bool  # True if on the baking grid

    def matches(self, redshift: float) -> bool:
        """Whether this is the frame for ``redshift`` itself (the exact frame), not merely the nearest one."""
        return abs(self.redshift - float(redshift)) < MATCH_TOLERANCE


class FrameCache:
    """Frames of one walk by redshift; written by the worker thread, read by the UI thread (hence the lock)."""

    def __init__(self, key: WalkKey, grid: np.ndarray):
        self.key = key
        self.grid = np.asarray(grid, dtype=np.float64)
        self._frames: dict[float, Frame] = {}
        self._lock = threading.Lock()
        self.bake_started: float | None = None  # perf_counter() when baking began
        self.bake_seconds: float | None = None  # wall time to fill the grid, once filled

    def add(self, redshift: float, image: np.ndarray, measurements: dict[str, float]) -> Frame:
        z = redshift_key(redshift)
        on_grid = bool(np.any(np.abs(self.grid - z) < MATCH_TOLERANCE))
        frame = Frame(z, np.asarray(image, dtype=np.float32), dict(measurements), on_grid)
        with self._lock:
            self._frames[z] = frame
        return frame

    def get(self, redshift: float) -> Frame | None:
        with self._lock:
            return self._frames.get(redshift_key(redshift))

    def nearest(self, redshift: float) -> Frame | None:
        """The cached frame closest in redshift (grid or exact), or None while the cache is empty."""
        with self._lock:
            if not self._frames:
                return None
            keys = np.fromiter(self._frames.keys(), dtype=np.float64, count=len(self._frames))
            return self._frames[float(keys[np.argmin(np.abs(keys - redshift))])]

    def missing_grid_indices(self) -> list[int]:
        """Grid indices still to bake, in coarse-to-fine order."""
        with self._lock:
            have = set(self._frames)
        return [i for i in bake_order(len(self.grid)) if redshift_key(self.grid[i]) not in have]

    @property
    def n_baked(self) -> int:
        with self._lock:
            return sum(1 for frame in self._frames.values() if frame.exact_grid)

    @property
    def complete(self) -> bool:
        return self.n_baked >= len(self.grid)

    def grid_series(self, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Baked grid frames so far, sorted by redshift: {'redshift': z, name: measurement, ...}."""
        with self._lock:
            frames = sorted((f for f in self._frames.values() if f.exact_grid), key=lambda f: f.redshift)
        series = {"redshift": np.array([f.redshift for f in frames], dtype=np.float64)}
        for name in names:
            series[name] = np.array([f.measurements.get(name, np.nan) for f in frames], dtype=np.float64)
        return series


class WalkCaches:
    """A few recent walks' caches, so going back to a previous seed is instant. Least recently used goes first."""

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self._caches: dict[WalkKey, FrameCache] = {}
        self._lock = threading.Lock()

    def get_or_create(self, key: WalkKey, grid: np.ndarray) -> FrameCache:
        with self._lock:
            cache = self._caches.pop(key, None)
            if cache is None or len(cache.grid) != len(grid) or not np.allclose(cache.grid, grid):
                cache = FrameCache(key, grid)
            self._caches[key] = cache
            while len(self._caches) > self.capacity:
                self._caches.pop(next(iter(self._caches)))
            return cache

    def __len__(self) -> int:
        return len(self._caches)
