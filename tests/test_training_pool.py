"""The pool of rendered galaxies (galaxy_explorer.training.pool): it holds exactly what the renderer makes, a draw
from it has the distribution of fresh rendering, each stamp is drawn `reuse` times on average, and a resumed or
background-rendered pool is the same pool."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy.stats import chisquare, ks_2samp

from galaxy_explorer.data.normalization import Normalization
from galaxy_explorer.training.config import TrainConfig, TrainingError
from galaxy_explorer.training.data import SyntheticBatches
from galaxy_explorer.training.diffusion import train
from galaxy_explorer.training.pool import POOL_DTYPE, PoolError, RenderedPool, plan_pool

CONDITIONS = ("redshift", "true_bulge_fraction", "true_axis_ratio", "true_has_arms")


class CountingSource:
    """A stand-in renderer whose chunk j is every pixel equal to j (and its condition j), to follow stamps cheaply."""

    def __init__(self, chunk: int):
        self.chunk, self.calls = chunk, []

    def batch(self, j: int):
        self.calls.append(j)
        return torch.full((self.chunk, 1, 4, 4), float(j)), torch.full((self.chunk, 1), float(j))


class Identity:
    def to_model(self, images):
        return images


def test_the_plan_states_the_reuse_and_refuses_a_pool_too_small():
    plan = plan_pool(65536, 8, 4, 1024)
    assert (plan.chunk, plan.chunks, plan.size, plan.reuse, plan.rendered_per_step) == (512, 128, 65536, 8.0, 128.0)
    assert plan_pool(1003, 4, 1, 32).size == 1000  # whole chunks of 8
    with pytest.raises(PoolError, match="fewer than 2 refresh chunks"):
        plan_pool(100, 1, 4, 32)
    with pytest.raises(TrainingError, match="--pool-size 16"):
        TrainConfig(out_dir="unused", batch_size=32, pool_size=16)


def test_each_stamp_is_drawn_reuse_times_on_average_over_its_life():
    plan = plan_pool(128, 4, 2, 16)  # chunks of 8, 16 of them, one replaced every 2 steps: each lives 32 steps
    assert plan.reuse == 4.0
    pool = RenderedPool(plan, CountingSource(plan.chunk), Identity(), torch.device("cpu"), 0)
    draws = np.zeros(plan.chunk * 2000, dtype=np.int64)
    generator = torch.Generator().manual_seed(0)
    for step in range(2000):
        slots = pool.draw(step, generator)
        np.add.at(draws, pool.stamp_ids[slots].numpy(), 1)
    retired = pool.oldest * plan.chunk  # stamps whose whole life is over
    full_lives = draws[plan.size:retired]  # past the first filling, whose chunks retire early by design
    assert abs(full_lives.mean() - plan.reuse) < 0.1
    assert draws[:plan.size].mean() < plan.reuse
    assert (draws[retired + plan.size:] == 0).all()  # nothing is drawn before it is rendered


def test_the_pool_holds_chunks_from_the_step_onwards_so_a_resumed_pool_is_the_same():
    plan = plan_pool(64, 2, 3, 8)
    advanced = RenderedPool(plan, CountingSource(plan.chunk), Identity(), torch.device("cpu"), 0)
    for step in range(0, 50):
        advanced.draw(step, torch.Generator().manual_seed(step))
    source = CountingSource(plan.chunk)
    resumed = RenderedPool(plan, source, Identity(), torch.device("cpu"), 49)
    assert source.calls == list(range(49 // 3, 49 // 3 + plan.chunks))
    assert torch.equal(resumed.images, advanced.images) and torch.equal(resumed.stamp_ids, advanced.stamp_ids)
    for pool in (advanced, resumed):
        images, conditions = pool.batch(50, torch.Generator().manual_seed(50))
        assert images.dtype == torch.float32 and conditions.shape == (8, 1)
    with pytest.raises(PoolError, match="cannot go back"):
        advanced.draw(3, torch.Generator())


@pytest.fixture(scope="module")
def normalization():
    images, _ = SyntheticBatches(1, 256, ("redshift",)).first_sample(256)
    return Normalization.fit(images)


def test_the_pool_holds_exactly_the_rendered_stamps_in_model_space_at_fp16(normalization):
    plan = plan_pool(64, 1, 1, 16)
    source = SyntheticBatches(7, plan.chunk, CONDITIONS)
    pool = RenderedPool(plan, source, normalization, torch.device("cpu"), 0)
    again = SyntheticBatches(7, plan.chunk, CONDITIONS)
    for j in range(plan.chunks):
        images, conditions = again.batch(j)
        expected = torch.nan_to_num(normalization.to_model(images))
        stored = pool.images[j * plan.chunk:(j + 1) * plan.chunk]
        assert stored.dtype == POOL_DTYPE
        assert torch.allclose(stored.float(), expected, rtol=1e-3, atol=1e-4)  # fp16: 11 significant bits
        assert torch.equal(pool.conditions[j * plan.chunk:(j + 1) * plan.chunk], conditions)


def summary_statistics(clean: torch.Tensor) -> torch.Tensor:
    """Per image and band: the mean and the maximum in model space (a galaxy's light and its core)."""
    return torch.cat([clean.mean(dim=(2, 3)), clean.amax(dim=(2, 3))], dim=1)


@pytest.mark.parametrize("flat", [0.0, 0.5])
def test_a_draw_from_the_pool_has_the_distribution_of_fresh_rendering(normalization, flat):
    # Two parts: the pool's stamps are independent draws of the renderer (their distribution is fresh rendering's),
    # and a batch picks pool slots uniformly; so a drawn stamp is distributed as a freshly rendered one.
    plan = plan_pool(512, 4, 8, 64)  # chunks of 128: the renderer's cost per call is large for small ones
    pool = RenderedPool(plan, SyntheticBatches(11, plan.chunk, CONDITIONS, flat_redshift_fraction=flat),
                        normalization, torch.device("cpu"), 0)
    fresh_images, fresh_conditions = SyntheticBatches(12, 512, CONDITIONS, flat_redshift_fraction=flat).batch(0)
    fresh = summary_statistics(torch.nan_to_num(normalization.to_model(fresh_images))).numpy()
    pooled = summary_statistics(pool.images.float()).numpy()
    for column in range(pooled.shape[1]):
        assert ks_2samp(pooled[:, column], fresh[:, column]).pvalue > 1e-3, column
    for column, name in enumerate(CONDITIONS):
        assert ks_2samp(pool.conditions[:, column].numpy(), fresh_conditions[:, column].numpy()).pvalue > 1e-3, name
    # The comparison can tell streams apart: a pool with the flat-redshift share is not the plain survey.
    _, other = SyntheticBatches(13, 512, CONDITIONS, flat_redshift_fraction=0.5 - flat).batch(0)
    assert ks_2samp(pool.conditions[:, 0].numpy(), other[:, 0].numpy()).pvalue < 1e-6

    slots = torch.cat([pool.draw(0, torch.Generator().manual_seed(k)) for k in range(400)])
    counts = torch.bincount(slots, minlength=plan.size).numpy()
    assert chisquare(counts).pvalue > 1e-3  # 25,600 draws, 50 a slot expected
    images, conditions = pool.batch(0, torch.Generator().manual_seed(0))
    chosen = pool.draw(0, torch.Generator().manual_seed(0))
    assert torch.equal(images, pool.images[chosen].float()) and torch.equal(conditions, pool.conditions[chosen])


def test_rendering_in_the_background_gives_the_same_pool_and_batches(normalization):
    plan = plan_pool(32, 2, 1, 8)
    pools = [RenderedPool(plan, SyntheticBatches(3, plan.chunk, ("redshift",)), normalization, torch.device("cpu"), 0,
                          background=background) for background in (False, True)]
    try:
        for step in range(12):
            batches = [pool.batch(step, torch.Generator().manual_seed(step)) for pool in pools]
            assert torch.equal(batches[0][0], batches[1][0]) and torch.equal(batches[0][1], batches[1][1])
        assert torch.equal(pools[0].images, pools[1].images)
    finally:
        pools[1].close()


def pool_config(out_dir, **overrides):
    settings = dict(out_dir=out_dir, preset="tiny", steps=6, batch_size=4, checkpoint_every=3, sample_every=0,
                    log_every=3, normalization_sample=16, progress_bar=False, pool_size=32, pool_reuse=2,
                    pool_refresh_every=1, augment="rot90", channels_last=True, fused_adamw=True)
    settings.update(overrides)
    return TrainConfig(**settings)


def test_a_run_from_the_pool_with_turns_and_switches_resumes_to_exactly_the_same_state(tmp_path):
    train(pool_config(tmp_path / "straight"))
    train(pool_config(tmp_path / "interrupted", steps=3))
    resumed = train(pool_config(tmp_path / "interrupted", resume=True))
    assert resumed.step == 6
    straight = load_file(tmp_path / "straight" / "training_state.safetensors")
    again = load_file(tmp_path / "interrupted" / "training_state.safetensors")
    assert straight.keys() == again.keys()
    for name in straight:
        assert torch.equal(straight[name], again[name]), name
    log = (tmp_path / "straight" / "train_log.jsonl").read_text()
    assert '"reuse": 2.0' in log and '"augment": "rot90"' in log
