"""The frames behind the walk's slider, shared by every session of the process.

A *walk* is everything that fixes the generated pixels except one quantity, its *axis*: the checkpoint (by the
digest of its contents, so a retrained file at the same path is another walk), seed, sampler, steps, guidance scale
and the further conditions (``WalkKey``). The axis is usually the redshift; it can also be one further condition at
a fixed redshift (a *label walk*) or the seed (a population). A frame's *position* is where it sits along that
axis; its ``redshift`` is always the redshift the model drew it at. Its frames live in a ``FrameCache``: frames on
a fixed grid of positions, baked coarse-to-fine so that a usable frame is near every position early on, and exact
frames computed where the slider came to rest. Caches are kept in one process-wide, size-bounded ``FrameStore``:
two sessions on the same walk share one cache, and every frame is generated once (by ``app_parts.generation``).

A ``Frame`` also carries its picture as a small PNG data URL per band, made once and shared: that is what the page
receives and what the slider indexes in the browser (``app_parts.views``).
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

DEFAULT_GRID_FRAMES = 64
# Positions closer than this are the same frame (the sliders' step is 0.01).
POSITION_KEY_DECIMALS = 6
MATCH_TOLERANCE = 10.0 ** -POSITION_KEY_DECIMALS
COLOUR = "colour"  # the i,r,g colour composite, as opposed to one band in grey
# The page shows a frame 7 × 64 = 448 pixels wide. The PNG is enlarged here (nearest neighbour, which PNG compresses
# well: ~19 KB instead of ~10 KB) so that the browser draws it 1:1 and the pixels stay sharp.
DISPLAY_SCALE = 7
# Frames the process keeps (~100 KB each with their pictures); walks in use by a session are never dropped.
DEFAULT_MAX_FRAMES = 1536
# The morphology measured on every frame as it is made (fast mode), and on the survey galaxies it is compared with.
LIVE_COLUMNS = ("ellipticity", "semi_major_axis", "isophotal_area", "half_light_radius")


REDSHIFT_AXIS = "redshift"
SEED_AXIS = "seed"  # a population: one frame per seed, all at one redshift (``at_redshift``)


@dataclass(frozen=True)
class WalkKey:
    """What fixes a walk's pixels apart from the position along its axis. Hashable, so it can key caches.

    The axis is the redshift (the app's main walk: the further conditions held fixed), one further condition (a
    *label walk*: that label moves, everything else is held, the redshift at ``at_redshift``), or the seed (a
    population at ``at_redshift``). Frames and caches know only the *position* along the axis, so that the whole
    machinery (bake order, nearest frame, exact frame, the page's scrubbing) serves every axis unchanged;
    ``sampling`` says what a position means for the model, and ``redshift_at`` the redshift a frame is drawn at."""

    checkpoint: str  # the file, for people and FITS headers
    seed: int
    sampler: str
    steps: int
    conditions: tuple[tuple[str, float | None], ...] = ()  # None: the label left free (its null embedding)
    guidance: float = 1.0  # the effective classifier-free guidance scale (the checkpoint's default resolved)
    model: str = ""  # digest of the checkpoint's contents (resources.model_identity)
    axis: str = REDSHIFT_AXIS
    at_redshift: float | None = None  # the fixed redshift of a label walk or a population
    # An inverted survey galaxy's walk (``inversion_panel``): ``noise`` is its x_T from ``Generator.invert``, used
    # instead of the seed's; ``source`` names it for people ("survey object <id>") and ``noise_digest`` identifies
    # that noise for the caches (a tensor is not hashable, so ``noise`` itself is not compared).
    source: str = ""
    noise_digest: str = ""
    noise: object = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        """What this walk starts from, for people: 'seed 7' or 'survey object 42'."""
        return self.source or f"seed {self.seed}"

    @property
    def condition_dict(self) -> dict[str, float | None]:
        return dict(self.conditions)

    def sampling(self, positions: list[float]) -> tuple[list[int], list[float], dict]:
        """(seeds, redshifts, further conditions) that draw the frames at ``positions`` along this walk's axis."""
        n = len(positions)
        if self.axis == REDSHIFT_AXIS:
            return [self.seed] * n, [float(z) for z in positions], self.condition_dict
        redshifts = [float(self.at_redshift)] * n
        if self.axis == SEED_AXIS:
            return [int(round(seed)) for seed in positions], redshifts, self.condition_dict
        return [self.seed] * n, redshifts, self.condition_dict | {self.axis: np.asarray(positions, dtype=np.float64)}

    def describe(self, position: float, decimals: int = 2) -> str:
        """Where ``position`` is on this walk, for people: 'z = 0.50', or 'true_axis_ratio = 0.30 at z = 0.50'."""
        if self.axis == REDSHIFT_AXIS:
            return f"z = {position:.{decimals}f}"
        if self.axis == SEED_AXIS:
            return f"seed {int(round(position))} at z = {self.at_redshift:.2f}"
        return f"{self.axis} = {position:.{decimals}f} at z = {self.at_redshift:.2f}"

    def redshift_at(self, position: float) -> float:
        """The redshift the model is conditioned on for the frame at ``position``: the position itself along the
        redshift, the fixed ``at_redshift`` along a label or the seed."""
        return float(position) if self.axis == REDSHIFT_AXIS else float(self.at_redshift)


def position_key(position: float) -> float:
    """A position as frames are keyed by it: two positions closer than ``MATCH_TOLERANCE`` are one frame."""
    return round(float(position), POSITION_KEY_DECIMALS)


def bake_order(n: int) -> list[int]:
    """Indices 0..n-1 coarse-to-fine: both ends, then midpoints of ever smaller gaps.

    After k frames the largest gap along the axis is about range/k, whatever k is, so dragging during baking
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


def png_data_url(rgb: np.ndarray, scale: int = DISPLAY_SCALE) -> str:
    """(H,W,3) uint8, row 0 at the bottom (FITS convention) -> a PNG data URL, row 0 at the top, enlarged."""
    from PIL import Image

    rgb = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[::-1])
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(eq=False)
class Frame:
    position: float  # along its walk's axis (a redshift, a label's value or a seed), rounded by position_key
    image: np.ndarray  # (5,H,W) float32 survey flux
    measurements: dict[str, float]  # LIVE_COLUMNS (fast mode) and colours.COLOUR_COLUMNS; NaN where not measured
    exact_grid: bool  # True if on the baking grid
    walk: WalkKey | None = None  # the walk it belongs to; None (a frame made by hand): a walk along the redshift
    _urls: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def redshift(self) -> float:
        """The redshift the model drew this frame at, whatever its walk's axis (the scale bar, the sizes in kpc)."""
        return self.walk.redshift_at(self.position) if self.walk is not None else float(self.position)

    def matches(self, position: float) -> bool:
        """Whether this is the frame at ``position`` itself (the exact frame), not merely the nearest one."""
        return abs(self.position - float(position)) < MATCH_TOLERANCE

    def rgb(self, band: str = COLOUR) -> np.ndarray:
        """(H,W,3) uint8 with the fixed stretch every view and export uses: colour, or one band in grey."""
        from galaxy_explorer.output.export import rgb_frames

        return rgb_frames(self.image[None], None if band == COLOUR else band)[0]

    def data_url(self, band: str = COLOUR) -> str:
        """The frame as the page shows it: a PNG data URL, made once per band and shared by every session."""
        url = self._urls.get(band)
        if url is None:
            url = self._urls[band] = png_data_url(self.rgb(band))
        return url


Listener = Callable[["FrameCache", list[Frame]], None]


class FrameCache:
    """Frames of one walk by position along its axis, shared by the sessions showing it; written by the generation
    thread, read by the sessions' UI threads (hence the lock). Sessions ``subscribe`` to hear of new frames."""

    def __init__(self, key: WalkKey, grid: np.ndarray):
        self.key = key
        self.grid = np.asarray(grid, dtype=np.float64)
        self._grid_keys = {position_key(position) for position in self.grid}
        self._frames: dict[float, Frame] = {}
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self.bake_started: float | None = None  # perf_counter() when baking began
        self.bake_seconds: float | None = None  # wall time to fill the grid, once filled

    def add(self, position: float, image: np.ndarray, measurements: dict[str, float]) -> Frame:
        """Keep a frame (listeners hear of it through ``publish``)."""
        at = position_key(position)
        frame = Frame(at, np.asarray(image, dtype=np.float32), dict(measurements), at in self._grid_keys, self.key)
        with self._lock:
            self._frames[at] = frame
        return frame

    def publish(self, frames: list[Frame]) -> None:
        """Tell the subscribed sessions about new frames (on the calling thread: listeners must be quick)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(self, frames)

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def in_use(self) -> bool:
        """Whether a session is showing this walk (it is then never dropped from the store)."""
        with self._lock:
            return bool(self._listeners)

    def get(self, position: float) -> Frame | None:
        with self._lock:
            return self._frames.get(position_key(position))

    def frames(self) -> list[Frame]:
        """All frames, grid and exact, sorted by position."""
        with self._lock:
            return sorted(self._frames.values(), key=lambda frame: frame.position)

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def nearest(self, position: float) -> Frame | None:
        """The cached frame closest to ``position`` (grid or exact), or None while the cache is empty."""
        with self._lock:
            if not self._frames:
                return None
            keys = np.fromiter(self._frames.keys(), dtype=np.float64, count=len(self._frames))
            return self._frames[float(keys[np.argmin(np.abs(keys - position))])]

    def grid_order(self) -> list[float]:
        """The grid's positions in baking (coarse-to-fine) order."""
        return [float(self.grid[i]) for i in bake_order(len(self.grid))]

    def missing_grid_indices(self) -> list[int]:
        """Grid indices still to bake, in coarse-to-fine order."""
        with self._lock:
            have = set(self._frames)
        return [i for i in bake_order(len(self.grid)) if position_key(self.grid[i]) not in have]

    @property
    def n_baked(self) -> int:
        with self._lock:
            return sum(1 for frame in self._frames.values() if frame.exact_grid)

    @property
    def complete(self) -> bool:
        return self.n_baked >= len(self.grid)

    def grid_series(self, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Baked grid frames so far, by position: {'position': along the axis, 'redshift': what each was drawn at,
        name: measurement, ...}."""
        with self._lock:
            frames = sorted((f for f in self._frames.values() if f.exact_grid), key=lambda f: f.position)
        series = {"position": np.array([f.position for f in frames], dtype=np.float64),
                  "redshift": np.array([f.redshift for f in frames], dtype=np.float64)}
        for name in names:
            series[name] = np.array([f.measurements.get(name, np.nan) for f in frames], dtype=np.float64)
        return series


class FrameStore:
    """The process's walks, least recently used first out once more than ``max_frames`` frames are kept. A walk a
    session is showing, or one that is ``pin``ned (the default walk, baked at server start), is never dropped."""

    def __init__(self, max_frames: int = DEFAULT_MAX_FRAMES):
        self.max_frames = int(max_frames)
        self._caches: dict[tuple, FrameCache] = {}
        self._pinned: set[tuple] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _store_key(key: WalkKey, grid: np.ndarray) -> tuple:
        grid = np.asarray(grid, dtype=np.float64)
        return (key, len(grid), position_key(grid[0]) if len(grid) else 0.0,
                position_key(grid[-1]) if len(grid) else 0.0)

    def get_or_create(self, key: WalkKey, grid: np.ndarray, pin: bool = False) -> FrameCache:
        store_key = self._store_key(key, grid)
        with self._lock:
            cache = self._caches.pop(store_key, None)
            if cache is None:
                cache = FrameCache(key, grid)
            self._caches[store_key] = cache  # now the most recently used
            if pin:
                self._pinned.add(store_key)
        self.trim()
        return cache

    def trim(self) -> None:
        """Drop least recently used walks, not in use and not pinned, while more than ``max_frames`` are kept."""
        with self._lock:
            total = sum(len(cache) for cache in self._caches.values())
            for store_key in list(self._caches):
                if total <= self.max_frames:
                    break
                cache = self._caches[store_key]
                if store_key in self._pinned or cache.in_use:
                    continue
                total -= len(cache)
                del self._caches[store_key]

    def clear(self) -> None:
        with self._lock:
            self._caches.clear()
            self._pinned.clear()

    @property
    def n_frames(self) -> int:
        with self._lock:
            return sum(len(cache) for cache in self._caches.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._caches)

    def __contains__(self, cache: FrameCache) -> bool:
        with self._lock:
            return any(kept is cache for kept in self._caches.values())


_STORE = FrameStore()


def frame_store() -> FrameStore:
    """The process-wide store every session shares."""
    return _STORE
