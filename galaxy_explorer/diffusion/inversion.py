"""Deterministic inversion: the DDIM ODE run backwards, from a clean image x_0 to the noise x_T that gives it back.

DDIM (eta = 0) moves from noise level t to the less noisy s with

    x_s = sqrt(ab_s) x0_hat(x_t) + sqrt(1 - ab_s) eps(x_t, t),     x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)

(``samplers.sample_ddim``). Inversion visits the same timesteps in the opposite order, from s to t. Keeping the noise
estimate e fixed, the step above is solved for x_t by

    x_t = sqrt(ab_t) (x_s - sqrt(1 - ab_s) e) / sqrt(ab_s) + sqrt(1 - ab_t) e,

but e = eps(x_t, t) depends on the unknown x_t. The usual approximation (Song et al. 2020; Mokady et al. 2022)
evaluates it at the known x_s instead: eps(x_s, t). Its error per step shrinks with the step size, so the round
trip (invert with N steps, then sample DDIM with N steps) approaches the identity as N grows. ``refine`` fixed-point
iterations e <- eps(x_t, t) make each step an exact inverse of the sampler's step where they converge, at one
network call each.

Like the samplers, these are pure functions of an eps-function, a schedule and a tensor; ``Generator.invert`` adds
the checkpoint's normalization and conditions.
"""

from __future__ import annotations

import math

import torch

from galaxy_explorer.diffusion.samplers import EpsFunction, StepCallback, _step_pairs, predicted_clean
from galaxy_explorer.diffusion.schedule import DEFAULT_TIMESTEP_SPACING, NoiseSchedule


def noisier(x_s: torch.Tensor, eps: torch.Tensor, alpha_bar_s: float, alpha_bar_t: float) -> torch.Tensor:
    """The x_t that DDIM maps to ``x_s`` when its noise estimate at x_t is ``eps`` (the DDIM step solved for x_t)."""
    return math.sqrt(alpha_bar_t) * predicted_clean(x_s, eps, alpha_bar_s) + math.sqrt(1.0 - alpha_bar_t) * eps


def invert_ddim(eps_fn: EpsFunction, schedule: NoiseSchedule, x_0: torch.Tensor, steps: int, refine: int = 0,
                on_step: StepCallback = None, spacing: str = DEFAULT_TIMESTEP_SPACING) -> torch.Tensor:
    """x_T from which ``sample_ddim(eps_fn, schedule, x_T, steps, spacing=spacing)`` returns (about) ``x_0``.

    ``steps`` and ``spacing`` must be those of the sampling that is to reproduce x_0: inversion steps through the
    same timesteps, cleanest first. ``refine`` >= 0 fixed-point iterations per step (see the module docstring).
    ``on_step(i)`` is called after step i = 1 … steps, as by the samplers.
    """
    if isinstance(refine, bool) or not isinstance(refine, int) or refine < 0:
        raise ValueError(f"refine must be an integer >= 0, got {refine!r}")
    x = x_0
    for i, (t, s) in enumerate(reversed(_step_pairs(schedule, steps, spacing))):
        alpha_bar_t, alpha_bar_s = schedule.alpha_bar_at(t), schedule.alpha_bar_at(s)
        # Where the noise estimate belongs (x_t) is not known yet: start from the point we are at.
        x_t = noisier(x, eps_fn(x, t), alpha_bar_s, alpha_bar_t)
        for _ in range(refine):
            x_t = noisier(x, eps_fn(x_t, t), alpha_bar_s, alpha_bar_t)
        x = x_t
        if on_step is not None:
            on_step(i + 1)
    return x
