"""Walking a survey galaxy in headless Chromium: a click on a survey stamp inverts it, the reconstruction and its
residual appear beside it, and the slider then walks that galaxy's noise, which the status lines name."""

from __future__ import annotations

import re

import pytest

from tests.support.app_serving import SHOWN_JS as SHOWN
from tests.support.app_serving import wait_until_baked

pytestmark = pytest.mark.ui

TIMEOUT_MS = 60_000
GRID_JS = """() => {
  const grid = Bokeh.documents[0].get_model_by_name('real-grid-source');
  return {id: grid.data.object_id[0], z: grid.data.redshift[0], x: grid.data.x[0], y: grid.data.y[0],
          dw: grid.data.dw[0]};
}"""
RANGES_JS = """() => {
  const fig = Bokeh.documents[0].get_model_by_name('real-grid');
  return {width: fig.width, height: fig.height, x0: fig.x_range.start, x1: fig.x_range.end,
          y0: fig.y_range.start, y1: fig.y_range.end};
}"""


def wait_for_status(page, text: str, server_log) -> None:
    """Wait for the frame status to name ``text``; on a timeout, say what it showed and what the server logged."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(".frame-status").get_by_text(text).first.wait_for()
    except PlaywrightTimeout:
        shown = page.locator(".frame-status").first.inner_text()
        tail = "\n".join(server_log.read_text().splitlines()[-150:]) if server_log.exists() else "(no server log)"
        pytest.fail(f"the frame status never named {text!r}; it shows {shown!r}. Server log, last lines:\n{tail}")


def test_clicking_a_survey_galaxy_walks_it(page, served_app, app_files):
    page.goto(served_app)
    wait_until_baked(page, TIMEOUT_MS / 1000)
    page.set_default_timeout(TIMEOUT_MS)
    grid = page.locator(".real-grid").first
    grid.wait_for()
    page.wait_for_function(f"() => ({SHOWN})().rows.length > 0")
    first, box = page.evaluate(GRID_JS), page.evaluate(RANGES_JS)
    # The centre of the first stamp, from data coordinates to the canvas's pixels (y grows downwards there).
    x = (first["x"] + first["dw"] / 2 - box["x0"]) / (box["x1"] - box["x0"]) * box["width"]
    y = (box["y1"] - (first["y"] + first["dw"] / 2)) / (box["y1"] - box["y0"]) * box["height"]
    grid.click(position={"x": x, "y": y})

    name = f"survey object {first['id']}"
    residual = page.locator(".inversion-panel .inversion-residual")
    residual.wait_for()
    assert re.search(r"= \d+\.\d{3}", residual.inner_text())
    page.locator(".inversion-panel").get_by_text(name).first.wait_for()
    page.locator(".inversion-panel").get_by_text("not its history").first.wait_for()
    page.locator(".frame-status").get_by_text(name.capitalize()).first.wait_for()

    # Dragging now walks that galaxy: the exact frame at the new redshift is its noise's, named after it.
    before = page.evaluate(SHOWN)
    handle = page.locator(".redshift-slider .noUi-handle").first
    handle.focus()
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    target = round(before["requested"] + 0.30, 2)
    page.wait_for_function(
        f"() => {{ const s = ({SHOWN})(); return s && s.kind === 'exact' && Math.abs(s.position - {target}) < 1e-6; }}")
    page.locator(".frame-status").get_by_text(f"{name.capitalize()} at z = {target:.2f} (exact frame)").wait_for()

    # Back to seed: the seed's walk again.
    page.locator(".inversion-back button").first.click()
    wait_for_status(page, "Seed 7", app_files[0] / "panel-serve.log")
    page.locator(".inversion-panel").get_by_text("Back on a seed walk").first.wait_for()
