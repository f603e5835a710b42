"""The pages of this process that are still opening: sessions whose first picture has not rendered yet.

A served page puts the parts its first picture does not need (morphology plots, survey grid, export, population)
on the page a moment after it has rendered. Building them costs the server's one event-loop thread ~0.4 s a
session on 2 cores, and while it runs no other session's page can be built. When several visitors arrive at once,
that work would sit between the later visitors and their first picture, so it waits until no page is opening.

A page that never renders (its tab closed while loading) stops counting after ``STALE_S``, or at once when its
session is closed, so nothing waits on it for long.
"""

from __future__ import annotations

import threading
import time

STALE_S = 10.0  # a page still "opening" after this long has most likely gone: stop waiting for it

_lock = threading.Lock()
_opening: dict[object, float] = {}  # page key -> when it started opening (time.monotonic())


def page_opening(key: object) -> None:
    """A session has started building its page."""
    with _lock:
        _opening[key] = time.monotonic()


def page_opened(key: object) -> None:
    """The session's page has rendered (or the session has closed). Safe to call more than once."""
    with _lock:
        _opening.pop(key, None)


def pages_opening(now: float | None = None) -> int:
    """How many pages are opening, leaving out those older than ``STALE_S``."""
    now = time.monotonic() if now is None else now
    with _lock:
        for key in [key for key, started in _opening.items() if now - started > STALE_S]:
            del _opening[key]
        return len(_opening)
