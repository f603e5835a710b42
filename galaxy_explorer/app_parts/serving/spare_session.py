"""One page built ahead of the next visitor, so that a visitor's page is never built while they wait.

With ``--reuse-sessions warm`` Panel builds a visitor's session when their page's HTML is requested, which is when
their browser starts to load and parse the page's 3.9 MB of scripts. On 2 cores the two compete: measured in
Chromium, the ~0.3 s build took ~0.6 s of wall time, and the browser's websocket then waited for it, so the first
picture came ~1.0 s after the visitor asked for the page. A session built beforehand takes the build off that path.

``SpareSession`` keeps one session of the app built while the server is idle (no page opening for ``IDLE_S``), and
gives its id to the next plain request for the page (the app's path with no query: a URL that asks for a seed,
redshift or model gets a session built for it, as before). The request's HTML is Panel's as always; only the id of
the session the browser then connects to is the spare's. A spare is a session of the app like any other, built
for no one yet: it is marked by a header (``SPARE_HEADER``) so that the app does not count it as a page opening
until it is handed out (from then on it is one, keyed by its session id as every page is, until it has rendered).
Its expiry is held off until it has been handed out, then for ``CONNECT_GRACE_S`` more, so that a browser slow to
load its scripts still finds it; one that never connects is then discarded as Bokeh discards any unused session.

Panel has no hook for choosing a session's id, so ``offer_spare_sessions`` has ``patches`` wrap two of Panel's
server functions, once per process: ``DocHandler.get`` (to know the request being answered) and the
``generate_session_id`` it calls, which asks ``spare_for`` here. ``keep_spare_pages`` has it wrap Bokeh's
``ApplicationContext.__init__`` too, so that the server's application context offers a spare from its start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from galaxy_explorer.app_parts.serving.page_openings import page_opening, pages_opening
from galaxy_explorer.app_parts.serving.patches import apply_patch, on_every_session_created

log = logging.getLogger(__name__)

SPARE_HEADER = "X-Galaxy-Explorer-Spare"
IDLE_S = 2.0  # a spare is built once no page has been opening or handed out for this long
CHECK_S = 0.5  # how often the server looks whether a spare is needed
CONNECT_GRACE_S = 30.0  # a handed-out spare is kept at least this long for its browser to connect


def is_spare(session_context) -> bool:
    """Whether the session of ``session_context`` was built as a spare (for no visitor yet)."""
    request = getattr(session_context, "request", None)
    headers = getattr(request, "headers", None) or {}
    return SPARE_HEADER in headers


class SpareSession:
    """Keeps one session of ``application_context`` built ahead of the next plain request for the page."""

    def __init__(self, application_context, secret_key: bytes | None, signed: bool,
                 idle_s: float = IDLE_S, connect_grace_s: float = CONNECT_GRACE_S) -> None:
        self.context = application_context
        self.secret_key, self.signed = secret_key, signed
        self.idle_s, self.connect_grace_s = idle_s, connect_grace_s
        self.session_id: str | None = None  # the spare ready (or being built) for the next visitor
        self.handed_out = 0
        self._quiet_from = time.monotonic() + idle_s  # no spare is built before this time

    def wanted(self, now: float | None = None) -> bool:
        """Whether to build a spare now: there is none, and no page has opened or been handed out for a while."""
        now = time.monotonic() if now is None else now
        if pages_opening():
            self._quiet_from = max(self._quiet_from, now + self.idle_s)
            return False
        return self.session_id is None and now >= self._quiet_from

    async def build(self) -> None:
        """Build the spare now: a session of the app for a plain request carrying ``SPARE_HEADER``."""
        from bokeh.util.token import generate_jwt_token, generate_session_id
        from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

        session_id = generate_session_id(secret_key=self.secret_key, signed=self.signed)
        self.session_id = session_id
        request = HTTPServerRequest(start_line=RequestStartLine("GET", self.context.url or "/", "HTTP/1.1"),
                                    headers=HTTPHeaders({SPARE_HEADER: "1", "Host": "127.0.0.1"}))
        token = generate_jwt_token(session_id, secret_key=self.secret_key, signed=self.signed,
                                   extra_payload={"headers": {SPARE_HEADER: "1"}, "cookies": {}, "arguments": {}})
        try:
            session = await self.context.create_session_if_needed(session_id, request, token)
        except Exception:
            log.exception("building a spare session failed")
            if self.session_id == session_id:
                self.session_id = None
            self._quiet_from = time.monotonic() + 30 * self.idle_s  # not again at once
            return
        if self.session_id == session_id:
            session.block_expiration()  # nobody is connected yet, and nobody will be until it is handed out
            log.info("spare page %s built for the next visitor", session_id)
        else:
            self._keep_for_its_browser(session)  # handed out while it was being built

    def take(self, request, secret_key: bytes | None, signed: bool) -> str | None:
        """The spare's id for ``request`` (a request for the page), or None if it cannot have it: no spare, a
        query in the URL (the page would be built from it), or another path or signing."""
        if self.session_id is None or (secret_key, bool(signed)) != (self.secret_key, bool(self.signed)):
            return None
        path = (getattr(request, "path", "") or "").rstrip("/") or "/"
        if path != ((self.context.url or "/").rstrip("/") or "/") or getattr(request, "query", ""):
            return None
        session_id, self.session_id = self.session_id, None
        page_opening(session_id)  # from now on it is a visitor's page opening (the app keys its page by this id)
        self.handed_out += 1
        log.info("spare page %s handed to a visitor", session_id)
        self._quiet_from = time.monotonic() + self.idle_s
        session = self.context._sessions.get(session_id)
        if session is not None:  # else it is still being built, and ``build`` keeps it when done
            self._keep_for_its_browser(session)
        return session_id

    def _keep_for_its_browser(self, session) -> None:
        asyncio.get_running_loop().call_later(self.connect_grace_s, _release, session)


def _release(session) -> None:
    """A handed-out spare's expiry runs from now on, as any session's: Bokeh counts a session's unused time from
    its last unsubscribe, which for one never connected is its creation, so that clock restarts here."""
    from bokeh.server.session import current_time

    if session.connection_count == 0 and hasattr(session, "_last_unsubscribe_time"):
        session._last_unsubscribe_time = current_time()
    session.unblock_expiration()


_spares: dict[int, SpareSession] = {}  # id(application context) -> its spare
_keeping = False
_app_path: str | None = None  # the app whose server keeps spare pages (``keep_spare_pages``)


def offer_spare_sessions(application_context) -> SpareSession:
    """``application_context`` keeps a spare session for its next plain page request from now on (on its event
    loop: call this from it). Idempotent."""
    from bokeh.settings import settings

    apply_patch("panel.io.server.DocHandler.get")
    apply_patch("panel.io.server.generate_session_id", spare_for)
    spare = _spares.get(id(application_context))
    if spare is None:
        spare = SpareSession(application_context, settings.secret_key_bytes(), settings.sign_sessions())
        _spares[id(application_context)] = spare
        asyncio.get_running_loop().create_task(_keep_one_built(spare))
    return spare


async def _keep_one_built(spare: SpareSession) -> None:
    while True:
        await asyncio.sleep(CHECK_S)
        if spare.wanted():
            await spare.build()


def keep_spare_pages(app_file: str) -> None:
    """The server of this process keeps a spare page of the app at ``app_file``, from its start (the app's first
    run with ``--warm`` comes before the server exists) or from its first session. Once per process, and only when
    served with ``--reuse-sessions``, whose page requests Panel answers with the ``generate_session_id`` wrapped
    by ``patches``."""
    global _keeping, _app_path
    from panel.config import config

    if _keeping or not config.reuse_sessions:
        return  # without --reuse-sessions Bokeh names each session itself: a spare could never be handed out
    _app_path = os.path.abspath(app_file)
    apply_patch("bokeh.server.contexts.ApplicationContext.__init__", application_context_made)
    on_every_session_created(_from_a_session)
    _keeping = True


def serves_the_app(context) -> bool:
    """Whether the Bokeh application context ``context`` runs the app that keeps spare pages."""
    if _app_path is None:
        return False
    runners = (getattr(handler, "_runner", None) for handler in getattr(context.application, "handlers", []))
    return any(runner is not None and os.path.abspath(str(getattr(runner, "path", ""))) == _app_path
               for runner in runners)


def application_context_made(context) -> None:
    """Bokeh has made an application context (its server is starting): offer a spare from it if it is ours."""
    from tornado.ioloop import IOLoop

    if serves_the_app(context):  # made before the server's loop runs: the spare is offered from the loop once it does
        (getattr(context, "_loop", None) or IOLoop.current()).add_callback(offer_spare_sessions, context)


def _from_a_session(session_context) -> None:
    server_context = getattr(session_context, "server_context", None)
    context = getattr(server_context, "application_context", None)
    if context is not None and serves_the_app(context):
        offer_spare_sessions(context)


def spare_for(handler, secret_key: bytes | None, signed: bool) -> str | None:
    """The spare session's id for the page request Panel's ``handler`` is answering, or None (then Panel names a
    session of its own)."""
    spare = _spares.get(id(getattr(handler, "application_context", None)))
    return None if spare is None else spare.take(handler.request, secret_key, signed)
