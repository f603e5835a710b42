"""Sessions in a real headless Chromium: closing a tab in the middle of a bake, and two tabs sharing frames.

The server here bakes slowly (the tiny model at 120 sampler steps: a 16-frame grid takes seconds), so a tab can be
closed while its walk is being made, and it destroys a session a second after its browser has gone (instead of
Bokeh's 15-30 s). What is checked is the server's log: no traceback, no error, and the session said it closed.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.support import app_serving
from tests.support.app_serving import SHOWN_JS as SHOWN

pytestmark = pytest.mark.ui

TIMEOUT_MS = 60_000
SLOW_STEPS = 120


@pytest.fixture(scope="module")
def slow_app(app_files):
    """URL and log of an app whose bakes take seconds, with sessions destroyed a second after their tab closes."""
    root, checkpoint, survey = app_files
    log_path = root / "panel-serve-slow.log"
    app_args = ["--checkpoint", str(checkpoint), "--data", str(survey), "--steps", str(SLOW_STEPS),
                "--grid-frames", "16"]
    env = {**os.environ, "GALAXY_EXPLORER_CACHE": str(root / "cache")}
    with app_serving.served_app(app_args, log_path=log_path, timeout=60.0, env=env,
                                panel_args=(*app_serving.SERVE_ARGS, *app_serving.FAST_SESSION_EXPIRY)) as url:
        yield url, log_path


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_function(f"() => {{ const s = ({SHOWN})(); return s && s.kind === 'exact'; }}")
    return page


def new_seed(page, seed: int) -> None:
    field = page.locator(".seed-input input").first
    field.fill(str(seed))
    field.press("Enter")


def test_closing_a_tab_in_the_middle_of_a_bake_leaves_no_traceback(browser, slow_app):
    url, log_path = slow_app
    page = open_page(browser, url)
    new_seed(page, 4242)
    page.locator(".bake-status").get_by_text("(seed 4242)").wait_for()  # baking seed 4242 now
    # A frame of the new walk is on the way: the old picture stays, dimmed, with a note saying what is made.
    page.wait_for_function(f"() => ({SHOWN})().kind !== 'none'")
    page.locator(".export-button button").first.click()  # and an export waiting for frames
    time.sleep(0.5)
    assert "frames baked" not in page.locator(".bake-status").inner_text()  # still baking
    page.close()
    deadline = time.monotonic() + 20
    while "session closed" not in log_path.read_text():
        assert time.monotonic() < deadline, "the server did not close the session:\n" + log_path.read_text()[-3000:]
        time.sleep(0.2)
    time.sleep(2.0)  # whatever was running for it has stopped by now
    log = log_path.read_text()
    assert app_serving.tracebacks(log) == [], log[-5000:]
    # Messages already on their way when the tab closed may fail (one warning line each, no traceback; how many
    # depends on what the bake had queued in that moment); nothing is sent after the server has seen the tab go.
    assert "Failed sending message" not in log[log.rindex("session closed"):], log[-5000:]
    # The server carries on: a new tab gets its picture.
    page = open_page(browser, url)
    page.close()


def test_two_tabs_on_the_same_walk_share_its_frames(browser, slow_app):
    url, log_path = slow_app
    first, second = open_page(browser, url), open_page(browser, url)
    frames = ("() => Bokeh.documents[0].get_model_by_name('galaxy-frames-source').data.position.length")
    new_seed(first, 777)
    new_seed(second, 777)
    for page in (first, second):
        # The new walk is on (until then the status lines still describe seed 7's), and its grid is complete.
        page.locator(".frame-status").get_by_text("Seed 777").wait_for()
        page.locator(".bake-status").get_by_text("All 16 frames baked").wait_for()
    # Both pages come to hold the whole grid (and the exact starting frame), made once by the server for both. The
    # frames travel in messages of their own, so they may reach the page a moment after the status line.
    for page in (first, second):
        page.wait_for_function(f"() => ({frames})() >= 17", timeout=15_000)
    assert first.evaluate(frames) == second.evaluate(frames) == 17
    first.close()
    second.close()


def test_pages_asked_for_together_are_all_sent_with_their_galaxy(slow_app):
    """Five visitors at once, without a browser each (the load benchmark's protocol-level sessions): the server
    builds their pages one at a time, each sent before the next is built, and every one arrives whole."""
    import asyncio
    import concurrent.futures

    from tests.support.protocol_session import ProtocolSession, attribute

    url, log_path = slow_app
    log_before = len(log_path.read_text())

    async def visit() -> dict:
        session = ProtocolSession(url)
        try:
            await asyncio.wait_for(session.open(), 60)
            return session.find(lambda model: attribute(model, "name") == "galaxy-image-source")
        finally:
            session.close()

    async def together():
        return await asyncio.gather(*(visit() for _ in range(5)))

    # On a thread of its own: Playwright's sync API keeps an event loop running on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sources = pool.submit(asyncio.run, together()).result(timeout=120)
    assert all(source is not None for source in sources)
    assert all("url" in attribute(source, "data") for source in sources)
    log = log_path.read_text()[log_before:]
    assert app_serving.tracebacks(log) == [], log[-5000:]


def test_a_visitor_joins_the_page_built_ahead_of_them_and_a_url_with_a_view_gets_its_own(slow_app):
    """The server keeps one page built while it is idle; the next plain request for the page is given that
    session (its token names the spare), and the page joined over the wire holds the galaxy."""
    import asyncio
    import concurrent.futures
    import re
    import urllib.request

    from bokeh.util.token import get_session_id

    from tests.support.protocol_session import ProtocolSession, attribute

    url, log_path = slow_app
    built = re.compile(r"spare page (\S+) built for the next visitor")
    deadline = time.monotonic() + 60
    while True:
        log = log_path.read_text()
        ready = built.findall(log)
        if ready and f"spare page {ready[-1]} handed" not in log:
            break
        assert time.monotonic() < deadline, "no spare page was built within 60 s of an idle server"
        time.sleep(0.2)
    log_before = len(log)

    def session_of(page_url: str) -> tuple[str, str]:
        html = urllib.request.urlopen(page_url, timeout=30).read().decode()
        token = re.search(r'"token":\s*"([^"]+)"', html).group(1)
        return get_session_id(token), token

    with_a_view, _ = session_of(url + "?seed=5")
    assert with_a_view != ready[-1]  # built from its URL, not the spare
    joined, token = session_of(url)
    assert joined == ready[-1]
    assert f"spare page {joined} handed to a visitor" in log_path.read_text()

    async def join() -> dict:
        session = ProtocolSession(url, token=token)
        try:
            await asyncio.wait_for(session.open(), 60)
            return session.find(lambda model: attribute(model, "name") == "galaxy-image-source")
        finally:
            session.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        source = pool.submit(asyncio.run, join()).result(timeout=120)
    assert source is not None and "url" in attribute(source, "data")
    log = log_path.read_text()[log_before:]
    assert app_serving.tracebacks(log) == [], log[-5000:]
