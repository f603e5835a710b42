"""The display side of the app without a browser: the physical scale and times the main image card writes at
rest, the morphology card's units, and (stand-in controllers from ``test_app_cards``) what its sources would draw."""

from __future__ import annotations

import numpy as np
import panel as pn
import pytest
from astropy.cosmology import Planck18

from galaxy_explorer.app_parts.components.cards import GalaxyCard, MorphologyCard
from galaxy_explorer.app_parts.controllers.real import LIVE_COLUMNS, WindowMorphology
from galaxy_explorer.app_parts.state.session import SessionMessages, UiThread
from tests.test_app_cards import Model, SurveySide, Walk, baked_cache, frame


@pytest.fixture
def ui():
    return UiThread(None, SessionMessages())


def kpc_per_arcsec(z: float) -> float:
    return Planck18.kpc_proper_per_arcmin(z).value / 60


def test_the_main_image_carries_a_kpc_scale_bar_its_redshift_and_band_and_the_slider_the_times(ui):
    walk = Walk(generator=Model(), model_state="ready")
    card = GalaxyCard(walk, ui, pn.widgets.FloatSlider())
    walk.param.update(cache=baked_cache(3), frame=frame(1.0), requested=1.0)
    overlay = card.overlay
    assert overlay.scale_label.text == f"2″ = {2 * kpc_per_arcsec(1.0):.1f} kpc"
    assert overlay.redshift_label.text == "z = 1.00"
    assert overlay.band_label.text == "i, r, g → R, G, B"
    assert overlay.times.text.startswith(f"z = 1.00: look-back time {Planck18.lookback_time(1.0).value:.2f} Gyr")
    walk.param.update(frame=frame(2.0), requested=2.0)
    assert overlay.scale_label.text == f"2″ = {2 * kpc_per_arcsec(2.0):.1f} kpc"
    card.band = "i"
    assert overlay.band_label.text == "i band"


def window_with_sizes(size_px: float, redshifts: np.ndarray) -> tuple[WindowMorphology, SurveySide]:
    window = WindowMorphology(0.9, 1.1, len(redshifts), np.arange(len(redshifts)), done=len(redshifts))
    window.values = {name: np.full(len(redshifts), size_px) for name in LIVE_COLUMNS}

    class Survey:
        redshift = redshifts

    return window, SurveySide(survey=Survey())


def test_the_morphology_card_shows_sizes_in_arcsec_or_in_kpc_at_each_galaxys_own_redshift(ui):
    walk = Walk(generator=Model())
    window, side = window_with_sizes(10.0, np.array([0.5, 2.0]))
    card = MorphologyCard(walk, side, ui)
    walk.param.update(cache=baked_cache(3), frame=frame(1.0), requested=1.0)  # frame sizes: 2 px
    side.window = window
    card.unit.value = "arcsec"
    assert card.view.value_spans["half_light_radius"].location == pytest.approx(2 * 0.168)
    assert card.view.value_spans["isophotal_area"].location == pytest.approx(2 * 0.168 ** 2)
    assert card.view.value_spans["ellipticity"].location == 2.0  # no unit
    assert card.view.histograms["half_light_radius"].title.text == "half-light radius [″]"
    card.unit.value = "kpc"
    assert card.view.value_spans["half_light_radius"].location == pytest.approx(2 * 0.168 * kpc_per_arcsec(1.0),
                                                                               rel=1e-3)
    edges = card.view.hist_sources["half_light_radius"].data
    # Two galaxies of 10 px, one at z = 0.5 and one at z = 2: two different sizes in kpc.
    low, high = sorted(10 * 0.168 * kpc_per_arcsec(z) for z in (0.5, 2.0))
    assert min(edges["left"]) == pytest.approx(low, rel=1e-3) and max(edges["right"]) == pytest.approx(high, rel=1e-3)
    series = card.view.series_sources["half_light_radius"].data
    assert list(series["value"]) == pytest.approx([0.0, 1.0 * 0.168 * kpc_per_arcsec(1.0), 2.0 * 0.168 *
                                                   kpc_per_arcsec(2.0)], rel=1e-3)
    assert "half-light radius [kpc]" in card.table.object
    assert card.view.series["isophotal_area"].yaxis.axis_label == "area [kpc²]"


