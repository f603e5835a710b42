"""What ties one app session together besides its widgets: the messages it shows, and the way back from the
session's worker thread to the UI thread.

``SessionMessages`` (plain ``param``) is written by the controllers and read by the views: the problem shown in the
main area until it is cleared, and the latest toast notification. ``UiThread`` is the one place where a served
session and a headless one (a notebook, the tests) differ. Served, a callback from the worker is queued with
``doc.add_next_tick_callback``, the one thread-safe way into a Bokeh document, and runs holding the document lock;
headless there is no event loop to hop onto, so it runs at once, one at a time. Panel is imported only inside the
served and notebook branches, so the controllers that use this module stay free of it. ``ConnectionWatch`` notices,
served, that the browser has gone.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import Callable

import param

log = logging.getLogger(__name__)

# What each kind of worker task is called when it fails (kinds: app_parts.worker.PRIORITY).
TASK_NAMES = {"load": "Loading", "exact": "Computing the exact frame", "view": "Updating the real galaxies",
              "export": "The export", "bake": "Baking frames"}


@dataclass(frozen=True, eq=False)
class Notice:
    """One toast notification."""

    level: str  # 'info', 'success', 'warning' or 'error'
    text: str
    duration: int = 6000  # milliseconds on screen; 0: until closed


# An error's toast goes after this long (ms): the problem itself stays in the banner until it is resolved, so the
# toasts need not pile up over the page.
ERROR_TOAST_MS = 8000


class SessionMessages(param.Parameterized):
    """What the session has to tell the person using it. Controllers write; the banners and toasts read.

    A problem has a kind: a worker task's (``TASK_NAMES``), 'load' for a model or survey that did not load, or
    'notice' for an error toast. It stays in the banner until it is resolved: ``resolve(kind)`` when that kind of
    work succeeds again (a success toast resolves an error toast's problem), or ``clear_problem`` (a new load)."""

    problem = param.String(default="", doc="A problem shown in the main area until cleared ('': none)")
    problem_kind = param.String(default="", doc="What kind of work the problem came from")
    notice = param.ClassSelector(class_=Notice, default=None, doc="The latest toast notification")

    def notify(self, level: str, text: str, duration: int = 6000, kind: str = "notice") -> None:
        """A toast (when served) and the log; an error also stays in the main area until resolved."""
        (log.info if level in ("info", "success") else log.warning)(text)
        if level == "error":
            self.problem, self.problem_kind = text, kind
        elif level == "success":
            self.resolve(kind)
        self.notice = Notice(level, text, duration)

    def error(self, text: str, kind: str = "load") -> None:
        """An error: a toast for a few seconds, and the banner until it is resolved."""
        self.notify("error", text, duration=ERROR_TOAST_MS, kind=kind)

    def task_failed(self, kind: str, exc: BaseException) -> None:
        self.error(f"{TASK_NAMES.get(kind, kind)} failed: {exc}", kind=kind)

    def resolve(self, *kinds: str) -> None:
        """Work of these kinds has succeeded since: a problem it caused is gone."""
        if self.problem and self.problem_kind in kinds:
            self.clear_problem()

    def clear_problem(self) -> None:
        self.problem, self.problem_kind = "", ""


class UiThread:
    """Runs callbacks where the page may be changed: on the served document's event loop, or (headless) now.

    ``doc`` is the session's Bokeh document when served, None in a notebook or a test.
    """

    def __init__(self, doc=None, messages: SessionMessages | None = None):
        self.doc = doc
        self._messages = messages
        self._lock = threading.RLock()  # headless: one update at a time, whichever thread asks
        self._pending: set[str] = set()
        self.closed = False  # the session has gone: callbacks are dropped

    @property
    def served(self) -> bool:
        return self.doc is not None

    def close(self) -> None:
        """The session has gone (its tab closed): from now on callbacks are dropped, quietly."""
        self.closed = True

    @property
    def connected(self) -> bool | None:
        """Served: whether a browser is connected to the session now (None before the first one connected, and
        headless)."""
        session = getattr(getattr(self.doc, "session_context", None), "_session", None)
        if session is None or not hasattr(session, "connection_count"):
            return None
        if session.connection_count > 0:
            self._was_connected = True
            return True
        return False if getattr(self, "_was_connected", False) else None

    def call(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the UI thread; safe to call from any thread. A failing callback is reported on the
        page and the log, never raised into the worker. Once the session has closed, nothing runs."""
        if self.closed:
            return
        if self.doc is None:
            self._run(callback)
            return
        try:
            self.doc.add_next_tick_callback(lambda: self._run(callback))
        except Exception:  # the session has gone away
            log.debug("dropping an update for a closed session")

    def holding_document_lock(self) -> bool:
        """Whether Bokeh models may be changed now: headless, or served while this session's document lock is held.
        Panel runs a widget event that arrives while other widget changes are still queued *without* the lock (a
        button pressed just after a slider moved), and Bokeh then refuses any change to its models."""
        session = getattr(getattr(self.doc, "session_context", None), "_session", None)
        # Bokeh's ServerSession keeps a list of pending writes exactly while its lock is held (None outside it);
        # an unknown Bokeh without that attribute is taken as locked, which is how the app behaved before.
        return self.doc is None or session is None or getattr(session, "_pending_writes", ()) is not None

    def locked(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` now if Bokeh models may be changed now, else on the next tick, under the lock."""
        if self.holding_document_lock():
            callback()
        else:
            self.call(callback)

    def call_later(self, key: str, delay_ms: int, callback: Callable[[], None]) -> None:
        """Run ``callback`` after ``delay_ms`` (served; headless: now). Calls with the same ``key`` while one is
        waiting are merged into it: the callback reads the latest state when it runs."""
        if self.closed:
            return
        if self.doc is None:
            self._run(callback)
            return
        if key in self._pending:
            return
        self._pending.add(key)

        def run() -> None:
            self._pending.discard(key)
            self._run(callback)

        try:
            self.doc.add_timeout_callback(run, delay_ms)
        except Exception:  # the session has gone away
            self._pending.discard(key)

    def push(self, *panes) -> None:
        """In a notebook, Bokeh models changed from Python need an explicit push (a server sends changes itself);
        for panes not on screen this does nothing."""
        if self.doc is None and panes:
            import panel as pn

            pn.io.push_notebook(*panes)

    def _run(self, callback: Callable[[], None]) -> None:
        if self.closed:
            return
        with self._lock:
            try:
                if self.doc is None:
                    callback()
                else:
                    from panel.io.state import set_curdoc

                    with set_curdoc(self.doc):
                        callback()
            except Exception as exc:  # keep the worker and the session alive; say what went wrong
                log.exception("app update failed")
                if self._messages is not None:
                    self._messages.param.update(problem=f"display update failed: {exc}", problem_kind="display")


class ConnectionWatch:
    """Served: ``gone()`` once the session's browser has gone (its tab closed), as seen every ``every_ms``; the server
    itself destroys the session only tens of seconds later, and until then work would still be done and sent for it.
    ``close`` stops watching. Headless there is no browser to watch, and it does nothing."""

    def __init__(self, ui: UiThread, gone: Callable[[], None], every_ms: int):
        self._ui, self._gone = ui, gone
        self._callback = ui.doc.add_periodic_callback(self._check, every_ms) if ui.served else None

    def _check(self) -> None:
        if self._ui.connected is False:
            self._gone()

    def close(self) -> None:
        if self._callback is None:  # headless: nothing to watch
            return
        try:
            self._ui.doc.remove_periodic_callback(self._callback)
        except (ValueError, KeyError, AttributeError):  # removed already, or the document has gone
            pass


def under_document_lock(method: Callable) -> Callable:
    """A session's handler that redraws Bokeh models at once, run through its ``self.ui.locked``: a button or field
    event that Panel runs outside the document's lock (it does when other widget changes are still queued) waits
    for the next tick, under the lock."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs) -> None:
        self.ui.locked(lambda: method(self, *args, **kwargs))

    return locked
