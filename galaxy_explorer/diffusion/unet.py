"""The conditional UNet that predicts the noise in a 5-band 64×64 image, given the diffusion step and conditions.

Shape: a convolutional encoder/decoder with one skip connection per resolution level, residual blocks that take the
(time + condition) embedding as a per-channel scale and shift, and self-attention at the low resolutions (16×16 and
8×8), with layer normalisation and a GELU feed-forward before and after attention as in Lizarraga et al. 2024.
The architecture is fully described by ``UNetConfig``, which the checkpoint JSON stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from galaxy_explorer.errors import CheckpointError
from galaxy_explorer.diffusion.conditions import ConditionEmbedding, timestep_embedding


@dataclass(frozen=True)
class UNetConfig:
    """Everything needed to rebuild the network; stored in the checkpoint JSON under 'architecture'."""

    base_channels: int = 32
    channel_multipliers: tuple[int, ...] = (1, 2, 3, 4)
    blocks_per_level: int = 1
    attention_resolutions: tuple[int, ...] = (16, 8)
    attention_heads: int = 4
    image_channels: int = 5
    image_size: int = 64
    norm_groups: int = 8
    dropout: float = 0.0
    condition_names: tuple[str, ...] = ("redshift",)
    condition_ranges: tuple[tuple[float, float], ...] = ((0.0, 4.0),)
    condition_sinusoid_dim: int = 64

    def __post_init__(self):
        if self.image_size % 2 ** (len(self.channel_multipliers) - 1):
            raise ValueError(f"image size {self.image_size} is not divisible by 2^{len(self.channel_multipliers) - 1}")
        if len(self.condition_names) != len(self.condition_ranges):
            raise ValueError("condition_names and condition_ranges differ in length")
        if not self.condition_names or self.condition_names[0] != "redshift":
            raise ValueError(f"the first condition must be 'redshift', got {self.condition_names}")
        for channels in self.level_channels:
            if channels % self.norm_groups:
                raise ValueError(f"channel count {channels} is not divisible by norm_groups={self.norm_groups}")

    @property
    def level_channels(self) -> tuple[int, ...]:
        return tuple(self.base_channels * m for m in self.channel_multipliers)

    @property
    def embed_dim(self) -> int:
        return 4 * self.base_channels

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["channel_multipliers"] = list(self.channel_multipliers)
        out["attention_resolutions"] = list(self.attention_resolutions)
        out["condition_names"] = list(self.condition_names)
        out["condition_ranges"] = [list(r) for r in self.condition_ranges]
        return out

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], source: str = "architecture") -> "UNetConfig":
        """Rebuild from ``to_dict`` output; errors name the checkpoint and the bad key."""
        if not isinstance(spec, Mapping):
            raise CheckpointError(f"{source}: 'architecture' must be an object, got {type(spec).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise CheckpointError(f"{source}: unknown architecture key {unknown[0]!r}")
        values = dict(spec)
        try:
            for key in ("channel_multipliers", "attention_resolutions", "condition_names"):
                if key in values:
                    values[key] = tuple(values[key])
            if "condition_ranges" in values:
                values["condition_ranges"] = tuple((float(lo), float(hi)) for lo, hi in values["condition_ranges"])
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: invalid architecture ({exc})") from exc


PRESETS: dict[str, dict[str, Any]] = {
    # For tests: a few thousand parameters, milliseconds per forward pass.
    "tiny": dict(base_channels=8, channel_multipliers=(1, 2, 2), blocks_per_level=1, attention_resolutions=(16,),
                 attention_heads=2, norm_groups=4, condition_sinusoid_dim=16),
    # The shipped model: fast enough on a laptop CPU for an interactive redshift slider (forward <= 30 ms).
    "small": dict(base_channels=32, channel_multipliers=(1, 2, 3, 4), blocks_per_level=1,
                  attention_resolutions=(16, 8), attention_heads=4, norm_groups=8),
    # For GPU training with a pool of rendered stamps (issue 27): twice small's channels at 64x64 and 32x32, where a
    # galaxy's profile and grain are drawn and where a GPU has arithmetic to spare (small was bound by launches),
    # 1.33x and 1.5x at 16x16 and 8x8. 7.7M parameters: 14.7 MiB as float16 weights (--weights-dtype float16),
    # under the 16 MiB a file may have coming back from the GPU machine. Too slow for the app's CPU targets
    # (docs/benchmarks.md), so the app keeps small.
    "medium": dict(base_channels=64, channel_multipliers=(1, 2, 2, 3), blocks_per_level=1,
                   attention_resolutions=(16, 8), attention_heads=4, norm_groups=16),
    # About the size of the seed paper's network (~22M parameters), for GPU training.
    "base": dict(base_channels=64, channel_multipliers=(1, 2, 4, 4), blocks_per_level=2,
                 attention_resolutions=(16, 8), attention_heads=4, norm_groups=32),
}


def preset_config(name: str, condition_names=("redshift",), condition_ranges=((0.0, 4.0),), **overrides) -> UNetConfig:
    if name not in PRESETS:
        raise ValueError(f"model preset {name!r} is not one of {tuple(PRESETS)}")
    return UNetConfig(**{**PRESETS[name], "condition_names": tuple(condition_names),
                         "condition_ranges": tuple(tuple(map(float, r)) for r in condition_ranges), **overrides})


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions; the embedding sets a per-channel scale and shift between them."""

    def __init__(self, in_channels: int, out_channels: int, embed_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embedding = nn.Linear(embed_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.embedding(F.silu(embedding))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over pixels, with pre-LayerNorm and a GELU feed-forward (both residual)."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels cannot be split into {heads} attention heads")
        self.heads = heads
        self.norm_attention = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.project = nn.Linear(channels, channels)
        self.norm_feedforward = nn.LayerNorm(channels)
        self.feedforward = nn.Sequential(nn.Linear(channels, channels), nn.GELU(), nn.Linear(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (batch, pixels, channels)
        q, k, v = self.qkv(self.norm_attention(tokens)).chunk(3, dim=-1)
        split = lambda t: t.view(batch, -1, self.heads, channels // self.heads).transpose(1, 2)
        attended = F.scaled_dot_product_attention(split(q), split(k), split(v))
        tokens = tokens + self.project(attended.transpose(1, 2).reshape(batch, -1, channels))
        tokens = tokens + self.feedforward(self.norm_feedforward(tokens))
        return tokens.transpose(1, 2).reshape(batch, channels, height, width)


class Level(nn.Module):
    """The residual blocks (and attention, at low resolution) of one resolution level."""

    def __init__(self, in_channels: int, out_channels: int, blocks: int, attention: bool, config: UNetConfig):
        super().__init__()
        self.blocks = nn.ModuleList(
            ResidualBlock(in_channels if b == 0 else out_channels, out_channels, config.embed_dim,
                          config.norm_groups, config.dropout) for b in range(blocks))
        self.attention = nn.ModuleList(
            SelfAttention(out_channels, config.attention_heads) if attention else nn.Identity() for _ in range(blocks))

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        for block, attention in zip(self.blocks, self.attention):
            x = attention(block(x, embedding))
        return x


class ConditionalUNet(nn.Module):
    """eps_theta(x_t, t, conditions): predicts the noise in x_t (model space, (n, 5, 64, 64))."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        channels = config.level_channels
        embed_dim = config.embed_dim
        self.time_mlp = nn.Sequential(nn.Linear(config.base_channels, embed_dim), nn.SiLU(),
                                      nn.Linear(embed_dim, embed_dim))
        self.condition_embedding = ConditionEmbedding(config.condition_names, config.condition_ranges, embed_dim,
                                                      config.condition_sinusoid_dim)
        self.input_conv = nn.Conv2d(config.image_channels, channels[0], 3, padding=1)

        resolutions = [config.image_size // 2 ** i for i in range(len(channels))]
        self.down_levels = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        previous = channels[0]
        for i, (width, resolution) in enumerate(zip(channels, resolutions)):
            self.down_levels.append(Level(previous, width, config.blocks_per_level,
                                          resolution in config.attention_resolutions, config))
            if i < len(channels) - 1:
                self.downsamplers.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
            previous = width

        self.middle = Level(channels[-1], channels[-1], 2, True, config)

        self.up_levels = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for i in reversed(range(len(channels))):
            incoming = channels[-1] if i == len(channels) - 1 else channels[i + 1]
            if i < len(channels) - 1:
                self.upsamplers.append(nn.Conv2d(incoming, incoming, 3, padding=1))
            self.up_levels.append(Level(incoming + channels[i], channels[i], config.blocks_per_level,
                                        resolutions[i] in config.attention_resolutions, config))

        self.output_norm = nn.GroupNorm(config.norm_groups, channels[0])
        self.output_conv = nn.Conv2d(channels[0], config.image_channels, 3, padding=1)

    def embed(self, timesteps: torch.Tensor, conditions: torch.Tensor,
              drop_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Time embedding plus condition embedding (the paper's way of conditioning on redshift)."""
        time = self.time_mlp(timestep_embedding(timesteps, self.config.base_channels))
        return time + self.condition_embedding(conditions, drop_mask)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, conditions: torch.Tensor,
                drop_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x`` (n,5,H,W); ``timesteps`` (n,) integer steps; ``conditions`` (n, k) in physical units."""
        embedding = self.embed(timesteps, conditions, drop_mask).to(x.dtype)
        h = self.input_conv(x)
        skips = []
        for i, level in enumerate(self.down_levels):
            h = level(h, embedding)
            skips.append(h)
            if i < len(self.downsamplers):
                h = self.downsamplers[i](h)
        h = self.middle(h, embedding)
        upsamplers = iter(self.upsamplers)
        for j, level in enumerate(self.up_levels):
            if j > 0:
                h = next(upsamplers)(F.interpolate(h, scale_factor=2.0, mode="nearest"))
            h = level(torch.cat([h, skips.pop()], dim=1), embedding)
        return self.output_conv(F.silu(self.output_norm(h)))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
