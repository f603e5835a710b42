"""Inversion: the DDIM ODE run backwards finds the noise x_T from which DDIM draws a given image back."""

import math

import numpy as np
import pytest
import torch

from galaxy_explorer.diffusion import GenerationError, initial_noise
from galaxy_explorer.diffusion.inversion import invert_ddim
from galaxy_explorer.diffusion.samplers import sample_ddim
from galaxy_explorer.diffusion.schedule import make_schedule
from galaxy_explorer.diffusion.testing import toy_stamps

SCHEDULE = make_schedule("linear")
MEAN, WIDTH = 0.3, 0.5  # data x_0 ~ N(MEAN, WIDTH²) in every pixel


def gaussian_eps(x: torch.Tensor, t: int) -> torch.Tensor:
    """The exact noise predictor for Gaussian data: E[eps | x_t] = sigma_t (x_t - alpha_t MEAN) / variance of x_t."""
    alpha_bar = SCHEDULE.alpha_bar_at(t)
    return math.sqrt(1 - alpha_bar) * (x - math.sqrt(alpha_bar) * MEAN) / (alpha_bar * WIDTH ** 2 + 1 - alpha_bar)


def gaussian_ode_noise(x_0: torch.Tensor) -> torch.Tensor:
    """Where the probability-flow ODE takes x_0 at the last training step, in closed form: for Gaussian data it
    keeps each point's standard score, x_t = alpha_t MEAN + sqrt(alpha_bar_t WIDTH² + 1 - alpha_bar_t) z."""
    alpha_bar = SCHEDULE.alpha_bar_at(SCHEDULE.num_steps - 1)
    return math.sqrt(alpha_bar) * MEAN + math.sqrt(alpha_bar * WIDTH ** 2 + 1 - alpha_bar) * (x_0 - MEAN) / WIDTH


