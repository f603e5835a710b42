"""One generation queue per process: the only thread that runs the model, fair between sessions.

Sessions (and the server's own warm-up) ask for frames of a walk with ``submit(Request(...))``. Each client has one
slot per kind of request, and a new request of a kind replaces the one waiting there (latest wins: an old slider
position is dropped, not queued). Kinds, most urgent first:

- ``exact``: the frame where a session's slider came to rest (the interactive frame);
- ``export``: frames for a requested export;
- ``bake``: the walk's grid of positions, coarse to fine;
- ``population``: side pictures (N seeds at one redshift, the seed's filmstrip), made when nothing else waits.

Between kinds the order is strict; within a kind, clients take turns (the one served longest ago goes next). Frames
land in the walk's shared ``FrameCache``: a frame that is there already is not made again, and sessions asking for
the same frames (every visitor starts on the default walk) share one computation.

Work is interrupted between sampler steps (``Generator.frames(on_step=...)``):
- a batch that nobody waits for any more (its sessions moved on, changed seed or steps, or closed) stops at the
  next step;
- a bake or export batch pauses at the next step while exact frames are waiting, makes them, and then resumes
  where it was, so an interactive frame waits for at most one sampler step and no work is thrown away.
When not interrupted the pixels are exactly those of ``Generator.frames`` for the same frames.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Hashable

import numpy as np

from galaxy_explorer.app_parts.state.colours import frame_colours
from galaxy_explorer.app_parts.state.walk import COLOUR, LIVE_COLUMNS, FrameCache, position_key

log = logging.getLogger(__name__)

KINDS = ("exact", "export", "bake", "population")
# Frames per call of the model. On a CPU a batch of 4 costs ~25% less per frame than one frame at a time; an exact
# frame is made alone (or with one other session's exact frame of the same walk), so it comes as soon as possible.
BATCH = {"exact": 2, "export": 4, "bake": 4, "population": 4}


def measure_frame(image: np.ndarray) -> dict[str, float]:
    """Fast morphology and aperture colours (``colours.COLOUR_COLUMNS``) of one (5,H,W) frame, as plain floats (NaN
    where nothing was detected): measured here, once per frame, so no session's UI thread measures."""
    from galaxy_explorer.measure.morphology import measure

    result = measure(np.asarray(image)[None], mode="fast")
    return ({name: float(result[name][0]) for name in LIVE_COLUMNS} | {"flag": int(result["flag"][0])}
            | frame_colours(image))


def sample(generator, key, positions: list[float], on_step: Callable[[int], None] | None = None) -> np.ndarray:
    """The frames of ``key``'s walk at ``positions`` along its axis, in one call of the model: a walk is one seed
    (``Generator.frames``, one x_T for all), a population one seed per frame (``Generator.population``)."""
    from galaxy_explorer.app_parts.state.walk import SEED_AXIS

    seeds, redshifts, conditions = key.sampling(positions)
    settings = dict(sampler=key.sampler, steps=key.steps, batch_size=max(1, len(positions)),
                    guidance_scale=key.guidance, on_step=on_step)
    if key.axis == SEED_AXIS:
        return generator.population(seeds, redshifts, **settings, **conditions)
    if key.noise is not None:  # an inverted survey galaxy: its x_T stands in for the seed's
        return generator.frames_from_noise(key.noise, redshifts, **settings, **conditions)
    return generator.frames(key.seed, redshifts, **settings, **conditions)


class Interrupted(Exception):
    """Raised from the sampler's step hook when nobody waits for the batch any more."""


Progress = Callable[["Request", int, int, list[float]], None]


@dataclass(eq=False)
class Request:
    """Frames of ``cache``'s walk at ``positions`` along its axis (in the order wanted), asked for by ``client``.

    Callbacks run on the generation thread and must be quick: ``on_progress(request, step, steps, positions)``
    after each sampler step of a batch that makes some of these frames; ``on_error(request, exc)`` if the model
    fails (the request is then dropped). New frames reach the sessions through ``FrameCache.publish``.
    """

    client: Hashable
    kind: str
    generator: object
    cache: FrameCache
    positions: list[float]
    on_progress: Progress | None = None
    on_error: Callable[["Request", BaseException], None] | None = None
    submitted: float = field(default_factory=time.perf_counter)
    finished: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown request kind {self.kind!r}; expected one of {KINDS}")
        self._wanted = [position_key(position) for position in self.positions]
        self._wanted_set = set(self._wanted)

    def missing(self) -> list[float]:
        return [position for position in self._wanted if self.cache.get(position) is None]

    def wants(self, position: float) -> bool:
        return position_key(position) in self._wanted_set and self.cache.get(position) is None


@dataclass(eq=False)
class Batch:
    kind: str
    generator: object
    cache: FrameCache
    positions: list[float]


