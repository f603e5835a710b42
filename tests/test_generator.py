"""Generator: one seed, many redshifts; deterministic, continuous in redshift, in survey flux units."""

import numpy as np
import pytest
import torch

from galaxy_explorer.diffusion import SAMPLERS, GenerationError, Generator, initial_noise
from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
from galaxy_explorer.errors import CheckpointError, GalaxyExplorerError


def test_describes_its_conditions_bands_and_normalization(generator):
    assert generator.condition_names == ("redshift",)
    assert generator.condition_ranges == {"redshift": (0.0, 4.0)}
    assert generator.bands == ("g", "r", "i", "z", "y")
    assert generator.checkpoint_path.name == "tiny.safetensors"
    assert generator.metadata["model"] == "conditional-ddpm"
    assert hasattr(generator.normalization, "to_flux")


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_frames_are_survey_flux_arrays_one_per_redshift(generator, sampler):
    frames = generator.frames(3, [0.5, 1.0, 2.0], sampler=sampler, steps=4)
    assert frames.shape == (3, 5, 64, 64) and frames.dtype == np.float32
    assert np.isfinite(frames).all()
    # Survey flux, not model space: the normalization maps it back to what the network produced.
    model_space = generator.normalization.to_model(frames)
    assert not np.allclose(model_space, frames)


def test_initial_noise_is_drawn_on_the_cpu_from_the_seed():
    expected = torch.randn((1, 5, 64, 64), generator=torch.Generator("cpu").manual_seed(42))
    assert torch.equal(initial_noise(42, (1, 5, 64, 64)), expected)


def test_same_seed_gives_identical_frames_and_same_redshift_identical_images(generator):
    first = generator.frames(7, [0.3, 1.7, 1.7], steps=5)
    second = generator.frames(7, [0.3, 1.7, 1.7], steps=5)
    assert np.array_equal(first, second)
    assert np.array_equal(first[1], first[2])  # same x_T for every redshift in the walk
    assert not np.array_equal(first, generator.frames(8, [0.3, 1.7, 1.7], steps=5))


def test_batching_splits_the_work_but_not_the_walk(generator):
    redshifts = np.linspace(0.5, 1.5, 5)
    calls = []
    batched = generator.frames(1, redshifts, steps=3, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]
    single = generator.frames(1, redshifts[:1], steps=3, batch_size=1)
    np.testing.assert_allclose(generator.normalization.to_model(batched[:1]),
                               generator.normalization.to_model(single), atol=1e-4)


@pytest.mark.parametrize("sampler", ["dpmpp2m", "ddpm"])
def test_a_fine_redshift_sweep_changes_the_image_continuously(generator, sampler):
    redshifts = np.linspace(1.0, 1.2, 41)
    frames = generator.normalization.to_model(generator.frames(11, redshifts, sampler=sampler, steps=6, batch_size=41))
    step_change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    median = np.median(step_change)
    assert median > 0  # the model does respond to redshift
    assert step_change.max() < 3.0 * median, f"largest jump {step_change.max():.3g} vs median {median:.3g}"
    # ...and somewhere in the sweep the image has moved far more than between neighbours.
    assert np.abs(frames - frames[0]).mean(axis=(1, 2, 3)).max() > 10 * median


def test_dpm_solver_at_20_steps_is_close_to_ddim_at_250(generator):
    """Both integrate the same probability-flow ODE from the same x_T."""
    to_model = generator.normalization.to_model
    fast = to_model(generator.frames(5, [1.2], sampler="dpmpp2m", steps=20))
    reference = to_model(generator.frames(5, [1.2], sampler="ddim", steps=250))
    other_seed = to_model(generator.frames(6, [1.2], sampler="dpmpp2m", steps=20))
    distance = np.sqrt(np.mean((fast - reference) ** 2))
    assert distance < 0.1 * np.sqrt(np.mean((other_seed - reference) ** 2))


def test_further_conditions_by_value_per_frame_or_left_out(guided_generator):
    g = guided_generator
    assert g.condition_names == ("redshift", "sersic_index")
    fixed = g.frames(0, [1.0, 1.0], steps=3, sersic_index=4.0)
    per_frame = g.frames(0, [1.0, 1.0], steps=3, sersic_index=[4.0, 1.0])
    assert np.array_equal(fixed[0], per_frame[0]) and not np.array_equal(per_frame[0], per_frame[1])
    left_out = g.frames(0, [1.0], steps=3)  # learned null embedding stands in
    assert not np.array_equal(left_out[0], fixed[0])
    guided = g.frames(0, [1.0], steps=3, sersic_index=4.0, guidance_scale=2.0)
    assert np.isfinite(guided).all() and not np.array_equal(guided[0], fixed[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(sampler="euler"), "sampler"),
    (dict(steps=0), "steps"),
    (dict(steps=1001), "steps"),
    (dict(batch_size=0), "batch_size"),
    (dict(metallicity=0.1), "metallicity"),
    (dict(guidance_scale=3.0), "condition dropout"),
])
def test_bad_requests_are_refused_with_a_clear_error(generator, kwargs, message):
    with pytest.raises(GenerationError, match=message):
        generator.frames(0, [1.0], **kwargs)


def test_bad_seeds_and_redshifts_are_refused(generator):
    with pytest.raises(GalaxyExplorerError, match="seed"):
        generator.frames(-1, [1.0])
    with pytest.raises(GalaxyExplorerError, match="non-finite"):
        generator.frames(0, [float("nan")])
    with pytest.warns(UserWarning, match="training range"):
        generator.frames(0, [4.5], steps=2)


def test_a_model_trained_with_a_further_condition_needs_it_unless_it_can_leave_it_out(tmp_path):
    path = make_tiny_checkpoint(tmp_path / "strict.safetensors", condition_names=("redshift", "mass"))
    with pytest.raises(GenerationError, match="'mass' is required"):
        Generator.load(path).frames(0, [1.0], steps=2)


def test_loading_a_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="nothing.safetensors"):
        Generator.load(tmp_path / "nothing.safetensors")
