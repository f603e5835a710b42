"""The colour card without a browser: stand-in controllers (plain ``param`` objects with the controllers' outputs) are
set by hand, and what the HoloViews plots would draw is read from their pipes and elements; a selection is a
``Selection1D`` event, as the browser's box, lasso or click sends it."""

from __future__ import annotations

from pathlib import Path

import holoviews as hv
import numpy as np
import param
import pytest
from bokeh.document import Document

from galaxy_explorer.app_parts.components.colour_card import (
    MAX_WAIT_MS,
    SETTLE_MS,
    ColourCard,
    model_points,
    model_rug,
    survey_histogram,
    survey_points,
)
from galaxy_explorer.app_parts.controllers.colour_controller import ColourBands
from galaxy_explorer.app_parts.controllers.real import WindowMorphology
from galaxy_explorer.app_parts.state.colours import COLOUR_COLUMNS
from galaxy_explorer.app_parts.state.session import SessionMessages, UiThread
from galaxy_explorer.app_parts.state.walk import SEED_AXIS, Frame, FrameCache, WalkKey
from tests.test_app_cards import KEY, SurveySide, Walk

N = 40


class Population(param.Parameterized):
    population = param.ClassSelector(class_=FrameCache, default=None)
    revision = param.Integer(default=0)


class Colours(param.Parameterized):
    bands = param.ClassSelector(class_=ColourBands, default=None)
    activated = False

    def activate(self) -> None:
        self.activated = True


class Survey:
    path = Path("/cache/builtin-synthetic-v2-testing.hdf5")
    redshift = np.linspace(0.0, 1.0, 100)
    object_id = np.arange(100) + 10 ** 16


class RecordingSurveySide(SurveySide):
    """The survey side's outputs, and its ``select`` as the card calls it (a real controller then sets ``selection``)."""

    def __init__(self, **params):
        super().__init__(**params)
        self.asked: list[tuple] = []

    def select(self, rows, note: str = "") -> None:
        self.asked.append((None if rows is None else [int(r) for r in rows], note))
        self.param.update(selection=None if rows is None else tuple(sorted(int(r) for r in rows)), selection_note=note)


def colour_window(rng) -> WindowMorphology:
    """N survey galaxies (rows 40–79) with colours: g − r from 0 to 1.95 in steps of 0.05."""
    window = WindowMorphology(0.4, 0.6, N, np.arange(40, 40 + N), done=N)
    window.values = {"g_r": np.arange(N) * 0.05, "r_i": rng.uniform(0.2, 1.0, N), "i_mag": rng.uniform(20, 24, N)}
    window.values["g_i"] = window.values["g_r"] + window.values["r_i"]
    return window


def colour_frame(position: float, g_r: float, key: WalkKey = KEY, on_grid: bool = True) -> Frame:
    measurements = {"g_r": g_r, "r_i": 0.5, "g_i": g_r + 0.5, "i_mag": 22.0}
    return Frame(position, np.zeros((5, 8, 8), np.float32), measurements, on_grid, key)


def population_cache(values: list[float]) -> FrameCache:
    key = WalkKey("model.safetensors", 42, "dpmpp2m", 20, axis=SEED_AXIS, at_redshift=0.5)
    cache = FrameCache(key, np.arange(43, 43 + 12, dtype=float))
    for seed, g_r in zip(cache.grid, values):
        cache.add(float(seed), np.zeros((5, 8, 8)), {"g_r": g_r, "r_i": 0.5, "g_i": g_r + 0.5, "i_mag": 23.0})
    return cache


@pytest.fixture
def parts():
    walk, side = Walk(requested=0.5), RecordingSurveySide(survey=Survey())
    population, colours = Population(), Colours()
    card = ColourCard(walk, side, population, colours, UiThread(None, SessionMessages()))
    card.open()
    return card, walk, side, population, colours


def test_the_diagrams_show_the_survey_window_the_generated_population_and_this_frame(parts):
    card, walk, side, population, _ = parts
    side.window = colour_window(np.random.default_rng(0))
    population.population = population_cache([0.7, 0.9, 1.1])  # 3 of 12 made so far
    walk.frame = colour_frame(0.5, 1.3)
    layers = card.pipe.data
    survey = survey_points("i_mag", "g_i")(layers)
    assert len(survey) == N and survey.kdims == ["i_mag", "g_i"]
    assert list(survey.dimension_values("row")) == list(range(40, 40 + N))
    model = model_points("r_i", "g_r")(layers)
    assert list(model.dimension_values("kind")) == ["generated"] * 3 + ["this frame"]
    assert list(model.dimension_values("g_r")) == [0.7, 0.9, 1.1, 1.3]
    counts = survey_histogram(layers).dimension_values("count")
    assert counts.sum() == N
    assert len(model_rug(layers)) == 4
    # More of the population arrives: it joins the diagrams.
    population.population = population_cache([0.7, 0.9, 1.1, 1.2, 1.25])
    assert len(model_points("i_mag", "g_i")(card.pipe.data)) == 6
    # And the numbers: survey median, the population's and their difference, this frame's.
    g_r_row = card.table.object.split("<tr>")[2]  # the g − r row: survey, generated, their difference, this frame
    survey_median = np.median(np.arange(N) * 0.05)
    assert f"<td>{survey_median:.2f} [" in g_r_row and "<td>1.10 (5)</td>" in g_r_row
    assert f"{1.10 - survey_median:+.2f}" in g_r_row and "<td>1.30</td>" in g_r_row


