"""A page built ahead of the next visitor: built only when the server is idle, handed to a plain request for the
page (never to a URL with a query, which asks for a page of its own), kept until its browser has had time to
connect, and marked so that the app does not count it as a page opening.

These tests play Bokeh's part with a stand-in application context on a real event loop; the served test in
``tests/ui/test_app_sessions.py`` joins a spare over the wire.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from types import SimpleNamespace

from galaxy_explorer.app_parts.serving import page_openings
from galaxy_explorer.app_parts.serving.spare_session import SPARE_HEADER, SpareSession, is_spare


class StandInSession:
    def __init__(self, session_id: str, context):
        self.id, self.context = session_id, context
        self.blocked = 0
        self.connection_count = 0
        self._last_unsubscribe_time = 0.0

    def block_expiration(self):
        self.blocked += 1

    def unblock_expiration(self):
        self.blocked -= 1


class StandInContext:
    """Bokeh's ApplicationContext as far as a spare uses it: ``create_session_if_needed`` and ``_sessions``."""

    url = "/app"

    def __init__(self, build_s: float = 0.0):
        self.build_s = build_s
        self._sessions: dict[str, StandInSession] = {}
        self.requests = []  # (session id, request, token payload) of each session built

    async def create_session_if_needed(self, session_id, request, token):
        from bokeh.util.token import get_token_payload

        if session_id not in self._sessions:
            self.requests.append((session_id, request, get_token_payload(token)))
            await asyncio.sleep(self.build_s)
            self._sessions[session_id] = StandInSession(session_id, self)
        return self._sessions[session_id]


def request(path: str = "/app", query: str = ""):
    return SimpleNamespace(path=path, query=query)


def run(coroutine):
    # On a thread of its own: a test run that includes the browser tests has Playwright's loop on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def test_a_spare_is_built_as_a_plain_page_request_marked_as_a_spare_and_kept_until_handed_out():
    async def scenario():
        context = StandInContext()
        spare = SpareSession(context, secret_key=None, signed=False, idle_s=0.0)
        await spare.build()
        (session_id, built_for, payload), = context.requests
        assert spare.session_id == session_id
        assert built_for.path == "/app" and not built_for.query  # the page as a plain URL asks for it
        assert payload["headers"] == {SPARE_HEADER: "1"} and payload["arguments"] == {}
        assert context._sessions[session_id].blocked == 1  # not expired while nobody is connected
        assert is_spare(SimpleNamespace(request=SimpleNamespace(headers=payload["headers"])))

    run(scenario())


def test_the_next_plain_request_for_the_page_gets_the_spare_once():
    async def scenario():
        context = StandInContext()
        spare = SpareSession(context, secret_key=None, signed=False, idle_s=0.0, connect_grace_s=0.05)
        await spare.build()
        built = spare.session_id
        assert spare.take(request("/app", query="seed=3"), None, False) is None  # a URL with a view of its own
        assert spare.take(request("/other"), None, False) is None
        assert spare.take(request("/app"), b"another key", True) is None  # another signing: not this server's ids
        opening_before = page_openings.pages_opening()
        assert spare.take(request("/app/"), None, False) == built
        assert spare.session_id is None and spare.handed_out == 1
        # Now a visitor's page opening (the app says it has opened when it renders, by its session id).
        assert page_openings.pages_opening() == opening_before + 1
        page_openings.page_opened(built)
        assert spare.take(request("/app"), None, False) is None  # one visitor per spare
        session = context._sessions[built]
        await asyncio.sleep(0.15)  # the browser's time to connect has passed: Bokeh may discard it if unused
        assert session.blocked == 0
        assert session._last_unsubscribe_time > 0  # its unused time counts from now, not from its build

    run(scenario())


def test_a_spare_handed_out_while_being_built_is_kept_for_its_browser():
    async def scenario():
        context = StandInContext(build_s=0.05)
        spare = SpareSession(context, secret_key=None, signed=False, idle_s=0.0, connect_grace_s=0.1)
        building = asyncio.get_running_loop().create_task(spare.build())
        await asyncio.sleep(0.01)
        taken = spare.take(request(), None, False)
        assert taken is not None  # Bokeh waits for a session being built when its browser connects
        await building
        assert context._sessions[taken].blocked == 0 and spare.session_id is None
        await asyncio.sleep(0.15)
        page_openings.page_opened(taken)

    run(scenario())


