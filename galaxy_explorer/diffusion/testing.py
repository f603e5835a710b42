"""Small, fast diffusion checkpoints for tests (this package's and other modules').

``make_tiny_checkpoint`` writes a randomly initialised ``tiny`` network with a real ``Normalization`` fitted to
simple simulated stamps. Its images are not galaxies — only the plumbing (shapes, units, determinism, file format)
is meant to be exercised with it: the outputs are finite, but an untrained network's pixels can reach ±1e9 in
survey flux, far beyond any real galaxy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from galaxy_explorer.diffusion.model_io import checkpoint_metadata, save_diffusion_checkpoint
from galaxy_explorer.diffusion.schedule import make_schedule
from galaxy_explorer.diffusion.unet import ConditionalUNet, preset_config


def toy_stamps(n: int, seed: int = 0, size: int = 64) -> np.ndarray:
    """``n`` simple 5-band stamps (n,5,size,size) float32: a round Gaussian source on Gaussian sky noise.

    Fluxes are in the units of the built-in survey (AB zero point 27): a source of magnitude ~21–24 over a sky with
    ~0.05 counts/pixel rms, enough to give a normalization realistic robust scales.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    magnitudes = rng.uniform(21.0, 24.0, size=(n, 1))
    colours = np.array([0.6, 0.25, 0.0, -0.1, -0.15])  # redder bands brighter, as for most galaxies
    total_flux = 10 ** (-0.4 * (magnitudes + colours[None, :] - 27.0))  # (n, 5)
    width = rng.uniform(1.5, 5.0, size=n)
    profile = np.exp(-0.5 * (x[None] ** 2 + y[None] ** 2) / width[:, None, None] ** 2)
    profile /= profile.sum(axis=(1, 2), keepdims=True)
    images = total_flux[:, :, None, None] * profile[:, None] + rng.normal(0.0, 0.05, size=(n, 5, size, size))
    return images.astype(np.float32)


def make_tiny_checkpoint(path: str | os.PathLike, seed: int = 0, *, condition_names: Sequence[str] = ("redshift",),
                         condition_ranges: Sequence[tuple[float, float]] | None = None,
                         condition_dropout: float = 0.0) -> Path:
    """Write a randomly initialised ``tiny`` diffusion checkpoint to ``path`` (.safetensors + .json); fast.

    Same ``seed`` -> same weights. Redshift's training range is 0–4; further conditions default to 0–1.
    ``condition_dropout`` > 0 marks the model as usable without some conditions and with guidance.
    """
    from galaxy_explorer.data.normalization import Normalization

    names = tuple(condition_names)
    ranges = tuple(condition_ranges) if condition_ranges is not None else \
        tuple((0.0, 4.0) if name == "redshift" else (0.0, 1.0) for name in names)
    config = preset_config("tiny", condition_names=names, condition_ranges=ranges)
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
        torch.manual_seed(seed)
        model = ConditionalUNet(config)
    normalization = Normalization.fit(toy_stamps(64, seed=seed))
    metadata = checkpoint_metadata(
        config, make_schedule("linear"), normalization, preset="tiny",
        data={"source": "toy", "description": "randomly initialised test model; never trained", "seed": seed},
        training={"step": 0, "images_seen": 0},
        condition_dropout=condition_dropout,
    )
    return save_diffusion_checkpoint(path, model, metadata)
