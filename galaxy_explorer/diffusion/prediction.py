"""What the network predicts, and how that becomes the noise estimate the samplers use.

Two parameterizations, both on the forward process x_t = alpha_t x_0 + sigma_t eps (alpha = sqrt(alpha_bar),
sigma = sqrt(1 - alpha_bar)):

* ``"eps"`` — the network predicts eps (Ho et al. 2020; what Lizarraga et al. 2024 train).
* ``"v"`` — the network predicts v = alpha_t eps - sigma_t x_0 (Salimans & Ho 2022), the default here. Then
  eps = sigma_t x_t + alpha_t v and x_0 = alpha_t x_t - sigma_t v, so an error in the network output changes the
  clean estimate by at most about that error at every noise level, whereas with eps prediction it is amplified
  by sigma_t / alpha_t (~150 at the noisiest step of the linear schedule). That keeps few-step samplers, and
  barely trained or randomly initialised networks, from producing extreme pixel values.
"""

from __future__ import annotations

import torch

PREDICTIONS = ("v", "eps")


def training_target(prediction: str, clean: torch.Tensor, noise: torch.Tensor,
                    alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The tensor the network is trained to output for x_t = alpha * clean + sigma * noise."""
    if prediction == "eps":
        return noise
    if prediction == "v":
        return alpha * noise - sigma * clean
    raise ValueError(f"prediction {prediction!r} is not one of {PREDICTIONS}")


def eps_from_output(prediction: str, output: torch.Tensor, noisy: torch.Tensor, alpha: float | torch.Tensor,
                    sigma: float | torch.Tensor) -> torch.Tensor:
    """Noise estimate implied by the network output at x_t = ``noisy``."""
    if prediction == "eps":
        return output
    if prediction == "v":
        return sigma * noisy + alpha * output
    raise ValueError(f"prediction {prediction!r} is not one of {PREDICTIONS}")


def make_eps_function(model: torch.nn.Module, schedule, prediction: str, conditions: torch.Tensor,
                      left_out: torch.Tensor | None = None, guidance_scale: float = 1.0,
                      guided: torch.Tensor | None = None):
    """``eps(x, t)`` for the samplers: the network at training step ``t`` with fixed conditions.

    ``left_out`` (n, k) bool marks conditions replaced by their learned null embedding. ``guidance_scale`` != 1
    applies classifier-free guidance: eps_null + w (eps_cond - eps_null). ``guided`` (k,) bool marks the conditions
    eps_null leaves out (None: all of them). Guiding some conditions only keeps the others in both passes, so the
    guidance pushes the image towards those conditions alone: e.g. the morphology labels, with the redshift held.
    """
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction {prediction!r} is not one of {PREDICTIONS}")
    use_mask = left_out is not None and bool(left_out.any())

    def network_eps_for(x: torch.Tensor, t: int, batch_conditions: torch.Tensor, mask) -> torch.Tensor:
        timesteps = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        output = model(x, timesteps, batch_conditions, mask)
        alpha_bar = schedule.alpha_bar_at(t)
        return eps_from_output(prediction, output, x, alpha_bar ** 0.5, (1.0 - alpha_bar) ** 0.5)

    def network_eps(x: torch.Tensor, t: int, mask) -> torch.Tensor:
        return network_eps_for(x, t, conditions, mask)

    def eps(x: torch.Tensor, t: int) -> torch.Tensor:
        if guidance_scale == 1.0:
            return network_eps(x, t, left_out if use_mask else None)
        # Conditional and unconditional passes as one batch of two: one network call per step.
        n = x.shape[0]
        conditional_mask = left_out if left_out is not None else torch.zeros(
            (n, conditions.shape[1]), dtype=torch.bool, device=x.device)
        null_mask = torch.ones_like(conditional_mask) if guided is None else \
            conditional_mask | guided.to(device=x.device, dtype=torch.bool)[None, :]
        both = network_eps_for(torch.cat([x, x]), t, torch.cat([conditions, conditions]),
                               torch.cat([conditional_mask, null_mask]))
        conditional, unconditional = both[:n], both[n:]
        return unconditional + guidance_scale * (conditional - unconditional)

    return eps
