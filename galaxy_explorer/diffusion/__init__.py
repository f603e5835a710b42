"""Conditional diffusion model of 5-band galaxy images: schedule, samplers, network, checkpoints, generator.

``Generator`` is the entry point for drawing images; ``galaxy_explorer.training.diffusion`` trains the network.
"""

from galaxy_explorer.diffusion.generator import GenerationError, Generator, initial_noise
from galaxy_explorer.diffusion.samplers import SAMPLERS

__all__ = ["Generator", "GenerationError", "SAMPLERS", "initial_noise"]
