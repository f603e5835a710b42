"""The app's controllers without Panel: a stand-in model whose frames say which redshift they are for, a real
generation queue and worker thread, and results applied on the calling thread (what a headless session does)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from galaxy_explorer.app_parts.state.generation import GenerationQueue
from galaxy_explorer.app_parts.state.session import SessionMessages, UiThread
from galaxy_explorer.app_parts.state.walk import Frame, FrameStore
from galaxy_explorer.app_parts.controllers.walk_controller import WalkController
from galaxy_explorer.app_parts.state.worker import SessionWorker

GRID = 5
WAIT = 30


class StandInGenerator:
    """Frames whose pixels are their redshift: enough to tell which frame is which, in microseconds. Each sampler
    step takes ``step_seconds`` and calls ``on_step`` as the real one does; ``gate`` (an Event) holds every call."""

    condition_names = ("redshift",)
    condition_ranges = {"redshift": (0.0, 2.0)}
    metadata = {"training": {"step": 10, "images_seen": 320}}
    default_guidance = 1.0
    default_guided = ("redshift",)

    def __init__(self, path: str = "stand-in.safetensors", fail: bool = False, step_seconds: float = 0.0):
        self.checkpoint_path = Path(path)
        self.fail = fail
        self.step_seconds = step_seconds
        self.gate: threading.Event | None = None
        self.calls = []
        self.steps_done = []  # (call number, step), in the order the steps ran

    def frames(self, seed, redshifts, sampler, steps, batch_size, guidance_scale=None, on_step=None,
               **conditions):
        self.calls.append((threading.current_thread().name, list(redshifts), steps, seed))
        call = len(self.calls) - 1
        if self.gate is not None:
            self.gate.wait(WAIT)
        if self.fail:
            raise RuntimeError("simulated out of memory")
        for step in range(1, steps + 1):
            time.sleep(self.step_seconds)
            self.steps_done.append((call, step))
            if on_step is not None:
                on_step(step)
        return np.stack([np.full((5, 64, 64), z, np.float32) for z in redshifts])


@pytest.fixture
def queue():
    return GenerationQueue(measure=lambda image: {"ellipticity": float(image[0, 0, 0])}, name="test-model")


@pytest.fixture
def make_walk(monkeypatch, queue):
    import galaxy_explorer.app_parts.controllers.walk_controller as module

    generators = {}

    def load(path):
        return generators.setdefault(path or "shipped.safetensors", StandInGenerator(path or "shipped.safetensors"))

    monkeypatch.setattr(module, "load_generator", load)
    store = FrameStore()
    workers = []

    def make() -> WalkController:
        messages = SessionMessages()
        worker = SessionWorker(on_error=lambda kind, exc: messages.task_failed(kind, exc), name="test-worker")
        controller = WalkController(worker, UiThread(None, messages).call, messages, grid_frames=GRID, queue=queue,
                                    store=store)
        controller.messages, controller.worker = messages, worker
        workers.append(worker)
        return controller

    yield make
    for worker in workers:
        worker.close()


@pytest.fixture
def walk(make_walk):
    return make_walk()


def settle(walk) -> None:
    assert walk.worker.wait_idle(WAIT) and walk.queue.wait_idle(WAIT) and walk.worker.wait_idle(WAIT)


def loaded(walk) -> WalkController:
    walk.load("")
    settle(walk)
    assert walk.model_state == "ready"
    return walk


def test_the_controllers_import_no_panel():
    code = ("import sys, galaxy_explorer.app_parts.controllers.walk_controller, galaxy_explorer.app_parts.controllers.survey_controller, "
            "galaxy_explorer.app_parts.state.generation, galaxy_explorer.app_parts.serving.server; "
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
    import galaxy_explorer.app_parts.controllers.walk_controller as module
    from galaxy_explorer.errors import CheckpointError

    generator = loaded(walk).generator

    def refuse(path):
        raise CheckpointError(f"no checkpoint at {path}")

    monkeypatch.setattr(module, "load_generator", refuse)
    walk.load("nowhere.safetensors")
    settle(walk)
    assert walk.generator is generator and walk.model_state == "ready"
    assert walk.messages.problem == "no checkpoint at nowhere.safetensors"


def test_a_walk_shows_the_exact_frame_bakes_the_grid_and_answers_drags_with_the_nearest(walk):
    loaded(walk)
    walk.start(seed=3, sampler="ddim", steps=4, conditions={}, redshift=0.7)
    settle(walk)
    assert walk.frame.matches(0.7) and walk.frame.image[0, 0, 0] == pytest.approx(0.7)
    assert walk.baked == GRID and walk.cache.complete and walk.bake_error == "" and walk.progress == ""
    assert {name for name, _, _, _ in walk.generator.calls} == {"test-model"}  # the model runs on the queue only
    assert walk.generator.calls[0][1] == [0.7]  # the interactive frame first
    walk.drag(1.4)  # nearest cached: grid point 1.5
    assert walk.requested == 1.4 and walk.frame.position == pytest.approx(1.5) and not walk.frame.matches(1.4)
    assert walk.dragging
    walk.release(1.4)
    settle(walk)
    assert walk.frame.matches(1.4) and not walk.dragging
    walk.drag(0.5)  # a grid frame: exact at once, no work queued
    walk.release(0.5)
    assert walk.frame.matches(0.5) and not walk.queue.pending(walk.client, "exact")


def test_a_stale_exact_frame_is_not_shown(walk):
    loaded(walk)
    walk.start(seed=3, sampler="ddim", steps=4, conditions={}, redshift=1.0)
    settle(walk)
    walk.generator.gate = gate = threading.Event()  # hold the model
    walk.release(1.23)  # released at 1.23, but the slider moves on before the exact frame is made
    walk.drag(0.2)
    gate.set()
    settle(walk)
    assert walk.cache.get(1.23) is not None  # made and kept for later…
    assert walk.requested == 0.2 and walk.frame.position == 0.0  # …but the nearest frame to 0.2 stays on screen


def test_a_failing_bake_says_so_and_the_session_is_told(walk, monkeypatch):
    import galaxy_explorer.app_parts.controllers.walk_controller as module

    monkeypatch.setattr(module, "load_generator", lambda path: StandInGenerator(fail=True))
    loaded(walk)
    walk.start(seed=1, sampler="ddim", steps=4, conditions={}, redshift=1.0)
    settle(walk)
    assert walk.bake_error == "simulated out of memory"
    assert "failed: simulated out of memory" in walk.messages.problem


def test_returning_to_a_walk_reuses_its_frames(walk):
    loaded(walk)
    walk.start(seed=1, sampler="ddim", steps=4, conditions={"bulge": 0.5}, redshift=1.0)
    settle(walk)
    first = walk.cache
    walk.start(seed=2, sampler="ddim", steps=4, conditions={"bulge": 0.5}, redshift=1.0)
    settle(walk)
    calls = len(walk.generator.calls)
    walk.start(seed=1, sampler="ddim", steps=4, conditions={"bulge": 0.5}, redshift=1.0)
    assert walk.cache is first and walk.frame.matches(1.0)
    settle(walk)
    assert len(walk.generator.calls) == calls
    assert first.key.condition_dict == {"bulge": 0.5}


def test_sessions_on_the_same_walk_share_every_frame(make_walk):
    first, second = loaded(make_walk()), loaded(make_walk())
    first.start(seed=5, sampler="ddim", steps=4, conditions={}, redshift=0.5)
    second.start(seed=5, sampler="ddim", steps=4, conditions={}, redshift=0.5)
    settle(first)
    assert first.cache is second.cache and first.cache.complete
    made = [z for _, redshifts, _, _ in first.generator.calls for z in redshifts]
    assert sorted(made) == sorted({*first.cache.grid, 0.5})  # each frame once, whoever asked
    assert second.frame.matches(0.5) and second.baked == GRID and second.revision > 0


def test_a_new_walk_keeps_the_last_frame_on_screen_until_its_own_arrives(walk):
    loaded(walk)
    walk.start(seed=1, sampler="ddim", steps=4, conditions={}, redshift=1.0)
    settle(walk)
    old = walk.frame
    walk.generator.gate = gate = threading.Event()
    walk.start(seed=2, sampler="ddim", steps=4, conditions={}, redshift=1.0)
    assert walk.frame is old and walk.frame.walk != walk.cache.key  # never a blank: the page dims it
    gate.set()
    settle(walk)
    assert walk.frame.walk == walk.cache.key and walk.frame.matches(1.0) and walk.progress == ""


def test_a_superseded_request_stops_between_sampler_steps(walk):
    loaded(walk)
    walk.generator.step_seconds = 0.01
    walk.start(seed=4, sampler="ddim", steps=200, conditions={}, redshift=1.0)  # ~2 s a frame
    time.sleep(0.2)
    started = time.perf_counter()
    walk.start(seed=4, sampler="ddim", steps=2, conditions={}, redshift=1.0)  # steps 200 -> 2
    while not (walk.frame is not None and walk.frame.walk == walk.cache.key and walk.frame.matches(1.0)):
        assert time.perf_counter() - started < 1.5, "the 2-step frame waited for the 200-step one"
        time.sleep(0.01)
    settle(walk)
    assert walk.queue.interrupted >= 1


def test_an_exact_frame_pauses_a_bake_between_steps_and_the_bake_resumes(walk):
    loaded(walk)
    generator = walk.generator
    generator.step_seconds = 0.01
    walk.start(seed=6, sampler="ddim", steps=50, conditions={}, redshift=0.0)

    def bake_batch_running():  # a call making several grid frames has done a step
        return next((call for call, _ in generator.steps_done if len(generator.calls[call][1]) > 1), None)

    deadline = time.monotonic() + WAIT
    while (bake := bake_batch_running()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    walk.release(1.37)
    settle(walk)
    assert walk.frame.matches(1.37) and walk.cache.complete and walk.queue.interrupted == 0  # nothing thrown away
    exact = next(k for k, (_, redshifts, _, _) in enumerate(generator.calls) if redshifts == [1.37])
    order = [call for call, _ in generator.steps_done]
    first_exact, last_exact = order.index(exact), len(order) - 1 - order[::-1].index(exact)
    # The bake batch running when the exact frame was asked for stopped between two of its steps, the exact frame
    # ran all its steps, then the batch went on from where it was (its steps on both sides, none repeated).
    assert bake in order[:first_exact] and bake in order[last_exact + 1:]
    assert [step for call, step in generator.steps_done if call == bake] == list(range(1, 51))
    made = [z for _, redshifts, _, _ in generator.calls for z in redshifts]
    assert len(made) == len(set(made))


def test_bakes_of_different_sessions_take_turns(make_walk):
    first, second = loaded(make_walk()), loaded(make_walk())
    first.generator.gate = gate = threading.Event()
    first.start(seed=1, sampler="ddim", steps=2, conditions={}, redshift=0.0)
    second.start(seed=2, sampler="ddim", steps=2, conditions={}, redshift=0.0)
    gate.set()
    settle(first)
    assert first.cache.complete and second.cache.complete
    # Each session's interactive frame first, then one bake batch each in turn.
    assert [seed for _, _, _, seed in first.generator.calls] == [1, 2, 1, 2]


def test_closing_drops_the_sessions_requests(walk):
    loaded(walk)
    walk.generator.gate = gate = threading.Event()
    walk.start(seed=9, sampler="ddim", steps=4, conditions={}, redshift=0.3)
    assert walk.client in walk.queue.clients
    walk.close()
    assert walk.client not in walk.queue.clients and not walk.cache.in_use
    gate.set()
    settle(walk)


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
    # The toast goes after a few seconds; the problem stays in the banner.
    assert messages.problem == "Computing the exact frame failed: boom" and 0 < messages.notice.duration <= 10_000
    messages.clear_problem()
    assert messages.problem == ""


class StandInDocument:
    """A served session's document as UiThread sees it: Bokeh's ServerSession keeps ``_pending_writes`` a list
    while its lock is held and None outside it; next-tick callbacks are collected, to run later."""

    def __init__(self, locked: bool):
        from types import SimpleNamespace

        self.session_context = SimpleNamespace(_session=SimpleNamespace(_pending_writes=[] if locked else None))
        self.next_tick = []

    def add_next_tick_callback(self, callback):
        self.next_tick.append(callback)


@pytest.mark.parametrize("locked", [True, False], ids=["under-the-lock", "outside-the-lock"])
def test_changes_to_bokeh_models_wait_for_the_document_lock(locked):
    # A button pressed just after a slider moved: Panel runs its handler outside the lock, where Bokeh refuses
    # any change to its models (the "Back to seed" button once failed so); such changes wait for the next tick.
    doc = StandInDocument(locked)
    ui, ran = UiThread(doc), []
    ui.locked(lambda: ran.append("now"))
    assert ran == (["now"] if locked else [])
    for callback in doc.next_tick:  # the next tick, which Bokeh runs under the lock
        callback()
    assert ran == ["now"]
    assert UiThread(None).holding_document_lock()  # headless: always
