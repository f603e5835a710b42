"""The colour panels' data: the survey's colours against redshift, and the tables the colour plots draw. No Panel in
here, and no plotting.

Every colour is an aperture colour measured where the stamp's morphology is (``app_parts.state.colours``): a frame's
on the generation thread (in ``Frame.measurements``), a survey galaxy's in its redshift window's chunks
(``WindowMorphology.values``). What is added here:

- ``ColourBands``: the survey's median and 16–84% range of each colour in redshift bins across its whole range,
  measured on a fixed random sample of up to ``BAND_GALAXIES_PER_BIN`` galaxies a bin, chunk by chunk, once per
  process (shared by every session, like a window);
- ``ColourController``: one session's handle on it (measured on the session's worker at its lowest priority,
  ``extra``, after everything the slider asks for, once the colour card has been opened), with the output ``bands``
  (None until measured);
- plain functions that turn a window, a population and a walk into the columns the plots draw, and the rows a
  selection in a plot means.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np
import param

from galaxy_explorer.app_parts.controllers.real import WindowMorphology
from galaxy_explorer.app_parts.state.colours import COLOUR_COLUMNS, measure_colours
from galaxy_explorer.app_parts.state.resources import shared
from galaxy_explorer.app_parts.state.walk import REDSHIFT_AXIS, Frame, FrameCache
from galaxy_explorer.app_parts.state.worker import SessionWorker, TaskContext

BAND_BIN_WIDTH = 0.1  # redshift bins of the survey's colour band
BAND_GALAXIES_PER_BIN = 40  # a fixed random sample of at most this many a bin: ~1 s to read and measure in all
BAND_MIN_GALAXIES = 8  # fewer in a bin: no median drawn there (a gap in the band, not a guess)
BAND_CHUNK = 40
HISTOGRAM_BINS = 20
SURVEY_COLUMNS = ("row", "object_id", "z", *COLOUR_COLUMNS)


@dataclass
class ColourBands:
    """The survey's colours in redshift bins (``edges``), measured on ``rows`` (a sample, sorted), chunk by chunk."""

    edges: np.ndarray
    rows: np.ndarray
    redshift: np.ndarray  # of each row
    values: dict[str, np.ndarray] = field(default_factory=dict)
    done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def complete(self) -> bool:
        return self.done >= len(self.rows)

    def advance(self, survey, chunk: int = BAND_CHUNK) -> None:
        """Measure the next ``chunk`` galaxies; thread-safe, so sessions share the work."""
        with self._lock:
            if self.complete:
                return
            start, stop = self.done, min(self.done + chunk, len(self.rows))
            measured = measure_colours(survey.images(self.rows[start:stop]))
            if not self.values:
                self.values = {name: np.full(len(self.rows), np.nan) for name in COLOUR_COLUMNS}
            for name in COLOUR_COLUMNS:
                self.values[name][start:stop] = measured[name]
            self.done = stop

    def summary(self, name: str) -> dict[str, np.ndarray]:
        """{'z': bin centres, 'median', 'low' (16th percentile), 'high' (84th), 'n'} of colour ``name`` over the
        bins with at least ``BAND_MIN_GALAXIES`` finite measurements."""
        out = {key: [] for key in ("z", "median", "low", "high", "n")}
        if self.values:
            values, z = self.values[name][: self.done], self.redshift[: self.done]
            which = np.digitize(z, self.edges) - 1
            for k in range(len(self.edges) - 1):
                sample = values[(which == k) & np.isfinite(values)]
                if len(sample) >= BAND_MIN_GALAXIES:
                    low, median, high = np.percentile(sample, [16, 50, 84])
                    for key, value in zip(out, (0.5 * (self.edges[k] + self.edges[k + 1]), median, low, high,
                                                len(sample))):
                        out[key].append(value)
        return {key: np.asarray(value, dtype=np.float64) for key, value in out.items()}


def survey_colour_bands(survey) -> ColourBands:
    """The (process-wide, shared) colour bands of ``survey``; measuring them is left to ``advance``."""

    def make() -> ColourBands:
        z = np.asarray(survey.redshift, dtype=np.float64)
        edges = np.arange(0.0, (np.max(z) if len(z) else 0.0) + BAND_BIN_WIDTH, BAND_BIN_WIDTH)
        rng = np.random.default_rng(0)  # the same sample in every session and every start
        which = np.digitize(z, edges) - 1
        chosen = [rng.choice(members, min(len(members), BAND_GALAXIES_PER_BIN), replace=False)
                  for k in range(len(edges) - 1) if len(members := np.flatnonzero(which == k))]
        rows = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
        return ColourBands(edges, rows.astype(np.int64), z[rows])

    return shared(("survey-colour-bands", str(survey.path)), make)


