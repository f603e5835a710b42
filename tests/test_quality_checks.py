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
               redshift_bias=0.0, grain_factor=1.0) -> Population:
    z = np.clip(rng.gamma(2.0, 0.35, n), 0.02, 4.0)
    metrics = {name: rng.normal(1.0 + z, 0.5) + shape_shift for name in ("ellipticity", "half_light_radius",
                                                                         "isophotal_area", "semi_major_axis")}
    size = np.exp(rng.normal(np.log(1.0 / (1.0 + z)), 0.6)) * size_factor
    colours = {name: rng.normal(0.3 + 0.2 * z, 0.3) + colour_shift for name in checks_colours()}
    predicted = z + (1.0 + z) * (rng.normal(0.0, 0.03, n) + redshift_bias)
    return Population(z, metrics, size, colours, predicted, toy_grain(z, rng, grain_factor))


def toy_grain(z: np.ndarray, rng: np.random.Generator, factor: float) -> np.ndarray:
    """Per-galaxy grain sums at the check's two brightness levels: a galaxy has a few to a few hundred pixels at
    each level (nearer galaxies more), and its own rms (photon noise, sharper cores) scattering about the level's;
    ``factor`` multiplies every rms (a model that adds grain)."""
    pixels = rng.poisson(np.outer(60.0 / (1.0 + z), [2.0, 1.0]))
    rms = np.array([1.1, 2.8]) * np.exp(rng.normal(0.0, 0.25, pixels.shape)) * factor
    squares = rms ** 2 * rng.chisquare(np.maximum(pixels, 1)) * (pixels > 0)
    return np.stack([squares, pixels], axis=-1).astype(np.float64)


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
    (dict(grain_factor=1.6), "grain"),
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


def test_the_grain_check_reads_each_bin_and_level_as_generated_over_survey_grain(halves):
    reference, other, _ = halves
    grainy = toy_survey(1500, np.random.default_rng(5), grain_factor=1.6)
    result = quality_checks(reference, grainy, other, resplits=100)
    grain = result["checks"]["grain"]
    assert [(level["low"], level["high"]) for level in grain["levels"]] == list(checks.GRAIN_LEVELS)
    judged = [b for level in grain["levels"] for b in level["bins"] if b["counted"]]
    assert len(judged) >= 8  # the bins below z ~ 1.4 hold >= 30 galaxies at both levels
    assert all(b["generated"] == pytest.approx(1.6, rel=0.2) for b in judged)
    assert all(b["real_vs_real"] == pytest.approx(1.0, rel=0.2) for b in judged)
    assert all(b["tolerance"] >= checks.GRAIN_MAX_RATIO for b in judged)  # never tighter than the target
    for level in grain["overall"]:
        assert level["ratio"] == pytest.approx(1.6, rel=0.1) and level["real_vs_real"] == pytest.approx(1.0, rel=0.1)
    # Too smooth is as wrong as too grainy: the check is two-sided.
    smooth = toy_survey(1500, np.random.default_rng(5), grain_factor=1 / 1.6)
    assert not quality_checks(reference, smooth, other, resplits=100)["checks"]["grain"]["passes"]


def test_grain_per_bin_pools_the_pixels_of_the_bins_galaxies():
    z = np.array([0.1, 0.1, 0.3])
    grain = np.array([[[4.0, 1.0], [0.0, 0.0]], [[12.0, 3.0], [0.0, 0.0]], [[900.0, 225.0], [0.0, 0.0]]])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checks, "GRAIN_MIN_PIXELS", 1)
        rms, count = checks.binned_grain(grain, z, np.array([0.0, 0.2, 0.4]))
    assert rms[0].tolist() == [2.0, 2.0] and np.isnan(rms[1]).all()  # sqrt(16 / 4), sqrt(900 / 225); no pixels
    assert count.tolist() == [2, 1]


def test_populations_without_grain_run_the_other_checks_only(halves):
    reference, other, _ = halves
    plain = [Population(p.redshift, p.metrics, p.size, p.colours, p.predicted_redshift) for p in (reference, other)]
    result = quality_checks(plain[0], plain[0], plain[1], resplits=50)
    assert set(result["checks"]) == {"binned_means", "redshift_cnn", "sizes", "colours"}
