"""The colour panels' data, without a browser: aperture colours measured once where the morphology is (frames on the
generation thread, survey galaxies in the window's chunks), the survey's colour band against redshift, and a
selection in a colour plot turned into the survey galaxies the grid shows."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_explorer.app_parts.controllers.colour_controller import (
    BAND_GALAXIES_PER_BIN,
    BAND_MIN_GALAXIES,
    ColourController,
    histogram_edges,
    outside,
    rows_in_bins,
    survey_colour_bands,
    survey_table,
)
from galaxy_explorer.app_parts.controllers.real import GRID_GALAXIES, WindowMorphology, window_bounds
from galaxy_explorer.app_parts.controllers.survey_controller import SurveyController
from galaxy_explorer.app_parts.state.colours import COLOUR_COLUMNS, frame_colours, measure_colours
from galaxy_explorer.app_parts.state.generation import measure_frame
from galaxy_explorer.app_parts.state.session import SessionMessages
from galaxy_explorer.app_parts.state.walk import LIVE_COLUMNS
from galaxy_explorer.app_parts.state.worker import SessionWorker
from galaxy_explorer.instrument import BANDS, ZERO_POINT_AB
from galaxy_explorer.measure.photometry import aperture_fluxes, colours
from tests.test_app import make_app, survey_file, tiny_checkpoint  # noqa: F401  (the app's fixtures)


def blob_stamps(band_fluxes: np.ndarray, size: int = 64, sigma: float = 2.0) -> np.ndarray:
    """(N, 5, size, size) stamps of one round Gaussian galaxy at the centre, with total flux ``band_fluxes[n, b]``
    in each band and no sky: every band has the same profile, so aperture colours are the flux ratios."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2.0
    profile = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))
    profile /= profile.sum()
    return np.asarray(band_fluxes, dtype=np.float64)[:, :, None, None] * profile


def fluxes_for(g_r: np.ndarray, r_i: np.ndarray, i_mag: np.ndarray) -> np.ndarray:
    """Total fluxes in g, r, i, z, y (survey units) of galaxies with these colours and i magnitude (z, y as i)."""
    i = 10 ** (-0.4 * (np.asarray(i_mag) - ZERO_POINT_AB))
    r = i * 10 ** (-0.4 * np.asarray(r_i))
    g = r * 10 ** (-0.4 * np.asarray(g_r))
    return np.stack([g, r, i, i, i], axis=1)


class FakeSurvey:
    """What the colour code reads of a survey: redshifts, ids, and stamps by row."""

    def __init__(self, redshift: np.ndarray, stamps: np.ndarray, path: str = "fake-survey.hdf5"):
        self.redshift, self.stamps, self.path = np.asarray(redshift), stamps, path
        self.object_id = np.arange(len(redshift)) + 10 ** 16
        self.bands = BANDS
        self.image_shape = stamps.shape[1:]
        self.reads = 0

    def images(self, rows) -> np.ndarray:
        self.reads += 1
        return self.stamps[np.asarray(rows)]


def test_aperture_colours_are_the_photometry_pipelines_with_g_minus_i_and_an_i_magnitude_at_zero_point_27():
    g_r, r_i, i_mag = np.array([0.3, 1.2]), np.array([0.5, 0.1]), np.array([21.0, 24.5])
    stamps = blob_stamps(fluxes_for(g_r, r_i, i_mag))
    measured = measure_colours(stamps)
    assert set(measured) == set(COLOUR_COLUMNS)
    # The same numbers as galaxy_explorer.measure.photometry gives: one pipeline for survey and generated stamps.
    reference = colours(stamps, BANDS)
    np.testing.assert_allclose(measured["g_r"], reference["g-r"])
    np.testing.assert_allclose(measured["r_i"], reference["r-i"])
    # Same profile in every band: an aperture colour is the galaxy's colour.
    np.testing.assert_allclose(measured["g_r"], g_r, atol=1e-9)
    np.testing.assert_allclose(measured["g_i"], g_r + r_i, atol=1e-9)
    expected_i = ZERO_POINT_AB - 2.5 * np.log10(aperture_fluxes(stamps)[:, BANDS.index("i")])
    np.testing.assert_allclose(measured["i_mag"], expected_i)
    assert np.all(measured["i_mag"] > i_mag)  # the 5-px aperture holds only part of the galaxy's light
    one = frame_colours(stamps[1].astype(np.float32))
    assert one["g_r"] == pytest.approx(1.2, abs=1e-5) and isinstance(one["i_mag"], float)


