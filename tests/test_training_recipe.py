"""The training recipe of issue 12: min-SNR loss weighting, a flat-redshift share of the synthetic stream, a time
budget, and classifier-free guidance as one batch of two with its default scale carried by the checkpoint."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from galaxy_explorer.diffusion import Generator
from galaxy_explorer.diffusion.prediction import make_eps_function
from galaxy_explorer.diffusion.schedule import make_schedule, signal_and_noise_scales
from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
from galaxy_explorer.training.data import SyntheticBatches, flat_redshift_count
from galaxy_explorer.training.diffusion import TrainConfig, loss_weights, train


def test_min_snr_weights_cap_the_implied_x0_weight_at_gamma():
    schedule = make_schedule()
    alpha, sigma = signal_and_noise_scales(schedule, torch.tensor([0, 100, 200, 999]))
    alpha, sigma = alpha.float(), sigma.float()
    snr = (alpha.double() / sigma.double()) ** 2
    v_weights = loss_weights("min-snr", "v", alpha, sigma, gamma=5.0).double()
    # The v-loss weighs x0 errors by SNR + 1; min-SNR makes that min(SNR, gamma).
    assert torch.allclose(v_weights * (snr + 1), snr.clamp(max=5.0), rtol=1e-5)
    eps_weights = loss_weights("min-snr", "eps", alpha, sigma, gamma=5.0).double()
    assert torch.allclose(eps_weights * snr, snr.clamp(max=5.0), rtol=1e-5)
    assert torch.equal(loss_weights("uniform", "v", alpha, sigma), torch.ones(4))
    # Both ends count for little under v-prediction: nearly clean steps (SNR ~ 1e4) and pure noise (SNR ~ 4e-5);
    # the middle, where the overall light distribution is decided, keeps its weight.
    assert v_weights[0] < 0.01 and v_weights[-1] < 0.01 and v_weights[2] > 0.3


def test_a_flat_share_of_the_stream_covers_the_redshift_range_evenly():
    assert flat_redshift_count(32, 0.5) == 16 and flat_redshift_count(32, 0.0) == 0
    survey_only = SyntheticBatches(seed=3, batch_size=64, condition_names=("redshift",))
    half_flat = SyntheticBatches(seed=3, batch_size=64, condition_names=("redshift",), flat_redshift_fraction=0.5)
    z_survey = torch.cat([survey_only.batch(step)[1][:, 0] for step in range(4)]).numpy()
    z_flat = torch.cat([half_flat.batch(step)[1][:, 0] for step in range(4)]).numpy()
    # The survey puts ~93% below z = 1.5; with half of each batch uniform on 0.02-4 about a third lie above it.
    assert np.mean(z_survey > 1.5) < 0.15
    assert 0.25 < np.mean(z_flat > 1.5) < 0.5
    images, conditions = half_flat.batch(7)
    assert images.shape == (64, 5, 64, 64) and conditions.shape == (64, 1)
    assert torch.equal(half_flat.batch(7)[0], images)  # still a function of (seed, step): resumable


def test_flat_redshift_draws_keep_the_survey_physics_at_a_given_redshift():
    from galaxy_explorer.synthetic import SyntheticSurvey

    fixed = SyntheticSurvey(5).sample(400, redshift=torch.full((400,), 0.3))
    drawn = SyntheticSurvey(6).sample(4000)
    near = (drawn["specz_redshift"] > 0.25) & (drawn["specz_redshift"] < 0.35)
    # Same population mix at z = 0.3 whether z is drawn or given (binomial noise allowed).
    assert abs(float(fixed["true_population"].float().mean()) -
               float(drawn["true_population"][near].float().mean())) < 0.12


def test_the_recipe_trains_and_is_recorded_in_the_checkpoint(tmp_path):
    config = TrainConfig(out_dir=tmp_path / "run", preset="tiny", steps=3, batch_size=4, checkpoint_every=3,
                         sample_every=0, log_every=1, normalization_sample=16, progress_bar=False,
                         condition_dropout=0.15, loss_weighting="min-snr", flat_redshift_fraction=0.5)
    result = train(config)
    training = json.loads((tmp_path / "run" / "model.json").read_text())["training"]
    assert result.step == 3 and np.isfinite(result.last_loss)
    assert training["loss_weighting"] == "min-snr" and training["flat_redshift_fraction"] == 0.5


def test_a_time_budget_stops_and_saves_before_the_step_count(tmp_path):
    config = TrainConfig(out_dir=tmp_path / "run", preset="tiny", steps=10_000, batch_size=2, checkpoint_every=10_000,
                         sample_every=0, log_every=1000, normalization_sample=16, progress_bar=False,
                         max_minutes=0.05)
    started = time.monotonic()
    result = train(config)
    assert result.step < 10_000 and time.monotonic() - started < 60
    assert json.loads((tmp_path / "run" / "model.json").read_text())["training"]["step"] == result.step


@pytest.mark.parametrize("overrides, message", [
    (dict(loss_weighting="snr"), "loss weighting"),
    (dict(flat_redshift_fraction=1.5), "flat redshift fraction"),
    (dict(max_minutes=0), "max minutes"),
])
def test_impossible_recipe_settings_are_refused(tmp_path, overrides, message):
    from galaxy_explorer.training.diffusion import TrainingError

    with pytest.raises(TrainingError, match=message):
        TrainConfig(out_dir=tmp_path, **overrides)


def test_guidance_runs_as_one_batch_of_two_and_matches_two_passes(tmp_path):
    generator = Generator.load(make_tiny_checkpoint(tmp_path / "g.safetensors", condition_dropout=0.1))
    calls = []
    model = generator.model
    original_forward = model.forward

    def counting_forward(x, *args, **kwargs):
        calls.append(x.shape[0])
        return original_forward(x, *args, **kwargs)

    model.forward = counting_forward
    conditions = torch.tensor([[0.5], [2.0]])
    x = torch.randn(2, 5, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        guided = make_eps_function(model, generator.schedule, generator.prediction, conditions,
                                   guidance_scale=2.5)(x, 500)
        conditional = make_eps_function(model, generator.schedule, generator.prediction, conditions)(x, 500)
        null = make_eps_function(model, generator.schedule, generator.prediction, conditions,
                                 left_out=torch.ones(2, 1, dtype=torch.bool))(x, 500)
    assert calls[0] == 4  # conditional and unconditional passes of 2 images: one call of 4
    assert torch.allclose(guided, null + 2.5 * (conditional - null), atol=1e-5)


def test_the_checkpoint_carries_the_default_guidance_and_callers_can_override_it(tmp_path):
    from galaxy_explorer.evaluation.pipeline import record_default_guidance

    path = make_tiny_checkpoint(tmp_path / "g.safetensors", condition_dropout=0.1)
    assert Generator.load(path).default_guidance == 1.0
    record_default_guidance(path, 2.0, {"why": "test"})
    generator = Generator.load(path)
    assert generator.default_guidance == 2.0
    by_default = generator.frames(7, [0.5, 0.6], steps=3)
    explicit = generator.frames(7, [0.5, 0.6], steps=3, guidance_scale=2.0)
    unguided = generator.frames(7, [0.5, 0.6], steps=3, guidance_scale=1.0)
    assert np.array_equal(by_default, explicit) and not np.array_equal(by_default, unguided)


def test_guided_sampling_is_deterministic_and_continuous_in_redshift(tmp_path):
    generator = Generator.load(make_tiny_checkpoint(tmp_path / "g.safetensors", condition_dropout=0.1))
    redshifts = np.linspace(1.0, 1.2, 41)
    first = generator.frames(11, redshifts, steps=6, batch_size=41, guidance_scale=2.0)
    assert np.array_equal(first, generator.frames(11, redshifts, steps=6, batch_size=41, guidance_scale=2.0))
    frames = generator.normalization.to_model(first)
    step_change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    median = np.median(step_change)
    assert median > 0 and step_change.max() < 3.0 * median  # no jump between neighbouring redshifts
    assert np.abs(frames - frames[0]).mean(axis=(1, 2, 3)).max() > 10 * median


def test_init_from_a_redshift_model_can_add_morphology_conditions(tmp_path):
    """The shipped redshift-only weights can start a morphology-conditioned run: everything is loaded but the new
    conditions' embeddings, which start fresh; the redshift embedding is the checkpoint's."""
    start = TrainConfig(out_dir=tmp_path / "start", preset="tiny", steps=2, batch_size=4, checkpoint_every=2,
                        sample_every=0, log_every=1, normalization_sample=16, progress_bar=False,
                        condition_dropout=0.15)
    train(start)
    extended = TrainConfig(out_dir=tmp_path / "morph", preset="tiny", steps=4, batch_size=4, checkpoint_every=4,
                           sample_every=0, log_every=1, normalization_sample=16, progress_bar=False,
                           condition_dropout=0.15, conditions=("redshift", "true_bulge_fraction"),
                           init_from=str(tmp_path / "start" / "model.safetensors"))
    result = train(extended)
    assert result.step == 4
    generator = Generator.load(tmp_path / "morph" / "model.safetensors")
    assert generator.condition_names == ("redshift", "true_bulge_fraction")
    assert np.isfinite(generator.frames(1, [0.5], steps=2, true_bulge_fraction=0.8)).all()
    from galaxy_explorer.training.diffusion import TrainingError

    reordered = TrainConfig(out_dir=tmp_path / "bad", preset="tiny", steps=9, batch_size=4, normalization_sample=16,
                            progress_bar=False, conditions=("redshift", "true_axis_ratio"),
                            init_from=str(tmp_path / "morph" / "model.safetensors"))
    with pytest.raises(TrainingError, match="start with the checkpoint's"):
        train(reordered)


def test_extended_state_keeps_old_condition_rows_and_leaves_new_ones_fresh():
    from galaxy_explorer.diffusion.unet import ConditionalUNet, preset_config
    from galaxy_explorer.training.run_state import load_extended_state

    torch.manual_seed(0)
    old = ConditionalUNet(preset_config("tiny", ("redshift",), [(0.0, 4.0)]))
    new = ConditionalUNet(preset_config("tiny", ("redshift", "x"), [(0.0, 4.0), (0.0, 1.0)]))
    before = new.state_dict()["condition_embedding.mlps.1.0.weight"].clone()
    fresh = load_extended_state(new, old.state_dict())
    state = new.state_dict()
    assert torch.equal(state["condition_embedding.mlps.0.0.weight"], old.state_dict()["condition_embedding.mlps.0.0.weight"])
    assert torch.equal(state["condition_embedding.mlps.1.0.weight"], before)
    assert torch.equal(state["condition_embedding.range_low"][:1], old.state_dict()["condition_embedding.range_low"])
    assert "condition_embedding.mlps.1.0.weight" in fresh
