"""Walking a survey galaxy in the app, without a browser: a click finds the stamp, the galaxy is inverted on the
session's worker, and the walk becomes its noise's walk, named after it and cached apart from every seed's."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_explorer.app_parts.state.generation import GenerationQueue
from galaxy_explorer.app_parts.components.inversion_panel import (HONEST_LABEL, InversionController, cell_at, inverted_walk_key,
                                                       panel_html)
from galaxy_explorer.app_parts.state.session import SessionMessages, UiThread
from galaxy_explorer.app_parts.state.walk import FrameStore
from galaxy_explorer.app_parts.controllers.walk_controller import WalkController
from galaxy_explorer.diffusion.testing import toy_stamps

WAIT = 120.0
STEPS = 4


def test_a_click_is_mapped_to_the_stamp_under_it():
    cells = [(2.0, 22.0), (70.0, 22.0)]  # lower-left corners of 64-pixel stamps
    assert cell_at(cells, 64, 2.0, 22.0) == 0
    assert cell_at(cells, 64, 65.9, 85.9) == 0
    assert cell_at(cells, 64, 100.0, 50.0) == 1
    assert cell_at(cells, 64, 67.0, 50.0) is None  # the gap between stamps
    assert cell_at(cells, 64, 10.0, 10.0) is None  # the label under a stamp


@pytest.fixture
def session(generator, monkeypatch):
    import galaxy_explorer.app_parts.controllers.walk_controller as module
    from galaxy_explorer.app_parts.state.worker import SessionWorker

    monkeypatch.setattr(module, "load_generator", lambda path: generator)
    messages = SessionMessages()
    worker = SessionWorker(on_error=lambda kind, exc: messages.task_failed(kind, exc), name="test-worker")
    queue = GenerationQueue(measure=lambda image: {"ellipticity": 0.0}, name="test-model")
    run_on_ui = UiThread(None, messages).call
    walk = WalkController(worker, run_on_ui, messages, grid_frames=3, queue=queue, store=FrameStore())
    walk.load("", now=True)
    inversion = InversionController(walk, worker, run_on_ui, messages, steps=STEPS, refine=1)
    yield walk, inversion, worker, queue
    walk.close()
    worker.close()


def settle(worker, queue) -> None:
    assert worker.wait_idle(WAIT) and queue.wait_idle(WAIT) and worker.wait_idle(WAIT)


def test_an_inverted_galaxy_is_reconstructed_and_then_walked_like_a_seed(session, generator):
    walk, inversion, worker, queue = session
    walk.start(7, "dpmpp2m", 2, {}, 1.0)
    image = toy_stamps(1, seed=5)[0]
    inversion.invert(4242, 0.8, image)
    settle(worker, queue)

    assert inversion.state == "ready" and inversion.object_id == "4242" and inversion.galaxy_redshift == 0.8
    assert inversion.reconstruction.shape == image.shape and np.isfinite(inversion.residual)
    key = walk.cache.key
    assert key.name == "survey object 4242" and key.sampler == "ddim" and key.steps == STEPS and key.guidance == 1
    assert inversion.walking and key == inversion.key
    # The walk's frames are the inverted noise's, the same as Generator.frames_from_noise makes them.
    noise = generator.invert(image, 0.8, steps=STEPS, refine=1)
    frame = walk.frame
    assert frame.walk == key and frame.matches(1.0)
    expected = generator.frames_from_noise(noise, [1.0], sampler="ddim", steps=STEPS)[0]
    to_model = generator.normalization.to_model
    np.testing.assert_allclose(to_model(frame.image), to_model(expected), atol=1e-4)
    page = panel_html(inversion, "colour")
    assert "survey object 4242" in page and "inversion-residual" in page and f"{inversion.residual:.3f}" in page
    assert HONEST_LABEL in page

    walk.start(7, "dpmpp2m", 2, {}, 1.0)  # a seed again (New galaxy, a seed entered, Back to seed)
    assert walk.cache.key.name == "seed 7" and not inversion.walking
    assert "Back on a seed walk" in panel_html(inversion, "colour")


def test_a_galaxy_clicked_during_a_label_walk_is_walked_from_that_walks_redshift(session):
    from galaxy_explorer.app_parts.state.walk import WalkKey

    walk, inversion, worker, queue = session
    # On screen: a walk along a label at z = 1.4, its slider at the label's value 0.3 (no frames needed for this).
    label_walk = WalkKey("m", 7, "dpmpp2m", 2, axis="true_axis_ratio", at_redshift=1.4)
    walk.param.update(cache=FrameStore().get_or_create(label_walk, np.linspace(0.0, 1.0, 3)), requested=0.3)
    inversion.invert(4242, 1.35, toy_stamps(1, seed=5)[0])
    settle(worker, queue)
    assert inversion.walking and walk.cache.key.axis == "redshift"
    assert walk.requested == pytest.approx(1.4) and walk.frame.redshift == pytest.approx(1.4)  # not z = 0.3


def test_two_galaxies_are_two_walks_and_the_same_galaxy_is_the_same_walk(generator):
    noise = generator.invert(toy_stamps(2, seed=1), 1.0, steps=2)
    first, second = inverted_walk_key(generator, 1, noise[:1], 2), inverted_walk_key(generator, 1, noise[1:], 2)
    assert first != second  # same id, other pixels (another survey file): the noise digest tells them apart
    assert first == inverted_walk_key(generator, 1, noise[:1].clone(), 2)
    assert hash(first) == hash(inverted_walk_key(generator, 1, noise[:1].clone(), 2))


def test_an_image_that_cannot_be_inverted_says_why(session):
    walk, inversion, worker, queue = session
    inversion.invert(9, 0.5, np.full((5, 64, 64), np.nan, dtype=np.float32))
    settle(worker, queue)
    assert inversion.state == "failed" and "non-finite" in inversion.error
    assert "Could not invert survey object 9" in panel_html(inversion, "colour")
