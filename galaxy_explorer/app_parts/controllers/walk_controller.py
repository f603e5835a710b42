"""The walk controller: the frames of the current walk, and which of them answers the slider. No Panel in here.

Inputs are calls from the app: ``load(checkpoint)``, ``start(seed, sampler, steps, conditions, redshift,
guidance, axis)``, ``drag(position)`` (every slider movement) and ``release(position)``. A walk moves along the
redshift (the further conditions held) or along one further condition at a fixed redshift (a *label walk*); the
position is the walk's slider, and ``requested`` and the frames' ``position`` are positions along that axis
(``requested_redshift`` and a frame's ``redshift`` are always redshifts). Outputs are parameters that the views
watch: ``generator``, ``model_state``, ``cache`` (the current walk's frames), ``revision`` (bumped when frames
join it), ``frame`` (the one on screen), ``requested`` (the slider's position, which ``frame`` answers exactly or
as the nearest one), ``dragging``, ``progress``, ``baked`` and ``bake_error``. Results come back through ``run_on_ui``
(the session's ``UiThread.call``), so the outputs change only on the UI thread.

The model is loaded on the session's worker; frames are made by the process-wide generation queue
(``app_parts.generation``) into the process-wide frame store (``app_parts.walk``), so sessions on the same walk
share every frame. When a walk starts, the exact frame at the slider comes first, then the grid, coarse to fine.
While the new walk has no frame yet, the last frame stays on screen (the page dims it), with ``progress`` saying
what is being made.
"""

from __future__ import annotations

import itertools
import time
from functools import partial
from typing import Callable, Mapping

import numpy as np
import param

from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.app_parts.state.generation import GenerationQueue, Request, generation_queue
from galaxy_explorer.app_parts.state.resources import load_generator, model_identity
from galaxy_explorer.app_parts.state.session import SessionMessages
from galaxy_explorer.app_parts.state.walk import DEFAULT_GRID_FRAMES, REDSHIFT_AXIS, Frame, FrameCache, FrameStore, WalkKey, frame_store
from galaxy_explorer.app_parts.state.worker import Preempted, SessionWorker, TaskContext

DEFAULT_REDSHIFT_RANGE = (0.0, 4.0)
# Progress reaches the page at most this often (seconds), whatever the number of sampler steps.
PROGRESS_INTERVAL = 0.25
_CLIENTS = itertools.count(1)


def untrained(generator) -> bool:
    """Whether the checkpoint says it saw no training images (test and timing checkpoints)."""
    training = (generator.metadata or {}).get("training")
    return isinstance(training, dict) and training.get("images_seen", training.get("step")) == 0


def walk_key(generator, seed: int, sampler: str, steps: int, conditions: Mapping[str, float | None],
             guidance: float | None = None, axis: str = REDSHIFT_AXIS, redshift: float | None = None) -> WalkKey:
    """The walk of ``generator`` for these settings. ``guidance`` None: the scale it samples with by default.
    ``axis``: 'redshift', or the further condition a label walk moves at ``redshift`` (its own value in
    ``conditions`` is then not part of the walk: it is the position along it). A condition None is left free."""
    if guidance is None:
        guidance = getattr(generator, "default_guidance", 1.0)
    held = tuple(sorted((name, None if value is None else float(value))
                        for name, value in conditions.items() if name != axis))
    at = None if axis == REDSHIFT_AXIS else float(redshift)
    return WalkKey(str(generator.checkpoint_path), int(seed), sampler, int(steps), held, float(guidance),
                   model_identity(generator), axis, at)


def axis_range(generator, axis: str = REDSHIFT_AXIS) -> tuple[float, float]:
    """The training range of ``axis`` (the redshift or a further condition): the span of a walk along it."""
    if generator is None:
        return DEFAULT_REDSHIFT_RANGE
    low, high = generator.condition_ranges.get(axis, DEFAULT_REDSHIFT_RANGE)
    return float(low), float(high)