def test_a_label_walks_sizes_in_kpc_are_at_the_walks_redshift_and_its_series_runs_along_the_label(ui):
    from galaxy_explorer.app_parts.state.walk import FrameCache, WalkKey

    key = WalkKey("model.safetensors", 42, "dpmpp2m", 20, axis="true_axis_ratio", at_redshift=2.0)
    cache = FrameCache(key, np.linspace(0.0, 1.0, 3))
    for position in cache.grid:  # every frame 2 px, at the label's values 0, 0.5 and 1
        cache.add(position, np.zeros((5, 64, 64)), {name: 2.0 for name in LIVE_COLUMNS})
    walk = Walk(generator=Model())
    card = MorphologyCard(walk, SurveySide(), ui)
    card.unit.value = "kpc"
    walk.param.update(cache=cache, frame=cache.get(0.5), requested=0.5)
    at_walk_redshift = 2 * 0.168 * kpc_per_arcsec(2.0)  # not at "z = 0.5", the label's value
    assert card.view.value_spans["half_light_radius"].location == pytest.approx(at_walk_redshift, rel=1e-3)
    assert card.view.position_spans["half_light_radius"].location == 0.5
    series = card.view.series_sources["half_light_radius"].data
    assert list(series["position"]) == [0.0, 0.5, 1.0]
    assert list(series["value"]) == pytest.approx([at_walk_redshift] * 3, rel=1e-3)
    assert card.view.series["half_light_radius"].xaxis.axis_label == "true_axis_ratio"
    assert "this frame (z=2.00, exact)" in card.table.object


def test_error_toasts_expire_and_the_problem_banner_clears_once_that_work_succeeds_again(ui):
    from galaxy_explorer.app_parts.components.cards import Banners
    from galaxy_explorer.app_parts.state.session import ERROR_TOAST_MS

    messages, walk, side = SessionMessages(), Walk(), SurveySide()
    toasts = []

    class Notifications:
        def __getattr__(self, level):
            return lambda text, duration: toasts.append((level, duration))

    banners = Banners(messages, walk, side, Notifications())
    messages.task_failed("exact", RuntimeError("out of memory"))
    assert banners.problem.visible and toasts[-1] == ("error", ERROR_TOAST_MS) and 0 < ERROR_TOAST_MS <= 10_000
    side.neighbours = None  # other work succeeding leaves it
    walk.frame = frame(1.0)  # a frame arrives: generation works again
    assert not banners.problem.visible
    messages.notify("error", "Cannot export: z stop is beyond the model's range")
    walk.frame = frame(1.5)
    assert banners.problem.visible  # a new frame does not fix an export
    messages.notify("success", "Export ready: walk.gif")
    assert not banners.problem.visible
    messages.error("could not load checkpoint nowhere.safetensors")
    walk.frame = frame(2.0)
    assert banners.problem.visible  # only a new load clears a load problem
    messages.clear_problem()
    assert not banners.problem.visible


def test_the_statistics_plots_have_explicit_ranges_that_follow_their_data(ui):
    from bokeh.models import Range1d

    from galaxy_explorer.app_parts.components.views import padded_range

    assert padded_range([]) == (0.0, 1.0) and padded_range([np.nan]) == (0.0, 1.0)
    assert padded_range([1.0, 2.0]) == pytest.approx((0.94, 2.06))
    walk, side = Walk(generator=Model()), SurveySide()
    card = MorphologyCard(walk, side, ui)
    for figure in (*card.view.histograms.values(), *card.view.series.values()):
        assert isinstance(figure.x_range, Range1d) and isinstance(figure.y_range, Range1d)
    walk.param.update(cache=baked_cache(3), baked=3)
    series = card.view.series["semi_major_axis"]
    assert (series.x_range.start, series.x_range.end) == pytest.approx((-0.12, 2.12))
    window, side_with_survey = window_with_sizes(10.0, np.full(12, 1.0))
    side.window = window
    assert card.view.histograms["semi_major_axis"].y_range.end == pytest.approx(12 * 1.08)



def galaxy_frames(card):
    return list(card.view.frames_source.data["url"])


