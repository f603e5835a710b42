"""Fixtures shared by the generator tests: tiny random checkpoints, one plain and one trained-for-guidance."""

import pytest

from galaxy_explorer.diffusion import Generator
from galaxy_explorer.diffusion.testing import make_tiny_checkpoint


@pytest.fixture(scope="session")
def generator(tmp_path_factory):
    """A tiny random redshift-only model (no condition dropout, so no guidance)."""
    return Generator.load(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.safetensors", seed=0))


@pytest.fixture(scope="session")
def guided_generator(tmp_path_factory):
    """A tiny random model with a second condition and condition dropout: conditions may be left free and
    classifier-free guidance applies."""
    path = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny2") / "tiny2.safetensors", seed=1,
                                condition_names=("redshift", "sersic_index"), condition_ranges=((0, 4), (0.5, 6)),
                                condition_dropout=0.1)
    return Generator.load(path)
