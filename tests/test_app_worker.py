"""The app's per-session worker: priorities, stale requests dropped, pre-emption, failures survived."""

from __future__ import annotations

import threading
import time

import pytest

from galaxy_explorer.app_parts.state.worker import PRIORITY, Preempted, SessionWorker


@pytest.fixture
def worker():
    errors = []
    worker = SessionWorker(on_error=lambda kind, exc: errors.append((kind, exc)))
    worker.errors = errors
    yield worker
    worker.close()


def test_more_urgent_kinds_run_first(worker):
    ran = []
    gate = threading.Event()
    worker.submit_once("extra", lambda ctx: gate.wait(5))  # occupy the thread while we queue the rest
    for kind in ("bake", "export", "view", "exact", "load"):
        worker.submit_once(kind, lambda ctx, kind=kind: ran.append(kind))
    gate.set()
    assert worker.wait_idle(5)
    assert ran == ["load", "exact", "view", "export", "bake"]
    assert list(PRIORITY[:5]) == ran


def test_a_newer_request_replaces_a_waiting_one(worker):
    ran = []
    gate = threading.Event()
    worker.submit_once("bake", lambda ctx: gate.wait(5))
    for redshift in (0.1, 0.2, 0.3):
        worker.submit_once("exact", lambda ctx, z=redshift: ran.append(z))
    gate.set()
    assert worker.wait_idle(5)
    assert ran == [0.3]


def test_long_work_yields_to_urgent_work_and_resumes(worker):
    ran = []
    started = threading.Event()
    state = {"done": 0}

    def bake_step(ctx):
        started.set()
        for _ in range(50):  # a long step that checks in regularly
            time.sleep(0.002)
            ctx.checkpoint()
        state["done"] += 1
        ran.append(f"bake{state['done']}")
        return state["done"] == 3

    worker.submit("bake", bake_step)
    assert started.wait(5)
    worker.submit_once("exact", lambda ctx: ran.append("exact"))
    assert worker.wait_idle(10)
    # The exact frame did not wait for the whole bake: it ran before the bake finished its three steps.
    assert ran.index("exact") < ran.index("bake3")
    assert ran.count("bake1") == ran.count("bake2") == ran.count("bake3") == 1


def test_a_superseded_task_stops_at_its_next_checkpoint(worker):
    stopped = threading.Event()
    started = threading.Event()

    def slow(ctx):
        started.set()
        try:
            for _ in range(500):
                time.sleep(0.01)
                ctx.checkpoint()
        except Preempted:
            stopped.set()
            raise
        return True

    worker.submit("bake", slow)
    assert started.wait(5)
    worker.submit_once("bake", lambda ctx: None)
    assert stopped.wait(2)
    assert worker.wait_idle(5)


def test_a_failing_task_is_reported_and_the_worker_carries_on(worker):
    ran = []

    def broken(ctx):
        raise RuntimeError("model exploded")

    worker.submit_once("exact", broken)
    worker.submit_once("view", lambda ctx: ran.append("view"))
    assert worker.wait_idle(5)
    assert [(kind, str(exc)) for kind, exc in worker.errors] == [("exact", "model exploded")]
    assert ran == ["view"] and worker.alive


def test_unknown_kinds_are_refused(worker):
    with pytest.raises(ValueError, match="unknown task kind 'paint'"):
        worker.submit_once("paint", lambda ctx: None)


def test_close_stops_the_thread_and_drops_waiting_work():
    ran = []
    worker = SessionWorker()
    started, release = threading.Event(), threading.Event()

    def running(ctx):
        started.set()
        release.wait(5)
        ran.append("exact")

    worker.submit_once("exact", running)
    assert started.wait(5)
    worker.submit_once("bake", lambda ctx: ran.append("bake"))  # waits behind the running step
    assert worker.pending("bake")
    closer = threading.Thread(target=worker.close)
    closer.start()
    deadline = time.monotonic() + 5
    while worker.pending("bake") and time.monotonic() < deadline:  # close() drops waiting work first
        time.sleep(0.001)
    assert not worker.pending("bake")
    release.set()
    closer.join(5)
    assert not closer.is_alive() and not worker.alive
    assert ran == ["exact"]  # the running step finished; the waiting one never ran
    worker.submit_once("bake", lambda ctx: ran.append("late"))
    assert not worker.pending("bake") and ran == ["exact"]  # nothing is queued on a closed worker