def test_the_card_says_what_it_shows_and_what_it_is_not(parts):
    card, walk, side, population, _ = parts
    side.window = colour_window(np.random.default_rng(0))
    walk.cache = FrameCache(KEY, np.linspace(0, 2, 3))
    text = card.header.object
    assert "SYNTHETIC" in text and "0.40 ≤ z &lt; 0.60" in text
    assert "5-px (0.84″) circular aperture" in text and "not PSF-matched" in text and "zero point 27" in text
    assert "not one galaxy's history" in card.track_note.object


def test_a_box_or_a_click_in_a_diagram_sends_those_survey_galaxies_to_the_grid_and_every_plot_shows_them(parts):
    card, _, side, _, _ = parts
    side.window = colour_window(np.random.default_rng(0))
    card.selections["cmd"].event(index=[0, 2, 5])
    assert side.asked == [([40, 42, 45], "picked in the colour–magnitude diagram, g − i against i")]
    # Both diagrams now draw the same galaxies as selected (Bokeh's own selection), the histogram their bars.
    for x, y in (("i_mag", "g_i"), ("r_i", "g_r")):
        element = survey_points(x, y)(card.pipe.data)
        assert hv.Store.lookup_options("bokeh", element, "plot").kwargs["selected"] == [0, 2, 5]
    assert card.pipe.data.survey.selected == frozenset({40, 42, 45})
    # The plot's echo of that selection is not a new one.
    card.selections["ccd"].event(index=[0, 2, 5])
    assert len(side.asked) == 1
    # A click on empty space: no selection, the grid goes back to the nearest galaxies.
    card.selections["ccd"].event(index=[])
    assert side.asked[-1] == (None, "picked in the colour–colour diagram, g − r against r − i")
    assert card.pipe.data.survey.selected == frozenset()


def test_a_click_on_a_histogram_bar_selects_the_galaxies_counted_in_it(parts):
    card, _, side, _, _ = parts
    side.window = colour_window(np.random.default_rng(0))
    survey = card.pipe.data.survey
    counts = survey_histogram(card.pipe.data).dimension_values("count")
    card.selections["hist"].event(index=[3])
    rows, note = side.asked[-1]
    low, high = survey.edges[3], survey.edges[4]
    assert len(rows) == counts[3] > 0
    assert all(low <= survey.table["g_r"][row - 40] <= high for row in rows)
    assert note == f"histogram: g − r between {low:.2f} and {high:.2f}"
    assert card.pipe.data.survey.bins == (3,)
    # The selection ends elsewhere (the Clear button, another window): every plot drops it.
    side.param.update(selection=None, selection_note="")
    assert card.pipe.data.survey.bins == () and card.pipe.data.survey.indices() == []


def test_the_track_is_this_seed_along_its_baked_walk_over_the_survey_band(parts):
    card, walk, _, _, colours = parts
    cache = FrameCache(KEY, np.array([0.1, 0.5, 0.9]))
    for z, g_r in ((0.1, 0.4), (0.5, 0.6), (0.9, 0.8)):
        frame = colour_frame(z, g_r)
        cache.add(z, frame.image, frame.measurements)
    walk.param.update(cache=cache, revision=1, frame=cache.get(0.5), requested=0.5)
    track = card.track_pipe.data
    assert list(track.track["z"]) == [0.1, 0.5, 0.9] and list(track.track["g_r"]) == [0.4, 0.6, 0.8]
    assert list(track.seed["g_r"]) == [0.6] and track.redshift == 0.5
    assert "measuring" in card.track_note.object
    z = np.repeat([0.05, 0.15], 10)
    colours.bands = ColourBands(np.array([0.0, 0.1, 0.2]), np.arange(20), z,
                                {name: np.repeat([0.3, 0.5], 10) for name in COLOUR_COLUMNS}, done=20)
    assert list(card.track_pipe.data.band["median"]) == [0.3, 0.5]
    card.colour.value = "g_i"
    assert card.track_pipe.data.colour == "g_i" and card.pipe.data.survey.colour == "g_i"
    # A walk along a label: every frame at one redshift, so there is no track, and the note says why.
    walk.cache = FrameCache(WalkKey("m", 7, "ddim", 10, axis="true_axis_ratio", at_redshift=0.5), np.linspace(0, 1, 3))
    assert len(card.track_pipe.data.track["z"]) == 0 and "all its frames are at one redshift" in card.track_note.object