def test_a_colour_without_positive_flux_is_missing_not_invented():
    fluxes = fluxes_for(np.array([0.5]), np.array([0.5]), np.array([22.0]))
    fluxes[0, 0] = -fluxes[0, 0]  # a negative g flux (noise)
    measured = measure_colours(blob_stamps(fluxes))
    assert np.isnan(measured["g_r"][0]) and np.isnan(measured["g_i"][0])
    assert measured["r_i"][0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="g, r and i"):
        measure_colours(np.zeros((1, 3, 8, 8)), bands=("z", "y", "r"))


def test_every_frame_the_generation_queue_makes_carries_its_colours():
    image = blob_stamps(fluxes_for(np.array([0.8]), np.array([0.4]), np.array([22.0])))[0].astype(np.float32)
    measured = measure_frame(image)
    assert set(LIVE_COLUMNS) <= set(measured)
    assert measured["g_r"] == pytest.approx(0.8, abs=1e-4) and measured["g_i"] == pytest.approx(1.2, abs=1e-4)


def test_the_window_measures_colours_alongside_the_morphology_in_the_same_chunks():
    n = 30
    rng = np.random.default_rng(1)
    stamps = blob_stamps(fluxes_for(rng.uniform(0, 1.5, n), rng.uniform(0, 1, n), rng.uniform(20, 24, n)))
    survey = FakeSurvey(rng.uniform(0.4, 0.6, n), stamps)
    window = WindowMorphology(0.4, 0.6, n, np.arange(n))
    fake_morphology = lambda images, mode: {**{name: np.ones(len(images)) for name in LIVE_COLUMNS},  # noqa: E731
                                            "flag": np.zeros(len(images), int)}
    window.advance(survey, fake_morphology, chunk=20)
    assert window.done == 20 and survey.reads == 1  # each chunk's stamps are read once, for both
    assert len(window.measured("g_r")) == 20
    window.advance(survey, fake_morphology, chunk=20)
    np.testing.assert_allclose(window.measured("g_r"), measure_colours(stamps)["g_r"])
    np.testing.assert_allclose(window.measured("i_mag"), measure_colours(stamps)["i_mag"])
    # What the colour plots draw: every galaxy measured, with its row, id and redshift.
    table = survey_table(window, survey)
    assert list(table["row"]) == list(range(n)) and table["object_id"][0] == str(10 ** 16)
    np.testing.assert_allclose(table["z"], survey.redshift)


def test_the_plots_leave_out_galaxies_whose_colours_could_not_be_measured():
    window = WindowMorphology(0.4, 0.6, 3, np.array([4, 7, 9]), done=3)
    window.values = {name: np.array([0.5, np.nan, 0.7]) for name in COLOUR_COLUMNS}
    survey = FakeSurvey(np.linspace(0, 1, 10), np.zeros((10, 5, 8, 8)))
    assert list(survey_table(window, survey)["row"]) == [4, 9]
    assert len(survey_table(None, survey)["row"]) == 0


def test_the_survey_colour_band_is_the_median_and_16_to_84_percent_in_redshift_bins():
    rng = np.random.default_rng(2)
    redshift = np.concatenate([rng.uniform(0.0, 1.0, 900), [2.55, 2.56, 2.57]])  # 3 galaxies alone at z ~ 2.5
    g_r = 0.2 + 1.0 * redshift + rng.normal(0, 0.05, len(redshift))  # redder with z, by construction
    survey = FakeSurvey(redshift, blob_stamps(fluxes_for(g_r, np.full(len(redshift), 0.5),
                                                         np.full(len(redshift), 22.0))), path="band-test.hdf5")
    bands = survey_colour_bands(survey)
    assert survey_colour_bands(survey) is bands  # once per process, shared by every session
    assert len(bands.rows) == 10 * BAND_GALAXIES_PER_BIN + 3  # a sample of at most 40 a bin
    while not bands.complete:
        bands.advance(survey)
    summary = bands.summary("g_r")
    # Ten 0.1-wide bins below z = 1; the bin at z ~ 2.5 has 3 galaxies, fewer than 8: left empty, not guessed.
    assert BAND_MIN_GALAXIES > 3 and len(summary["z"]) == 10
    np.testing.assert_allclose(summary["z"], np.arange(0.05, 1.0, 0.1))
    np.testing.assert_allclose(summary["median"], 0.2 + summary["z"], atol=0.05)
    assert np.all(summary["low"] < summary["median"]) and np.all(summary["median"] < summary["high"])
    assert np.all(summary["n"] == BAND_GALAXIES_PER_BIN)


