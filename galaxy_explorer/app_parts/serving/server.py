"""What the served app does once per process rather than once per session: bake the default walk at start, and
give memory back when sessions close. No Panel in here.

``panel serve`` runs ``app.py`` afresh for every session, in a module of its own that Bokeh empties when the session
is destroyed; anything that must outlive a session, or run after it (timers, threads), lives here, in an ordinary
imported module.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from pathlib import Path

import numpy as np

from galaxy_explorer.app_parts.state.generation import Request, generation_queue
from galaxy_explorer.app_parts.serving.page_openings import page_opened
from galaxy_explorer.app_parts.serving.patches import glibc_call
from galaxy_explorer.app_parts.state.resources import load_generator
from galaxy_explorer.app_parts.state.walk import DEFAULT_GRID_FRAMES, frame_store
from galaxy_explorer.app_parts.controllers.walk_controller import DEFAULT_REDSHIFT_RANGE, walk_key

log = logging.getLogger(__name__)

DEFAULT_REDSHIFT = 0.5  # where the slider starts
DEFAULT_SEED = 7
DEFAULT_STEPS = 20
DEFAULT_SAMPLER = "dpmpp2m"


def show_app_log() -> None:
    """Served: the app's own log lines at INFO (sessions opening and closing, the warm-up) in the server's log."""
    logger = logging.getLogger("galaxy_explorer")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def default_conditions(generator) -> dict[str, float | None]:
    """Where the further conditions start: free ("any", None) when the checkpoint was trained with condition dropout,
    so the first page is a plain redshift walk of the model's whole population; else, since every label then needs
    a value, the middle of each training range."""
    if generator.supports_guidance:
        return {name: None for name in generator.condition_names[1:]}
    return {name: 0.5 * (generator.condition_ranges[name][0] + generator.condition_ranges[name][1])
            for name in generator.condition_names[1:]}


def closer(app):
    """A session-destroyed hook that closes ``app`` and hands its memory back. It lives here, not in the per-session
    script, whose module Bokeh may have emptied by the time the hook runs."""

    def close(_context) -> None:
        page_opened(app.page_key)  # a page closed while opening must not hold back the others' later parts
        if not getattr(app, "_closed", False):
            app.close()
            log.info("galaxy-explorer: session closed")
        forget_js_callbacks(app.js_callback_sources())
        reclaim_memory_soon()

    return close


def forget_js_callbacks(widgets) -> None:
    """Drop the browser-side callbacks (``widget.jscallback``) of a closed session's widgets.

    Panel keeps them in one process-wide ``WeakKeyDictionary`` keyed by the widget. A callback whose arguments lead
    back to its own widget (the play button's hold the redshift slider, whose watchers hold the app, which holds the
    play button) keeps its key alive for good, and with it the session's whole page: measured, 3 of every 4 closed
    sessions stayed in memory, ~3 MB each."""
    from panel.links import Callback

    for widget in widgets:
        Callback.registry.pop(widget, None)


_QUIETED_LOOPS: set = set()


def quiet_closed_websockets() -> None:
    """Served: a message that Panel was writing when the browser went away (a tab closed) is logged in one line,
    as Bokeh logs its own ("Failed sending message as connection was closed"), not as an asyncio traceback.

    Panel writes some messages from a task of its own (``panel.io.document._dispatch_msgs``), which does not catch
    ``WebSocketClosedError``; asyncio then prints "Task exception was never retrieved" with a traceback. The
    connection is gone, so there is nothing to do; every other exception keeps asyncio's handling."""
    import asyncio

    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        return
    if id(loop) in _QUIETED_LOOPS:
        return
    _QUIETED_LOOPS.add(id(loop))
    previous = loop.get_exception_handler()

    def handler(loop, context) -> None:
        from tornado.iostream import StreamClosedError
        from tornado.websocket import WebSocketClosedError

        if isinstance(context.get("exception"), (WebSocketClosedError, StreamClosedError)):
            log.warning("Failed sending message as connection was closed (a write Panel had under way)")
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


GIL_SWITCH_INTERVAL_S = 0.0005