def relative(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.fixture(scope="module")
def gaussian_data():
    return MEAN + WIDTH * torch.randn(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_inversion_follows_the_ode_backwards_to_its_closed_form_noise(gaussian_data):
    errors = [relative(invert_ddim(gaussian_eps, SCHEDULE, gaussian_data, steps), gaussian_ode_noise(gaussian_data))
              for steps in (20, 100, 500)]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.01, errors


def test_the_round_trip_improves_with_steps_and_refinement_makes_it_exact(gaussian_data):
    def round_trip(steps: int, refine: int) -> float:
        x_T = invert_ddim(gaussian_eps, SCHEDULE, gaussian_data, steps, refine=refine)
        return relative(sample_ddim(gaussian_eps, SCHEDULE, x_T, steps), gaussian_data)

    plain = [round_trip(steps, 0) for steps in (10, 50, 250)]
    assert plain[0] > plain[1] > plain[2], plain
    # Fixed-point iterations solve each DDIM step for the point it came from: sampling then undoes inversion.
    assert round_trip(50, 3) < plain[1] / 100
    assert round_trip(50, 8) < 1e-6


def test_steps_are_reported_and_the_input_is_not_changed(gaussian_data):
    before = gaussian_data.clone()
    seen = []
    invert_ddim(gaussian_eps, SCHEDULE, gaussian_data, 7, on_step=seen.append)
    assert seen == list(range(1, 8))
    assert torch.equal(gaussian_data, before)
    with pytest.raises(ValueError, match="refine must be an integer >= 0, got -1"):
        invert_ddim(gaussian_eps, SCHEDULE, gaussian_data, 7, refine=-1)


# -- Generator: survey flux in, x_T out, and frames from it -------------------------------------------------------

@pytest.fixture(scope="module")
def stamps():
    return toy_stamps(2, seed=3)


def model_space_error(generator, images, x_T, redshifts, steps) -> float:
    back = generator.frames_from_noise(x_T, redshifts, sampler="ddim", steps=steps)
    to_model = generator.normalization.to_model
    return relative(to_model(back), to_model(images))


def test_generator_round_trip_on_a_random_model_improves_with_steps(generator, stamps):
    redshifts = [0.5, 1.5]
    errors = [model_space_error(generator, stamps, generator.invert(stamps, redshifts, steps=steps), redshifts, steps)
              for steps in (4, 16, 64)]
    assert errors[0] > errors[1] > errors[2], errors
    refined = model_space_error(generator, stamps, generator.invert(stamps, redshifts, steps=16, refine=3),
                                redshifts, 16)
    assert refined < errors[1] / 5, (refined, errors)


def test_invert_gives_one_cpu_float32_noise_per_image_deterministically(generator, stamps):
    x_T = generator.invert(stamps, 1.0, steps=3)
    assert isinstance(x_T, torch.Tensor) and x_T.shape == (2, 5, 64, 64) and x_T.dtype == torch.float32
    assert x_T.device.type == "cpu" and torch.isfinite(x_T).all()
    assert torch.equal(x_T, generator.invert(stamps, [1.0, 1.0], steps=3))
    one = generator.invert(stamps[1], 1.0, steps=3)  # a single (5,64,64) image
    assert one.shape == (1, 5, 64, 64)
    torch.testing.assert_close(one[0], x_T[1], atol=1e-4, rtol=1e-4)  # rows do not depend on each other
    assert not torch.equal(x_T, generator.invert(stamps, 2.0, steps=3))  # the redshift conditions the ODE


def test_a_seed_is_a_named_initial_noise(generator):
    """frames(seed) and frames_from_noise(initial_noise(seed)) are the same walk, pixel for pixel (the sampler alone:
    frames_from_noise maps noise through the sampler, without the final denoising step ``frames`` takes by default)."""
    noise = initial_noise(9, (1,) + generator.image_shape)
    for sampler in ("ddim", "dpmpp2m"):
        assert np.array_equal(generator.frames(9, [0.4, 2.0], sampler=sampler, steps=4, denoise_step=None),
                              generator.frames_from_noise(noise, [0.4, 2.0], sampler=sampler, steps=4))


def test_frames_from_noise_walks_one_noise_or_takes_one_per_redshift(generator):
    noise = torch.cat([initial_noise(1, (1, 5, 64, 64)), initial_noise(2, (1, 5, 64, 64))])
    rows = generator.normalization.to_model(generator.frames_from_noise(noise, [0.7, 0.7], sampler="ddim", steps=3))
    for row, seed in zip(rows, (1, 2)):  # equal up to float rounding: a batch of two sums in another order
        np.testing.assert_allclose(row, generator.normalization.to_model(generator.frames(seed, [0.7], "ddim", 3, denoise_step=None)[0]),
                                   atol=1e-4)
    calls, steps_seen = [], []
    walk = generator.frames_from_noise(noise[0].numpy(), [0.2, 0.9, 1.6], sampler="ddim", steps=2, batch_size=2,
                                       progress=lambda done, total: calls.append((done, total)),
                                       on_step=steps_seen.append)
    assert walk.shape == (3, 5, 64, 64) and calls == [(2, 3), (3, 3)] and steps_seen == [1, 2, 1, 2]


@pytest.mark.parametrize("call, message", [
    (lambda g, s: g.invert(s[:, :3], 1.0), r"images must be shaped \(5, 64, 64\) .* got shape \(2, 3, 64, 64\)"),
    (lambda g, s: g.invert(np.where(np.arange(2)[:, None, None, None] == 1, np.nan, s), 1.0),
     "image 1 has non-finite pixels"),
    (lambda g, s: g.invert(s, [1.0, 2.0, 3.0]), r"one per image \(2\), got shape \(3,\)"),
    (lambda g, s: g.invert(s, [1.0, float("nan")]), "'redshift' has a non-finite value"),
    (lambda g, s: g.invert(s, 1.0, steps=0), "steps must be an integer from 1 to 1000, got 0"),
    (lambda g, s: g.invert(s, 1.0, refine=-2), "refine must be an integer >= 0, got -2"),
    (lambda g, s: g.frames_from_noise(torch.zeros(3, 5, 64, 64), [1.0, 2.0]),
     r"one per redshift \(2, …\), got shape \(3, 5, 64, 64\)"),
    (lambda g, s: g.frames_from_noise(torch.full((5, 64, 64), float("inf")), [1.0]), "x_T has non-finite values"),
    (lambda g, s: g.frames_from_noise(torch.zeros(5, 64, 64), [1.0], sampler="ddpm"), "'ddpm' adds fresh noise"),
    (lambda g, s: g.frames_from_noise(torch.zeros(5, 64, 64), [[1.0]]), r"1-D sequence, got shape \(1, 1\)"),
])
def test_bad_inputs_are_refused_naming_the_value(generator, stamps, call, message):
    with pytest.raises(GenerationError, match=message):
        call(generator, stamps)
