"""The physical context the app shows: Planck18 scale, look-back time and age, tabulated and interpolated."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.cosmology import Planck18

from galaxy_explorer.measure import cosmology


@pytest.fixture(scope="module")
def table():
    return cosmology.redshift_table(0.0, 4.0, 0.02)


def test_the_table_spans_the_range_asked_for_on_an_even_grid(table):
    assert table.redshift[0] == 0.0 and table.redshift[-1] >= 4.0 - 1e-9
    assert np.allclose(np.diff(table.redshift), 0.02)


@pytest.mark.parametrize("z", [0.05, 0.5, 1.234, 2.0, 3.71])
def test_interpolation_matches_planck18_to_far_better_than_the_digits_shown(table, z):
    kpc, lookback, age = cosmology.interpolate(table, z)
    # The bar shows 2″ to 0.1 kpc: 0.003 kpc per arcsec is 60 times finer.
    assert kpc == pytest.approx(Planck18.kpc_proper_per_arcmin(z).value / 60, abs=3e-3)
    assert lookback == pytest.approx(Planck18.lookback_time(z).value, abs=2e-3)
    assert age == pytest.approx(Planck18.age(z).value, abs=2e-3)


def test_at_redshift_zero_an_arcsec_spans_nothing_and_no_time_has_passed(table):
    kpc, lookback, age = cosmology.interpolate(table, 0.0)
    assert kpc == 0.0 and lookback == 0.0
    assert age == pytest.approx(Planck18.age(0).value)


def test_the_scale_bar_is_two_arcsec_of_hsc_pixels_labelled_in_kpc():
    assert cosmology.scale_bar_pixels() == pytest.approx(2.0 / 0.168)
    assert cosmology.scale_bar_text(8.3) == "2″ = 16.6 kpc"


def test_the_times_line_names_both_times_and_the_cosmology():
    assert cosmology.times_text(1.0, 7.93, 5.86) == (
        "z = 1.00: look-back time 7.93 Gyr · age of the universe 5.86 Gyr (Planck18)")


def test_sizes_convert_from_pixels_to_arcsec_and_to_kpc_at_each_galaxys_own_redshift(table):
    assert cosmology.size_in(10.0, "px", 1.0, table) == 10.0
    assert cosmology.size_in(10.0, "arcsec", 1.0, table) == pytest.approx(1.68)
    assert cosmology.size_in(100.0, "arcsec", 1.0, table, power=2) == pytest.approx(100 * 0.168 ** 2)
    sizes = cosmology.size_in(np.array([10.0, 10.0]), "kpc", np.array([0.5, 2.0]), table)
    expected = [10 * 0.168 * Planck18.kpc_proper_per_arcmin(z).value / 60 for z in (0.5, 2.0)]
    assert sizes == pytest.approx(expected, rel=2e-3)
    with pytest.raises(ValueError):
        cosmology.size_in(1.0, "parsec", 1.0, table)
