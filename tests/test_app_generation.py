"""The process-wide generation queue with a real (tiny) model: interrupting and pausing between sampler steps leaves
the pixels exactly those of ``Generator.frames``."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_explorer.app_parts.state.generation import BATCH, GenerationQueue, Request
from galaxy_explorer.app_parts.state.walk import FrameStore, WalkKey

WAIT = 60


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    from galaxy_explorer.diffusion import Generator
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    return Generator.load(make_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors"))


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpmpp2m"])
def test_the_step_hook_sees_every_step_and_changes_no_pixel(generator, sampler):
    redshifts = [0.3, 1.7]
    plain = generator.frames(5, redshifts, sampler=sampler, steps=6, batch_size=2)
    steps = []
    hooked = generator.frames(5, redshifts, sampler=sampler, steps=6, batch_size=2, on_step=steps.append)
    np.testing.assert_array_equal(hooked, plain)
    assert steps == [1, 2, 3, 4, 5, 6]


def test_a_generation_stopped_between_steps_and_made_again_is_identical(generator):
    class Stop(Exception):
        pass

    def stop_at_3(step):
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        generator.frames(5, [0.8], sampler="ddpm", steps=6, batch_size=1, on_step=stop_at_3)
    np.testing.assert_array_equal(generator.frames(5, [0.8], sampler="ddpm", steps=6, batch_size=1),
                                  generator.frames(5, [0.8], sampler="ddpm", steps=6, batch_size=1))


def test_a_generation_paused_for_another_one_is_identical(generator):
    """What the queue does for an exact frame: run it inside the bake's step hook, then let the bake go on."""
    inner = {}

    def pause_at_2(step):
        if step == 2:
            inner["frame"] = generator.frames(9, [2.5], sampler="ddpm", steps=4, batch_size=1)

    paused = generator.frames(5, [0.3, 1.1], sampler="ddpm", steps=6, batch_size=2, on_step=pause_at_2)
    np.testing.assert_array_equal(paused, generator.frames(5, [0.3, 1.1], sampler="ddpm", steps=6, batch_size=2))
    np.testing.assert_array_equal(inner["frame"], generator.frames(9, [2.5], sampler="ddpm", steps=4, batch_size=1))


def test_frames_from_the_queue_are_those_of_the_generator(generator):
    queue = GenerationQueue(measure=lambda image: {}, name="test-model")
    store = FrameStore()
    key = WalkKey(str(generator.checkpoint_path), 3, "dpmpp2m", 5, (), generator.default_guidance, "tiny")
    cache = store.get_or_create(key, np.linspace(0.0, 4.0, BATCH["bake"]))
    bake = queue.submit(Request("a", "bake", generator, cache, cache.grid_order()))
    exact = queue.submit(Request("b", "exact", generator, cache, [1.23]))
    assert bake.finished.wait(WAIT) and exact.finished.wait(WAIT) and queue.wait_idle(WAIT)
    grid = [round(float(z), 6) for z in cache.grid_order()]  # frames are made at their (rounded) cache keys
    expected = generator.frames(3, grid, sampler="dpmpp2m", steps=5, batch_size=len(grid))
    for z, image in zip(grid, expected):
        np.testing.assert_array_equal(cache.get(z).image, image)
    np.testing.assert_array_equal(cache.get(1.23).image,
                                  generator.frames(3, [1.23], sampler="dpmpp2m", steps=5, batch_size=1)[0])
    assert cache.get(1.23).data_url().startswith("data:image/png")
