"""An exported FITS cube carries HSC's pixel scale in a celestial WCS that astropy reads back."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from galaxy_explorer.output.export import write_export
from galaxy_explorer.output.fits_wcs import REFERENCE_DEC_DEG, REFERENCE_RA_DEG

HSC_DEG = 0.168 / 3600


@pytest.fixture
def cube(tmp_path):
    images = np.random.default_rng(0).random((3, 5, 64, 48)).astype(np.float32)  # frames, bands, H, W
    out = write_export(tmp_path / "walk.fits", images, [0.5, 1.0, 1.5])
    with fits.open(out) as hdus:
        yield hdus[0].header


def test_the_cube_has_a_tangent_plane_wcs_at_hsc_pixel_scale_north_up_east_left(cube):
    wcs = WCS(cube)
    assert wcs.naxis == 4
    celestial = wcs.celestial
    assert list(celestial.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
    # Pixel (column, row) steps: RA goes down to the right (east left), Dec up.
    assert np.allclose(celestial.pixel_scale_matrix, np.diag([-HSC_DEG, HSC_DEG]))
    assert cube["PIXSCALE"] == pytest.approx(0.168)


def test_the_reference_point_is_the_image_centre_and_is_said_to_be_arbitrary(cube):
    centre = WCS(cube).celestial.pixel_to_world((48 - 1) / 2, (64 - 1) / 2)  # 0-based centre of 48 × 64
    assert centre.ra.deg == pytest.approx(REFERENCE_RA_DEG) and centre.dec.deg == pytest.approx(REFERENCE_DEC_DEG)
    assert "ARBITRARY" in cube.comments["CRVAL1"]
    assert any("arbitrary" in str(line) for line in cube["COMMENT"])


def test_one_pixel_across_is_0168_arcsec_on_the_sky(cube):
    celestial = WCS(cube).celestial
    a, b = celestial.pixel_to_world([10, 11], [20, 20])
    assert a.separation(b).arcsec == pytest.approx(0.168, rel=1e-4)


def test_the_other_axes_are_the_band_and_frame_indices(cube):
    wcs = WCS(cube)
    assert list(wcs.wcs.ctype)[2:] == ["BAND", "FRAME"]
    world = wcs.pixel_to_world_values(0, 0, 4, 2)
    assert world[2] == pytest.approx(4) and world[3] == pytest.approx(2)