def test_no_spare_is_built_while_a_page_is_opening_or_soon_after_one_was_handed_out():
    context = StandInContext()
    spare = SpareSession(context, secret_key=None, signed=False, idle_s=2.0)
    assert not spare.wanted(now=spare._quiet_from - 0.1)  # the server has only just started
    assert spare.wanted(now=spare._quiet_from)
    key = object()
    page_openings.page_opening(key)
    try:
        assert not spare.wanted(now=spare._quiet_from + 100)
    finally:
        page_openings.page_opened(key)
    assert not spare.wanted(now=spare._quiet_from - 1.0)  # quiet for idle_s after the page has opened
    assert spare.wanted(now=spare._quiet_from)
    spare.session_id = "ready"
    assert not spare.wanted(now=spare._quiet_from + 100)  # one spare at a time


def test_a_failed_build_leaves_no_spare_and_is_not_retried_at_once():
    class FailingContext(StandInContext):
        async def create_session_if_needed(self, session_id, request, token):
            raise RuntimeError("the app script failed")

    async def scenario():
        spare = SpareSession(FailingContext(), secret_key=None, signed=False, idle_s=0.1)
        await spare.build()
        assert spare.session_id is None
        assert not spare.wanted()
        assert spare.take(request(), None, False) is None

    run(scenario())


def test_only_sessions_built_as_spares_are_marked():
    assert not is_spare(None)
    assert not is_spare(SimpleNamespace(request=None))
    assert not is_spare(SimpleNamespace(request=SimpleNamespace(headers={"Accept": "text/html"})))


def test_without_reuse_sessions_no_spare_is_kept(monkeypatch):
    """Without ``--reuse-sessions`` Bokeh names each visitor's session itself, so a spare could never be used."""
    from bokeh.server.contexts import ApplicationContext
    from panel.config import config

    from galaxy_explorer.app_parts.serving import spare_session

    monkeypatch.setattr(config, "reuse_sessions", False)
    monkeypatch.setattr(spare_session, "_keeping", False)
    init = ApplicationContext.__init__
    spare_session.keep_spare_pages("galaxy_explorer/app.py")
    assert ApplicationContext.__init__ is init and not spare_session._keeping


def test_panels_page_handler_names_a_plain_requests_session_after_the_spare_and_others_as_panel_would(
        monkeypatch):
    """The two wrappers of ``patches``: Panel's page handler notes the request it answers, and the id Panel then
    asks for is the spare's where that request may have it, else Panel's own."""
    from galaxy_explorer.app_parts.serving import spare_session
    from galaxy_explorer.app_parts.serving.patches import PATCHES

    panel_ids = iter(f"panel-{n}" for n in range(10))
    generate_session_id = PATCHES["panel.io.server.generate_session_id"].wrap(
        lambda secret_key=None, signed=False: next(panel_ids), spare_session.spare_for)

    async def panel_get(handler):  # what Panel's DocHandler.get does, as far as the session's id goes
        await asyncio.sleep(0)
        return generate_session_id(secret_key=None, signed=False)

    get = PATCHES["panel.io.server.DocHandler.get"].wrap(panel_get, None)

    async def scenario():
        context = StandInContext()
        spare = SpareSession(context, secret_key=None, signed=False, idle_s=0.0, connect_grace_s=0.01)
        monkeypatch.setitem(spare_session._spares, id(context), spare)
        await spare.build()
        built = spare.session_id
        page = SimpleNamespace(application_context=context, request=request("/app"))
        with_query = SimpleNamespace(application_context=context, request=request("/app", query="seed=3"))
        ids = [await get(with_query), await get(page), await get(page)]
        assert generate_session_id() == "panel-2"  # outside a page request: Panel's own
        await asyncio.sleep(0.05)
        page_openings.page_opened(built)
        return built, ids

    built, ids = run(scenario())
    assert ids == ["panel-0", built, "panel-1"]


def test_the_served_apps_application_context_is_recognised_as_the_one_to_keep_spares_for(monkeypatch):
    """Bokeh makes one application context per served script; the spare is kept for the app's only."""
    from bokeh.server.contexts import ApplicationContext
    from panel.io.application import build_single_handler_application

    from galaxy_explorer.app_parts.serving import spare_session

    app_file = Path(spare_session.__file__).parents[2] / "app.py"
    context = ApplicationContext(build_single_handler_application(str(app_file)))
    monkeypatch.setattr(spare_session, "_app_path", None)
    assert not spare_session.serves_the_app(context)  # no app keeps spares yet
    monkeypatch.setattr(spare_session, "_app_path", str(app_file))
    assert spare_session.serves_the_app(context)
    monkeypatch.setattr(spare_session, "_app_path", str(app_file.with_name("cli.py")))
    assert not spare_session.serves_the_app(context)
