"""Noise schedules and timestep spacing, against their closed forms."""

import math

import numpy as np
import pytest
import torch

from galaxy_explorer.diffusion.schedule import (
    NoiseSchedule, cosine_alpha_bar, half_log_snr, logsnr_timesteps, make_schedule, sampling_timesteps,
    signal_and_noise_scales, trailing_timesteps)
from galaxy_explorer.errors import CheckpointError


def test_linear_schedule_is_the_papers_beta_1e4_to_002_over_1000_steps():
    schedule = make_schedule("linear")
    betas = schedule.betas.numpy()
    assert schedule.num_steps == 1000
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    np.testing.assert_allclose(np.diff(betas), (0.02 - 1e-4) / 999, rtol=1e-9)


def test_alpha_bar_is_the_running_product_of_one_minus_beta():
    schedule = make_schedule("linear")
    by_hand = [math.prod(1 - (1e-4 + (0.02 - 1e-4) * k / 999) for k in range(t + 1)) for t in (0, 10, 499, 999)]
    np.testing.assert_allclose(schedule.alpha_bar.numpy()[[0, 10, 499, 999]], by_hand, rtol=1e-10)
    assert schedule.alpha_bar_at(-1) == 1.0  # "step -1" is the clean image
    assert schedule.alpha_bar[-1] < 5e-5  # the last step is almost pure noise


def test_cosine_schedule_follows_nichol_and_dhariwal():
    schedule = make_schedule("cosine")
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    expected = cosine_alpha_bar(t)
    uncapped = schedule.betas < 0.999
    np.testing.assert_allclose(schedule.alpha_bar[uncapped].numpy(), expected[uncapped].numpy(), rtol=1e-9)
    assert float(schedule.betas.max()) <= 0.999
    # f(s) = cos^2(((s + 0.008)/1.008) pi/2) / f(0): halfway through, alpha_bar is close to 1/2.
    assert float(cosine_alpha_bar(torch.tensor(0.5, dtype=torch.float64))) == pytest.approx(
        math.cos(0.508 / 1.008 * math.pi / 2) ** 2 / math.cos(0.008 / 1.008 * math.pi / 2) ** 2)


def test_signal_and_noise_scales_are_unit_power():
    schedule = make_schedule("linear")
    alpha, sigma = signal_and_noise_scales(schedule, torch.tensor([0, 300, 999]))
    np.testing.assert_allclose((alpha ** 2 + sigma ** 2).numpy(), 1.0, rtol=1e-12)


@pytest.mark.parametrize("steps, expected", [
    (20, list(range(999, 0, -50))),
    (4, [999, 749, 499, 249]),
    (1, [999]),
    (1000, list(range(999, -1, -1))),
])
def test_trailing_spacing_starts_at_the_noisiest_step(steps, expected):
    assert trailing_timesteps(1000, steps) == expected


def test_trailing_spacing_is_strictly_decreasing_for_any_step_count():
    for steps in (3, 7, 33, 250, 999):
        visited = trailing_timesteps(1000, steps)
        assert visited[0] == 999 and len(visited) == steps
        assert all(a > b for a, b in zip(visited, visited[1:])) and visited[-1] >= 0


@pytest.mark.parametrize("steps", [0, 1001])
def test_impossible_step_counts_are_refused(steps):
    with pytest.raises(ValueError, match="between 1 and 1000"):
        trailing_timesteps(1000, steps)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_round_trips_through_its_json_description(kind):
    schedule = make_schedule(kind)
    again = NoiseSchedule.from_dict(schedule.to_dict())
    assert torch.equal(again.alpha_bar, schedule.alpha_bar)


@pytest.mark.parametrize("spec, key", [
    ({"kind": "quadratic", "num_steps": 1000}, "kind"),
    ({"kind": "linear", "num_steps": "many"}, "num_steps"),
    ({"kind": "linear", "num_steps": 1000, "beta_start": 0.5, "beta_end": 0.1}, "beta"),
    ({"kind": "linear", "num_steps": 1000}, "beta_start"),
])
def test_bad_schedule_descriptions_name_the_key(spec, key):
    with pytest.raises(CheckpointError, match=key):
        NoiseSchedule.from_dict(spec, source="model.json")


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [1, 2, 20, 50, 250, 999, 1000])
def test_logsnr_spacing_runs_from_the_noisiest_step_to_the_clean_end_without_repeats(kind, steps):
    visited = logsnr_timesteps(make_schedule(kind), steps)
    assert len(visited) == steps and visited[0] == 999
    assert all(a > b for a, b in zip(visited, visited[1:]))
    if steps > 1:
        assert visited[-1] == 0


def test_logsnr_spacing_takes_even_steps_in_log_snr_where_the_schedule_allows():
    schedule = make_schedule("linear")
    visited = logsnr_timesteps(schedule, 20)
    lambdas = np.array([half_log_snr(schedule.alpha_bar_at(t)) for t in visited])
    gaps = np.diff(lambdas)
    # Integer training steps cannot hit the grid exactly: within 5% they do, except in the last few steps, where
    # one training step (t = 4, 1, 0) is already a large step in log-SNR.
    np.testing.assert_allclose(gaps[:-4], np.median(gaps), rtol=0.05)
    assert np.all(gaps > 0.5 * np.median(gaps))
    assert lambdas[0] < -5 and lambdas[-1] > 4  # from (almost) pure noise to (almost) clean


def test_every_training_step_is_visited_when_sampling_with_all_of_them():
    assert logsnr_timesteps(make_schedule("linear"), 1000) == list(range(999, -1, -1))


def test_spacing_is_chosen_by_name_and_unknown_names_are_refused():
    schedule = make_schedule("linear")
    assert sampling_timesteps(schedule, 4, "trailing") == [999, 749, 499, 249]
    assert sampling_timesteps(schedule, 4) == logsnr_timesteps(schedule, 4)
    with pytest.raises(ValueError, match="spacing 'leading'"):
        sampling_timesteps(schedule, 4, "leading")
