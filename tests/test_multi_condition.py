"""Several conditions (issue 13): dropout drawn per condition, training on two morphology labels from the
synthetic survey, and sampling with any subset of the conditions left free."""

import json
import re

import numpy as np
import pytest
import torch

from galaxy_explorer.diffusion import GenerationError, Generator
from galaxy_explorer.diffusion.schedule import make_schedule
from galaxy_explorer.training.config import TrainingError
from galaxy_explorer.training.diffusion import TrainConfig, diffusion_loss, train

MORPHOLOGY = ("true_bulge_fraction", "true_has_arms")


class RecordingModel(torch.nn.Module):
    """Stands in for the UNet: records the dropout mask it is given and returns zeros."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.masks = []

    def forward(self, noisy, timesteps, conditions, drop_mask):
        self.masks.append(drop_mask.clone())
        return noisy * self.weight


def test_condition_dropout_is_drawn_for_each_condition_independently():
    model, n = RecordingModel(), 4000
    clean = torch.zeros(n, 1, 2, 2)
    conditions = torch.rand(n, 3)
    diffusion_loss(model, make_schedule(), "v", clean, conditions, torch.Generator().manual_seed(0),
                   redshift_noise=0.0, condition_dropout=0.3, huber_delta=1.0)
    mask = model.masks[0].numpy()
    assert mask.shape == (n, 3)
    assert np.allclose(mask.mean(axis=0), 0.3, atol=0.03)  # each condition dropped 30% of the time
    assert abs(mask.all(axis=1).mean() - 0.3 ** 3) < 0.01  # all three together: 2.7%, not 30%
    assert abs((mask[:, 1] & ~mask[:, 2]).mean() - 0.3 * 0.7) < 0.03  # one label free, the other given


def test_labels_free_dropout_drops_every_label_together_and_keeps_the_redshift():
    model, n = RecordingModel(), 4000
    clean, conditions = torch.zeros(n, 1, 2, 2), torch.rand(n, 3)
    diffusion_loss(model, make_schedule(), "v", clean, conditions, torch.Generator().manual_seed(0),
                   redshift_noise=0.0, condition_dropout=0.1, labels_free_dropout=0.25, huber_delta=1.0)
    mask = model.masks[0].numpy()
    assert np.allclose(mask[:, 0].mean(), 0.1, atol=0.02)  # the redshift: independent dropout only
    labels_free = mask[:, 1:].all(axis=1).mean()
    assert abs(labels_free - (0.25 + 0.75 * 0.1 ** 2)) < 0.025  # 26%, against 1% from independent dropout alone
    assert abs((mask[:, 1] & ~mask[:, 2]).mean() - 0.75 * 0.1 * 0.9) < 0.02  # one label alone: as before


@pytest.mark.parametrize("settings, message", [
    ({"labels_free_dropout": 0.2, "condition_dropout": 0.1}, "conditions beyond redshift"),
    ({"labels_free_dropout": 0.2, "conditions": ("redshift", "true_bulge_fraction")}, "--condition-dropout"),
    ({"labels_free_dropout": 1.0, "condition_dropout": 0.1, "conditions": ("redshift", "true_bulge_fraction")},
     "[0, 1)"),
])
def test_labels_free_dropout_is_refused_where_it_cannot_work(tmp_path, settings, message):
    with pytest.raises(TrainingError, match=re.escape(message)):
        TrainConfig(out_dir=tmp_path, **settings)


@pytest.fixture(scope="module")
def morphology_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("morph") / "run"
    config = TrainConfig(out_dir=out, preset="tiny", steps=3, batch_size=2, checkpoint_every=3, sample_every=0,
                         log_every=1, normalization_sample=16, progress_bar=False,
                         conditions=("redshift", *MORPHOLOGY), condition_dropout=0.2, labels_free_dropout=0.1,
                         loss_weighting="min-snr",
                         flat_redshift_fraction=0.5)
    result = train(config)
    return result, out


def test_training_on_the_synthetic_survey_with_two_morphology_conditions(morphology_model):
    result, out = morphology_model
    assert result.step == 3 and np.isfinite(result.last_loss)
    description = json.loads((out / "model.json").read_text())
    assert description["conditions"]["names"] == ["redshift", *MORPHOLOGY]
    assert description["conditions"]["dropout_probability"] == pytest.approx(0.2)
    assert description["conditions"]["labels_free_dropout_probability"] == pytest.approx(0.1)
    low, high = description["conditions"]["training_ranges"]["true_bulge_fraction"]
    assert 0.0 <= low < high <= 1.0


def test_sampling_with_any_subset_of_conditions_left_free(morphology_model):
    result, _ = morphology_model
    generator = Generator.load(result.checkpoint)
    assert generator.condition_names == ("redshift", *MORPHOLOGY) and generator.supports_guidance
    both = generator.frames(5, [0.5, 1.0], steps=2, true_bulge_fraction=0.8, true_has_arms=1.0)
    arms_free = generator.frames(5, [0.5, 1.0], steps=2, true_bulge_fraction=0.8)
    bulge_free = generator.frames(5, [0.5, 1.0], steps=2, true_has_arms=1.0)
    all_free = generator.frames(5, [0.5, 1.0], steps=2)
    for images in (both, arms_free, bulge_free, all_free):
        assert images.shape == (2, 5, 64, 64) and np.isfinite(images).all()
    # Leaving a condition free uses its null embedding: a different image from the same noise.
    assert not np.array_equal(both, arms_free) and not np.array_equal(both, bulge_free)
    assert not np.array_equal(arms_free, bulge_free)
    # Guidance with one condition left free; per-row values in a batched population.
    guided = generator.frames(5, [0.5], steps=2, guidance_scale=2.0, true_has_arms=1.0)
    assert np.isfinite(guided).all() and not np.array_equal(guided, bulge_free[:1])
    rows = generator.population([1, 2, 3], [0.3, 0.6, 0.9], steps=2, true_has_arms=np.array([0.0, 1.0, 1.0]))
    assert rows.shape == (3, 5, 64, 64)
    with pytest.raises(GenerationError, match="true_axis_ratio"):
        generator.frames(5, [0.5], steps=2, true_axis_ratio=0.5)


def test_guiding_the_labels_alone_keeps_the_redshift_in_the_unconditional_pass(tmp_path):
    from galaxy_explorer.diffusion.prediction import make_eps_function
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    generator = Generator.load(make_tiny_checkpoint(tmp_path / "m.safetensors", condition_dropout=0.1,
                                                    condition_names=("redshift", *MORPHOLOGY)))
    model, schedule = generator.model, generator.schedule
    conditions = torch.tensor([[0.5, 0.8, 1.0], [2.0, 0.1, 0.0]])
    x = torch.randn(2, 5, 64, 64, generator=torch.Generator().manual_seed(0))
    labels_only = torch.tensor([False, True, True])
    with torch.inference_mode():
        guided = make_eps_function(model, schedule, generator.prediction, conditions, guidance_scale=3.0,
                                   guided=labels_only)(x, 500)
        conditional = make_eps_function(model, schedule, generator.prediction, conditions)(x, 500)
        redshift_only = make_eps_function(model, schedule, generator.prediction, conditions,
                                          left_out=labels_only.expand(2, 3))(x, 500)
        everything_null = make_eps_function(model, schedule, generator.prediction, conditions,
                                            left_out=torch.ones(2, 3, dtype=torch.bool))(x, 500)
    # eps(z, no labels) + w (eps(z, labels) - eps(z, no labels)): the redshift is not guided.
    assert torch.allclose(guided, redshift_only + 3.0 * (conditional - redshift_only), atol=1e-5)
    assert not torch.allclose(guided, everything_null + 3.0 * (conditional - everything_null), atol=1e-3)


def test_a_condition_left_free_stays_free_in_both_passes_when_others_are_guided(tmp_path):
    from galaxy_explorer.diffusion.prediction import make_eps_function
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    generator = Generator.load(make_tiny_checkpoint(tmp_path / "m.safetensors", condition_dropout=0.1,
                                                    condition_names=("redshift", *MORPHOLOGY)))
    model, schedule = generator.model, generator.schedule
    conditions = torch.tensor([[0.5, 0.8, 0.0]])
    arms_free = torch.tensor([[False, False, True]])
    x = torch.randn(1, 5, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        guided = make_eps_function(model, schedule, generator.prediction, conditions, left_out=arms_free,
                                   guidance_scale=2.0, guided=torch.tensor([False, True, False]))(x, 300)
        conditional = make_eps_function(model, schedule, generator.prediction, conditions, left_out=arms_free)(x, 300)
        null = make_eps_function(model, schedule, generator.prediction, conditions,
                                 left_out=torch.tensor([[False, True, True]]))(x, 300)
    assert torch.allclose(guided, null + 2.0 * (conditional - null), atol=1e-5)


def test_generator_guides_the_named_conditions_and_the_checkpoint_can_name_its_default(tmp_path):
    from galaxy_explorer.data.checkpoint import load_checkpoint, save_checkpoint
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
    from galaxy_explorer.errors import CheckpointError

    path = make_tiny_checkpoint(tmp_path / "m.safetensors", condition_dropout=0.1,
                                condition_names=("redshift", *MORPHOLOGY))
    generator = Generator.load(path)
    assert generator.default_guided == ("redshift", *MORPHOLOGY)  # plain classifier-free guidance by default
    labels = dict(true_bulge_fraction=0.9, true_has_arms=1.0)
    every = generator.frames(3, [0.4, 0.8], steps=3, guidance_scale=2.0, **labels)
    assert np.array_equal(every, generator.frames(3, [0.4, 0.8], steps=3, guidance_scale=2.0,
                                                  guided=("redshift", *MORPHOLOGY), **labels))
    labels_only = generator.frames(3, [0.4, 0.8], steps=3, guidance_scale=2.0, guided=MORPHOLOGY, **labels)
    assert np.isfinite(labels_only).all() and not np.array_equal(labels_only, every)
    rows = generator.population([3, 4], [0.4, 0.8], steps=3, guidance_scale=2.0, guided=MORPHOLOGY, **labels)
    assert np.allclose(rows[0], labels_only[0], atol=1e-4)  # row i is galaxy seeds[i], guided the same way
    # At scale 1 there is no guidance, whatever it would guide.
    assert np.array_equal(generator.frames(3, [0.4], steps=3, guidance_scale=1.0, guided=MORPHOLOGY, **labels),
                          generator.frames(3, [0.4], steps=3, guidance_scale=1.0, **labels))
    for bad in (("true_axis_ratio",), (), "true_has_arms"):
        with pytest.raises(GenerationError, match="guided must name"):
            generator.frames(3, [0.4], steps=2, guidance_scale=2.0, guided=bad)

    tensors, metadata = load_checkpoint(path)
    metadata = {k: v for k, v in metadata.items() if k not in ("format", "format_version")}
    save_checkpoint(path, tensors, {**metadata, "sampling": {"guidance_scale": 2.0,
                                                             "guided_conditions": list(MORPHOLOGY)}})
    chosen = Generator.load(path)
    assert chosen.default_guided == MORPHOLOGY
    assert np.array_equal(chosen.frames(3, [0.4, 0.8], steps=3, **labels), labels_only)
    save_checkpoint(path, tensors, {**metadata, "sampling": {"guided_conditions": ["true_axis_ratio"]}})
    with pytest.raises(CheckpointError, match="sampling.guided_conditions"):
        Generator.load(path)