def test_a_histogram_bar_selects_exactly_the_galaxies_counted_in_it():
    table = {"row": np.arange(6) + 100, "g_r": np.array([0.0, 0.1, 0.49, 0.5, 0.99, 1.0])}
    edges = np.array([0.0, 0.5, 1.0])
    assert list(rows_in_bins(table, "g_r", edges, [0])) == [100, 101, 102]
    assert list(rows_in_bins(table, "g_r", edges, [1])) == [103, 104, 105]  # the last bar holds its upper edge
    assert np.histogram(table["g_r"], edges)[0].tolist() == [3, 3]
    values = np.r_[np.linspace(0, 1, 99), [50.0]]
    edges = histogram_edges(values)
    assert edges[0] == 0 and edges[-1] < 3 and outside(values, edges) == 1  # a far outlier does not squash the bars
    assert outside(values[:-1], histogram_edges(values[:-1])) == 0  # and nothing else is left out
    assert len(histogram_edges(np.array([np.nan]))) == 21


@pytest.fixture
def survey_side(tmp_path):
    from galaxy_explorer.synthetic.mock_file import write_mock_survey

    path = write_mock_survey(tmp_path / "mock.hdf5", 160, seed=3)
    worker = SessionWorker(name="test-worker")
    side = SurveyController(worker, lambda callback: callback(), SessionMessages())
    side.follow(0.5)
    side.load(str(path))
    side.wait_loaded(60)
    assert worker.wait_idle(60)
    yield side, worker
    worker.close()


def test_selected_survey_galaxies_replace_the_nearest_on_the_grid_until_cleared(survey_side):
    side, worker = survey_side
    nearest = side.neighbours
    window = side.window
    rows = window.rows[: GRID_GALAXIES + 5]
    side.select(rows, "a box in g − i against i")
    assert worker.wait_idle(60)
    shown = side.neighbours
    assert shown.selected == len(rows) and shown.selection_note == "a box in g − i against i"
    assert len(shown.rows) == GRID_GALAXIES and set(shown.rows) <= set(rows)
    # The selected galaxies nearest the slider's redshift come first, and their pictures are made.
    offsets = np.abs(np.asarray(side.survey.redshift)[rows] - 0.5)
    assert np.max(np.abs(shown.galaxy_redshift - 0.5)) <= np.sort(offsets)[GRID_GALAXIES - 1] + 1e-12
    assert shown.pictures().shape[0] == GRID_GALAXIES
    side.clear_selection = True
    assert worker.wait_idle(60)
    assert side.selection is None and not side.neighbours.selected
    assert list(side.neighbours.rows) == list(nearest.rows)


def test_moving_the_slider_into_another_window_ends_the_selection(survey_side):
    side, worker = survey_side
    side.select(side.window.rows[:3], "a click")
    side.follow(0.52)  # the same window: the selection stays
    assert worker.wait_idle(60)
    assert window_bounds(0.52) == window_bounds(0.5) and side.neighbours.selected == 3
    side.follow(0.9)
    assert worker.wait_idle(60)
    assert side.selection is None and not side.neighbours.selected
    assert abs(side.neighbours.galaxy_redshift[0] - 0.9) < 0.05


def test_the_colour_controller_measures_the_band_once_a_survey_is_in(survey_side):
    side, worker = survey_side
    controller = ColourController(worker, lambda callback: callback(), side)
    assert worker.wait_idle(60) and controller.bands is None  # nothing until the colour card is opened
    controller.activate()
    assert worker.wait_idle(60)
    assert controller.bands is not None and controller.bands.complete
    assert len(controller.bands.summary("g_i")["z"]) > 0


def test_in_the_app_the_colour_panels_show_the_window_the_population_and_a_selection_reaches_the_grid(make_app):
    app = make_app()
    card = app.colour_card
    card.open()
    assert app.wait_idle(60)
    layers = card.pipe.data
    window_rows = set(app.survey_side.window.rows)
    assert len(layers.survey.table["row"]) > 10 and set(layers.survey.table["row"]) <= window_rows
    assert len(layers.model.population["seed"]) == 12  # the 12 generated galaxies beside the grid
    assert list(layers.model.seed["z"]) == [pytest.approx(app.redshift)]
    assert set(COLOUR_COLUMNS) <= set(app.walk.frame.measurements)
    assert len(card.track_pipe.data.track["z"]) == len(app.walk.cache.grid)
    picked = [0, 1, 2]
    card.selections["cmd"].event(index=picked)
    assert app.wait_idle(60)
    rows = [int(r) for r in layers.survey.table["row"][picked]]
    assert sorted(app.survey_card.view.shown_rows) == sorted(rows)
    assert "3 survey galaxies selected" in app.survey_card.status.object and app.survey_card.clear.visible
    app.survey_side.clear_selection = True
    assert app.wait_idle(60)
    assert "nearest to z" in app.survey_card.status.object and not app.survey_card.clear.visible
    assert card.pipe.data.survey.selected == frozenset()
