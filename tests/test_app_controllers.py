"""The app's controllers without Panel: a stand-in model whose frames say which redshift they are for, the real
worker thread, and results applied on the calling thread (what a headless session does)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from galaxy_explorer.app_parts.session import SessionMessages, UiThread
from galaxy_explorer.app_parts.walk import Frame
from galaxy_explorer.app_parts.walk_controller import WalkController
from galaxy_explorer.app_parts.worker import SessionWorker

GRID = 5
WAIT = 30


class StandInGenerator:
    """Frames whose pixels are their redshift: enough to tell which frame is which, in microseconds."""

    condition_names = ("redshift",)
    condition_ranges = {"redshift": (0.0, 2.0)}
    metadata = {"training": {"step": 10, "images_seen": 320}}

    def __init__(self, path: str = "stand-in.safetensors", fail: bool = False):
        self.checkpoint_path = Path(path)
        self.fail = fail
        self.calls = []

    def frames(self, seed, redshifts, sampler, steps, batch_size, **conditions):
        self.calls.append((threading.current_thread().name, list(redshifts)))
        if self.fail:
            raise RuntimeError("simulated out of memory")
        return np.stack([np.full((5, 64, 64), z, np.float32) for z in redshifts])


@pytest.fixture
def walk(monkeypatch):
    import galaxy_explorer.app_parts.walk_controller as module

    monkeypatch.setattr(module, "measure_frame", lambda image: {"ellipticity": float(image[0, 0, 0])})
    monkeypatch.setattr(module, "load_generator", lambda path: StandInGenerator(path or "shipped.safetensors"))
    messages = SessionMessages()
    worker = SessionWorker(on_error=lambda kind, exc: messages.task_failed(kind, exc), name="test-worker")
    controller = WalkController(worker, UiThread(None, messages).call, messages, grid_frames=GRID)
    controller.messages, controller.worker = messages, worker
    yield controller
    worker.close()


def loaded(walk) -> WalkController:
    walk.load("")
    assert walk.worker.wait_idle(WAIT)
    assert walk.model_state == "ready"
    return walk


def test_the_controllers_import_no_panel():
    code = ("import sys, galaxy_explorer.app_parts.walk_controller, galaxy_explorer.app_parts.survey_controller; "
            "assert 'panel' not in sys.modules and 'bokeh' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_frame_matches_its_own_redshift_only():
    frame = Frame(0.37, np.zeros((5, 2, 2)), {}, False)
    assert frame.matches(0.37) and frame.matches(0.3700004)
    assert not frame.matches(0.371) and not frame.matches(0.36)


def test_loading_sets_the_model_and_its_redshift_range(walk):
    assert walk.generator is None and walk.model_state == "loading"
    loaded(walk)
    assert walk.redshift_range == (0.0, 2.0)
    np.testing.assert_allclose(walk.grid, np.linspace(0.0, 2.0, GRID))


def test_a_failed_load_keeps_the_model_and_reports_the_problem(walk, monkeypatch):
    import galaxy_explorer.app_parts.walk_controller as module
    from galaxy_explorer.errors import CheckpointError

    generator = loaded(walk).generator

    def refuse(path):
        raise CheckpointError(f"no checkpoint at {path}")

    monkeypatch.setattr(module, "load_generator", refuse)
    walk.load("nowhere.safetensors")
    assert walk.worker.wait_idle(WAIT)
    assert walk.generator is generator and walk.model_state == "ready"
    assert walk.messages.problem == "no checkpoint at nowhere.safetensors"


def test_a_walk_shows_the_exact_frame_bakes_the_grid_and_answers_drags_with_the_nearest(walk):
    loaded(walk)
    walk.start(seed=3, sampler="ddim", steps=4, conditions={}, redshift=0.7)
    assert walk.worker.wait_idle(WAIT)
    assert walk.frame.matches(0.7) and walk.frame.image[0, 0, 0] == pytest.approx(0.7)
    assert walk.baked == GRID and walk.cache.complete and walk.bake_error == ""
    assert {name for name, _ in walk.generator.calls} == {"test-worker"}  # the model runs on the worker only
    walk.drag(1.4)  # nearest cached: grid point 1.5
    assert walk.requested == 1.4 and walk.frame.redshift == pytest.approx(1.5) and not walk.frame.matches(1.4)
    walk.release(1.4)
    assert walk.worker.wait_idle(WAIT)
    assert walk.frame.matches(1.4)
    walk.drag(0.5)  # a grid frame: exact at once, no work queued
    walk.release(0.5)
    assert walk.frame.matches(0.5) and not walk.worker.pending("exact")


def test_a_stale_exact_frame_is_not_shown(walk):
    loaded(walk)
    walk.start(seed=3, sampler="ddim", steps=4, conditions={}, redshift=1.0)
    assert walk.worker.wait_idle(WAIT)
    gate = threading.Event()
    walk.worker.submit_once("load", lambda ctx: gate.wait(5))  # hold the worker
    walk.release(1.23)  # released at 1.23, but the slider moves on before the exact frame is made
    walk.drag(0.2)
    gate.set()
    assert walk.worker.wait_idle(WAIT)
    assert walk.cache.get(1.23) is not None  # made and kept for later…
    assert walk.requested == 0.2 and walk.frame.redshift == 0.0  # …but the nearest frame to 0.2 stays on screen


def test_a_failing_bake_says_so_and_the_worker_reports_it(walk, monkeypatch):
    import galaxy_explorer.app_parts.walk_controller as module

    monkeypatch.setattr(module, "load_generator", lambda path: StandInGenerator(fail=True))
    loaded(walk)
    walk.start(seed=1, sampler="ddim", steps=4, conditions={}, redshift=1.0)
    assert walk.worker.wait_idle(WAIT)
    assert walk.bake_error == "simulated out of memory"
    assert "failed: simulated out of memory" in walk.messages.problem


def test_returning_to_a_walk_reuses_its_frames(walk):
    loaded(walk)
    walk.start(seed=1, sampler="ddim", steps=4, conditions={"bulge": 0.5}, redshift=1.0)
    assert walk.worker.wait_idle(WAIT)
    first = walk.cache
    walk.start(seed=2, sampler="ddim", steps=4, conditions={"bulge": 0.5}, redshift=1.0)
    assert walk.worker.wait_idle(WAIT)
    calls = len(walk.generator.calls)
    walk.start(seed=1, sampler="ddim", steps=4, conditions={"bulge": 0.5}, redshift=1.0)
    assert walk.cache is first and walk.frame.matches(1.0)
    assert walk.worker.wait_idle(WAIT) and len(walk.generator.calls) == calls
    assert first.key.condition_dict == {"bulge": 0.5}


def test_ui_thread_headless_runs_now_and_reports_a_failing_update():
    messages = SessionMessages()
    ui = UiThread(None, messages)
    ran = []
    ui.call(lambda: ran.append(1))
    ui.call_later("key", 60, lambda: ran.append(2))
    assert ran == [1, 2] and not ui.served
    ui.call(lambda: 1 / 0)
    assert messages.problem.startswith("display update failed: division by zero")


def test_messages_keep_errors_on_screen_and_announce_each_notice():
    messages = SessionMessages()
    seen = []
    messages.param.watch(lambda event: seen.append((event.new.level, event.new.text)), "notice")
    messages.notify("warning", "careful")
    messages.notify("warning", "careful")
    assert seen == [("warning", "careful")] * 2 and messages.problem == ""
    messages.task_failed("exact", RuntimeError("boom"))
    assert messages.problem == "Computing the exact frame failed: boom" and messages.notice.duration == 0
    messages.clear_problem()
    assert messages.problem == ""
