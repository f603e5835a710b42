"""The app's Viewer components without a browser or a model: stand-in controllers (plain ``param`` objects with the
controllers' output parameters) are set by hand, and the cards' panes and Bokeh sources say what would be drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import panel as pn
import param
import pytest

from galaxy_explorer.app_parts.components.cards import (
    NO_MODEL,
    Banners,
    GalaxyCard,
    ModelInfo,
    MorphologyCard,
    SurveyCard,
    inline_html,
)
from galaxy_explorer.app_parts.controllers.real import LIVE_COLUMNS, Neighbours, WindowMorphology
from galaxy_explorer.app_parts.state.session import ERROR_TOAST_MS, Notice, SessionMessages, UiThread
from galaxy_explorer.app_parts.state.walk import Frame, FrameCache, WalkKey


class Walk(param.Parameterized):
    """The WalkController's outputs, nothing else."""

    generator = param.Parameter(default=None)
    model_state = param.Selector(default="loading", objects=["loading", "ready", "none"])
    cache = param.ClassSelector(class_=FrameCache, default=None)
    revision = param.Integer(default=0)
    frame = param.ClassSelector(class_=Frame, default=None)
    requested = param.Number(default=0.5)
    dragging = param.Boolean(default=False)
    progress = param.String(default="")
    baked = param.Integer(default=0)
    bake_error = param.String(default="")
    grid_frames = 3


class SurveySide(param.Parameterized):
    survey = param.Parameter(default=None)
    state = param.Selector(default="loading", objects=["loading", "preparing", "ready", "none"])
    neighbours = param.ClassSelector(class_=Neighbours, default=None)
    window = param.ClassSelector(class_=WindowMorphology, default=None)
    selection = param.Parameter(default=None)
    selection_note = param.String(default="")
    clear_selection = param.Event()
    synthetic = True


class Model:
    checkpoint_path = Path("runs/x/model.safetensors")
    condition_ranges = {"redshift": (0.0, 4.0)}
    metadata = {"preset": "small", "training": {"step": 0, "images_seen": 0}}


KEY = WalkKey("model.safetensors", 42, "dpmpp2m", 20)


def frame(position: float, value: float = 1.0, on_grid: bool = True, walk: WalkKey = KEY) -> Frame:
    return Frame(position, np.full((5, 64, 64), value, np.float32), {name: 2.0 for name in LIVE_COLUMNS}, on_grid,
                 walk)


def picture(card) -> np.ndarray:
    """The picture on screen, decoded from its PNG data URL."""
    import base64
    import io

    from PIL import Image

    url = card.view.source.data["url"][0]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def baked_cache(n_baked: int, key: WalkKey = KEY) -> FrameCache:
    cache = FrameCache(key, np.linspace(0, 2, 3))
    for z in cache.grid[:n_baked]:
        cache.add(float(z), np.zeros((5, 64, 64)), {name: float(z) for name in LIVE_COLUMNS})
    return cache


@pytest.fixture
def ui():
    return UiThread(None, SessionMessages())


def test_galaxy_card_shows_the_frame_and_says_whether_it_is_exact(ui):
    walk = Walk(generator=Model(), model_state="ready")
    card = GalaxyCard(walk, ui, pn.widgets.FloatSlider())
    walk.param.update(cache=baked_cache(3), frame=frame(1.0), requested=1.0)
    assert card.view.shown == (1.0, "exact")
    assert card.frame_status.object == "Seed 42 at z = 1.00 (exact frame)"
    walk.requested = 1.2
    assert card.view.shown == (1.0, "baked") and card.view.source.data["requested"] == [1.2]
    assert "nearest baked frame, z = 1.000" in card.frame_status.object
    card.band = "i"
    rgb = picture(card)
    assert np.array_equal(rgb[..., 0], rgb[..., 2])  # one band: grey
    # The walk's frames are on the page for the slider's JavaScript, in the band shown.
    assert card.view.frames_source.data["position"] == [0.0, 1.0, 2.0]
    assert card.view.frames_source.data["url"][0] == walk.cache.frames()[0].data_url("i")


def test_galaxy_card_sends_each_frame_to_the_page_once(ui):
    walk = Walk(generator=Model(), model_state="ready")
    card = GalaxyCard(walk, ui, pn.widgets.FloatSlider())
    cache = baked_cache(1)
    walk.cache = cache
    assert card.view.frames_source.data["position"] == [0.0]
    streamed = []
    original = card.view.add_frames
    card.view.add_frames = lambda positions, urls: (streamed.append(list(positions)) if positions else None,
                                                    original(positions, urls))
    walk.requested = 0.37
    cache.add(1.0, np.zeros((5, 64, 64)), {})
    cache.add(0.37, np.zeros((5, 64, 64)), {})  # this session's exact frame joins too…
    cache.add(0.81, np.zeros((5, 64, 64)), {})  # …but not another session's, made elsewhere on the walk
    walk.revision += 1
    assert streamed == [[0.37, 1.0]] and sorted(card.view.frames_source.data["position"]) == [0.0, 0.37, 1.0]
    walk.revision += 1  # nothing new: nothing sent
    assert len(streamed) == 1


