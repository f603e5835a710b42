"""The per-walk frame cache behind the slider, the coarse-to-fine baking order, and what a frame's position and
redshift mean on each kind of walk."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_explorer.app_parts.state.walk import FrameCache, FrameStore, WalkKey, bake_order, png_data_url


def key(seed: int = 1) -> WalkKey:
    return WalkKey("model.safetensors", seed, "dpmpp2m", 20)


def stamp(value: float) -> np.ndarray:
    return np.full((5, 4, 4), value, dtype=np.float32)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 100])
def test_bake_order_visits_every_grid_point_once(n):
    order = bake_order(n)
    assert sorted(order) == list(range(n))


def test_bake_order_starts_with_both_ends_then_fills_gaps_evenly():
    n = 64
    order = bake_order(n)
    assert order[:3] == [0, 63, 31]
    for k in (4, 8, 16, 32):
        largest_gap = np.max(np.diff(sorted(order[:k])))
        assert largest_gap <= 2 * (n - 1) / (k - 1), f"after {k} frames the largest gap is {largest_gap}"


def test_nearest_returns_the_closest_cached_frame_grid_or_exact():
    cache = FrameCache(key(), np.linspace(0, 4, 5))
    assert cache.nearest(1.3) is None
    cache.add(1.0, stamp(1), {"ellipticity": 0.1})
    cache.add(2.0, stamp(2), {"ellipticity": 0.2})
    assert cache.nearest(1.3).position == 1.0
    assert cache.nearest(1.7).position == 2.0
    exact = cache.add(1.37, stamp(3), {"ellipticity": 0.3})
    assert cache.nearest(1.36) is exact and not exact.exact_grid
    assert cache.get(1.3700000001) is exact


def test_missing_grid_frames_come_in_baking_order_and_exact_frames_do_not_count():
    grid = np.linspace(0, 4, 9)
    cache = FrameCache(key(), grid)
    assert cache.missing_grid_indices() == bake_order(9)
    cache.add(grid[0], stamp(0), {})
    cache.add(1.234, stamp(0), {})  # an exact frame off the grid
    assert cache.n_baked == 1
    assert cache.missing_grid_indices()[0] == 8
    for z in grid:
        cache.add(z, stamp(z), {})
    assert cache.complete and cache.missing_grid_indices() == []


def test_grid_series_is_sorted_by_position_and_keeps_undetected_as_nan():
    grid = np.linspace(0, 2, 3)
    cache = FrameCache(key(), grid)
    cache.add(2.0, stamp(0), {"ellipticity": 0.5})
    cache.add(0.0, stamp(0), {"ellipticity": float("nan")})
    cache.add(0.7, stamp(0), {"ellipticity": 0.9})  # exact, not on the grid: not part of the series
    series = cache.grid_series(("ellipticity",))
    np.testing.assert_allclose(series["position"], [0.0, 2.0])
    np.testing.assert_allclose(series["redshift"], [0.0, 2.0])  # along the redshift, the position is the redshift
    assert np.isnan(series["ellipticity"][0]) and series["ellipticity"][1] == 0.5


def label_walk(at_redshift: float = 0.8) -> WalkKey:
    return WalkKey("model.safetensors", 1, "dpmpp2m", 20, (("true_bulge_fraction", 0.5),), axis="true_axis_ratio",
                   at_redshift=at_redshift)


def test_a_frames_redshift_is_always_a_redshift_whatever_its_walks_axis():
    along_redshift = FrameCache(key(), np.linspace(0, 4, 5)).add(1.25, stamp(0), {})
    along_label = FrameCache(label_walk(0.8), np.linspace(0, 1, 5)).add(0.25, stamp(0), {})
    population = FrameCache(WalkKey("model.safetensors", 1, "dpmpp2m", 20, axis="seed", at_redshift=2.5),
                            np.arange(8.0, 12.0)).add(9.0, stamp(0), {})
    assert (along_redshift.position, along_redshift.redshift) == (1.25, 1.25)
    assert (along_label.position, along_label.redshift) == (0.25, 0.8)  # the label's value; the walk's redshift
    assert (population.position, population.redshift) == (9.0, 2.5)  # the seed; the population's redshift
    assert along_label.matches(0.25) and not along_label.matches(0.8)  # frames are found by their position


def test_a_label_walks_series_is_along_the_label_at_the_walks_redshift():
    cache = FrameCache(label_walk(0.8), np.linspace(0, 1, 3))
    for position in cache.grid:
        cache.add(position, stamp(0), {"ellipticity": position})
    series = cache.grid_series(("ellipticity",))
    np.testing.assert_allclose(series["position"], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(series["redshift"], [0.8, 0.8, 0.8])


def test_the_store_shares_walks_and_drops_the_least_recently_used_beyond_its_size():
    store = FrameStore(max_frames=4)
    grid = np.linspace(0, 4, 5)

    def filled(seed: int) -> FrameCache:
        cache = store.get_or_create(key(seed), grid)
        for z in grid[:2]:
            cache.add(z, stamp(z), {})
        store.trim()
        return cache

    first = filled(1)
    assert store.get_or_create(key(1), grid) is first  # one cache per walk, whoever asks
    filled(2)
    assert store.get_or_create(key(1), grid) is first  # seed 1 again: now the most recently used
    filled(3)  # 6 frames > 4: seed 2 goes
    assert len(store) == 2 and first in store and store.n_frames == 4
    second = store.get_or_create(key(2), grid)
    assert len(second) == 0


def test_walks_in_use_or_pinned_are_never_dropped():
    store = FrameStore(max_frames=1)
    grid = np.linspace(0, 4, 5)
    pinned = store.get_or_create(key(1), grid, pin=True)
    shown = store.get_or_create(key(2), grid)
    listener = lambda cache, frames: None  # noqa: E731
    shown.subscribe(listener)
    for cache in (pinned, shown):
        cache.add(0.0, stamp(0), {})
        cache.add(1.0, stamp(1), {})
    store.get_or_create(key(3), grid).add(0.0, stamp(0), {})
    store.trim()
    assert pinned in store and shown in store and len(store) == 2
    shown.unsubscribe(listener)
    store.trim()
    assert shown not in store


def test_listeners_hear_of_published_frames():
    cache = FrameCache(key(), np.linspace(0, 4, 5))
    heard = []
    cache.subscribe(lambda source, frames: heard.append((source, [f.position for f in frames])))
    frame = cache.add(1.0, stamp(1), {})
    cache.publish([frame])
    assert heard == [(cache, [1.0])] and cache.in_use and frame.walk == cache.key


def test_a_frame_is_drawn_for_the_page_once_per_band_as_a_sharp_png():
    import base64
    import io

    from PIL import Image

    cache = FrameCache(key(), np.linspace(0, 4, 5))
    image = np.zeros((5, 64, 64), np.float32)
    image[:, 0, :] = 5.0  # a bright bottom row (row 0 is drawn at the bottom)
    frame = cache.add(1.0, image, {})
    url = frame.data_url()
    assert url is frame.data_url() and url.startswith("data:image/png;base64,")
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert picture.shape == (448, 448, 3)
    assert picture[-1].mean() > picture[0].mean()  # bottom row bright, top dark
    assert frame.data_url("i") != url and png_data_url(np.zeros((2, 2, 3), np.uint8), scale=1).startswith("data:")


def test_walk_keys_differ_by_everything_that_changes_pixels():
    base = WalkKey("m", 1, "dpmpp2m", 20, (("bulge_fraction", 0.5),))
    assert base == WalkKey("m", 1, "dpmpp2m", 20, (("bulge_fraction", 0.5),))
    for other in (WalkKey("m", 2, "dpmpp2m", 20, base.conditions), WalkKey("m", 1, "ddim", 20, base.conditions),
                  WalkKey("m", 1, "dpmpp2m", 10, base.conditions), WalkKey("m", 1, "dpmpp2m", 20, ()),
                  WalkKey("n", 1, "dpmpp2m", 20, base.conditions),
                  WalkKey("m", 1, "dpmpp2m", 20, base.conditions, guidance=2.0),
                  WalkKey("m", 1, "dpmpp2m", 20, base.conditions, model="another digest")):
        assert other != base
    assert base.condition_dict == {"bulge_fraction": 0.5}
