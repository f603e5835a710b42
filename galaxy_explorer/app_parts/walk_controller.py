"""The walk controller: the frames of the current walk, and which of them answers the slider. No Panel in here.

Inputs are calls from the app: ``load(checkpoint)``, ``start(seed, sampler, steps, conditions, redshift)``,
``drag(redshift)`` (every slider movement) and ``release(redshift)``. Outputs are parameters that the views watch:
``generator``, ``model_state``, ``cache`` (the current walk's frames), ``frame`` (the one on screen),
``requested`` (the slider's redshift, which ``frame`` answers exactly or as the nearest one), ``baked`` and
``bake_error``. The model runs only on the session's worker (``app_parts.worker``); its results come back through
``run_on_ui`` (the session's ``UiThread.call``), so the outputs change only on the UI thread.

When a walk starts, its frames are baked on a redshift grid, coarse to fine, ``BAKE_BATCH`` at a time. Dragging
shows the nearest frame cached so far at once; releasing computes the exact frame, which joins the cache too.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, Mapping

import numpy as np
import param

from ..errors import GalaxyExplorerError
from .real import LIVE_COLUMNS
from .resources import load_generator
from .session import SessionMessages
from .walk import DEFAULT_GRID_FRAMES, Frame, FrameCache, WalkCaches, WalkKey
from .worker import SessionWorker, TaskContext

DEFAULT_REDSHIFT_RANGE = (0.0, 4.0)
# Grid frames generated per worker step: two at once cost ~25% less per frame on a CPU than one at a time,
# while an exact-frame request waits at most for one such step.
BAKE_BATCH = 2


def measure_frame(image: np.ndarray) -> dict[str, float]:
    """Fast morphology of one (5,H,W) frame, as plain floats (NaN where nothing was detected)."""
    from ..morphology import measure

    result = measure(np.asarray(image)[None], mode="fast")
    return {name: float(result[name][0]) for name in LIVE_COLUMNS} | {"flag": int(result["flag"][0])}


def untrained(generator) -> bool:
    """Whether the checkpoint says it saw no training images (test and timing checkpoints)."""
    training = (generator.metadata or {}).get("training")
    return isinstance(training, dict) and training.get("images_seen", training.get("step")) == 0


class WalkController(param.Parameterized):
    """One session's walk: loading the model, baking the grid, the nearest and the exact frame."""

    generator = param.Parameter(default=None, doc="The loaded diffusion Generator; None until one loads")
    model_state = param.Selector(default="loading", objects=["loading", "ready", "none"],
                                 doc="'none': a load has finished and no model is loaded")
    cache = param.ClassSelector(class_=FrameCache, default=None, doc="The current walk's frames")
    frame = param.ClassSelector(class_=Frame, default=None, doc="The frame on screen; None before the first")
    requested = param.Number(default=0.5, doc="The slider's redshift, which `frame` answers")
    baked = param.Integer(default=0, doc="Grid frames of the current walk baked so far")
    bake_error = param.String(default="", doc="Why baking the current walk stopped ('': it did not)")

    def __init__(self, worker: SessionWorker, run_on_ui: Callable[[Callable[[], None]], None],
                 messages: SessionMessages, grid_frames: int = DEFAULT_GRID_FRAMES, **params):
        super().__init__(**params)
        self.grid_frames = int(grid_frames)
        self._worker, self._run_on_ui, self._messages = worker, run_on_ui, messages
        self._caches = WalkCaches()

    @property
    def redshift_range(self) -> tuple[float, float]:
        """The loaded model's training redshift range (the slider's range)."""
        if self.generator is None:
            return DEFAULT_REDSHIFT_RANGE
        low, high = self.generator.condition_ranges.get("redshift", DEFAULT_REDSHIFT_RANGE)
        return float(low), float(high)

    @property
    def grid(self) -> np.ndarray:
        return np.linspace(*self.redshift_range, self.grid_frames)

    # -- the model ------------------------------------------------------------------------------------------------
    def load(self, checkpoint: str) -> None:
        """Load (or switch to) ``checkpoint`` (empty: the shipped one) on the worker; a failure keeps the old one."""
        if self.generator is None:
            self.model_state = "loading"

        def step(_ctx: TaskContext) -> None:
            generator, problem = None, None
            try:
                generator = load_generator(checkpoint or None)
            except GalaxyExplorerError as exc:
                problem = str(exc)
            except Exception as exc:  # an unreadable file of the right name, a torch error…
                problem = f"could not load checkpoint {checkpoint or 'shipped'}: {exc}"
            self._run_on_ui(partial(self._loaded, generator, problem))

        self._worker.submit_once("load", step, name="load model")

    def _loaded(self, generator, problem: str | None) -> None:
        if problem is not None:
            self._messages.error(problem)
        if generator is not None:
            self.generator = generator
        self.model_state = "ready" if self.generator is not None else "none"

    # -- walks ----------------------------------------------------------------------------------------------------
    def start(self, seed: int, sampler: str, steps: int, conditions: Mapping[str, float], redshift: float) -> None:
        """A new walk (seed, sampler, steps or a condition changed): what is cached now, the rest baked."""
        if self.generator is None:
            return
        key = WalkKey(str(self.generator.checkpoint_path), int(seed), sampler, int(steps),
                      tuple(sorted((name, float(value)) for name, value in conditions.items())))
        cache = self._caches.get_or_create(key, self.grid)
        self.param.update(cache=cache, frame=cache.nearest(redshift), requested=float(redshift),
                          baked=cache.n_baked, bake_error="")
        self.release(redshift)
        if not cache.complete:
            if cache.bake_started is None:
                cache.bake_started = time.perf_counter()
            self._worker.submit("bake", partial(self._bake_step, cache), name=f"bake seed {key.seed}")

    def drag(self, redshift: float) -> None:
        """The slider moved: the nearest cached frame, now."""
        nearest = self.cache.nearest(redshift) if self.cache is not None else None
        self.param.update(requested=float(redshift), frame=nearest if nearest is not None else self.frame)

    def release(self, redshift: float) -> None:
        """The slider came to rest: the exact frame, from the cache or the worker."""
        cache = self.cache
        if cache is None:
            return
        frame = cache.get(redshift)
        if frame is not None:
            if frame.matches(self.requested):
                self.frame = frame
            return
        self._worker.submit_once("exact", partial(self._exact_step, cache, float(redshift)),
                                 name=f"exact z={redshift:.3f}")

    def _exact_step(self, cache: FrameCache, redshift: float, _ctx: TaskContext) -> None:
        frame = self.frame_at(cache, redshift)
        self._run_on_ui(partial(self._exact_ready, cache, frame))

    def _exact_ready(self, cache: FrameCache, frame: Frame) -> None:
        if cache is self.cache and frame.matches(self.requested):
            self.frame = frame

    # -- the model's work (worker thread) ----------------------------------------------------------------------
    def frame_at(self, cache: FrameCache, redshift: float) -> Frame:
        """The frame of ``cache``'s walk at ``redshift``: cached, or generated and measured now (worker only)."""
        frame = cache.get(redshift)
        if frame is None:
            image = self.generate(cache, [float(redshift)])[0]
            frame = cache.add(float(redshift), image, measure_frame(image))
        return frame

    def generate(self, cache: FrameCache, redshifts: list[float]) -> np.ndarray:
        """Frames of ``cache``'s walk, in one call of the model: it reports progress per batch, so it cannot be
        stopped mid-call, and more urgent work waits for the call to end (worker only)."""
        generator, key = self.generator, cache.key
        if generator is None or str(generator.checkpoint_path) != key.checkpoint:
            raise GalaxyExplorerError("the model changed while this walk was being computed")
        return generator.frames(key.seed, list(redshifts), sampler=key.sampler, steps=key.steps,
                                batch_size=len(redshifts), **key.condition_dict)

    def _bake_step(self, cache: FrameCache, _ctx: TaskContext) -> bool:
        """Bake the next BAKE_BATCH grid frames (coarse-to-fine order); True when the grid is full."""
        try:
            missing = cache.missing_grid_indices()
            if missing:
                redshifts = [float(cache.grid[i]) for i in missing[:BAKE_BATCH]]
                # Kept even if the walk changed meanwhile: the frames belong to ``cache``'s walk, which may return.
                for redshift, image in zip(redshifts, self.generate(cache, redshifts)):
                    cache.add(redshift, image, measure_frame(image))
        except Exception as exc:  # the worker reports it; the bake status says baking stopped
            self._run_on_ui(partial(self._bake_failed, cache, str(exc)))
            raise
        done = cache.complete
        if done and cache.bake_seconds is None and cache.bake_started is not None:
            cache.bake_seconds = time.perf_counter() - cache.bake_started
        self._run_on_ui(partial(self._baked, cache))
        return done

    def _bake_failed(self, cache: FrameCache, message: str) -> None:
        if cache is self.cache:
            self.bake_error = message

    def _baked(self, cache: FrameCache) -> None:
        if cache is not self.cache:
            return
        updates: dict = {"baked": cache.n_baked}
        shown, nearest = self.frame, cache.nearest(self.requested)
        # The first frame, or a baked frame closer to where the slider rests than the one shown.
        if nearest is not None and (shown is None or (
                not shown.matches(self.requested)
                and abs(nearest.redshift - self.requested) < abs(shown.redshift - self.requested))):
            updates["frame"] = nearest
        self.param.update(**updates)
