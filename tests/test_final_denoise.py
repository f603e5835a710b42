"""The final denoising step (issue 31's sampling lever): one more network call after any sampler; the generator
takes it at ``DEFAULT_DENOISE_STEP`` unless told otherwise (None: the sampler's own output)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from galaxy_explorer.diffusion import Generator
from galaxy_explorer.diffusion.generator_inputs import GenerationError
from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP, final_denoise, run_sampler
from galaxy_explorer.diffusion.schedule import make_schedule
from galaxy_explorer.diffusion.testing import make_tiny_checkpoint


def test_it_is_the_clean_estimate_of_the_image_read_as_noisy_at_that_step():
    """For data x0 ~ N(0, s²) the exact noise estimate at step t is sigma x / (alpha² s² + sigma²); pixel noise of
    sigma_t's size, read that way, comes out with alpha s² / (alpha² s² + sigma²) of its spread: about half."""
    schedule = make_schedule("linear")
    step, spread = 5, 0.03  # sigma_5 = 0.030, the size of the shipped model's own pixel error in model space
    alpha_bar = schedule.alpha_bar_at(step)
    alpha, sigma = math.sqrt(alpha_bar), math.sqrt(1 - alpha_bar)

    def exact_eps(x, t):
        assert t == step
        return sigma * x / (alpha ** 2 * spread ** 2 + sigma ** 2)

    noise = spread * torch.randn(20_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    kept = float(final_denoise(exact_eps, schedule, noise, step).std() / noise.std())
    assert kept == pytest.approx(alpha * spread ** 2 / (alpha ** 2 * spread ** 2 + sigma ** 2), rel=1e-6)
    assert 0.4 < kept < 0.6
    # A network that sees no noise only undoes the step's signal scale 1 / alpha.
    unchanged = final_denoise(lambda x, t: torch.zeros_like(x), schedule, noise, step)
    assert torch.allclose(unchanged, noise / alpha)


def test_run_sampler_calls_the_network_once_more_and_only_when_asked():
    schedule = make_schedule("linear")
    calls = []

    def eps(x, t):
        calls.append(t)
        return torch.zeros_like(x)

    x_T = torch.randn(1, 5, 8, 8, generator=torch.Generator().manual_seed(1))
    plain = run_sampler("dpmpp2m", eps, schedule, x_T, 4)
    assert len(calls) == 4
    calls.clear()
    run_sampler("dpmpp2m", eps, schedule, x_T, 4, denoise_step=5)
    assert calls[-1] == 5 and len(calls) == 5
    with pytest.raises(ValueError, match="final denoising step must be a training step from 0 to 999"):
        run_sampler("dpmpp2m", eps, schedule, x_T, 4, denoise_step=1000)
    assert torch.isfinite(plain).all()


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return Generator.load(make_tiny_checkpoint(tmp_path_factory.mktemp("denoise") / "tiny.safetensors", seed=0))


def test_the_generator_takes_the_default_final_denoising_step_unless_told_otherwise(generator):
    default = generator.frames(3, [0.5, 1.0], steps=3)
    assert np.array_equal(generator.frames(3, [0.5, 1.0], steps=3, denoise_step=DEFAULT_DENOISE_STEP), default)
    plain = generator.frames(3, [0.5, 1.0], steps=3, denoise_step=None)  # the sampler's own output
    assert np.isfinite(plain).all() and not np.array_equal(plain, default)
    denoised = generator.frames(3, [0.5, 1.0], steps=3, denoise_step=5)
    assert np.isfinite(denoised).all() and not np.array_equal(denoised, plain)
    rows = generator.population([3, 3], [0.5, 1.0], steps=3, denoise_step=5)
    np.testing.assert_allclose(rows, denoised, atol=1e-5)  # a population row is the walk's frame, as without it
    np.testing.assert_allclose(generator.population([3, 3], [0.5, 1.0], steps=3), default, atol=1e-5)


@pytest.mark.parametrize("bad", [-1, 1000, 2.5, True, "5"])
def test_a_denoising_step_that_is_not_a_training_step_is_refused_by_name(generator, bad):
    with pytest.raises(GenerationError, match="denoise_step must be None or a training step from 0 to 999"):
        generator.frames(3, [0.5], steps=2, denoise_step=bad)
