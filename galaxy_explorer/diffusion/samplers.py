"""Samplers: short pure functions of an eps-function, a schedule and the initial noise.

Each sampler takes ``eps_fn(x, t) -> predicted noise`` (``t`` an integer training step), a ``NoiseSchedule``, the
initial noise ``x_T`` and a number of steps, and returns the clean estimate x_0 in model space. The timesteps start
at the noisiest training step T-1 and are spaced evenly in log-SNR (``spacing="logsnr"``, the default; see
``schedule.logsnr_timesteps`` for why) or evenly in t (``spacing="trailing"``). Nothing is clipped: model space is not
bounded like [-1, 1] photographs, and clipping would also break continuity in the conditions.

With ``x_T`` fixed, DDIM (eta = 0) and DPM-Solver++(2M) are deterministic maps, so the output is a continuous
function of whatever the eps-function is conditioned on (redshift). DDPM ancestral sampling adds fresh noise at
every step; it stays deterministic and continuous when that noise is fixed too (``noise_fn`` returns the same
tensors whatever the condition), which is how ``Generator`` calls it.

``final_denoise`` adds one network call after any sampler: the finished image is taken as the noisy image at a
small training step and replaced by the network's clean estimate of it (Tweedie's formula). It removes pixel-scale
noise of about that step's amplitude, which is where the shipped model's own error (its "grain") sits; see
``benchmarks/grain_levers.py``. ``DEFAULT_DENOISE_STEP`` is the step the generator uses unless told otherwise.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from galaxy_explorer.diffusion.schedule import DEFAULT_TIMESTEP_SPACING, NoiseSchedule, half_log_snr, sampling_timesteps

EpsFunction = Callable[[torch.Tensor, int], torch.Tensor]
StepCallback = Optional[Callable[[int], None]]

SAMPLERS = ("ddpm", "ddim", "dpmpp2m")

# The final denoising step every generation takes unless told otherwise (issue 31). At training step 10 the noise
# is sigma ~0.047 in model space: about the size of the shipped model's pixel-scale error inside galaxies (0.02-0.03
# rms above the survey's), well below the survey's own sky noise there (~0.13). Measured on 1,000 galaxies
# (benchmarks/grain_levers.py, docs/experiments.md): grain inside galaxies from 1.9-2.3x the survey's to 0.8-1.1x,
# the redshift CNN check from 1.85 to 1.34; the cost is one network call a frame (21 instead of 20), the outskirts of
# z < 0.2 galaxies made too smooth (0.5x at 5-20 sky sigma) and g - r ~0.02 mag redder.
DEFAULT_DENOISE_STEP = 10
DENOISE_STEP_HELP = ("after the sampler, one more network call that reads the image as noisy at training step T and "
                     "keeps its clean estimate: removes the model's pixel-scale grain ('none': the sampler's own "
                     "output; default: %(default)s)")


def predicted_clean(x: torch.Tensor, eps: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """x_0 implied by x_t and the predicted noise: (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)."""
    return (x - math.sqrt(1.0 - alpha_bar) * eps) / math.sqrt(alpha_bar)


def _step_pairs(schedule: NoiseSchedule, steps: int, spacing: str) -> list[tuple[int, int]]:
    """(t, s) pairs for each step from training step t to the less noisy s; the last s is -1 (clean)."""
    visited = sampling_timesteps(schedule, steps, spacing)
    return list(zip(visited, visited[1:] + [-1]))


def sample_ddpm(eps_fn: EpsFunction, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int,
                noise_fn: Callable[[int], torch.Tensor], on_step: StepCallback = None,
                spacing: str = DEFAULT_TIMESTEP_SPACING) -> torch.Tensor:
    """Ancestral DDPM sampling (Ho et al. 2020), the sampler the papers used (at 1000 steps).

    From step t to step s < t the forward process collapses to one Gaussian step with
    alpha_ts = alpha_bar_t / alpha_bar_s, so the same formula serves 1000 steps and any coarser subsequence.
    ``noise_fn(i)`` supplies the fresh noise added after step i (broadcastable to x).
    """
    x = x_T
    for i, (t, s) in enumerate(_step_pairs(schedule, steps, spacing)):
        alpha_bar_t, alpha_bar_s = schedule.alpha_bar_at(t), schedule.alpha_bar_at(s)
        x0 = predicted_clean(x, eps_fn(x, t), alpha_bar_t)
        if s < 0:
            x = x0  # the posterior mean at s = -1 is the clean estimate itself
        else:
            alpha_ts = alpha_bar_t / alpha_bar_s
            beta_ts = 1.0 - alpha_ts
            # Posterior q(x_s | x_t, x_0): mean mixes x_0 and x_t, variance is the "beta tilde" of Ho et al.
            mean = (math.sqrt(alpha_bar_s) * beta_ts / (1.0 - alpha_bar_t)) * x0 \
                + (math.sqrt(alpha_ts) * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t)) * x
            variance = beta_ts * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t)
            x = mean + math.sqrt(variance) * noise_fn(i)
        if on_step is not None:
            on_step(i + 1)
    return x


def sample_ddim(eps_fn: EpsFunction, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int,
                on_step: StepCallback = None, spacing: str = DEFAULT_TIMESTEP_SPACING) -> torch.Tensor:
    """Deterministic DDIM (Song et al. 2020, eta = 0): move x_0 and eps estimates to the next noise level."""
    x = x_T
    for i, (t, s) in enumerate(_step_pairs(schedule, steps, spacing)):
        alpha_bar_t, alpha_bar_s = schedule.alpha_bar_at(t), schedule.alpha_bar_at(s)
        eps = eps_fn(x, t)
        x0 = predicted_clean(x, eps, alpha_bar_t)
        x = math.sqrt(alpha_bar_s) * x0 + math.sqrt(1.0 - alpha_bar_s) * eps
        if on_step is not None:
            on_step(i + 1)
    return x


def sample_dpmpp2m(eps_fn: EpsFunction, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int,
                   on_step: StepCallback = None, spacing: str = DEFAULT_TIMESTEP_SPACING) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022): second-order multistep solver of the probability-flow ODE in x_0 form.

    Each step is exact for the linear part of the ODE and extrapolates the x_0 estimate linearly in lambda from the
    previous step's one. The first step has no history (first order) and so has the last, which lands on the clean
    image where lambda is infinite.
    """
    x = x_T
    previous_x0: Optional[torch.Tensor] = None
    previous_h = 0.0
    for i, (t, s) in enumerate(_step_pairs(schedule, steps, spacing)):
        alpha_bar_t, alpha_bar_s = schedule.alpha_bar_at(t), schedule.alpha_bar_at(s)
        x0 = predicted_clean(x, eps_fn(x, t), alpha_bar_t)
        if s < 0:
            x = x0
        else:
            h = half_log_snr(alpha_bar_s) - half_log_snr(alpha_bar_t)
            if previous_x0 is None:
                direction = x0
            else:
                r = previous_h / h
                direction = (1.0 + 0.5 / r) * x0 - (0.5 / r) * previous_x0
            sigma_ratio = math.sqrt((1.0 - alpha_bar_s) / (1.0 - alpha_bar_t))
            x = sigma_ratio * x - (math.sqrt(alpha_bar_s) * math.expm1(-h)) * direction
            previous_x0, previous_h = x0, h
        if on_step is not None:
            on_step(i + 1)
    return x


