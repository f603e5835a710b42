"""HSC-style colour composites with a fixed stretch (shared by the app, exports and reports)."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_explorer.output.composite import band_image, lupton_rgb

BAND_INDEX = {"g": 0, "r": 1, "i": 2, "z": 3, "y": 4}


def single_band_source(band: str, flux: float = 2.0) -> np.ndarray:
    images = np.zeros((5, 32, 32), dtype=np.float32)
    images[BAND_INDEX[band], 12:20, 12:20] = flux
    return images


def test_shapes_and_types():
    images = np.random.default_rng(0).gamma(1.0, 0.2, size=(3, 2, 5, 16, 16)).astype(np.float32)
    rgb = lupton_rgb(images)
    assert rgb.shape == (3, 2, 16, 16, 3) and rgb.dtype == np.uint8
    grey = band_image(images, "r")
    assert grey.shape == (3, 2, 16, 16, 3) and grey.dtype == np.uint8


@pytest.mark.parametrize("band, channel", [("i", 0), ("r", 1), ("g", 2)])
def test_i_r_g_map_to_red_green_blue(band, channel):
    rgb = lupton_rgb(single_band_source(band))
    centre = rgb[16, 16].astype(int)
    assert centre[channel] > 100
    assert all(centre[c] < centre[channel] for c in range(3) if c != channel)


def test_z_and_y_do_not_enter_the_colour_composite():
    assert lupton_rgb(single_band_source("z")).max() == 0
    assert lupton_rgb(single_band_source("y")).max() == 0


def test_the_stretch_is_fixed_so_brighter_sources_look_brighter():
    faint, bright = single_band_source("r", 0.2), single_band_source("r", 2.0)
    # Separately and together: no per-image or per-batch normalisation, so nothing flickers across frames.
    alone = lupton_rgb(faint)
    together = lupton_rgb(np.stack([faint, bright]))
    np.testing.assert_array_equal(alone, together[0])
    assert together[1].sum() > together[0].sum()


def test_blank_and_non_finite_pixels_give_black_not_errors():
    images = np.zeros((5, 8, 8), dtype=np.float32)
    assert lupton_rgb(images).max() == 0
    images[:, 0, 0] = np.nan
    assert lupton_rgb(images).max() == 0
    assert band_image(images, "g").max() == 0


def test_band_image_is_grey_and_uses_the_same_asinh_stretch():
    grey = band_image(single_band_source("z", 1.0), "z")
    assert np.array_equal(grey[..., 0], grey[..., 2])
    assert grey[16, 16, 0] > 0 and grey[0, 0, 0] == 0
    brighter = band_image(single_band_source("z", 3.0), "z")
    assert brighter[16, 16, 0] >= grey[16, 16, 0]


def test_wrong_shapes_and_bands_are_refused():
    with pytest.raises(ValueError, match=r"\(\.\.\., 5, H, W\)"):
        lupton_rgb(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="band 'u'"):
        band_image(np.zeros((5, 8, 8)), "u")