class ServedUi(UiThread):
    """A served session's UiThread, without a server, on a clock of its own: a delayed call runs when ``advance``
    has moved the clock past its time."""

    def __init__(self):
        super().__init__(None, SessionMessages())
        self.now = 1000.0  # seconds
        self.delayed: dict[str, tuple[float, object]] = {}

    @property
    def served(self) -> bool:
        return True

    def call_later(self, key, delay_ms, callback) -> None:
        self.delayed.setdefault(key, (self.now + delay_ms / 1000.0, callback))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for key, (due, callback) in list(self.delayed.items()):
            if due <= self.now:
                del self.delayed[key]
                callback()


@pytest.fixture
def served(monkeypatch):
    """A served card on the ServedUi's clock, and what it sends to its diagrams."""
    from galaxy_explorer.app_parts.components import colour_card

    walk, side, ui = Walk(requested=0.5), RecordingSurveySide(survey=Survey()), ServedUi()
    monkeypatch.setattr(colour_card.time, "perf_counter", lambda: ui.now)
    card = ColourCard(walk, side, Population(), Colours(), ui)
    card.open()
    ui.advance(10)
    sent = []
    card.pipe.add_subscriber(lambda data: sent.append(data))
    return card, walk, side, ui, sent


def test_nothing_is_redrawn_while_the_slider_is_dragged_and_everything_follows_on_release(served):
    card, walk, side, ui, sent = served
    walk.dragging = True
    side.window = colour_window(np.random.default_rng(0))  # the survey side follows the slider now and then
    walk.requested = 0.7
    assert ui.delayed == {}
    ui.advance(10)
    assert sent == []
    walk.param.update(dragging=False, frame=colour_frame(0.7, 1.0), requested=0.7)
    ui.advance(SETTLE_MS / 1000 + 0.01)
    assert len(sent) == 1 and len(sent[0].survey.table["row"]) == N


def test_a_release_is_drawn_once_when_its_frame_window_and_population_have_come(served):
    card, walk, side, ui, sent = served
    population = card._population
    walk.param.update(frame=colour_frame(0.7, 1.0), requested=0.7)  # the exact frame
    ui.advance(0.5)
    side.window = colour_window(np.random.default_rng(0))  # the survey window
    ui.advance(0.5)
    population.population = population_cache([0.7, 0.9, 1.1, 1.2])  # the generated galaxies, four at a time
    ui.advance(0.5)
    population.population = population_cache([0.7, 0.9, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6])
    assert sent == []  # still coming
    ui.advance(SETTLE_MS / 1000 + 0.01)
    assert len(sent) == 1 and len(sent[0].model.population["seed"]) == 8
    # Changes that never stop (a bake adds a frame every half second) are still drawn every MAX_WAIT_MS.
    tracks = []
    card.track_pipe.add_subscriber(lambda data: tracks.append(data))
    for _ in range(int(MAX_WAIT_MS / 500) + 2):
        walk.revision += 1
        ui.advance(0.5)
    assert len(tracks) == 1 and len(sent) == 1  # the track, drawn once while the bake goes on; the diagrams not


def test_the_card_renders_as_bokeh_plots_the_browser_can_find(parts):
    card, walk, side, population, _ = parts
    side.window = colour_window(np.random.default_rng(0))
    population.population = population_cache([0.7, 0.9])
    walk.frame = colour_frame(0.5, 1.3)
    root = card.__panel__().get_root(Document())
    for name in ("colour-cmd", "colour-ccd", "colour-hist", "colour-track"):
        assert root.select_one({"name": name}) is not None, name
    source = root.select_one({"name": "colour-cmd-survey"})
    assert len(source.data["row"]) == N
    # The next window goes through the pipe into the same plot and data source, not a new plot.
    smaller = colour_window(np.random.default_rng(1))
    smaller.done = 25
    side.window = smaller
    assert root.select_one({"name": "colour-cmd-survey"}) is source and len(source.data["row"]) == 25
    assert card._ui._messages.problem == ""


def test_the_card_costs_nothing_until_it_is_opened_and_then_draws_what_changed_meanwhile():
    walk, side, colours = Walk(requested=0.5), RecordingSurveySide(survey=Survey()), Colours()
    card = ColourCard(walk, side, Population(), colours, UiThread(None, SessionMessages()))
    side.window = colour_window(np.random.default_rng(0))
    walk.frame = colour_frame(0.5, 1.3)
    assert not card.built and not hasattr(card, "pipe") and not colours.activated
    assert "click to open" in card.__panel__().title
    card.open()
    assert card.built and colours.activated and "click to open" not in card.__panel__().title
    assert len(card.pipe.data.survey.table["row"]) == N and list(card.pipe.data.model.seed["g_r"]) == [1.3]
