"""The evaluation's diagnostics: grain by brightness and colour spread at fixed redshift, each against the survey.

They explain failing checks rather than being checks, so the specification is: a model that draws like the survey
shows ratios near 1, and the defect each one names (added grain, a blurred colour-redshift relation) shows as a
ratio well above 1, where it is and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_explorer.evaluation.diagnostics import (BRIGHTNESS_LEVELS, colour_scatter, grain_rms, grain_sums,
                                                    pixel_noise, pixel_noise_by_brightness, summary)


def galaxies(count: int, seed: int, grain: float = 0.0) -> np.ndarray:
    """Round, seeing-smoothed (Gaussian) galaxies of random brightness and size with photon noise on unit sky
    noise; ``grain``: extra noise proportional to the galaxy's light (what a model that speckles adds)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:48, :48] - 23.5
    radius = np.hypot(x, y)
    out = np.empty((count, 48, 48))
    for k in range(count):
        light = rng.uniform(200, 2000) * np.exp(-0.5 * (radius / rng.uniform(2.5, 5.0)) ** 2)
        out[k] = light + rng.normal(size=light.shape) * np.sqrt(1.0 + light / 20.0 + (grain * light) ** 2)
    return out


def test_pure_sky_noise_reads_about_one_sky_sigma():
    sky = np.random.default_rng(0).normal(scale=2.5, size=(20, 48, 48))
    levels = pixel_noise_by_brightness(sky, sky_sigma=2.5)
    assert levels[0]["pixels"] > 40_000 and levels[0]["rms"] == pytest.approx(0.96, abs=0.03)
    assert all(np.isnan(level["rms"]) for level in levels[1:])  # no galaxy light: nothing to report


def test_galaxies_drawn_like_the_survey_read_as_the_survey_at_every_brightness():
    result = pixel_noise(galaxies(150, seed=1), galaxies(150, seed=2), galaxies(150, seed=3), 1.0)
    assert [(level["low"], level["high"]) for level in result["levels"]] == list(BRIGHTNESS_LEVELS)
    for level in result["levels"]:
        assert level["ratio"] == pytest.approx(1.0, abs=0.15)
        assert level["real_vs_real"] == pytest.approx(1.0, abs=0.15)


def test_added_grain_shows_inside_the_galaxies_and_not_in_the_sky():
    real = galaxies(150, seed=1)
    result = pixel_noise(real, galaxies(150, seed=2, grain=0.06), galaxies(150, seed=3), 1.0)
    sky, faint, bright, core = result["levels"]
    assert sky["ratio"] == pytest.approx(1.0, abs=0.05)
    assert bright["ratio"] > 1.5 and core["ratio"] > 1.5
    assert bright["real_vs_real"] == pytest.approx(1.0, abs=0.1)


def test_pixel_noise_refuses_stamps_with_a_band_axis_and_a_nonpositive_sky():
    with pytest.raises(ValueError, match=r"single-band stamps shaped \(N, H, W\)"):
        pixel_noise_by_brightness(np.zeros((2, 5, 8, 8)), 1.0)
    with pytest.raises(ValueError, match="sky_sigma must be positive"):
        pixel_noise_by_brightness(np.zeros((2, 8, 8)), 0.0)


def test_per_galaxy_grain_sums_add_up_to_the_grain_of_any_set_of_galaxies():
    """The grain check re-splits galaxies hundreds of times from these sums instead of filtering images again."""
    images = galaxies(40, seed=4, grain=0.06)
    sums = grain_sums(images, 1.0)
    assert sums.shape == (40, len(BRIGHTNESS_LEVELS), 2)
    for chosen in (np.arange(40), np.arange(0, 40, 3)):
        direct = pixel_noise_by_brightness(images[chosen], 1.0)
        pooled = grain_rms(sums[chosen])
        for level, rms in zip(direct, pooled):
            assert level["pixels"] == sums[chosen][:, BRIGHTNESS_LEVELS.index((level["low"], level["high"])), 1].sum()
            assert rms == pytest.approx(level["rms"], rel=1e-9, nan_ok=True)
    with pytest.raises(ValueError, match="sky_sigma must be positive"):
        grain_sums(images, -1.0)


def colour_sample(count: int, seed: int, spread: float) -> tuple[dict, np.ndarray]:
    """g-r rising gently with redshift (little spread within a bin), a Gaussian spread at fixed redshift; some colours undefined (NaN)."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.0, 1.0, count)
    g_r = 0.3 + 0.2 * z + rng.normal(scale=spread, size=count)
    g_r[rng.random(count) < 0.05] = np.nan
    return {"g-r": g_r}, z


def test_colour_spread_twice_the_survey_reads_about_two_per_bin():
    real, real_z = colour_sample(3000, seed=1, spread=0.05)
    generated, generated_z = colour_sample(3000, seed=2, spread=0.10)
    other, other_z = colour_sample(3000, seed=3, spread=0.05)
    bins = colour_scatter(real, real_z, generated, generated_z, other, other_z, np.arange(0, 1.01, 0.2))["g-r"]
    assert len(bins) == 5
    for b in bins:
        assert b["ratio"] == pytest.approx(2.0, rel=0.15)
        assert b["real_vs_real"] == pytest.approx(1.0, rel=0.15)
        assert b["real"] == pytest.approx(0.05, rel=0.15)
    assert summary({"g-r": bins})["g-r"]["ratio"] == pytest.approx(2.0, rel=0.1)


def test_bins_with_fewer_than_thirty_galaxies_in_any_set_are_left_out():
    real, real_z = colour_sample(400, seed=1, spread=0.05)
    generated, generated_z = colour_sample(100, seed=2, spread=0.05)  # ~19 valid a bin of width 0.2
    other, other_z = colour_sample(400, seed=3, spread=0.05)
    edges = np.arange(0, 1.01, 0.2)
    assert colour_scatter(real, real_z, generated, generated_z, other, other_z, edges)["g-r"] == []
    assert np.isnan(summary(colour_scatter(real, real_z, generated, generated_z, other, other_z, edges))
                    ["g-r"]["ratio"])
    assert len(colour_scatter(real, real_z, generated, generated_z, other, other_z, edges, min_galaxies=10)
               ["g-r"]) == 5
