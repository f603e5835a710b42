"""Real survey galaxies near the slider's redshift (or those selected in the colour plots), and their morphology and
aperture colours in a redshift window.

The real distribution is measured with the same ``morphology.measure`` and aperture colours
(``app_parts.state.colours``) as the generated frames (one pipeline for both). Windows are centred on a coarse
redshift grid so that nearby slider positions share one window, and each window's measurements are kept for the whole
process: the second visitor to a redshift pays nothing. Measuring is done in small chunks, so the session worker can
stop between chunks for more urgent work and carry on later without losing what it measured.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from galaxy_explorer.app_parts.state.colours import COLOUR_COLUMNS, measure_colours
from galaxy_explorer.app_parts.state.resources import shared
from galaxy_explorer.app_parts.state.walk import LIVE_COLUMNS

GRID_GALAXIES = 12
WINDOW_HALF_WIDTH = 0.1  # redshift window z ± 0.1 for the real distribution
WINDOW_CENTRE_STEP = 0.05  # window centres are multiples of this, so windows are shared
MAX_WINDOW_GALAXIES = 200  # a random subset beyond this: enough for a histogram, ~1 s to measure
MIN_WINDOW_GALAXIES = 10  # fewer than this: say so rather than draw a histogram of noise
NEAR_TOLERANCE = 0.15  # nearest survey galaxy farther than this in z: warn that none are near z
MEASURE_CHUNK = 20


@dataclass(frozen=True)
class Neighbours:
    """The survey galaxies on the grid, closest to ``redshift`` first: the nearest in the survey, or (``selected`` >
    0) the nearest among those selected in the colour plots."""

    redshift: float
    rows: np.ndarray
    galaxy_redshift: np.ndarray
    object_id: np.ndarray
    images: np.ndarray  # (k,5,H,W) survey flux
    selected: int = 0  # how many survey galaxies are selected (0: these are the nearest to the redshift)
    selection_note: str = ""  # how they were selected, for people ("box in g − i against i")
    _pictures: dict = field(default_factory=dict, compare=False, repr=False)

    def pictures(self, band: str = "colour") -> np.ndarray:
        """(k,H,W,3) uint8 with the fixed stretch (colour, or one band in grey), made once per band (the session's
        worker makes the colour ones, so the UI thread only sends them)."""
        if band not in self._pictures:
            from galaxy_explorer.output.export import rgb_frames

            self._pictures[band] = rgb_frames(self.images, None if band == "colour" else band) if len(self.rows) \
                else np.zeros((0,) + tuple(self.images.shape[2:]) + (3,), np.uint8)
        return self._pictures[band]

    @property
    def max_offset(self) -> float:
        return float(np.max(np.abs(self.galaxy_redshift - self.redshift))) if len(self.rows) else np.inf

    @property
    def nearest_offset(self) -> float:
        return float(np.min(np.abs(self.galaxy_redshift - self.redshift))) if len(self.rows) else np.inf

    @property
    def near(self) -> bool:
        """Whether the survey has galaxies near this redshift at all."""
        return self.nearest_offset <= NEAR_TOLERANCE


def nearest_galaxies(survey, redshift: float, k: int = GRID_GALAXIES) -> Neighbours:
    rows = np.asarray(survey.nearest(float(redshift), min(k, len(survey))), dtype=np.int64)
    images = survey.images(rows) if len(rows) else np.zeros((0,) + tuple(survey.image_shape), np.float32)
    return Neighbours(
        float(redshift), rows, np.asarray(survey.redshift)[rows], np.asarray(survey.object_id)[rows], images
    )


def selected_galaxies(survey, rows, redshift: float, note: str = "", k: int = GRID_GALAXIES) -> Neighbours:
    """The ``k`` of the selected survey ``rows`` nearest ``redshift`` (the grid's order), and how many were selected."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    galaxy_redshift = np.asarray(survey.redshift)[rows]
    shown = rows[np.argsort(np.abs(galaxy_redshift - float(redshift)), kind="stable")[:k]]
    images = survey.images(shown) if len(shown) else np.zeros((0,) + tuple(survey.image_shape), np.float32)
    return Neighbours(float(redshift), shown, np.asarray(survey.redshift)[shown], np.asarray(survey.object_id)[shown],
                      images, selected=len(rows), selection_note=note)


def window_bounds(redshift: float) -> tuple[float, float]:
    """The redshift window [low, high) used for the real distribution around ``redshift``."""
    centre = round(float(redshift) / WINDOW_CENTRE_STEP) * WINDOW_CENTRE_STEP
    return round(max(0.0, centre - WINDOW_HALF_WIDTH), 6), round(centre + WINDOW_HALF_WIDTH, 6)


@dataclass
class WindowMorphology:
    """Morphology and aperture colours of (a random subset of) the survey galaxies in one redshift window, filled chunk
    by chunk (``values``: one array per ``LIVE_COLUMNS`` and ``COLOUR_COLUMNS`` name, aligned with ``rows``)."""

    z_min: float
    z_max: float
    n_in_window: int
    rows: np.ndarray  # the measured subset, sorted
    values: dict[str, np.ndarray] = field(default_factory=dict)
    flags: np.ndarray | None = None
    done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def complete(self) -> bool:
        return self.done >= len(self.rows)

    def advance(self, survey, measure, chunk: int = MEASURE_CHUNK) -> None:
        """Measure the next ``chunk`` galaxies; thread-safe, so two sessions can share a window."""
        with self._lock:
            if self.complete:
                return
            start, stop = self.done, min(self.done + chunk, len(self.rows))
            images = survey.images(self.rows[start:stop])
            result = measure(images, mode="fast") | measure_colours(images)  # (every survey is g,r,i,z,y)
            if not self.values:
                self.values = {name: np.full(len(self.rows), np.nan) for name in (*LIVE_COLUMNS, *COLOUR_COLUMNS)}
                self.flags = np.zeros(len(self.rows), dtype=np.int64)
            for name in (*LIVE_COLUMNS, *COLOUR_COLUMNS):
                self.values[name][start:stop] = result[name]
            self.flags[start:stop] = result["flag"]
            self.done = stop

    def detected(self, name: str) -> np.ndarray:
        """Finite measurements of ``name`` among the galaxies measured so far."""
        if not self.values:
            return np.zeros(0)
        values = self.values[name][: self.done]
        return values[np.isfinite(values)]

    def measured(self, name: str) -> np.ndarray:
        """``name`` for every galaxy measured so far, aligned with ``rows[:done]`` (NaN where not measured)."""
        if name not in self.values:
            return np.full(self.done, np.nan)
        return self.values[name][: self.done]

    @property
    def too_few(self) -> bool:
        return self.n_in_window < MIN_WINDOW_GALAXIES


def window_morphology(survey, redshift: float) -> WindowMorphology:
    """The (process-wide, shared) window record for ``redshift``; measuring it is left to ``advance``."""
    z_min, z_max = window_bounds(redshift)

    def make() -> WindowMorphology:
        rows = np.asarray(survey.in_window(z_min, z_max), dtype=np.int64)
        n_in_window = len(rows)
        if n_in_window > MAX_WINDOW_GALAXIES:
            # Fixed seed: the same subset every time, in every session.
            rows = np.random.default_rng(0).choice(rows, MAX_WINDOW_GALAXIES, replace=False)
        return WindowMorphology(z_min, z_max, n_in_window, np.sort(rows))

    return shared(("real-window-morphology", str(survey.path), z_min, z_max), make)


def percentile_of(value: float, sample: np.ndarray) -> float:
    """Percentage of ``sample`` below ``value`` (NaN if either is missing)."""
    if not np.isfinite(value) or len(sample) == 0:
        return float("nan")
    return float(100.0 * np.mean(sample < value))
