"""One background worker thread per app session, so that the UI thread never waits for the model.

Work comes in a few kinds, in priority order (see ``PRIORITY``). Each kind has one slot: submitting a task of
a kind replaces the task waiting there, so a stale request (an old slider position) is dropped rather than
queued. A task is a restartable *step* function ``step(ctx) -> bool`` (True when finished). Long work such as
baking is done in small steps (a frame or two), and the worker picks the most urgent task before every step.
Inside a step, ``ctx.checkpoint()`` (called between chunks of work) raises ``Preempted`` as soon as more urgent
work arrives or the task has been superseded; a pre-empted step is simply called again later, so it must keep
its results only when it completes (or keep partial results somewhere that survives, as real.py does).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)

# Most urgent first: loading the model or survey the user asked for; the exact frame the user released the
# slider on; the real galaxies and statistics that follow the slider; a requested export; filling the per-seed
# frame cache; then low-priority extras.
PRIORITY = ("load", "exact", "view", "export", "bake", "extra")


class Preempted(Exception):
    """Raised inside a task step to stop it early; the worker will run the step again later if still wanted."""


@dataclass(eq=False)
class Task:
    kind: str
    step: Callable[["TaskContext"], bool]
    name: str = ""
    submitted: float = field(default_factory=time.perf_counter)


class TaskContext:
    """What a running step sees: a way to yield to more urgent work, and whether it is still wanted."""

    def __init__(self, worker: "SessionWorker", task: Task):
        self._worker = worker
        self.task = task

    @property
    def wanted(self) -> bool:
        return self._worker._is_current(self.task)

    def checkpoint(self, *_ignored) -> None:
        """Raise Preempted if this task was superseded or cancelled, or if more urgent work is waiting.

        Accepts and ignores arguments so it can be passed straight in as a ``progress(done, total)`` callback.
        """
        if self._worker._should_stop(self.task):
            raise Preempted(self.task.kind)


class SessionWorker:
    """A daemon thread running prioritised, latest-wins, pre-emptible tasks for one session.

    ``on_error(kind, exc)`` is called (on the worker thread) when a step raises anything but Preempted;
    the task is then dropped and the worker carries on.
    """

    def __init__(self, on_error: Callable[[str, BaseException], None] | None = None, name: str = "app-worker"):
        self._on_error = on_error
        self._condition = threading.Condition()
        self._slots: dict[str, Task | None] = {kind: None for kind in PRIORITY}
        self._running: Task | None = None
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- called from any thread -------------------------------------------------------------------------------
    def submit(self, kind: str, step: Callable[[TaskContext], bool], name: str = "") -> Task:
        """Queue ``step`` as the task of ``kind``, replacing (dropping) any task of that kind not yet finished."""
        if kind not in self._slots:
            raise ValueError(f"unknown task kind {kind!r}; expected one of {PRIORITY}")
        task = Task(kind, step, name)
        with self._condition:
            if self._closed:
                return task
            self._slots[kind] = task
            self._idle.clear()
            self._condition.notify_all()
        return task

    def submit_once(self, kind: str, function: Callable[[TaskContext], object], name: str = "") -> Task:
        """Queue a one-step task (``function(ctx)`` runs once; if pre-empted it runs again later)."""

        def step(ctx: TaskContext) -> bool:
            function(ctx)
            return True

        return self.submit(kind, step, name)

    def cancel(self, kind: str) -> None:
        with self._condition:
            self._slots[kind] = None
            self._condition.notify_all()

    def pending(self, kind: str) -> bool:
        with self._condition:
            return self._slots[kind] is not None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no task is waiting or running (for tests and scripts; never call it on the UI thread)."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Drop all waiting work and stop the thread (a running step stops at its next checkpoint)."""
        with self._condition:
            self._closed = True
            for kind in self._slots:
                self._slots[kind] = None
            self._condition.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- worker thread ----------------------------------------------------------------------------------------
    def _is_current(self, task: Task) -> bool:
        with self._condition:
            return not self._closed and self._slots[task.kind] is task

    def _should_stop(self, task: Task) -> bool:
        with self._condition:
            if self._closed or self._slots[task.kind] is not task:
                return True
            rank = PRIORITY.index(task.kind)
            return any(self._slots[kind] is not None for kind in PRIORITY[:rank])

    def _next_task(self) -> Task | None:
        with self._condition:
            while True:
                if self._closed:
                    return None
                for kind in PRIORITY:
                    if self._slots[kind] is not None:
                        self._running = self._slots[kind]
                        return self._running
                self._idle.set()
                self._condition.wait()

    def _loop(self) -> None:
        while True:
            task = self._next_task()
            if task is None:
                self._idle.set()
                return
            finished = False
            try:
                finished = bool(task.step(TaskContext(self, task)))
            except Preempted:
                finished = False
            except Exception as exc:  # a failing task must not kill the session's worker
                log.exception("app worker task %s (%s) failed", task.kind, task.name)
                finished = True
                if self._on_error is not None:
                    try:
                        self._on_error(task.kind, exc)
                    except Exception:
                        log.exception("app worker error handler failed")
            with self._condition:
                if finished and self._slots[task.kind] is task:
                    self._slots[task.kind] = None
                self._running = None
                if all(slot is None for slot in self._slots.values()):
                    self._idle.set()


def wait_all_idle(waiters: list, timeout: float) -> bool:
    """Block until all of ``waiters`` (each with a ``wait_idle(timeout)``: a ``SessionWorker``, the generation
    queue) are idle at the same time: True; False once ``timeout`` seconds have passed. Each may give another work
    (a session's worker asks for frames for an export, and frames make work for the worker), so they are waited for
    in turn until none has any. For tests and scripts; never call it on a UI thread."""
    deadline = time.perf_counter() + timeout
    while True:
        for waiter in waiters:
            if not waiter.wait_idle(max(0.0, deadline - time.perf_counter())):
                return False
        if all(waiter.wait_idle(0) for waiter in waiters):
            return True