class ColourController(param.Parameterized):
    """One session's survey colour bands: measured on its worker, once ``activate``d, whenever a survey loads
    (``survey_side.survey``)."""

    bands = param.ClassSelector(class_=ColourBands, default=None, doc="The survey's colours against z, once measured")

    def __init__(self, worker: SessionWorker, run_on_ui: Callable[[Callable[[], None]], None], survey_side,
                 **params):
        super().__init__(**params)
        self._worker, self._run_on_ui, self._survey_side = worker, run_on_ui, survey_side
        self.active = False

    def activate(self) -> None:
        """From now on, measure the band of every survey loaded (the colour card was opened; nothing before)."""
        if not self.active:
            self.active = True
            self._survey_side.param.watch(self._survey_changed, "survey")
            self._survey_changed()

    def _survey_changed(self, *_events) -> None:
        survey = self._survey_side.survey
        self.bands = None
        if survey is not None:
            self._worker.submit_once("extra", partial(self._measure, survey), name="survey colour bands")

    def _measure(self, survey, ctx: TaskContext) -> None:
        bands = survey_colour_bands(survey)
        while not bands.complete:
            ctx.checkpoint()  # everything the slider asks for goes first; what was measured is kept
            bands.advance(survey)
        self._run_on_ui(partial(self._measured, survey, bands))

    def _measured(self, survey, bands: ColourBands) -> None:
        if survey is self._survey_side.survey:
            self.bands = bands


# -- the tables the plots draw -----------------------------------------------------------------------------------
def survey_table(window: WindowMorphology | None, survey) -> dict[str, np.ndarray]:
    """The survey galaxies of ``window`` measured so far whose colours and i magnitude are all finite: one column per
    ``SURVEY_COLUMNS`` (``row``: the survey's row; ``object_id`` as text, ids have ~17 digits)."""
    if window is None or survey is None or window.done == 0:
        return empty_survey_table()
    rows = window.rows[: window.done]
    columns = {name: window.measured(name) for name in COLOUR_COLUMNS}
    keep = np.all([np.isfinite(values) for values in columns.values()], axis=0)
    rows = rows[keep]
    object_id = np.asarray([str(int(o)) for o in np.asarray(survey.object_id)[rows]], dtype=object)
    return {"row": rows, "object_id": object_id,
            "z": np.asarray(survey.redshift, dtype=np.float64)[rows],
            **{name: values[keep] for name, values in columns.items()}}


def empty_survey_table() -> dict[str, np.ndarray]:
    return {"row": np.zeros(0, np.int64), "object_id": np.zeros(0, dtype=object),
            **{name: np.zeros(0) for name in ("z", *COLOUR_COLUMNS)}}


def frames_table(frames: list[Frame | None], seeds: list[int]) -> dict[str, np.ndarray]:
    """Generated frames made so far (None: not yet), with their seeds: 'seed', 'z' and one column per colour."""
    made = [(frame, seed) for frame, seed in zip(frames, seeds) if frame is not None]
    table = {"seed": np.asarray([seed for _, seed in made], dtype=np.int64),
             "z": np.asarray([frame.redshift for frame, _ in made], dtype=np.float64)}
    for name in COLOUR_COLUMNS:
        table[name] = np.asarray([frame.measurements.get(name, np.nan) for frame, _ in made], dtype=np.float64)
    return table


def population_table(cache: FrameCache | None) -> dict[str, np.ndarray]:
    """The generated population (a seed-axis walk) as far as it is made."""
    if cache is None:
        return frames_table([], [])
    return frames_table([cache.get(seed) for seed in cache.grid], [int(round(seed)) for seed in cache.grid])


def seed_track(cache: FrameCache | None) -> dict[str, np.ndarray]:
    """This seed's colours along its walk's baked grid ('z' and one column per colour), for a walk along the
    redshift; empty for a label walk (all its frames are at one redshift)."""
    if cache is None or cache.key.axis != REDSHIFT_AXIS:
        return {"z": np.zeros(0), **{name: np.zeros(0) for name in COLOUR_COLUMNS}}
    series = cache.grid_series(COLOUR_COLUMNS)
    return {"z": series["redshift"], **{name: series[name] for name in COLOUR_COLUMNS}}


def histogram_edges(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """Bin edges over every finite value of ``values``, except far outliers: the range stops half the 1st–99th
    percentile spread beyond those percentiles, so one odd galaxy does not squash the bars (``outside`` counts what
    is left out). (0, 1) split evenly when there are no values."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.linspace(0.0, 1.0, bins + 1)
    p1, p99 = np.percentile(values, [1, 99])
    low, high = max(values.min(), p1 - 0.5 * (p99 - p1)), min(values.max(), p99 + 0.5 * (p99 - p1))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def outside(values: np.ndarray, edges: np.ndarray) -> int:
    """How many finite ``values`` the histogram over ``edges`` leaves out."""
    values = np.asarray(values, dtype=np.float64)
    return int(np.sum(np.isfinite(values) & ((values < edges[0]) | (values > edges[-1]))))


def rows_in_bins(table: dict[str, np.ndarray], name: str, edges: np.ndarray, bins) -> np.ndarray:
    """Survey rows whose ``name`` falls in the histogram bins ``bins`` (indices into ``edges``; the last bin holds its
    upper edge, as numpy's histogram counts it)."""
    values = np.asarray(table[name], dtype=np.float64)
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    inside = (values >= edges[0]) & (values <= edges[-1])
    return np.asarray(table["row"])[inside & np.isin(which, list(bins))]


def median_range(values: np.ndarray) -> tuple[float, float, float, int]:
    """(median, 16th, 84th percentile, n) of the finite ``values``; NaNs and 0 when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan"), 0
    median, low, high = np.percentile(values, [50, 16, 84])
    return float(median), float(low), float(high), len(values)
