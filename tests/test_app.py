"""The Galaxy Explorer app without a browser: a tiny model, a small synthetic survey, the real worker thread.

Outside a server the app applies the worker's results directly, so after ``wait_idle`` the views hold what a
browser would show.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import imageio.v3 as iio

import numpy as np
import panel as pn
import param
import pytest

STEPS = 2  # the tiny random model is only plumbing; two sampler steps keep each frame ~50 ms
GRID = 8
WAIT = 60


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def survey_file(tmp_path_factory) -> Path:
    from galaxy_explorer.synthetic.mock_file import write_mock_survey

    return write_mock_survey(tmp_path_factory.mktemp("survey") / "mock.hdf5", 240, seed=5)


@pytest.fixture
def make_app(tiny_checkpoint, survey_file, tmp_path, monkeypatch):
    from galaxy_explorer.app import GalaxyExplorer
    from galaxy_explorer.app_parts.state.generation import generation_queue
    from galaxy_explorer.app_parts.state.walk import frame_store

    monkeypatch.setenv("GALAXY_EXPLORER_CACHE", str(tmp_path / "cache"))
    assert generation_queue().wait_idle(WAIT)
    frame_store().clear()  # each test makes its own frames
    apps = []

    def make(**kwargs):
        kwargs.setdefault("checkpoint", tiny_checkpoint)
        kwargs.setdefault("data", survey_file)
        app = GalaxyExplorer(grid_frames=GRID, steps=STEPS, **kwargs)
        apps.append(app)
        assert app.wait_idle(WAIT)
        return app

    yield make
    for app in apps:
        app.close()


def settle(app):
    assert app.wait_idle(WAIT), "the app's worker did not finish in time"


def shown_rgb(app) -> np.ndarray:
    """The picture the page shows, decoded from its PNG data URL."""
    import base64
    import io

    from PIL import Image

    url = app.galaxy_card.view.source.data["url"][0]
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_on_start_it_shows_the_exact_frame_bakes_the_grid_and_shows_real_galaxies(make_app):
    app = make_app()
    z, kind = app.galaxy_card.view.shown
    assert kind == "exact" and z == pytest.approx(app.redshift)
    assert shown_rgb(app).any() and not app.galaxy_card.view.dimmed
    # Every baked frame is on the page, for the slider's JavaScript to show while dragging.
    assert sorted(app.galaxy_card.view.frames_source.data["position"]) == pytest.approx(
        sorted({*app.walk.cache.grid, app.redshift}))
    assert app.walk.cache.complete and app.galaxy_card.bake_progress.value == GRID
    assert "frames baked" in app.galaxy_card.bake_status.object
    rows = app.survey_card.view.shown_rows
    assert len(rows) == 12
    galaxy_z = np.asarray(app.survey_side.survey.redshift)[rows]
    # The grid holds the 12 survey galaxies nearest the slider's redshift.
    assert np.max(np.abs(galaxy_z - app.redshift)) <= np.sort(np.abs(app.survey_side.survey.redshift - app.redshift))[11] + 1e-9
    assert "survey galaxies with" in app.morphology_card.table.object
    assert len(app.morphology_card.view.series_sources["ellipticity"].data["position"]) == GRID


def test_the_page_says_what_is_synthetic_and_what_a_walk_is_not(make_app):
    app = make_app()
    text = app.banners.honesty.object
    assert "SYNTHETIC" in text and "not the history of one galaxy" in text
    assert "never trained" in text  # the tiny test checkpoint says it saw no images


def test_dragging_shows_the_nearest_baked_frame_at_once_and_release_computes_the_exact_one(make_app):
    app = make_app()
    grid = app.walk.cache.grid
    target = float(np.round(0.5 * (grid[3] + grid[4]) + 0.03, 2))
    app.redshift = target  # what the slider's 'value' does while dragging
    z, kind = app.galaxy_card.view.shown  # no waiting: the baked frame is already on screen
    assert kind == "baked"
    assert z == pytest.approx(grid[np.argmin(np.abs(grid - target))], abs=1e-6)
    settle(app)
    assert app.galaxy_card.view.shown[1] == "baked"  # no exact frame until release
    app.set_redshift(target)  # release: 'value_throttled'
    settle(app)
    assert app.galaxy_card.view.shown == (pytest.approx(target), "exact")
    assert "exact frame" in app.galaxy_card.frame_status.object


def test_the_model_runs_only_on_the_generation_thread(make_app):
    app = make_app()
    generator = app.walk.generator
    threads = []
    original = generator.frames

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    generator.frames = recording
    try:
        app.seed = 11
        app.redshift = 1.23
        app.set_redshift(2.34)
        settle(app)
    finally:
        del generator.frames
    assert threads and set(threads) == {"galaxy-explorer-model"}


def test_the_real_galaxy_grid_and_statistics_follow_the_slider(make_app):
    app = make_app()
    before_rows = app.survey_card.view.shown_rows
    before_window = app.survey_side.window
    app.set_redshift(2.0)
    settle(app)
    assert app.survey_card.view.shown_rows != before_rows
    assert app.survey_side.window is not before_window
    assert app.survey_side.window.z_min <= 2.0 < app.survey_side.window.z_max
    assert "z = 2.0" in app.survey_card.status.object or "z = 2.00" in app.survey_card.status.object


def test_a_new_seed_is_a_new_walk_with_its_own_frames(make_app):
    app = make_app()
    first_image = shown_rgb(app)
    first_cache = app.walk.cache
    app.seed = 12345
    settle(app)
    assert app.walk.cache is not first_cache and app.walk.cache.key.seed == 12345 and app.walk.cache.complete
    assert not np.array_equal(shown_rgb(app), first_image)
    app.seed = first_cache.key.seed  # going back is instant: the old walk is still cached
    assert app.walk.cache is first_cache


def test_new_galaxy_button_picks_another_seed(make_app):
    app = make_app()
    seed = app.seed
    app.param.trigger("new_galaxy")  # what the New galaxy button does
    assert app.seed != seed
    settle(app)


def test_band_toggle_shows_one_band_in_grey(make_app):
    app = make_app()
    app.band = "i"
    rgb = shown_rgb(app)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    # The frames on the page are redrawn in that band too.
    assert app.galaxy_card.view.frames_source.data["url"][0] == app.walk.cache.frames()[0].data_url("i")


def test_a_bad_checkpoint_path_is_reported_and_the_app_keeps_its_model(make_app, tmp_path):
    app = make_app()
    generator = app.walk.generator
    app.checkpoint = str(tmp_path / "nowhere.safetensors")
    app.param.trigger("load")  # what the Load button does
    settle(app)
    assert app.banners.problem.visible and "nowhere.safetensors" in app.banners.problem.object
    assert app.walk.generator is generator
    app.set_redshift(1.5)
    settle(app)
    assert app.galaxy_card.view.shown == (pytest.approx(1.5), "exact")


def test_a_corrupt_checkpoint_is_reported(make_app, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    broken.with_suffix(".json").write_text("{}")
    app = make_app(checkpoint=broken)
    assert app.banners.problem.visible and "broken" in app.banners.problem.object
    assert app.walk.generator is None
    assert "No model loaded" in app.galaxy_card.frame_status.object
    assert len(app.survey_card.view.shown_rows) == 12  # the survey side still works


def test_a_missing_shipped_checkpoint_gives_a_clear_message(make_app, tmp_path, monkeypatch):
    import galaxy_explorer.app_parts.state.resources as resources

    monkeypatch.setattr(resources, "DEFAULT_DIFFUSION_CHECKPOINT", tmp_path / "diffusion-small.safetensors")
    app = make_app(checkpoint=None)
    assert app.banners.problem.visible
    assert "shipped model checkpoint" in app.banners.problem.object and "galaxy-explorer train" in app.banners.problem.object
    assert len(app.survey_card.view.shown_rows) == 12


def test_a_bad_survey_path_is_reported(make_app, tmp_path):
    app = make_app(data=tmp_path / "missing.hdf5")
    assert app.banners.problem.visible and "missing.hdf5" in app.banners.problem.object
    assert app.galaxy_card.view.shown[1] == "exact"  # the model side still works


def test_no_survey_galaxies_near_the_redshift_is_said_on_the_page(make_app):
    app = make_app()
    top = float(app.param.redshift.bounds[1])
    assert np.max(app.survey_side.survey.redshift) < top - 0.2, "the mock survey should not reach the top of the range"
    app.set_redshift(top)
    settle(app)
    assert "No survey galaxies within" in app.survey_card.status.object
    assert "too few" in app.morphology_card.table.object or "real: 0" in app.morphology_card.table.object


def test_a_failure_inside_the_worker_is_reported_and_the_app_keeps_running(make_app):
    app = make_app()
    generator = app.walk.generator

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    generator.frames = broken
    try:
        app.set_redshift(3.21)
        settle(app)
    finally:
        del generator.frames
    assert app.banners.problem.visible and "out of memory (simulated)" in app.banners.problem.object
    assert app.worker.alive
    app.set_redshift(3.33)
    settle(app)
    assert app.galaxy_card.view.shown == (pytest.approx(3.33), "exact")


def test_export_from_the_app_gives_a_gif_of_the_current_seed(make_app):
    app = make_app()
    app.export.param.update(walk_start=0.5, walk_stop=1.5, frames=4, size=96, format="gif")
    app.export.button.clicks += 1
    settle(app)
    download = app.export.download
    assert download.file and not download.disabled
    assert download.filename == f"galaxy-seed{app.seed}-z0.50-1.50.gif"
    assert "Ready" in app.export.status.object
    frames = iio.imread(download.file)
    assert frames.shape == (4, 96, 96, 3)


def test_an_export_out_of_bounds_is_refused_with_the_bound(make_app):
    app = make_app()
    app.export.param.update(frames=10_000, format="mp4")
    app.export.button.clicks += 1
    assert app.banners.problem.visible and "frames=10000 is out of bounds" in app.banners.problem.object
    assert app.export.download.disabled


def test_export_reuses_the_frames_the_walk_already_has(make_app):
    app = make_app()
    generator = app.walk.generator
    grid = app.walk.cache.grid
    calls = []
    original = generator.frames
    generator.frames = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        # The full baked grid as the export: nothing left to generate.
        app.export.param.update(walk_start=float(grid[0]), walk_stop=float(grid[-1]), frames=len(grid), format="fits")
        app.export.button.clicks += 1
        settle(app)
    finally:
        del generator.frames
    assert calls == []
    from astropy.io import fits

    with fits.open(app.export.download.file) as hdus:
        np.testing.assert_array_equal(hdus[0].data[3], app.walk.cache.get(grid[3]).image)
        np.testing.assert_allclose(hdus["REDSHIFT"].data["redshift"], grid)


def test_closing_a_session_stops_its_worker_and_removes_its_files(make_app):
    app = make_app()
    app.export.param.update(frames=2, size=64, format="gif")
    app.export.button.clicks += 1
    settle(app)
    directory = app.export.directory
    assert any(directory.iterdir())
    app.close()
    assert not directory.exists()
    # close() does not wait for the worker (served, it runs on the event loop); the worker stops at once after.
    deadline = time.monotonic() + 5.0
    while app.worker.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not app.worker.alive


def test_the_app_renders_for_a_notebook_and_as_a_served_page(make_app):
    app = make_app()
    from bokeh.document import Document
    from bokeh.models import ColumnDataSource

    root = pn.panel(app).get_root(Document())
    # The page's Bokeh document holds the figures the browser draws, with the data on screen now.
    sources = {model.name: model for model in root.references() if isinstance(model, ColumnDataSource)}
    assert sources["galaxy-image-source"].data["kind"] == ["exact"]
    assert len(sources["real-grid-source"].data["row"]) == 12
    names = {model.name for model in root.references()}
    assert {"galaxy-image", "real-grid", "hist-fig-ellipticity", "series-fig-half_light_radius"} <= names
    template = app.template()
    assert template.title == "Galaxy Explorer"
    assert list(template.main) == [app.main_area] and list(template.sidebar) == [app.sidebar]


def test_sessions_share_the_model_and_the_survey(make_app):
    first, second = make_app(), make_app()
    assert first.walk.generator is second.walk.generator
    assert first.survey_side.survey is second.survey_side.survey
    assert first.worker is not second.worker


def test_one_slider_per_further_condition(make_app, tmp_path):
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    checkpoint = make_tiny_checkpoint(tmp_path / "two.safetensors", condition_names=("redshift", "bulge_fraction"))
    app = make_app(checkpoint=checkpoint)
    assert list(app.conditions_panel.sliders) == ["bulge_fraction"]
    slider = app.conditions_panel.sliders["bulge_fraction"]
    assert (slider.start, slider.end) == (0.0, 1.0)
    first = app.walk.cache
    slider.value = 0.9
    with param.edit_constant(slider):  # what the browser does on release
        slider.value_throttled = 0.9
    settle(app)
    assert app.walk.cache is not first and app.walk.cache.key.condition_dict == {"bulge_fraction": 0.9}


def test_command_line_arguments_choose_checkpoint_and_data():
    from galaxy_explorer.app_parts.state.resources import parse_app_arguments

    arguments = parse_app_arguments(["--checkpoint", "a.safetensors", "--data", "b.hdf5", "--unrelated"])
    assert arguments.checkpoint == Path("a.safetensors") and arguments.data == Path("b.hdf5")
    assert parse_app_arguments([]).checkpoint is None


def test_a_closed_session_leaves_no_browser_callbacks_behind(make_app):
    """Panel keeps every widget's browser-side callbacks in one process-wide registry; a callback whose arguments
    lead back to its widget (the play button's hold the slider) would keep a closed session's page in memory for
    good (served, measured: 3 of every 4 closed sessions stayed). The session-destroyed hook drops them."""
    from panel.links import Callback

    from galaxy_explorer.app_parts.serving.server import closer

    app = make_app()
    sources = app.js_callback_sources()
    assert app.slider in sources and app.galaxy_card.player.play in sources
    assert all(source in Callback.registry for source in sources)
    closer(app)(None)
    assert [source for source in sources if source in Callback.registry] == []


def test_the_shipped_models_are_listed_and_picking_one_loads_it(make_app, tiny_checkpoint, tmp_path, monkeypatch):
    import galaxy_explorer.app_parts.components.sidebar as sidebar
    import galaxy_explorer.app_parts.state.resources as resources
    import galaxy_explorer.paths as paths
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    morph = make_tiny_checkpoint(tmp_path / "tiny-morph.safetensors", condition_names=("redshift", "true_axis_ratio"))
    monkeypatch.setattr(paths, "SHIPPED_DIFFUSION_CHECKPOINTS",
                        {"redshift": tiny_checkpoint, "redshift + morphology": morph})
    for module in (sidebar, resources):
        monkeypatch.setattr(module, "DEFAULT_DIFFUSION_CHECKPOINT", tiny_checkpoint)
    app = make_app(checkpoint=None)
    assert list(app.controls.model.select.options) == ["tiny: redshift", "tiny-morph: redshift + morphology",
                                                       "another file (path below)"]
    assert app.controls.model.select.value == ""  # the default model, loaded

    app.controls.model.select.value = "tiny-morph.safetensors"  # picked in the sidebar: loaded by its name alone
    settle(app)
    assert app.checkpoint == "tiny-morph.safetensors"
    assert app.walk.generator.checkpoint_path == morph
    assert list(app.conditions_panel.sliders) == ["true_axis_ratio"]

    app.checkpoint = str(tmp_path / "elsewhere.safetensors")  # a path typed into the field
    assert app.controls.model.select.value == "another file (path below)"
