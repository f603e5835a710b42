"""The check of the ends of the redshift range: few galaxies, so the specification is that a perfect model passes
it as often as promised, a model whose galaxies are much too large or too diffuse at an end fails it, and the power
it states is the power it has."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_explorer.evaluation import range_ends
from galaxy_explorer.evaluation.range_ends import EndSample, range_ends_check

COUNTS = (30, 62)  # the built-in testing split's galaxies at z < 0.1 and 2.5 < z < 3.5


def toy_ends(rng: np.random.Generator, per_galaxy: int = 1, *, size_factor=(1.0, 1.0),
             concentration_shift=(0.0, 0.0)) -> EndSample:
    """Galaxies of both end bins: near ones large and diffuse, far ones compact, with the spread of real sizes."""
    parts = []
    for (low, high), count, factor, shift, size, concentration in zip(
            range_ends.RANGE_ENDS, COUNTS, size_factor, concentration_shift, (2.0, 0.35), (0.22, 0.45)):
        n = count * per_galaxy
        parts.append((rng.uniform(max(low, 0.03), high, n), np.exp(rng.normal(np.log(size), 0.5, n)) * factor,
                      rng.normal(concentration, 0.08, n) + shift))
    return EndSample(*(np.concatenate(column) for column in zip(*parts)))


@pytest.fixture(scope="module")
def survey():
    return toy_ends(np.random.default_rng(1))


def generated(seed: int, **flaw) -> EndSample:
    return toy_ends(np.random.default_rng(seed), range_ends.GENERATED_PER_GALAXY, **flaw)


def test_a_perfect_model_passes_and_so_does_real_vs_real_at_least_95_percent_of_the_time(survey):
    result = range_ends_check(survey, generated(2), resplits=300)
    assert result["passes"] and result["real_vs_real_pass_rate"] >= 0.95
    assert [(row["n_survey"], row["n_generated"]) for row in result["bins"]] == [(30, 60), (62, 124)]
    assert all(row["size"]["counted"] and row["concentration"]["counted"] for row in result["bins"])


@pytest.mark.parametrize("flaw", [dict(size_factor=(1.0, 1.8)), dict(size_factor=(0.55, 1.0)),
                                  dict(concentration_shift=(0.0, -0.15))])
def test_galaxies_much_too_large_small_or_diffuse_at_one_end_fail(survey, flaw):
    assert not range_ends_check(survey, generated(3, **flaw), resplits=200)["passes"]


def test_the_stated_power_is_the_power_the_check_has(survey):
    """A size ratio at the stated 80% detection limit of the high-z bin fails about 80% of fresh generated sets."""
    result = range_ends_check(survey, generated(4), resplits=300)
    ratio = result["power"]["size"]["ratio_above"][1]
    assert 1.1 < ratio < 2.0
    failed = [not range_ends.verdict(range_ends.cell_deviations(survey, generated(100 + k, size_factor=(1.0, ratio))),
                                     result["noise_factor"])[1] for k in range(150)]
    assert np.mean(failed) == pytest.approx(0.8, abs=0.12)


def test_tolerances_are_never_tighter_than_the_targets(survey):
    result = range_ends_check(survey, generated(5), resplits=100)
    for row in result["bins"]:
        assert row["size"]["tolerance"] >= range_ends.SIZE_MAX_RELATIVE_DEVIATION
        assert row["concentration"]["tolerance"] >= range_ends.CONCENTRATION_MAX_DEVIATION


def test_too_few_survey_galaxies_at_both_ends_is_no_check():
    few = EndSample(np.array([0.05, 0.06, 3.0]), np.ones(3), np.full(3, 0.3))
    assert range_ends_check(few, few, resplits=20) is None


def test_end_rows_are_the_galaxies_inside_either_end_bin():
    z = np.array([0.02, 0.0999, 0.1, 1.0, 2.5, 3.49, 3.5])
    assert range_ends.end_rows(z).tolist() == [0, 1, 4, 5]


def test_central_concentration_is_higher_for_a_compact_galaxy_than_a_diffuse_one():
    y, x = np.mgrid[:64, :64] - 31.5
    radius = np.hypot(x, y)
    stamps = np.zeros((3, 5, 64, 64))
    stamps[0, 2] = np.exp(-0.5 * (radius / 1.5) ** 2)  # compact
    stamps[1, 2] = np.exp(-0.5 * (radius / 6.0) ** 2)  # diffuse
    stamps[2, 2] = -1.0  # no light: undefined
    concentration = range_ends.central_concentration(stamps, band_index=2)
    assert concentration[0] > 0.85 and 0.1 < concentration[1] < 0.35
    assert np.isnan(concentration[2])
