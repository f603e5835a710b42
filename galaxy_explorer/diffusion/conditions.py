"""Embedding of the named scalar conditions (redshift, and any further survey columns).

Each condition is rescaled by its training range to u in [0, 1], embedded with sinusoids of geometrically spaced
frequencies, passed through its own small MLP, and the results are summed and added to the diffusion-time
embedding — as Lizarraga et al. 2024 do for redshift. A sinusoidal embedding is a smooth function of the value, so
the network output (and hence a deterministic sample) stays continuous in redshift.

For classifier-free guidance each condition has a learned "null" embedding that stands in for it when it is
dropped in training (``drop_mask``) or left out when sampling.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

# Highest angular frequency, per unit of the range-scaled value u. 2π/200 ≈ 0.03 of the training range is the
# shortest wavelength (≈ 0.12 in redshift for a 0–4 range), well above the σ = 0.01 redshift noise of training.
MAX_FREQUENCY = 200.0


def sinusoidal_embedding(values: torch.Tensor, dim: int, max_frequency: float) -> torch.Tensor:
    """(n,) values -> (n, dim) [sin(f_k v), cos(f_k v)] with f_k geometric from 1 to ``max_frequency``."""
    half = dim // 2
    exponents = torch.arange(half, device=values.device, dtype=torch.float32) / max(half - 1, 1)
    frequencies = max_frequency ** exponents
    angles = values.float()[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def timestep_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """The transformer/DDPM embedding of integer diffusion steps: frequencies 1 … 1/10000 per step."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=timesteps.device, dtype=torch.float32) / half)
    angles = timesteps.float()[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ConditionEmbedding(nn.Module):
    """Named scalar conditions (n, k) -> one (n, embed_dim) vector to add to the time embedding."""

    def __init__(self, names: Sequence[str], ranges: Sequence[tuple[float, float]], embed_dim: int,
                 sinusoid_dim: int = 64, max_frequency: float = MAX_FREQUENCY):
        super().__init__()
        if len(names) != len(ranges):
            raise ValueError(f"{len(names)} condition names but {len(ranges)} ranges")
        self.names = tuple(names)
        self.sinusoid_dim = sinusoid_dim
        self.max_frequency = max_frequency
        lows = [float(lo) for lo, _ in ranges]
        spans = [max(float(hi) - float(lo), 1e-6) for lo, hi in ranges]
        # Buffers travel with the weights, so a loaded model scales conditions exactly as in training.
        self.register_buffer("range_low", torch.tensor(lows, dtype=torch.float32), persistent=True)
        self.register_buffer("range_span", torch.tensor(spans, dtype=torch.float32), persistent=True)
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(sinusoid_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
            for _ in self.names
        )
        self.null_embeddings = nn.Parameter(torch.zeros(len(self.names), embed_dim))

    def forward(self, conditions: torch.Tensor, drop_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``conditions`` (n, k) in physical units; ``drop_mask`` (n, k) bool: True -> use the null embedding."""
        scaled = (conditions.float() - self.range_low) / self.range_span
        total = None
        for k, mlp in enumerate(self.mlps):
            embedded = mlp(sinusoidal_embedding(scaled[:, k], self.sinusoid_dim, self.max_frequency))
            if drop_mask is not None:
                embedded = torch.where(drop_mask[:, k:k + 1], self.null_embeddings[k].to(embedded.dtype), embedded)
            total = embedded if total is None else total + embedded
        return total
