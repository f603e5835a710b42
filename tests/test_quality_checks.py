"""The quality checks: a perfect model passes them, a model that is wrong in one respect fails that check.

Populations here are drawn from a toy survey whose colours, sizes, shapes and CNN redshifts depend on z, so the
checks see the same structure as on real measurements, without images.
"""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_explorer.evaluation import checks
from galaxy_explorer.evaluation.checks import Population, quality_checks


def toy_survey(n: int, rng: np.random.Generator, *, colour_shift=0.0, size_factor=1.0, shape_shift=0.0,
               redshift_bias=0.0) -> Population:
    z = np.clip(rng.gamma(2.0, 0.35, n), 0.02, 4.0)
    metrics = {name: rng.normal(1.0 + z, 0.5) + shape_shift for name in ("ellipticity", "half_light_radius",
                                                                         "isophotal_area", "semi_major_axis")}
    size = np.exp(rng.normal(np.log(1.0 / (1.0 + z)), 0.6)) * size_factor
    colours = {name: rng.normal(0.3 + 0.2 * z, 0.3) + colour_shift for name in checks_colours()}
    predicted = z + (1.0 + z) * (rng.normal(0.0, 0.03, n) + redshift_bias)
    return Population(z, metrics, size, colours, predicted)


def checks_colours():
    from galaxy_explorer.measure.photometry import COLOURS

    return COLOURS


@pytest.fixture(scope="module")
def halves():
    rng = np.random.default_rng(11)
    return toy_survey(1500, rng), toy_survey(1500, rng), rng


def test_generated_identical_to_the_survey_passes_every_check(halves):
    reference, other, _ = halves
    result = quality_checks(reference, reference, other, resplits=100)
    assert result["all_pass"]
    for name, check in result["checks"].items():
        assert check["passes"], name


def test_a_perfect_model_passes_every_check(halves):
    reference, other, _ = halves
    perfect = toy_survey(1500, np.random.default_rng(99))  # the survey's own distribution, fresh draws
    result = quality_checks(reference, perfect, other, resplits=200)
    assert all(check["passes"] for check in result["checks"].values()), {
        name: check["value_generated"] for name, check in result["checks"].items()}


def test_each_check_passes_real_vs_real_at_least_95_percent_of_the_time(halves):
    reference, other, _ = halves
    result = quality_checks(reference, reference, other, resplits=300)
    for name, check in result["checks"].items():
        assert check["real_vs_real_pass_rate"] >= 0.95, name


@pytest.mark.parametrize("flaw, failing", [
    (dict(colour_shift=0.15), "colours"),
    (dict(size_factor=1.35), "sizes"),
    (dict(redshift_bias=0.05), "redshift_cnn"),
    (dict(shape_shift=0.4), "binned_means"),
])
def test_a_model_wrong_in_one_respect_fails_that_check(halves, flaw, failing):
    reference, other, _ = halves
    flawed = toy_survey(1500, np.random.default_rng(5), **flaw)
    result = quality_checks(reference, flawed, other, resplits=100)
    assert not result["checks"][failing]["passes"]
    assert not result["all_pass"]


def test_tolerances_are_never_tighter_than_the_stated_target():
    noise = np.array([0.001, 0.02, np.nan])
    assert checks.cell_tolerances(noise, 0.10, 3.0).tolist() == [0.10, 0.10, 0.10]
    assert checks.cell_tolerances(np.array([0.05]), 0.10, 3.0)[0] == pytest.approx(0.15)


def test_binned_median_differences_per_bin():
    edges = np.array([0.0, 1.0, 2.0])
    reference_z = np.array([0.5] * 3 + [1.5] * 3)
    reference = np.array([1.0, 2.0, 3.0, 10.0, 10.0, 10.0])
    compared = np.array([2.0, 2.0, 2.0, 12.0, 12.0, 12.0])
    difference, count, _ = checks.binned_median_differences(reference, reference_z, compared, reference_z, edges,
                                                            relative=False)
    assert difference.tolist() == [0.0, 2.0] and count.tolist() == [3, 3]
    ratio, _, _ = checks.binned_median_differences(reference, reference_z, compared, reference_z, edges,
                                                   relative=True)
    assert ratio == pytest.approx([0.0, 0.2])


def test_means_verdict_counts_cells_inside_the_interval():
    z_scores = np.array([[0.0, 1.0, 3.0], [np.nan, -1.5, 0.2]])  # NaN: a cell with too few galaxies
    fraction, passes = checks.means_verdict(z_scores, 0.95)
    assert fraction == pytest.approx(4 / 5) and passes is False
    fraction, passes = checks.means_verdict(z_scores, 0.999)  # |z| <= 3.29
    assert fraction == 1.0 and passes is True


def test_guidance_is_chosen_by_failed_checks_then_badness():
    from galaxy_explorer.evaluation.pipeline import choose_guidance

    sweep = [{"guidance_scale": 1.0, "failed_checks": 2, "score": 3.0},
             {"guidance_scale": 2.0, "failed_checks": 1, "score": 9.0},
             {"guidance_scale": 3.0, "failed_checks": 1, "score": 4.0}]
    assert choose_guidance(sweep)["guidance_scale"] == 3.0