def requested_redshift(walk) -> float:
    """The redshift of the frame ``walk``'s slider asks for: its position along the redshift, the walk's fixed
    redshift along a label. ``walk``: a ``WalkController``, or anything with its ``cache`` and ``requested``."""
    return walk.cache.key.redshift_at(walk.requested) if walk.cache is not None else float(walk.requested)


class WalkController(param.Parameterized):
    """One session's walk: loading the model, the walk's frames, the nearest and the exact frame."""

    generator = param.Parameter(default=None, doc="The loaded diffusion Generator; None until one loads")
    model_state = param.Selector(default="loading", objects=["loading", "ready", "none"],
                                 doc="'none': a load has finished and no model is loaded")
    cache = param.ClassSelector(class_=FrameCache, default=None, doc="The current walk's frames")
    revision = param.Integer(default=0, doc="Bumped whenever frames join the current walk's cache")
    frame = param.ClassSelector(class_=Frame, default=None, doc="The frame on screen; None before the first")
    requested = param.Number(default=0.5, doc="The slider's position along the walk's axis, which `frame` answers")
    dragging = param.Boolean(default=False, doc="The slider is moving (the page shows the frames itself)")
    progress = param.String(default="", doc="What is being made for this walk now ('': nothing)")
    baked = param.Integer(default=0, doc="Grid frames of the current walk baked so far")
    bake_error = param.String(default="", doc="Why baking the current walk stopped ('': it did not)")

    def __init__(self, worker: SessionWorker, run_on_ui: Callable[[Callable[[], None]], None],
                 messages: SessionMessages, grid_frames: int = DEFAULT_GRID_FRAMES,
                 queue: GenerationQueue | None = None, store: FrameStore | None = None, **params):
        super().__init__(**params)
        self.grid_frames = int(grid_frames)
        self._worker, self._run_on_ui, self._messages = worker, run_on_ui, messages
        self._queue = queue if queue is not None else generation_queue()
        self._store = store if store is not None else frame_store()
        self.client = f"session-{next(_CLIENTS)}"
        self._progress_sent = 0.0
        self._closed = False

    @property
    def redshift_range(self) -> tuple[float, float]:
        """The loaded model's training redshift range (the slider's range)."""
        return axis_range(self.generator)

    @property
    def requested_redshift(self) -> float:
        """The redshift of the frame the slider asks for (along a label: the walk's fixed redshift)."""
        return requested_redshift(self)

    @property
    def axis(self) -> str:
        """What the current walk moves: 'redshift', or the further condition of a label walk."""
        return self.cache.key.axis if self.cache is not None else REDSHIFT_AXIS

    @property
    def grid(self) -> np.ndarray:
        return self.grid_for(REDSHIFT_AXIS)

    def grid_for(self, axis: str) -> np.ndarray:
        """The baking grid of a walk along ``axis``: ``grid_frames`` positions across its training range."""
        return np.linspace(*axis_range(self.generator, axis), self.grid_frames)

    @property
    def queue(self) -> GenerationQueue:
        return self._queue

    # -- the model ------------------------------------------------------------------------------------------------
    def load(self, checkpoint: str, now: bool = False) -> None:
        """Load (or switch to) ``checkpoint`` (empty: the shipped one) on the worker; a failure keeps the old one.
        ``now``: load on the calling thread (the model is already in memory, so this takes no time)."""
        if self.generator is None:
            self.model_state = "loading"

        def step(_ctx: TaskContext | None) -> None:
            generator, problem = None, None
            try:
                generator = load_generator(checkpoint or None)
            except GalaxyExplorerError as exc:
                problem = str(exc)
            except Exception as exc:  # an unreadable file of the right name, a torch error…
                problem = f"could not load checkpoint {checkpoint or 'shipped'}: {exc}"
            if now:
                self._loaded(generator, problem)
            else:
                self._run_on_ui(partial(self._loaded, generator, problem))

        if now:
            step(None)
        else:
            self._worker.submit_once("load", step, name="load model")

    def _loaded(self, generator, problem: str | None) -> None:
        if problem is not None:
            self._messages.error(problem)
        if generator is not None:
            self.generator = generator
        self.model_state = "ready" if self.generator is not None else "none"

    # -- walks ----------------------------------------------------------------------------------------------------
    def start(self, seed: int, sampler: str, steps: int, conditions: Mapping[str, float | None], redshift: float,
              guidance: float | None = None, axis: str = REDSHIFT_AXIS) -> None:
        """A new walk (seed, sampler, steps, guidance, a condition, the axis or, for a label walk, the redshift
        changed): what is cached now, the rest made. Along the redshift the further conditions are held; along a
        label (``axis``) the redshift is held and the walk starts at the label's value in ``conditions``."""
        if self.generator is None or self._closed:
            return
        key = walk_key(self.generator, seed, sampler, steps, conditions, guidance, axis, redshift)
        position = redshift
        if axis != REDSHIFT_AXIS:  # the position along a label walk: the label's slider (free: mid-range)
            value = conditions.get(axis)
            position = float(np.mean(axis_range(self.generator, axis))) if value is None else float(value)
        self.start_key(key, position)

    def start_key(self, key: WalkKey, position: float) -> None:
        """Start the walk ``key`` at ``position``: a seed's (``start``), or an inverted survey galaxy's."""
        if self.generator is None or self._closed:
            return
        cache = self._store.get_or_create(key, self.grid_for(key.axis))
        if cache is not self.cache:
            if self.cache is not None:
                self.cache.unsubscribe(self._frames_made)
            cache.subscribe(self._frames_made)
        # While the new walk has nothing near, the last frame stays (dimmed by the page) rather than a blank.
        shown = cache.get(position) or cache.nearest(position) or self.frame
        self.param.update(cache=cache, frame=shown, requested=float(position), baked=cache.n_baked,
                          bake_error="", dragging=False, progress="")
        self.release(position)
        if cache.complete:
            self._queue.cancel(self.client, "bake")
        else:
            if cache.bake_started is None:
                cache.bake_started = time.perf_counter()
            self._queue.submit(Request(self.client, "bake", self.generator, cache, cache.grid_order(),
                                       on_progress=self._made_progress, on_error=self._failed))

    def drag(self, position: float) -> None:
        """The slider moved: the nearest cached frame, now (the page has drawn it already)."""
        nearest = self.cache.nearest(position) if self.cache is not None else None
        self.param.update(requested=float(position), frame=nearest if nearest is not None else self.frame,
                          dragging=True)

    def release(self, position: float) -> None:
        """The slider came to rest: the exact frame, from the cache or the generation queue."""
        cache = self.cache
        if cache is None or self._closed:
            return
        position = float(position)
        frame = cache.get(position)
        nearest = frame or cache.nearest(position) or self.frame
        self.param.update(requested=position, frame=nearest, dragging=False)
        if frame is not None:
            self._queue.cancel(self.client, "exact")  # the waiting exact frame is for a position left behind
            return
        self._queue.submit(Request(self.client, "exact", self.generator, cache, [position],
                                   on_progress=self._made_progress, on_error=self._failed))

    def close(self) -> None:
        """The session has gone: nothing more is made for it, and it holds on to no walk."""
        self._closed = True
        self._queue.cancel(self.client)
        if self.cache is not None:
            self.cache.unsubscribe(self._frames_made)

    # -- from the generation thread -------------------------------------------------------------------------------
    def _frames_made(self, cache: FrameCache, frames: list[Frame]) -> None:
        if not self._closed:
            self._run_on_ui(partial(self._show_made, cache, frames))

    def _made_progress(self, request: Request, step: int, steps: int, positions: list[float]) -> None:
        now = time.perf_counter()
        if self._closed or (step < steps and now - self._progress_sent < PROGRESS_INTERVAL):
            return
        shown = self.frame
        if request.kind == "bake" and shown is not None and shown.walk == request.cache.key:
            return  # a bake while a frame of this walk is on screen: nothing to say
        self._progress_sent = now
        self._run_on_ui(partial(self._show_progress, request, step, steps, positions))

    def _failed(self, request: Request, exc: BaseException) -> None:
        if not self._closed:
            self._run_on_ui(partial(self._show_failure, request, exc))

    # -- back on the UI thread ------------------------------------------------------------------------------------
    def _show_made(self, cache: FrameCache, frames: list[Frame]) -> None:
        if cache is not self.cache or self._closed:
            return
        # Another session's exact frame elsewhere on this walk is kept in the shared cache, but is no news here.
        if not any(frame.exact_grid or frame.matches(self.requested) for frame in frames):
            return
        updates: dict = {"baked": cache.n_baked, "revision": self.revision + 1}
        shown, requested = self.frame, self.requested
        exact = cache.get(requested)
        nearest = exact or cache.nearest(requested)
        # The exact frame; or, before it, a frame of this walk nearer to the slider than the one on screen.
        if nearest is not None and nearest is not shown and (
                exact is not None or shown is None or shown.walk != cache.key
                or abs(nearest.position - requested) < abs(shown.position - requested)):
            updates["frame"] = nearest
        if exact is not None or not self._queue.pending(self.client, "exact"):
            updates["progress"] = ""
        self.param.update(**updates)

    def _show_progress(self, request: Request, step: int, steps: int, positions: list[float]) -> None:
        if request.cache is not self.cache or self._closed:
            return
        if request.kind == "exact" or self.frame is None or self.frame.walk != request.cache.key:
            key = request.cache.key
            where = key.describe(request.positions[0]) if request.kind == "exact" else \
                f"{len(positions)} frame{'s' if len(positions) > 1 else ''} from {key.describe(min(positions))}"
            self.progress = f"Generating {request.cache.key.name} at {where}: step {step}/{steps}"

    def _show_failure(self, request: Request, exc: BaseException) -> None:
        if request.kind == "bake" and request.cache is self.cache:
            self.bake_error = str(exc)
        self.progress = ""
        self._messages.task_failed(request.kind, exc)

    # -- frames for an export (the session's worker thread) ------------------------------------------------------
    def frames_for(self, cache: FrameCache, positions: list[float], ctx: TaskContext | None = None,
                   progress: Callable[[int, int], None] | None = None) -> list[Frame]:
        """The frames of ``cache``'s walk at ``positions`` along its axis: cached, or made by the generation queue
        now. Blocks (never call it on the UI thread); ``ctx.checkpoint()`` is called while waiting, so more urgent
        work on the session's worker goes first (the request stays queued), and ``progress(available, total)`` every
        0.5 s."""
        missing = [float(position) for position in positions if cache.get(position) is None]
        if missing:
            if self.generator is None or model_identity(self.generator) != cache.key.model:
                raise GalaxyExplorerError("the model changed while this walk was being computed")
            request = self._queue.submit(Request(self.client, "export", self.generator, cache, missing))
            reported = time.perf_counter()
            while not request.finished.wait(0.1):
                if ctx is not None:
                    ctx.checkpoint()
                if progress is not None and time.perf_counter() - reported > 0.5:
                    reported = time.perf_counter()
                    progress(sum(cache.get(position) is not None for position in positions), len(positions))
            if self._closed:
                raise Preempted("the session closed")
            if request.error is not None:
                raise request.error
        frames = [cache.get(position) for position in positions]
        if any(frame is None for frame in frames):
            raise GalaxyExplorerError("frames for the export were dropped (the session is closing)")
        return frames

    def frame_at(self, cache: FrameCache, position: float, ctx: TaskContext | None = None) -> Frame:
        """The frame of ``cache``'s walk at ``position`` (see ``frames_for``)."""
        return self.frames_for(cache, [float(position)], ctx)[0]