def favour_the_event_loop() -> None:
    """Served: hand the GIL between threads every 0.5 ms instead of 5 ms. The event loop (sessions, messages)
    releases the GIL at every socket write and system call, and with the default interval it then waits up to 5 ms
    for the model's thread or a session worker to let go of it, every time."""
    import sys

    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Served: at most ``arenas`` glibc malloc arenas. By default glibc gives every thread that allocates (each
    session has its own) an arena of its own, up to 8 per core, and keeps their memory after the session has gone:
    measured with 8 sessions opening and closing, RSS grew by ~140 MB and stayed there; with 2 arenas, ~20 MB."""
    glibc_call("mallopt", M_ARENA_MAX, int(arenas))  # nothing where the C library is not glibc


_RECLAIM_LOCK = threading.Lock()
_RECLAIM_PENDING = False


def reclaim_memory_soon(delay: float = 2.0) -> None:
    """A moment after a session has gone (once Bokeh has let go of its document): collect its objects and hand the
    freed heap back to the system (glibc keeps it otherwise, so the process's RSS would stay at its peak)."""
    global _RECLAIM_PENDING
    with _RECLAIM_LOCK:
        if _RECLAIM_PENDING:
            return
        _RECLAIM_PENDING = True
    timer = threading.Timer(delay, reclaim_memory)
    timer.daemon = True
    timer.start()


def reclaim_memory() -> None:
    global _RECLAIM_PENDING
    with _RECLAIM_LOCK:
        _RECLAIM_PENDING = False
    gc.collect()
    glibc_call("malloc_trim", 0)  # nothing where the C library is not glibc


def freeze_long_lived_objects() -> None:
    """Once the model is loaded: move every object alive now (the imported libraries, the model) out of the
    garbage collector's sight (``gc.freeze``). A full collection otherwise walks them all, ~0.25 s with the GIL held
    on 2 cores, in which no page is built and no slider move is answered; it runs after every closed session
    (``reclaim_memory``) and whenever Python's own thresholds say so. Frozen objects are still freed when their
    last reference goes; only cycles among them are never collected, so this is done once, after a collection."""
    gc.collect()
    gc.freeze()


_WARMED: set = set()
_WARM_LOCK = threading.Lock()


def warm_up(checkpoint: str | Path | None = None, seed: int = DEFAULT_SEED, steps: int = DEFAULT_STEPS,
            sampler: str = DEFAULT_SAMPLER, grid_frames: int = DEFAULT_GRID_FRAMES,
            redshift: float = DEFAULT_REDSHIFT) -> threading.Thread | None:
    """Make the default walk's frames in this process, once: the starting frame first, then the grid, through the
    generation queue (a visitor's own exact frames still go first). Runs in the background; the server's start
    (``panel serve --warm``) or else the first visitor triggers it, and later visitors find the walk baked. Its
    frames are pinned in the frame store. Returns the thread (None if this walk was warmed already)."""
    settings = (str(checkpoint or ""), int(seed), int(steps), sampler, int(grid_frames), float(redshift))
    with _WARM_LOCK:
        if settings in _WARMED:
            return None
        _WARMED.add(settings)

    def run() -> None:
        started = time.perf_counter()
        try:
            generator = load_generator(str(checkpoint) if checkpoint else None)
        except Exception as exc:  # the sessions report it; nothing to warm up
            log.warning("galaxy-explorer: no warm-up, the model did not load: %s", exc)
            return
        freeze_long_lived_objects()
        low, high = generator.condition_ranges.get("redshift", DEFAULT_REDSHIFT_RANGE)
        key = walk_key(generator, seed, sampler, steps, default_conditions(generator))
        cache = frame_store().get_or_create(key, np.linspace(low, high, grid_frames), pin=True)
        if cache.bake_started is None:
            cache.bake_started = time.perf_counter()
        start = min(max(float(redshift), low), high)
        request = generation_queue().submit(Request("server", "bake", generator, cache, [start, *cache.grid_order()]))
        request.finished.wait()
        if request.error is None:
            log.info("galaxy-explorer: default walk (seed %d, %s, %d steps, %d frames) ready %.1f s after start",
                        seed, sampler, steps, grid_frames, time.perf_counter() - started)

    thread = threading.Thread(target=run, name="galaxy-explorer-warm-up", daemon=True)
    thread.start()
    return thread