class GenerationQueue:
    """A daemon thread making frames for every session of the process; see the module docstring."""

    def __init__(self, measure: Callable[[np.ndarray], dict] = measure_frame, name: str = "galaxy-explorer-model"):
        self._measure = measure
        self._name = name
        self._condition = threading.Condition()
        self._slots: dict[tuple[Hashable, str], Request] = {}
        self._turns = itertools.count()
        self._last_served: dict[Hashable, int] = {}
        self._running = 0  # batches being made (a paused bake and the exact frame it made way for: 2)
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.batches = 0  # model calls finished (tests and benchmarks)
        self.interrupted = 0  # batches stopped because nobody waited for them any more

    # -- any thread --------------------------------------------------------------------------------------------
    def submit(self, request: Request) -> Request:
        """Queue ``request``, replacing the client's waiting request of the same kind."""
        with self._condition:
            self._slots[(request.client, request.kind)] = request
            self._idle.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify_all()
        return request

    def cancel(self, client: Hashable, kind: str | None = None) -> None:
        """Drop the client's waiting requests (of one kind, or all); a batch only they wanted stops at its next step."""
        with self._condition:
            for slot in [slot for slot in self._slots if slot[0] == client and kind in (None, slot[1])]:
                request = self._slots.pop(slot)
                request.finished.set()
            if not any(slot[0] == client for slot in self._slots):
                self._last_served.pop(client, None)
            self._update_idle()

    def pending(self, client: Hashable, kind: str) -> bool:
        with self._condition:
            return (client, kind) in self._slots

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until nothing is waiting or being made (tests and scripts; never on a UI thread)."""
        return self._idle.wait(timeout)

    @property
    def clients(self) -> set:
        with self._condition:
            return {client for client, _ in self._slots}

    # -- the generation thread ---------------------------------------------------------------------------------
    def _update_idle(self) -> None:
        if not self._slots and self._running == 0:
            self._idle.set()

    def _retire_satisfied(self) -> list[Request]:
        """Remove requests whose frames are all made (under the lock); returns them."""
        done = [slot for slot, request in self._slots.items() if not request.missing()]
        return [self._slots.pop(slot) for slot in done]

    def _pick(self, kinds: tuple[str, ...] = KINDS) -> Batch | None:
        """The next batch among requests of ``kinds`` (under the lock), or None."""
        for request in self._retire_satisfied():
            request.finished.set()
        for kind in kinds:
            waiting = [request for (_client, k), request in self._slots.items() if k == kind]
            if not waiting:
                continue
            first = min(waiting, key=lambda r: (self._last_served.get(r.client, -1), r.submitted))
            positions = first.missing()[: BATCH[kind]]
            served = {first.client}
            # Other clients' frames of the same walk ride along (every visitor starts on the default walk).
            for other in sorted(waiting, key=lambda r: r.submitted):
                if other is first or other.cache is not first.cache:
                    continue
                for position in other.missing():
                    if len(positions) >= BATCH[kind]:
                        break
                    if position not in positions:
                        positions.append(position)
                        served.add(other.client)
            turn = next(self._turns)
            for client in served:
                self._last_served[client] = turn
            return Batch(kind, first.generator, first.cache, positions)
        return None

    def _waiting_for(self, batch: Batch) -> list[Request]:
        """Requests still waiting for any frame of ``batch`` (under the lock)."""
        return [request for request in self._slots.values()
                if request.cache is batch.cache and any(request.wants(position) for position in batch.positions)]

    def _loop(self) -> None:
        while True:
            with self._condition:
                batch = self._pick()
                while batch is None:
                    self._update_idle()
                    self._condition.wait()
                    batch = self._pick()
                self._running += 1
            try:
                self._make(batch)
            finally:
                with self._condition:
                    self._running -= 1
                    self._update_idle()

    def _on_step(self, batch: Batch, steps: int) -> Callable[[int], None]:
        def on_step(step: int) -> None:
            with self._condition:
                waiting = self._waiting_for(batch)
                urgent = None if batch.kind == "exact" else self._pick(("exact",))
                if urgent is not None:
                    self._running += 1
            if not waiting:
                if urgent is not None:  # not needed after all; it is picked again below
                    with self._condition:
                        self._running -= 1
                raise Interrupted
            for request in waiting:
                if request.on_progress is not None:
                    request.on_progress(request, step, steps, batch.positions)
            while urgent is not None:  # interactive frames first: pause this batch, make them, resume
                try:
                    self._make(urgent)
                finally:
                    with self._condition:
                        self._running -= 1
                with self._condition:
                    urgent = self._pick(("exact",))
                    if urgent is not None:
                        self._running += 1

        return on_step

    def _make(self, batch: Batch) -> None:
        """Make ``batch``'s frames, keep them in its cache and tell the sessions (generation thread)."""
        key = batch.cache.key
        try:
            images = sample(batch.generator, key, list(batch.positions), self._on_step(batch, key.steps))
            frames = []
            for position, image in zip(batch.positions, images):
                if batch.cache.get(position) is not None:  # made meanwhile (an exact frame while this batch paused)
                    continue
                frame = batch.cache.add(position, image, self._measure(image))
                frame.data_url(COLOUR)  # the page's picture, made here rather than on a session's UI thread
                frames.append(frame)
        except Interrupted:
            self.interrupted += 1
            return
        except Exception as exc:  # the model failed: the sessions that asked are told, the queue carries on
            log.exception("generating %d frame(s) of %s failed", len(batch.positions), key.name)
            with self._condition:
                failed = self._waiting_for(batch)
                for request in failed:
                    self._slots.pop((request.client, request.kind), None)
                    request.error = exc
                    request.finished.set()
            for request in failed:
                if request.on_error is not None:
                    request.on_error(request, exc)
            return
        self.batches += 1
        if batch.cache.complete and batch.cache.bake_seconds is None and batch.cache.bake_started is not None:
            batch.cache.bake_seconds = time.perf_counter() - batch.cache.bake_started
        batch.cache.publish(frames)
        with self._condition:
            for request in self._retire_satisfied():
                request.finished.set()
        from galaxy_explorer.app_parts.state.walk import frame_store

        frame_store().trim()


_QUEUE: GenerationQueue | None = None
_QUEUE_LOCK = threading.Lock()


def generation_queue() -> GenerationQueue:
    """The process's generation queue (made on first use)."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = GenerationQueue()
        return _QUEUE