def final_denoise(eps_fn: EpsFunction, schedule: NoiseSchedule, x0: torch.Tensor, step: int) -> torch.Tensor:
    """The network's clean estimate of ``x0`` read as the noisy image at training step ``step``: one more call.

    A sampler's output carries the network's own pixel-scale error. Read as x_t at a step whose noise level is about
    that error's size, the image gets the error's estimate removed, like any noise of that size; at larger steps it
    also smooths real sky and photon noise away (measured in ``benchmarks/grain_levers.py``)."""
    if not 0 <= int(step) < schedule.num_steps:
        raise ValueError(f"final denoising step must be a training step from 0 to {schedule.num_steps - 1}, "
                         f"got {step!r}")
    return predicted_clean(x0, eps_fn(x0, int(step)), schedule.alpha_bar_at(int(step)))


def run_sampler(name: str, eps_fn: EpsFunction, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int,
                noise_fn: Optional[Callable[[int], torch.Tensor]] = None, on_step: StepCallback = None,
                spacing: str = DEFAULT_TIMESTEP_SPACING, denoise_step: Optional[int] = None) -> torch.Tensor:
    """Dispatch by name ('ddpm', 'ddim', 'dpmpp2m'); 'ddpm' needs ``noise_fn``. ``denoise_step``: a training step
    for ``final_denoise`` after the sampler (None: none, the output is the sampler's own)."""
    if name == "ddpm":
        if noise_fn is None:
            raise ValueError("the 'ddpm' sampler needs noise_fn for the noise it adds at every step")
        x0 = sample_ddpm(eps_fn, schedule, x_T, steps, noise_fn, on_step, spacing)
    elif name == "ddim":
        x0 = sample_ddim(eps_fn, schedule, x_T, steps, on_step, spacing)
    elif name == "dpmpp2m":
        x0 = sample_dpmpp2m(eps_fn, schedule, x_T, steps, on_step, spacing)
    else:
        raise ValueError(f"sampler {name!r} is not one of {SAMPLERS}")
    return x0 if denoise_step is None else final_denoise(eps_fn, schedule, x0, denoise_step)
