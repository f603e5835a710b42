"""Pages opening together are built one at a time, each sent to its browser before the next is built.

These tests play Bokeh's part on a real event loop: a session awaits the handler's ``on_session_created``, then
its page is built synchronously (here: a sleep), then, a little later, its browser's request for the page is
answered (``page_sent``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from types import SimpleNamespace

from galaxy_explorer.app_parts.serving import build_turns
from galaxy_explorer.app_parts.serving.build_turns import BuildTurns, announce_sent_pages

BUILD_S = 0.03  # one page build (synchronous, holding the event loop as Bokeh's does)
ASK_S = 0.02  # from the end of a build until the browser's request for that page is answered


def session_context(session_id: str, path: str = "/app/ws"):
    return SimpleNamespace(id=session_id, request=SimpleNamespace(path=path), server_context=None)


async def open_session(turns: BuildTurns, session_id: str, log: list, *, path: str = "/app/ws",
                       asks: bool = True) -> None:
    """What Bokeh does for a new session: the handler's hook, the build, then (for a browser) the page request."""
    loop = asyncio.get_running_loop()
    await turns.on_session_created(session_context(session_id, path))
    log.append(("build starts", session_id, loop.time()))
    time.sleep(BUILD_S)
    log.append(("build ends", session_id, loop.time()))
    if asks:
        await asyncio.sleep(ASK_S)
        turns.page_sent(session_id)
        log.append(("page sent", session_id, loop.time()))


def run(*coroutines):
    async def together():
        await asyncio.gather(*coroutines)

    # On a thread of its own: a test run that includes the browser tests has Playwright's loop on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, together()).result(timeout=60)


def events(log, kind):
    return [(session, at) for what, session, at in log if what == kind]


def test_pages_opening_together_are_built_in_turn_each_sent_before_the_next_build():
    log: list = []
    turns = BuildTurns(longest_wait_s=5.0, after_send_s=0.0, waits_for_pages=True)
    names = ["a", "b", "c", "d"]
    run(*(open_session(turns, name, log) for name in names))

    assert [session for session, _ in events(log, "build starts")] == names  # in arrival order
    starts, ends, sent = (dict(events(log, kind)) for kind in ("build starts", "build ends", "page sent"))
    for previous, following in zip(names, names[1:]):
        assert starts[following] >= ends[previous]  # never two builds at once
        assert starts[following] >= sent[previous]  # and the page before went out first
    # Without the turns all four builds would come first and every page would be sent after the last build.
    assert sent["a"] < starts["d"]


def test_a_page_nobody_asks_for_holds_the_others_back_no_longer_than_the_longest_wait():
    log: list = []
    turns = BuildTurns(longest_wait_s=0.3, after_send_s=0.0, waits_for_pages=True)

    async def second():
        await asyncio.sleep(0.001)  # arrives just after the first
        await open_session(turns, "b", log)

    run(open_session(turns, "a", log, asks=False), second())
    starts, ends = dict(events(log, "build starts")), dict(events(log, "build ends"))
    waited = starts["b"] - ends["a"]
    assert 0.3 <= waited < 1.0


def test_a_page_built_ahead_of_its_browser_passes_the_turn_at_once():
    """``--reuse-sessions warm`` builds a session when its HTML is asked for; its browser asks for the page only
    once the scripts have loaded, so the next page must not wait for that."""
    log: list = []
    turns = BuildTurns(longest_wait_s=5.0, after_send_s=0.0, waits_for_pages=True)

    async def second():
        await asyncio.sleep(0.001)
        await open_session(turns, "b", log)

    run(open_session(turns, "a", log, path="/app", asks=False), second())
    starts, ends = dict(events(log, "build starts")), dict(events(log, "build ends"))
    assert starts["b"] - ends["a"] < 0.2


def test_without_word_of_sent_pages_the_turn_passes_after_the_build():
    log: list = []
    turns = BuildTurns(longest_wait_s=5.0, after_send_s=0.01, waits_for_pages=False)

    async def second():
        await asyncio.sleep(0.001)
        await open_session(turns, "b", log, asks=False)

    run(open_session(turns, "a", log, asks=False), second())
    starts, ends = dict(events(log, "build starts")), dict(events(log, "build ends"))
    assert 0.01 <= starts["b"] - ends["a"] < 0.2


def test_a_build_that_fails_still_passes_the_turn():
    log: list = []
    turns = BuildTurns(longest_wait_s=0.2, after_send_s=0.0, waits_for_pages=True)

    async def failing():
        await turns.on_session_created(session_context("a"))
        try:
            raise RuntimeError("the app raised while building its page")
        except RuntimeError:
            pass  # Bokeh logs a failed handler and carries on; the session never asks for its page

    async def second():
        await asyncio.sleep(0.001)
        await open_session(turns, "b", log)

    run(failing(), second())
    assert [session for session, _ in events(log, "page sent")] == ["b"]


def test_bokeh_still_tells_when_a_page_is_sent():
    """The turns rely on wrapping Bokeh's pull handler: a Bokeh without it must fail here, not slow down quietly."""
    from bokeh.server.session import ServerSession

    from galaxy_explorer.app_parts.serving.patches import MARK

    target = "bokeh.server.session.ServerSession._handle_pull"
    sent = []
    try:
        assert announce_sent_pages(sent.append)
        assert getattr(ServerSession._handle_pull, MARK, None) == target
        wrapper = ServerSession._handle_pull
        assert announce_sent_pages(sent.append)  # a second listener does not wrap the handler twice
        assert ServerSession._handle_pull is wrapper
        assert getattr(ServerSession._handle_pull.__wrapped__, MARK, None) is None
        build_turns.announce_page_sent("session-1")
        assert sent == ["session-1", "session-1"]  # each listener hears of every page sent
    finally:
        while sent.append in build_turns._page_sent_listeners:
            build_turns._page_sent_listeners.remove(sent.append)


def test_the_wrapped_pull_handler_answers_as_bokehs_and_then_announces_the_page():
    """The wrapper returns Bokeh's own reply (awaited where Bokeh's handler gives a coroutine) and only then says
    the page was sent."""
    from galaxy_explorer.app_parts.serving.patches import PATCHES

    order = []

    def bokeh_handle_pull(self, message, connection):
        order.append("bokeh answers")
        return ("PULL-DOC-REPLY", message)

    wrapped = PATCHES["bokeh.server.session.ServerSession._handle_pull"].wrap(bokeh_handle_pull,
                                                                              build_turns.announce_page_sent)
    heard = []
    build_turns._page_sent_listeners.append(heard.append)
    try:
        reply = run_one(wrapped(SimpleNamespace(id="abc"), "request", connection=None))
    finally:
        build_turns._page_sent_listeners.remove(heard.append)
    assert reply == ("PULL-DOC-REPLY", "request") and order == ["bokeh answers"] and heard == ["abc"]


def run_one(coroutine):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)
