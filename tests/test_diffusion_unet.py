"""The conditional UNet: shapes, presets, conditioning, and its JSON description."""

import pytest
import torch

from galaxy_explorer.diffusion.conditions import sinusoidal_embedding
from galaxy_explorer.diffusion.unet import PRESETS, ConditionalUNet, UNetConfig, count_parameters, preset_config
from galaxy_explorer.errors import CheckpointError


def tiny(**overrides):
    torch.manual_seed(0)
    return ConditionalUNet(preset_config("tiny", **overrides)).eval()


def test_predicts_one_value_per_input_pixel_and_band():
    model = tiny()
    x = torch.randn(3, 5, 64, 64)
    out = model(x, torch.tensor([0, 500, 999]), torch.tensor([[0.1], [1.0], [3.9]]))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_output_depends_on_time_and_on_redshift():
    model = tiny()
    x = torch.randn(1, 5, 64, 64)
    with torch.no_grad():
        base = model(x, torch.tensor([500]), torch.tensor([[1.0]]))
        assert not torch.allclose(base, model(x, torch.tensor([100]), torch.tensor([[1.0]])))
        assert not torch.allclose(base, model(x, torch.tensor([500]), torch.tensor([[2.0]])))


def test_further_conditions_and_their_null_embedding():
    model = tiny(condition_names=("redshift", "sersic_index"), condition_ranges=((0, 4), (0.5, 6)))
    x = torch.randn(2, 5, 64, 64)
    t = torch.tensor([300, 300])
    conditions = torch.tensor([[1.0, 1.0], [1.0, 4.0]])
    with torch.no_grad():
        out = model(x[:1].expand(2, -1, -1, -1), t, conditions)
        assert not torch.allclose(out[0], out[1])
        dropped = model(x[:1].expand(2, -1, -1, -1), t, conditions, torch.tensor([[False, True], [False, True]]))
        torch.testing.assert_close(dropped[0], dropped[1])  # sersic index left out: it no longer matters


def test_sinusoidal_condition_embedding_is_smooth_and_bounded():
    values = torch.linspace(0, 1, 2001)
    embedded = sinusoidal_embedding(values, 64, 200.0)
    assert embedded.abs().max() <= 1.0
    # Neighbouring values (1/2000 of the range apart) differ by at most max_frequency * step.
    assert (embedded[1:] - embedded[:-1]).abs().max() <= 200.0 / 2000 + 1e-6


def test_presets_have_the_documented_sizes():
    assert count_parameters(ConditionalUNet(preset_config("tiny"))) < 200_000
    assert count_parameters(ConditionalUNet(preset_config("small"))) < 4_000_000
    assert 7e6 < count_parameters(ConditionalUNet(preset_config("medium"))) < 8e6
    assert 20e6 < count_parameters(ConditionalUNet(preset_config("base"))) < 25e6  # ~ the seed paper's 22M
    assert set(PRESETS) == {"tiny", "small", "medium", "base"}


def test_architecture_round_trips_through_json_description():
    config = preset_config("small", condition_names=("redshift", "mass"), condition_ranges=((0, 4), (8, 12)))
    again = UNetConfig.from_dict(config.to_dict())
    assert again == config


@pytest.mark.parametrize("overrides, message", [
    (dict(condition_names=("mass",), condition_ranges=((8, 12),)), "redshift"),
    (dict(base_channels=6), "divisible"),
    (dict(condition_names=("redshift", "mass"), condition_ranges=((0, 4),)), "differ"),
])
def test_impossible_architectures_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        preset_config("tiny", **overrides)


def test_architecture_errors_from_a_checkpoint_name_the_source():
    with pytest.raises(CheckpointError, match="model.json.*'depth'"):
        UNetConfig.from_dict({"depth": 3}, source="model.json")


def test_the_medium_preset_doubles_small_at_full_resolution_and_fits_the_transfer_limit_as_float16():
    small, medium = preset_config("small"), preset_config("medium")
    assert medium.level_channels[:2] == tuple(2 * c for c in small.level_channels[:2])
    assert all(m > s for m, s in zip(medium.level_channels, small.level_channels))
    parameters = count_parameters(ConditionalUNet(medium))
    assert 2 * parameters < 16 * 2 ** 20 - 64 * 2 ** 10 < 4 * parameters  # float16 comes back, float32 would not
