"""The comparisons in the evaluation report, on samples whose answers are known."""

import numpy as np
import pytest

from galaxy_explorer.evaluation import statistics as st
from galaxy_explorer.evaluation.pipeline import choose_rows, size_redshift_relation, EvaluationError
from galaxy_explorer.json_output import json_safe


def test_mean_interval_covers_the_mean_and_shrinks_with_more_data():
    rng = np.random.default_rng(0)
    small = st.mean_with_interval(rng.normal(5.0, 1.0, 25))
    large = st.mean_with_interval(rng.normal(5.0, 1.0, 2500))
    assert small["ci_low"] < small["mean"] < small["ci_high"]
    assert large["ci_low"] < 5.0 < large["ci_high"]
    # ~1.96 sigma / sqrt(n) half-width for a normal sample
    assert (large["ci_high"] - large["ci_low"]) / 2 == pytest.approx(1.96 / 50, rel=0.15)
    assert (small["ci_high"] - small["ci_low"]) > 5 * (large["ci_high"] - large["ci_low"])


def test_mean_interval_ignores_nan_and_is_undefined_for_fewer_than_two_values():
    assert st.mean_with_interval([1.0, np.nan, 3.0])["n"] == 2
    single = st.mean_with_interval([np.nan, 4.0])
    assert single["mean"] == 4.0 and np.isnan(single["ci_low"])
    assert np.isnan(st.mean_with_interval([])["mean"])


def test_binned_means_use_half_open_bins():
    redshift = np.array([0.0, 0.1, 0.2, 0.39, 0.4])
    values = np.array([1.0, 3.0, 10.0, 20.0, 100.0])
    bins = st.binned_means(values, redshift, np.array([0.0, 0.2, 0.4, 0.6]))
    assert [b["n"] for b in bins] == [2, 2, 1]
    assert [b["mean"] for b in bins] == [2.0, 15.0, 100.0]


def test_identical_samples_have_zero_distance_and_shifted_ones_the_shift():
    sample = np.random.default_rng(1).normal(0, 1, 400)
    same = st.distribution_distance(sample, sample)
    assert same["ks_statistic"] == 0.0 and same["wasserstein"] == 0.0
    shifted = st.distribution_distance(sample, sample + 0.7)
    assert shifted["wasserstein"] == pytest.approx(0.7)
    assert shifted["ks_pvalue"] < 1e-6
    assert np.isnan(st.distribution_distance([1.0], [np.nan, 2.0])["ks_statistic"])


def test_fraction_of_bins_with_generated_mean_inside_the_real_interval_counts_only_z_below_the_limit():
    real = [{"z_low": 0.0, "z_high": 0.2, "ci_low": 1.0, "ci_high": 2.0},
            {"z_low": 0.2, "z_high": 0.4, "ci_low": 1.0, "ci_high": 2.0},
            {"z_low": 0.4, "z_high": 0.6, "ci_low": np.nan, "ci_high": np.nan},
            {"z_low": 2.0, "z_high": 2.2, "ci_low": 1.0, "ci_high": 2.0}]
    generated = [{"mean": 1.5}, {"mean": 2.5}, {"mean": 1.5}, {"mean": 1.5}]
    result = st.means_inside_real_interval(real, generated, z_max=2.0)
    assert result["inside"] == [True, False, None]
    assert result["bins_counted"] == 2 and result["fraction"] == 0.5


def test_size_relation_of_true_sizes_has_zero_deviation_and_a_biased_one_its_bias():
    def truth(z):
        return 1.0 / (1.0 + np.asarray(z, dtype=float))

    redshift = np.random.default_rng(2).uniform(0.0, 2.5, 800)
    exact = truth(redshift)
    relation = size_redshift_relation(exact, 1.1 * exact, redshift, truth)
    assert relation["edges"][0] == 0.1 and relation["edges"][-1] == 2.0
    assert relation["max_relative_deviation_real"] == pytest.approx(0.0, abs=1e-12)
    assert relation["max_relative_deviation_generated"] == pytest.approx(0.1)
    assert all(0.1 <= row["z_median"] < 2.0 for row in relation["real"])


def test_rows_are_reproducible_distinct_and_bounded():
    first, again = choose_rows(100, 10, seed=3), choose_rows(100, 10, seed=3)
    np.testing.assert_array_equal(first, again)
    assert len(set(first.tolist())) == 10 and (np.diff(first) > 0).all()
    with pytest.raises(EvaluationError, match="--n 101 .* 100 galaxies"):
        choose_rows(100, 101, seed=0)


def test_json_safe_turns_nan_into_null():
    assert json_safe({"a": np.float64("nan"), "b": np.arange(2), "c": np.bool_(True)}) == \
        {"a": None, "b": [0, 1], "c": True}


def test_size_bins_with_too_few_galaxies_are_reported_but_not_judged():
    def truth(z):
        return np.ones_like(np.asarray(z, dtype=float))

    redshift = np.concatenate([np.full(50, 0.5), np.full(3, 1.5)])
    size = np.where(redshift > 1.0, 3.0, 1.0)  # the sparse bin is far off
    relation = size_redshift_relation(size, size, redshift, truth)
    sparse = [row for row in relation["real"] if row["z_low"] == pytest.approx(1.4)][0]
    assert sparse["n"] == 3 and sparse["relative_deviation"] == pytest.approx(2.0)
    assert relation["max_relative_deviation_real"] == pytest.approx(0.0)
