"""The served app in headless Chromium: playing the walk, the physical scale, the display controls, and a page that
fits the screen and asks nothing of the network.

What is read is what the page shows: the main image source's position (on these walks along the redshift, the
frame's redshift: ``SHOWN_JS``), the texts drawn on the image, the image's pixels, the requests the browser makes,
and the boxes of the elements on the page.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import numpy as np
import pytest

from tests.support.app_serving import SHOWN_JS as SHOWN
from tests.support.app_serving import wait_until_baked

pytestmark = pytest.mark.ui

TIMEOUT_MS = 30_000
LOCAL_HOSTS = {"127.0.0.1", "localhost", ""}

FRAMES_JS = """() => Array.from(Bokeh.documents[0].get_model_by_name('galaxy-frames-source').data.position)
                   .sort((a, b) => a - b)"""
MODEL_TEXT_JS = """(name) => {
  const model = Bokeh.documents[0].get_model_by_name(name);
  return model ? model.text : null;
}"""


def open_app(page, url):
    page.goto(url)
    wait_until_baked(page, TIMEOUT_MS / 1000)
    page.set_default_timeout(TIMEOUT_MS)


def shown(page):
    return page.evaluate(SHOWN)


def model_text(page, name: str) -> str:
    return page.evaluate(MODEL_TEXT_JS, name)


def kpc_of(label: str) -> float:
    match = re.search(r"= ([0-9.]+) kpc", label)
    assert match, label
    return float(match.group(1))


def test_play_steps_through_the_baked_frames_and_pause_brings_the_exact_frame(page, served_app):
    open_app(page, served_app)
    page.locator(".play-button button").first.click()
    seen = set()
    deadline = time.monotonic() + 15
    while len(seen) < 5 and time.monotonic() < deadline:
        seen.add(round(shown(page)["position"], 6))
        page.wait_for_timeout(40)
    assert len(seen) >= 5, f"the picture went through only {sorted(seen)} while playing"
    page.locator(".play-button button").first.click()  # pause
    # The server hears where the slider stopped, as a release: the frame there is the exact one.
    page.wait_for_function(
        f"() => {{ const s = ({SHOWN})(); return s.kind === 'exact' && Math.abs(s.position - s.requested) < 1e-6; }}")
    stopped = shown(page)["position"]
    page.locator(".frame-status").get_by_text(f"z = {stopped:.2f} (exact frame)").wait_for()


PROBE_JS = """() => { const m = Bokeh.documents[0].get_model_by_name('galaxy-image-source');
  window.__shown = []; m.connect(m.properties.data.change, () => window.__shown.push(m.data.position[0])); }"""


def set_fps(page, fps: int):
    handle = page.locator(".play-fps .noUi-handle").first
    handle.focus()
    for _ in range(40):
        page.keyboard.press("ArrowLeft")
    for _ in range(fps - 1):
        page.keyboard.press("ArrowRight")


def test_ping_pong_turns_back_at_the_ends_and_a_single_pass_stops_at_the_last_frame(page, served_app):
    open_app(page, served_app)
    grid = sorted(set(page.evaluate(FRAMES_JS)))
    set_fps(page, 30)
    page.evaluate(PROBE_JS)
    page.locator(".play-ping-pong input").first.check()
    page.locator(".play-button button").first.click()
    page.wait_for_timeout(2500)  # ~75 steps over 16 frames: both ends reached
    page.locator(".play-button button").first.click()
    steps = np.diff(page.evaluate("() => window.__shown"))
    assert (steps > 0).any() and (steps < 0).any()
    jump = grid[-1] - grid[0]
    assert np.abs(steps).max() < jump / 2  # it turned back, never jumped from one end to the other
    page.locator(".play-ping-pong input").first.uncheck()
    page.locator(".play-loop input").first.uncheck()
    page.locator(".play-button button").first.click()
    page.locator(".play-button button").get_by_text("Play").wait_for()  # it paused by itself at the end
    page.wait_for_function(
        f"() => {{ const s = ({SHOWN})(); return s.kind === 'exact' && Math.abs(s.position - {grid[-1]}) < 1e-6; }}")


def test_the_scale_bar_reads_kpc_at_the_frame_redshift_and_changes_with_it(page, served_app):
    open_app(page, served_app)
    before = model_text(page, "scale-bar-label")
    assert "″ =" in before and before.endswith("kpc")
    assert model_text(page, "redshift-label") == f"z = {shown(page)['position']:.2f}"
    times_before = model_text(page, "cosmic-times")
    assert "look-back time" in times_before and "age of the universe" in times_before
    page.locator(".cosmic-times").first.wait_for()  # the times line is drawn under the slider
    start = shown(page)["position"]
    handle = page.locator(".redshift-slider .noUi-handle").first
    handle.focus()
    for _ in range(60):
        page.keyboard.press("ArrowRight")
    target = round(start + 0.60, 2)
    page.wait_for_function(  # the slider has come to rest there and its exact frame is shown
        f"() => {{ const s = ({SHOWN})(); return s.kind === 'exact' && Math.abs(s.position - {target}) < 1e-6; }}")
    after = model_text(page, "scale-bar-label")
    assert kpc_of(after) != kpc_of(before)
    assert model_text(page, "redshift-label") == f"z = {shown(page)['position']:.2f}"
    assert model_text(page, "cosmic-times") != times_before


# Counts BokehJS layout computations of the page (each a whole root's, started by a changed Div or other layout
# model): wraps ``compute_layout`` of the first layout view's class chain, counting only the outermost call.
COUNT_LAYOUTS_JS = """() => {
  let view = null;
  for (const root of Object.values(Bokeh.index)) {
    if (!root.owner) continue;
    view = [...root.owner.query((v) => typeof v.compute_layout === 'function')][0];
    if (view) break;
  }
  let proto = Object.getPrototypeOf(view);
  while (!Object.prototype.hasOwnProperty.call(proto, 'compute_layout')) { proto = Object.getPrototypeOf(proto); }
  const original = proto.compute_layout;
  let depth = 0;
  window.__layouts = 0;
  proto.compute_layout = function () {
    if (depth === 0) { window.__layouts += 1; }
    depth += 1;
    try { return original.apply(this, arguments); } finally { depth -= 1; }
  };
}"""


def test_dragging_the_slider_repaints_the_image_and_texts_without_laying_out_the_page(page, served_app):
    # Each move changes the picture, its caption, the scale bar and the times line. A Div's new text makes BokehJS
    # lay out its whole card again (~23 ms a move on 2 cores, half the drag latency), so these are all drawn on
    # canvases. The server's updates while dragging (survey grid, statistics, its busy indicator; ~3 a second) may
    # lay out: 5-8 times in 15 moves here, against 23 when the times line was a Div.
    open_app(page, served_app)
    page.evaluate(COUNT_LAYOUTS_JS)
    handle = page.locator(".redshift-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()  # the mouse moves in the viewport's coordinates
    track = page.locator(".redshift-slider .noUi-base").first.bounding_box()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    times_before = model_text(page, "cosmic-times")
    page.mouse.move(x, y)
    page.mouse.down()
    moves = 15
    for i in range(1, moves + 1):
        page.mouse.move(x + (track["x"] + 0.9 * track["width"] - x) * i / moves, y)
        page.wait_for_timeout(50)
    layouts = page.evaluate("() => window.__layouts")
    times_during = model_text(page, "cosmic-times")
    page.mouse.up()
    assert times_during != times_before  # the times line followed the drag…
    assert layouts < moves, f"{layouts} page layouts during {moves} slider moves"  # …and no move laid out the page


# Every visible element, shadow roots included, whose box reaches past the viewport's right edge, and every button
# or plot whose content is wider than its box (a clipped label or plot).
OVERFLOW_JS = """() => {
  const found = [];
  const describe = (el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`;
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      // A toast's ripple is a decorative disc larger than the toast, which clips it.
      const decorative = el.classList.contains('notyf__ripple');
      if (box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && style.display !== 'none'
          && !decorative) {
        if (box.right > window.innerWidth + 1) { found.push(`${describe(el)} reaches x = ${box.right}`); }
        if (el.tagName === 'BUTTON' && el.scrollWidth > el.clientWidth + 1) {
          found.push(`${describe(el)} label clipped: ${el.scrollWidth} > ${el.clientWidth}`);
        }
      }
      if (el.shadowRoot) { visit(el.shadowRoot); }
    }
  };
  visit(document);
  return found;
}"""


@pytest.mark.parametrize("width,height", [(1280, 800), (1920, 1080)])
def test_nothing_is_clipped_no_request_leaves_the_machine_and_no_plot_warns(browser, served_app, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    requests, console = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: console.append(message.text))
    try:
        open_app(page, served_app)
        page.locator("table.morphology-table").first.wait_for()  # the parts put on the page after the first render
        page.locator(".export-button").first.wait_for()
        page.wait_for_timeout(500)
        assert page.evaluate(OVERFLOW_JS) == []
        # The download button's long label, after an export.
        page.locator(".export-frames input").first.fill("3")
        page.locator(".export-frames input").first.press("Enter")
        page.locator(".export-format").get_by_text("gif", exact=True).click()
        page.locator(".export-button button").first.click()
        page.locator(".export-download").get_by_text("Download galaxy-seed7").wait_for()
        assert page.evaluate(OVERFLOW_JS) == []
        away = sorted({url for url in requests if urlparse(url).scheme in ("http", "https", "ws", "wss")
                       and urlparse(url).hostname not in LOCAL_HOSTS})
        assert away == []
        # Only the BokehJS bundles the page uses (app_parts.page_scripts): no MathJax, no WebGL, and nothing missed.
        assert [url for url in requests if "bokeh-mathjax" in url or "bokeh-gl" in url] == []
        assert [text for text in console if "Cannot find module" in text] == []
        assert [text for text in console if "could not set initial ranges" in text] == []
    finally:
        context.close()


URL_JS = "() => Bokeh.documents[0].get_model_by_name('galaxy-image-source').data.url[0]"


def test_the_stretch_redraws_the_pictures_without_generating_anything(page, served_app):
    open_app(page, served_app)
    before, frames_before, url_before = shown(page), page.evaluate(FRAMES_JS), page.evaluate(URL_JS)
    pixels_before = page.locator(".galaxy-image").first.screenshot()
    grid_before = page.locator(".real-grid").first.screenshot()
    handle = page.locator(".display-stretch .noUi-handle").first
    handle.focus()
    for _ in range(6):  # stretch 0.5 -> 0.2: fainter light shows brighter
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"() => ({URL_JS})() !== {url_before!r}")
    after = shown(page)
    assert (after["position"], after["kind"]) == (before["position"], before["kind"])  # the same frame…
    assert page.evaluate(FRAMES_JS) == frames_before  # …and the same walk, nothing new made
    assert page.locator(".galaxy-image").first.screenshot() != pixels_before
    page.wait_for_timeout(300)
    assert page.locator(".real-grid").first.screenshot() != grid_before  # the survey galaxies alike
    page.locator(".display-reset button").first.click()
    page.wait_for_function(f"() => ({URL_JS})() === {url_before!r}")
    page.locator(".display-upscaling").get_by_text("smooth", exact=True).click()
    page.wait_for_function(f"() => ({URL_JS})().startsWith('data:image/jpeg')")
    assert page.evaluate(FRAMES_JS) == frames_before
