"""The app's Bokeh views, checked through their data sources (what the browser would draw), no browser."""

from __future__ import annotations

import numpy as np

from galaxy_explorer.app_parts.controllers.real import LIVE_COLUMNS, Neighbours, WindowMorphology, window_bounds
from galaxy_explorer.app_parts.state.walk import png_data_url
from galaxy_explorer.app_parts.components.views import (
    MainImageView,
    MorphologyView,
    RealGridView,
    display_range,
    rgba_image,
)


def test_rgba_packing_is_what_image_rgba_expects():
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (10, 20, 30)
    packed = rgba_image(rgb)
    assert packed.shape == (2, 3) and packed.dtype == np.uint32
    assert packed[0, 0].tobytes() == bytes([10, 20, 30, 255])


def test_main_image_updates_the_source_in_place():
    view = MainImageView()
    source, figure = view.source, view.figure
    url = png_data_url(np.full((64, 64, 3), 200, dtype=np.uint8))
    view.show(url, 1.25, "baked", requested=1.3)
    assert view.source is source and view.figure is figure
    assert view.shown == (1.25, "baked") and view.source.data["url"] == [url] and not view.dimmed
    assert view.caption.text == "z = 1.250 · nearest baked frame (slider 1.30)"
    view.show(url, 1.25, "previous", dimmed=True)
    assert view.dimmed


def test_the_slider_shows_the_nearest_frame_in_the_browser():
    """The JavaScript the slider runs, against the sources it reads (no server round trip)."""
    view = MainImageView()
    code, args = view.slider_js
    assert args["frames"] is view.frames_source and args["main"] is view.source
    assert "setv(" in code and "sync: false" in code and "show_nearest(cb_obj.value)" in code
    # New frames on the page are shown as they arrive, for where the slider is.
    assert view.frames_callback in view.frames_source.js_property_callbacks["change:data"]
    assert view.frames_callback in view.frames_source.js_property_callbacks["streaming"]
    view.set_frames([0.0, 1.0], ["a", "b"])
    view.add_frames([0.5], ["c"])
    assert view.frames_source.data == {"position": [0.0, 1.0, 0.5], "url": ["a", "b", "c"]}


def test_real_grid_labels_each_stamp_with_redshift_and_object_id():
    view = RealGridView(n=12, columns=4)
    k = 12
    neighbours = Neighbours(
        redshift=0.5, rows=np.arange(k), galaxy_redshift=np.linspace(0.45, 0.55, k),
        object_id=np.arange(k) + 36411448540270969, images=np.zeros((k, 5, 64, 64), np.float32),
    )
    view.show(neighbours, np.zeros((k, 64, 64, 3), np.uint8))
    assert view.shown_rows == list(range(k))
    labels = view.label_source.data
    assert labels["z_text"][0] == "z = 0.450"
    assert labels["id_text"][1] == "36411448540270970"
    # Stamps do not overlap: distinct cells.
    cells = set(zip(view.image_source.data["x"], view.image_source.data["y"]))
    assert len(cells) == k


def test_fewer_survey_galaxies_than_cells_fill_only_some_cells():
    view = RealGridView(n=12)
    neighbours = Neighbours(0.5, np.arange(3), np.full(3, 0.5), np.arange(3), np.zeros((3, 5, 64, 64)))
    view.show(neighbours, np.zeros((3, 64, 64, 3), np.uint8))
    assert len(view.image_source.data["image"]) == 3


def window_with(values: dict[str, np.ndarray]) -> WindowMorphology:
    n = len(next(iter(values.values())))
    window = WindowMorphology(*window_bounds(1.0), n_in_window=n, rows=np.arange(n))
    window.values = {name: np.asarray(values.get(name, np.full(n, np.nan)), float) for name in LIVE_COLUMNS}
    window.flags = np.zeros(n, dtype=np.int64)
    window.done = n
    return window


def test_histograms_show_the_real_window_and_a_marker_at_the_frames_value():
    view = MorphologyView()
    rng = np.random.default_rng(0)
    window = window_with({"ellipticity": rng.uniform(0, 0.6, 150), "half_light_radius": rng.gamma(4, 1, 150)})
    view.show_real(window)
    top = np.asarray(view.hist_sources["ellipticity"].data["top"])
    assert top.sum() == 150
    view.show_frame({"ellipticity": 0.42, "half_light_radius": float("nan")}, position=1.0)
    assert view.value_spans["ellipticity"].visible and view.value_spans["ellipticity"].location == 0.42
    assert not view.value_spans["half_light_radius"].visible  # not detected: no marker
    x_range = view.hist_ranges["ellipticity"]
    assert x_range.start < 0.42 < x_range.end
    table = view.table_html(1.0, "exact")
    assert "0.42" in table and "not detected" in table and "150 of 150" in table


def test_series_follow_the_baked_grid_and_the_position_marker_follows_the_slider():
    view = MorphologyView()
    view.show_series({"position": np.array([0.0, 1.0, 2.0]), **{n: np.array([1.0, 2.0, 3.0]) for n in LIVE_COLUMNS}})
    assert list(view.series_sources["isophotal_area"].data["value"]) == [1.0, 2.0, 3.0]
    view.show_frame({n: 1.0 for n in LIVE_COLUMNS}, position=1.7)
    assert view.position_spans["isophotal_area"].location == 1.7


def test_a_window_with_too_few_galaxies_says_so():
    view = MorphologyView()
    window = window_with({"ellipticity": np.array([0.1, 0.2])})
    view.show_real(window)
    assert "too few for a distribution" in view.table_html(3.5, "exact")


def test_display_range_covers_the_sample_and_an_outlying_marker():
    low, high = display_range(np.linspace(0, 1, 100), 5.0)
    assert low < 0.01 and high > 5.0
    assert display_range(np.zeros(0), float("nan")) == (0.0, 1.0)
