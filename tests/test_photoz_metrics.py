"""Redshift metrics against values worked out by hand."""

import numpy as np
import pytest

from galaxy_explorer.measure.photoz_metrics import (
    PhotozMetricsError,
    bias,
    normalized_residual,
    outlier_fraction,
    photoz_metrics,
    redshift_bin_edges,
    redshift_loss,
    sigma_nmad,
)

# Five galaxies. z_true, z_pred and dz = (z_pred - z_true)/(1 + z_true):
#   0.10 -> 0.21 : 0.11/1.10 = 0.10
#   0.30 -> 0.04 : -0.26/1.30 = -0.20   (outlier, |dz| > 0.15)
#   0.50 -> 0.53 : 0.03/1.50 = 0.02
#   1.00 -> 1.00 : 0
#   1.50 -> 2.00 : 0.50/2.50 = 0.20     (outlier)
TRUE = np.array([0.10, 0.30, 0.50, 1.00, 1.50])
PREDICTED = np.array([0.21, 0.04, 0.53, 1.00, 2.00])
DZ = np.array([0.10, -0.20, 0.02, 0.0, 0.20])


def test_normalized_residual_divides_by_one_plus_true_redshift():
    np.testing.assert_allclose(normalized_residual(PREDICTED, TRUE), DZ, atol=1e-12)


def test_bias_is_the_mean_residual():
    assert bias(DZ) == pytest.approx((0.10 - 0.20 + 0.02 + 0.0 + 0.20) / 5)  # 0.024


def test_sigma_nmad_by_hand():
    # median(dz) = 0.02; |dz - 0.02| = 0.08, 0.22, 0, 0.02, 0.18 -> median 0.08; times 1.4826
    assert sigma_nmad(DZ) == pytest.approx(1.4826 * 0.08)


def test_outlier_fraction_counts_strictly_beyond_0p15():
    assert outlier_fraction(DZ) == pytest.approx(2 / 5)
    assert outlier_fraction([0.15, -0.15, 0.1500001]) == pytest.approx(1 / 3)


def test_loss_is_zero_when_perfect_one_half_at_0p15_and_bounded():
    loss = redshift_loss([0.0, 0.15, -0.15, 0.30, 100.0])
    np.testing.assert_allclose(loss[:4], [0.0, 0.5, 0.5, 1 - 1 / (1 + 4)])
    assert 0.99 < loss[4] < 1.0


def test_overall_and_binned_metrics_by_hand():
    result = photoz_metrics(PREDICTED, TRUE)
    overall = result["overall"]
    assert overall["n"] == 5
    assert overall["bias"] == pytest.approx(0.024)
    assert overall["median_dz"] == pytest.approx(0.02)
    assert overall["sigma_nmad"] == pytest.approx(1.4826 * 0.08)
    assert overall["outlier_fraction"] == pytest.approx(0.4)
    losses = [1 - 1 / (1 + (d / 0.15) ** 2) for d in DZ]
    assert overall["mean_loss"] == pytest.approx(np.mean(losses))

    bins = result["bins"]
    assert [b["z_low"] for b in bins] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4])
    assert [b["n"] for b in bins] == [1, 1, 1, 0, 0, 1, 0, 1]
    # z = 0.3 bin: the single outlier dz = -0.2
    assert bins[1]["bias"] == pytest.approx(-0.2)
    assert bins[1]["outlier_fraction"] == 1.0
    assert bins[1]["sigma_nmad"] == 0.0
    assert bins[1]["mean_loss"] == pytest.approx(1 - 1 / (1 + (0.2 / 0.15) ** 2))
    # Empty bins carry NaN, not zero.
    assert np.isnan(bins[3]["bias"]) and np.isnan(bins[3]["sigma_nmad"])


def test_bin_edges_are_exact_multiples_so_boundary_redshifts_fall_in_the_upper_bin():
    edges = redshift_bin_edges([0.0, 0.6, 0.8])
    np.testing.assert_array_equal(edges, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    result = photoz_metrics([0.6, 0.8], [0.6, 0.8])
    assert [b["n"] for b in result["bins"]] == [0, 0, 0, 1, 1]


def test_non_finite_pairs_are_left_out_and_counted():
    result = photoz_metrics([0.2, np.nan, 0.5], [0.2, 0.3, np.inf])
    assert result["n_invalid"] == 2
    assert result["overall"]["n"] == 1
    assert result["overall"]["bias"] == 0.0


def test_mismatched_lengths_and_impossible_redshifts_are_refused():
    with pytest.raises(PhotozMetricsError, match=r"\(3,\).*\(2,\)"):
        photoz_metrics([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(PhotozMetricsError, match="> -1"):
        normalized_residual([0.1], [-1.0])
