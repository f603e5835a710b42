"""Side pictures of the model, to read one seed against: a generated population (N seeds at the slider's redshift,
for the survey grid beside it) and the current seed's filmstrip (a few redshifts across the range). No Panel in
here.

Both are made by the process's generation queue at its lowest priority (kind ``population``: after the exact frame,
exports and the walk's bake) and kept in the process's frame store, like walks: a population is a walk along the
seed axis (``walk.SEED_AXIS``, drawn with ``Generator.population``, batched), a filmstrip is frames of the seed's
redshift walk (the frames the bake makes anyway, so usually there already). Inputs are calls from the app on
release (``show_population``) and on the filmstrip button (``show_filmstrip``); outputs are parameters the card
watches: ``population`` and ``filmstrip`` (the caches) and their ``revision``.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Mapping

import numpy as np
import param

from galaxy_explorer.app_parts.state.generation import GenerationQueue, Request, generation_queue
from galaxy_explorer.app_parts.state.walk import REDSHIFT_AXIS, SEED_AXIS, Frame, FrameCache, FrameStore, frame_store
from galaxy_explorer.app_parts.controllers.walk_controller import axis_range, walk_key

POPULATION_SIZE = 12  # as many as the survey grid shows
FILMSTRIP_FRAMES = 8


def population_seeds(seed: int, n: int = POPULATION_SIZE) -> list[int]:
    """The seeds of the generated population beside seed ``seed``: the next ``n`` (so a person can type one into the
    seed box and walk it), wrapping inside the seed range."""
    return [(int(seed) + k) % (2 ** 31 - 1) for k in range(1, n + 1)]


def filmstrip_redshifts(low: float, high: float, n: int = FILMSTRIP_FRAMES) -> np.ndarray:
    """Evenly across the redshift range. With the app's 64-frame grid every one of them is a grid frame (the grid
    steps are a ninth of these), so a baked walk has its filmstrip already."""
    return np.linspace(low, high, n)


class PopulationController(param.Parameterized):
    """One session's generated population and filmstrip."""

    population = param.ClassSelector(class_=FrameCache, default=None, doc="The population on show (seed axis)")
    filmstrip = param.ClassSelector(class_=FrameCache, default=None, doc="The walk the filmstrip comes from")
    filmstrip_redshifts = param.List(default=[], doc="The filmstrip's redshifts, in order")
    revision = param.Integer(default=0, doc="Bumped whenever frames of either join")
    error = param.String(default="", doc="Why the last request failed ('': it did not)")

    def __init__(self, run_on_ui: Callable[[Callable[[], None]], None], client: str,
                 queue: GenerationQueue | None = None, store: FrameStore | None = None, **params):
        super().__init__(**params)
        self._run_on_ui = run_on_ui
        self._queue = queue if queue is not None else generation_queue()
        self._store = store if store is not None else frame_store()
        # One queue slot each (latest wins within a slot), apart from the session's walk.
        self._clients = {"population": f"{client}/population", "filmstrip": f"{client}/filmstrip"}
        self._closed = False

    def population_frames(self) -> list[Frame | None]:
        """The population's frames in seed order, None where not made yet."""
        cache = self.population
        return [] if cache is None else [cache.get(seed) for seed in cache.grid]

    def filmstrip_frames(self) -> list[Frame | None]:
        cache = self.filmstrip
        return [] if cache is None else [cache.get(z) for z in self.filmstrip_redshifts]

    def show_population(self, generator, seed: int, redshift: float, sampler: str, steps: int, guidance: float,
                        conditions: Mapping[str, float | None], n: int = POPULATION_SIZE) -> None:
        """The ``n`` seeds after ``seed`` at ``redshift`` with the walk's settings: cached, or queued."""
        if generator is None or self._closed:
            return
        key = walk_key(generator, seed, sampler, steps, conditions, guidance, SEED_AXIS, redshift)
        seeds = np.asarray(population_seeds(seed, n), dtype=np.float64)
        cache = self._store.get_or_create(key, seeds)
        self._follow("population", cache)
        self._request("population", generator, cache, list(seeds))

    def show_filmstrip(self, generator, seed: int, sampler: str, steps: int, guidance: float,
                       conditions: Mapping[str, float | None], grid: np.ndarray,
                       n: int = FILMSTRIP_FRAMES) -> None:
        """Seed ``seed`` at ``n`` redshifts across the range, from its redshift walk (on ``grid``, the walk
        controller's, so it shares the frames the walk bakes)."""
        if generator is None or self._closed:
            return
        key = walk_key(generator, seed, sampler, steps, conditions, guidance, REDSHIFT_AXIS)
        cache = self._store.get_or_create(key, grid)
        redshifts = [float(z) for z in filmstrip_redshifts(*axis_range(generator), n)]
        self.filmstrip_redshifts = redshifts
        self._follow("filmstrip", cache)
        self._request("filmstrip", generator, cache, redshifts)

    def close(self) -> None:
        self._closed = True
        for client in self._clients.values():
            self._queue.cancel(client)
        for cache in (self.population, self.filmstrip):
            if cache is not None:
                cache.unsubscribe(self._frames_made)

    # -- internals ------------------------------------------------------------------------------------------------
    def _follow(self, which: str, cache: FrameCache) -> None:
        previous = getattr(self, which)
        if previous is not cache:
            if previous is not None:  # (the population and the filmstrip are never one cache: other axes)
                previous.unsubscribe(self._frames_made)
            cache.subscribe(self._frames_made)
        self.param.update(**{which: cache, "error": "", "revision": self.revision + 1})

    def _request(self, which: str, generator, cache: FrameCache, positions: list[float]) -> None:
        client = self._clients[which]
        if all(cache.get(position) is not None for position in positions):
            self._queue.cancel(client)
            return
        self._queue.submit(Request(client, "population", generator, cache, positions, on_error=self._failed))

    def _frames_made(self, cache: FrameCache, frames: list[Frame]) -> None:  # the generation thread
        if not self._closed:
            self._run_on_ui(partial(self._show_made, cache))

    def _failed(self, request: Request, exc: BaseException) -> None:  # the generation thread
        if not self._closed:
            self._run_on_ui(partial(setattr, self, "error", str(exc)))

    def _show_made(self, cache: FrameCache) -> None:
        if not self._closed and cache in (self.population, self.filmstrip):
            self.revision += 1
