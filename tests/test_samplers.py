"""Samplers on Gaussian data, where the ideal noise prediction is known in closed form.

For data x_0 ~ N(mu, s^2) the marginal at step t is N(alpha mu, alpha^2 s^2 + sigma^2), the optimal prediction is
eps*(x, t) = sigma (x - alpha mu) / (alpha^2 s^2 + sigma^2), and the probability-flow ODE maps x_T to
x_0 = mu + s (x_T - alpha_T mu) / sqrt(alpha_T^2 s^2 + sigma_T^2), exactly.
"""

import math

import pytest
import torch

from galaxy_explorer.diffusion.samplers import (
    SAMPLERS, run_sampler, sample_ddim, sample_dpmpp2m)
from galaxy_explorer.diffusion.schedule import make_schedule

SCHEDULE = make_schedule("linear")
N = 20000


def gaussian_eps(mu: float, s: float):
    def eps(x, t):
        alpha_bar = SCHEDULE.alpha_bar_at(t)
        alpha, sigma = math.sqrt(alpha_bar), math.sqrt(1 - alpha_bar)
        return sigma * (x - alpha * mu) / (alpha_bar * s * s + sigma * sigma)
    return eps


def exact_ode_map(x_T, mu, s):
    alpha_bar = SCHEDULE.alpha_bar_at(SCHEDULE.num_steps - 1)
    return mu + s * (x_T - math.sqrt(alpha_bar) * mu) / math.sqrt(alpha_bar * s * s + 1 - alpha_bar)


def initial_noise(n=N, seed=0):
    return torch.randn(n, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


# DDIM is first order: with steps even in log-SNR it spends fewer on the noisy end than on the clean end.
@pytest.mark.parametrize("sampler, steps, tolerance", [("ddim", 250, 0.015), ("dpmpp2m", 20, 0.025),
                                                       ("dpmpp2m", 50, 0.02)])
def test_deterministic_samplers_follow_the_exact_ode_map(sampler, steps, tolerance):
    mu, s = 0.5, 1.0
    x_T = initial_noise()
    out = run_sampler(sampler, gaussian_eps(mu, s), SCHEDULE, x_T, steps)
    exact = exact_ode_map(x_T, mu, s)
    assert float((out - exact).abs().max()) < tolerance * 4  # every sample, not only on average
    assert float((out - exact).pow(2).mean().sqrt()) < tolerance


def test_ddpm_ancestral_at_1000_steps_recovers_the_data_distribution():
    mu, s = 0.5, 1.0
    noise = torch.Generator().manual_seed(1)
    out = run_sampler("ddpm", gaussian_eps(mu, s), SCHEDULE, initial_noise(), 1000,
                      noise_fn=lambda i: torch.randn(N, 1, dtype=torch.float64, generator=noise))
    standard_error = s / math.sqrt(N)
    assert abs(float(out.mean()) - mu) < 4 * standard_error
    assert abs(float(out.std()) - s) < 4 * s / math.sqrt(2 * N)


def test_samples_are_not_clipped_to_minus_one_one():
    out = run_sampler("dpmpp2m", gaussian_eps(5.0, 1.0), SCHEDULE, initial_noise(), 20)
    assert float(out.mean()) == pytest.approx(5.0, abs=0.1)
    assert float(out.max()) > 7.0


def test_dpm_solver_plus_plus_converges_faster_than_ddim():
    """On narrow data (s = 0.2), the second-order solver is closer to the true spread at equal cost."""
    mu, s = 0.5, 0.2
    x_T = initial_noise()
    exact = exact_ode_map(x_T, mu, s)
    error = {name: float((run_sampler(name, gaussian_eps(mu, s), SCHEDULE, x_T, 50) - exact).pow(2).mean().sqrt())
             for name in ("ddim", "dpmpp2m")}
    assert error["dpmpp2m"] < 0.5 * error["ddim"]


@pytest.mark.parametrize("s", [0.05, 0.2, 1.0])
def test_dpm_solver_plus_plus_at_20_steps_keeps_the_spread_of_narrow_and_wide_data(s):
    """Sky noise is a narrow component (~0.2 in model space): a sampler that shrank it would smooth galaxies."""
    out = run_sampler("dpmpp2m", gaussian_eps(0.0, s), SCHEDULE, initial_noise(), 20)
    assert float(out.std()) / s == pytest.approx(1.0, abs=0.04)


def test_logsnr_spacing_keeps_narrow_spread_that_trailing_spacing_loses():
    s = 0.05
    spread = {spacing: float(run_sampler("dpmpp2m", gaussian_eps(0.0, s), SCHEDULE, initial_noise(), 20,
                                         spacing=spacing).std()) / s
              for spacing in ("logsnr", "trailing")}
    assert spread["logsnr"] > 0.95 and spread["trailing"] < 0.5


def test_deterministic_samplers_are_exactly_repeatable():
    x_T = initial_noise(64)
    eps = gaussian_eps(0.1, 0.7)
    assert torch.equal(sample_ddim(eps, SCHEDULE, x_T, 20), sample_ddim(eps, SCHEDULE, x_T, 20))
    assert torch.equal(sample_dpmpp2m(eps, SCHEDULE, x_T, 20), sample_dpmpp2m(eps, SCHEDULE, x_T, 20))


def test_every_sampler_reports_each_step():
    for name in SAMPLERS:
        seen = []
        run_sampler(name, gaussian_eps(0.0, 1.0), SCHEDULE, initial_noise(4), 7,
                    noise_fn=lambda i: torch.zeros(4, 1, dtype=torch.float64), on_step=seen.append)
        assert seen == list(range(1, 8)), name


def test_ddpm_needs_a_noise_source_and_unknown_samplers_are_refused():
    with pytest.raises(ValueError, match="noise_fn"):
        run_sampler("ddpm", gaussian_eps(0.0, 1.0), SCHEDULE, initial_noise(4), 5)
    with pytest.raises(ValueError, match="euler"):
        run_sampler("euler", gaussian_eps(0.0, 1.0), SCHEDULE, initial_noise(4), 5)