def test_a_new_stretch_redraws_every_frame_on_the_page_from_its_flux_without_generating(ui):
    from galaxy_explorer.app_parts.components.display import Look

    walk = Walk(generator=Model(), model_state="ready")
    card = GalaxyCard(walk, ui, pn.widgets.FloatSlider())
    cache = baked_cache(3)
    for f in cache.frames():  # some light, so the stretch shows
        f.image[:] = np.linspace(0, 2, 64)[None, None, :]
    walk.param.update(cache=cache, frame=cache.frames()[1], requested=1.0)
    images = [f.image.copy() for f in cache.frames()]
    before, shown_before = galaxy_frames(card), card.view.source.data["url"][0]
    card.look = Look(stretch=0.1, Q=3.0)
    after = galaxy_frames(card)
    assert len(after) == 3 and all(a != b for a, b in zip(after, before))
    assert card.view.source.data["url"][0] != shown_before
    assert all(np.array_equal(f.image, image) for f, image in zip(cache.frames(), images))  # nothing regenerated
    assert cache.frames()[0].data_url() == before[0]  # the shared default picture is untouched
    card.look = Look(stretch=0.1, Q=3.0, upscaling="smooth")
    assert all(url.startswith("data:image/jpeg;base64,") for url in galaxy_frames(card))
    card.look = Look()
    assert galaxy_frames(card) == before


def test_smooth_upscaling_interpolates_where_pixelated_keeps_blocks():
    from galaxy_explorer.app_parts.components.display import PIXELATED, SMOOTH, upscale

    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = 255
    blocks, smooth = upscale(rgb, 4, PIXELATED), upscale(rgb, 4, SMOOTH)
    assert blocks.shape == smooth.shape == (8, 8, 3)
    assert set(np.unique(blocks)) == {0, 255}
    assert len(np.unique(smooth)) > 2


def test_the_survey_galaxies_take_the_same_look_as_the_generated_one(ui):
    from galaxy_explorer.app_parts.components.cards import SurveyCard
    from galaxy_explorer.app_parts.components.display import SMOOTH, Look, render
    from galaxy_explorer.app_parts.controllers.real import Neighbours

    side = SurveySide()
    card = SurveyCard(side, ui)
    images = np.random.default_rng(1).random((4, 5, 64, 64)).astype(np.float32)
    side.neighbours = Neighbours(1.0, np.arange(4), np.full(4, 1.0), np.arange(4), images)
    before = list(card.view.image_source.data["image"])
    look = Look(stretch=0.2, Q=2.0)
    card.look = look
    after = card.view.image_source.data["image"]
    assert not np.array_equal(after[0], before[0])
    from galaxy_explorer.app_parts.components.views import rgba_image

    assert np.array_equal(after[0], rgba_image(render(images[0], "colour", look)))
    card.look = Look(stretch=0.2, Q=2.0, upscaling=SMOOTH)
    assert card.view.image_source.data["image"][0].shape == (128, 128)  # twice as many pixels, interpolated
    assert card.view.image_source.data["dw"][0] == 64  # in the same place


def test_the_colour_bar_labels_grey_levels_with_the_flux_the_stretch_gives_them():
    from galaxy_explorer.app_parts.components.display import ColourBar, Look, colour_bar_ticks, flux_at_grey, grey_at_flux
    from galaxy_explorer.output.composite import band_image

    look = Look(stretch=0.5, Q=8.0)
    flux = np.array([0.0, 0.1, 1.0, 10.0])
    assert flux_at_grey(grey_at_flux(flux, look), look) == pytest.approx(flux)
    # The bar's grey at a flux is what a single band draws at that flux.
    from galaxy_explorer.instrument import BANDS

    stamp = np.zeros((5, 1, 4))
    stamp[BANDS.index("r"), 0, :] = [0.0, 0.1, 0.3, 1.0]
    drawn = band_image(stamp, "r", stretch=look.stretch, Q=look.Q)[0, :, 0] / 255
    assert drawn == pytest.approx(np.clip(grey_at_flux(stamp[BANDS.index("r"), 0], look), 0, 1), abs=1 / 255)
    ticks = colour_bar_ticks(look)
    assert all(0 <= grey <= 1 for grey in ticks) and "1" in ticks.values()
    bar = ColourBar()
    assert not bar.figure.visible
    bar.show("i", look)
    assert bar.figure.visible and "i-band flux" in bar.figure.xaxis.axis_label