def test_galaxy_card_dims_the_last_frame_while_a_new_walk_is_made_and_shows_progress(ui):
    walk = Walk(generator=Model(), model_state="ready")
    card = GalaxyCard(walk, ui, pn.widgets.FloatSlider())
    walk.param.update(cache=baked_cache(3), frame=frame(1.0), requested=1.0)
    assert not card.view.dimmed and card.view.note.text == ""
    other = WalkKey("model.safetensors", 43, "dpmpp2m", 20)
    walk.param.update(cache=FrameCache(other, np.linspace(0, 2, 3)))  # seed 43: nothing made yet
    assert card.view.dimmed and card.view.shown == (1.0, "previous") and picture(card).any()
    assert card.view.note.text == "Generating seed 43…"
    walk.progress = "Generating seed 43 at z = 1.00: step 7/20"
    assert card.view.note.text.endswith("step 7/20")
    walk.param.update(frame=frame(1.0, walk=other), progress="")
    assert not card.view.dimmed and card.view.shown == (1.0, "exact") and card.view.note.text == ""


def test_galaxy_card_reports_bake_progress_completion_and_failure(ui):
    walk = Walk(generator=Model(), model_state="ready")
    card = GalaxyCard(walk, ui, pn.widgets.FloatSlider())
    walk.param.update(cache=baked_cache(1), baked=1)
    assert card.bake_progress.value == 1 and card.bake_progress.visible
    assert card.bake_status.object == "Baking frames for smooth dragging: 1/3 (seed 42)"
    walk.cache.bake_seconds = 2.5
    walk.param.update(cache=baked_cache(3), baked=3)
    assert not card.bake_progress.visible and card.bake_status.object.startswith("All 3 frames baked")
    walk.bake_error = "out of memory"
    assert card.bake_progress.bar_color == "danger" and card.bake_status.object == "Baking stopped: out of memory"


def test_galaxy_card_says_when_no_model_is_loaded(ui):
    walk = Walk()
    card = GalaxyCard(walk, ui, pn.widgets.FloatSlider())
    assert card.frame_status.object == "Loading the model…"
    walk.model_state = "none"
    assert card.frame_status.object == inline_html(NO_MODEL)


def test_survey_card_lists_the_neighbours_and_warns_when_none_are_near(ui):
    side = SurveySide()
    card = SurveyCard(side, ui)
    side.state = "preparing"
    assert "Preparing the built-in synthetic survey" in card.status.object
    near = Neighbours(0.5, np.arange(3), np.array([0.49, 0.5, 0.52]), np.arange(3) + 10, np.zeros((3, 5, 64, 64)))
    side.neighbours = near
    assert card.view.shown_rows == [0, 1, 2]
    assert card.status.object == "3 nearest to z = 0.50 (|Δz| ≤ 0.020); labels: z and object id"
    side.neighbours = Neighbours(3.9, np.arange(2), np.array([3.0, 3.1]), np.arange(2), np.zeros((2, 5, 64, 64)))
    assert card.status.object.startswith("<b>No survey galaxies within Δz = 0.15 of z = 3.90</b>")
    side.state = "none"
    assert "No survey loaded" in card.status.object


def test_morphology_card_follows_the_frame_the_window_and_the_walk(ui):
    walk, side = Walk(generator=Model()), SurveySide()
    card = MorphologyCard(walk, side, ui)
    walk.param.update(cache=baked_cache(2), baked=2)
    assert list(card.view.series_sources["ellipticity"].data["position"]) == [0.0, 1.0]
    walk.param.update(frame=frame(1.0), requested=1.0)
    assert card.view.value_spans["ellipticity"].location == 2.0
    assert "z=1.00, exact" in card.table.object
    window = WindowMorphology(0.9, 1.1, 12, np.arange(12), done=12)
    window.values = {name: np.linspace(1.0, 3.0, 12) for name in LIVE_COLUMNS}
    side.window = window
    assert np.asarray(card.view.hist_sources["ellipticity"].data["top"]).sum() == 12
    assert "real: 12 of 12 survey galaxies with 0.90 ≤ z &lt; 1.10" in card.table.object


def test_banners_say_what_is_synthetic_show_problems_and_toast_only_when_served(ui):
    messages, walk, side = SessionMessages(), Walk(), SurveySide()
    toasts = []

    class Notifications:  # what pn.state.notifications offers
        def __getattr__(self, level):
            return lambda text, duration: toasts.append((level, text, duration))

    served = Banners(messages, walk, side, Notifications())
    headless = Banners(messages, walk, side)
    assert "No survey is loaded" in served.honesty.object
    side.survey = object()
    walk.generator = Model()
    assert "SYNTHETIC survey" in served.honesty.object and "never trained" in served.honesty.object
    messages.notify("warning", "careful", duration=100)
    assert toasts == [("warning", "careful", 100)] and not headless.problem.visible
    messages.error("broken file")
    assert served.problem.visible and served.problem.object == "**Problem:** broken file"
    assert headless.problem.visible and toasts[-1] == ("error", "broken file", ERROR_TOAST_MS)
    messages.clear_problem()
    assert not served.problem.visible
    assert isinstance(messages.notice, Notice)


def test_model_info_describes_the_model_and_the_survey():
    walk, side = Walk(), SurveySide()
    info = ModelInfo(walk, side)
    assert info.text.object == "Loading…"
    walk.param.update(generator=Model(), model_state="ready")
    assert "**Model:** `model.safetensors`" in info.text.object and "- preset: small" in info.text.object

    class Survey:
        path = Path("/data/galaxies.hdf5")
        redshift = np.array([0.1, 2.5])

    side.survey = Survey()
    assert "**Survey:** `galaxies.hdf5` — 2 galaxies, z 0.10–2.50" in info.text.object
