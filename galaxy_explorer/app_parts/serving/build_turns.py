"""Pages are built one at a time, and each is sent to its browser before the next is built.

Bokeh builds a session's page on the server's one event-loop thread when the page's websocket opens; the browser
then asks for the built page with its next message. When several visitors arrive together, their websockets all
open before any of those requests is read, and a request needs a few turns of the event loop to be read and
answered, each of which can fall behind another page's build (~0.3 s on 2 cores). Measured with eight sessions
opening at once, every page was sent only after the last one had been built: the first visitor waited as long as
the eighth, ~4 s.

``BuildTurns`` is a Bokeh application handler that changes only the order. A session waits for its turn before
its page is built; the turn passes once that page has been sent (at most ``LONGEST_WAIT_S`` later: a browser that
never asks must not hold up the others), and a moment (``AFTER_SEND_S``) after that, so the last frames of the
reply go out before the next build holds the thread. A session built ahead of its browser (``--reuse-sessions
warm`` builds it when the page's HTML is requested, while the browser loads the scripts) passes the turn straight
after its build: its browser will ask only once its scripts have loaded.

Bokeh has no hook for "a page was sent", so ``announce_sent_pages`` has ``patches`` wrap the server session's pull
handler (once per process) to say so. Without it the turn passes ``AFTER_SEND_S`` after the build.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from bokeh.application.handlers.handler import Handler

from galaxy_explorer.app_parts.serving.patches import apply_patch, on_every_session_created

LONGEST_WAIT_S = 1.0  # the longest a built page's session keeps the turn while its browser has not asked for it
AFTER_SEND_S = 0.02  # after a page is sent (or a page built ahead of its browser): the reply's last frames go out

_page_sent_listeners: list[Callable[[str], None]] = []


class BuildTurns(Handler):
    """One page build at a time, in arrival order; each turn lasts until the page built has been sent."""

    def __init__(self, longest_wait_s: float = LONGEST_WAIT_S, after_send_s: float = AFTER_SEND_S,
                 waits_for_pages: bool | None = None) -> None:
        """``waits_for_pages``: whether ``page_sent`` will be called (None: have Bokeh call it, where it can)."""
        super().__init__()
        self.longest_wait_s, self.after_send_s = longest_wait_s, after_send_s
        self._turn = asyncio.Lock()
        self._holder: str | None = None  # the session whose page was built last, until it has been sent
        self._give_up: asyncio.TimerHandle | None = None
        self.waits_for_pages = announce_sent_pages(self.page_sent) if waits_for_pages is None else waits_for_pages

    def modify_document(self, doc) -> None:
        """The app's own handler builds the page; this one only orders the builds."""

    async def on_session_created(self, session_context) -> None:
        await self._turn.acquire()
        session_id = session_context.id
        self._holder = session_id
        request = getattr(session_context, "request", None)
        for_a_websocket = str(getattr(request, "path", "") or "").endswith("/ws")
        loop = asyncio.get_running_loop()
        # Bokeh builds the page synchronously as soon as this returns, so a callback scheduled now runs once the
        # build is over (or has failed).
        if for_a_websocket and self.waits_for_pages:
            loop.call_soon(self._wait_for_page, loop, session_id)
        else:
            loop.call_soon(loop.call_later, self.after_send_s, self._pass_turn, session_id)

    def page_sent(self, session_id: str) -> None:
        """A session's page has been answered to its browser (called for every session of the process)."""
        if session_id == self._holder:
            asyncio.get_running_loop().call_later(self.after_send_s, self._pass_turn, session_id)

    def _wait_for_page(self, loop: asyncio.AbstractEventLoop, session_id: str) -> None:
        if session_id == self._holder:
            self._give_up = loop.call_later(self.longest_wait_s, self._pass_turn, session_id)

    def _pass_turn(self, session_id: str) -> None:
        if session_id != self._holder:
            return  # passed already (the page was sent, or the wait gave up)
        self._holder = None
        if self._give_up is not None:
            self._give_up.cancel()
            self._give_up = None
        self._turn.release()


def announce_sent_pages(listener: Callable[[str], None]) -> bool:
    """Call ``listener(session_id)`` whenever this process's Bokeh server answers a browser's request for its page.
    Returns False where Bokeh's server session has no pull handler to wrap (then nothing is called)."""
    if not apply_patch("bokeh.server.session.ServerSession._handle_pull", announce_page_sent):
        return False
    _page_sent_listeners.append(listener)
    return True


def announce_page_sent(session_id: str) -> None:
    """Bokeh has answered the browser of ``session_id`` with its page (called by the wrapped pull handler)."""
    for listener in list(_page_sent_listeners):
        listener(session_id)


def build_turns_for(session_context) -> BuildTurns | None:
    """The ``BuildTurns`` of the server of ``session_context``, added to its application the first time.

    None where the session belongs to no server (the page Panel builds at start-up with ``--warm``)."""
    server_context = getattr(session_context, "server_context", None)
    if server_context is None:
        return None
    application = server_context.application_context.application
    existing = next((handler for handler in application.handlers if isinstance(handler, BuildTurns)), None)
    if existing is not None:
        return existing
    handler = BuildTurns()
    application.add(handler)
    return handler


def order_page_builds() -> None:
    """From now on, this process's server builds its pages one at a time (``BuildTurns``). Idempotent.

    Panel runs its session-created callbacks before Bokeh awaits the application's handlers, so a handler added
    by the callback already orders the session that added it, including the very first visitors."""
    on_every_session_created(build_turns_for)
