"""The served app with a morphology-conditioned checkpoint, in headless Chromium: label sliders start new walks, a
shared URL reopens its view (and a bad value in it is named), and the generated population stands beside the survey.
"""

from __future__ import annotations

import os
import urllib.parse

import pytest
from playwright.sync_api import expect

from tests.support import app_serving
from tests.support.app_serving import SHOWN_JS as SHOWN
from tests.support.app_serving import wait_until_baked
from tests.ui.conftest import UI_GRID_FRAMES, UI_STEPS

pytestmark = pytest.mark.ui

TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def morph_app(app_files):
    """URL of the app serving a tiny checkpoint conditioned on redshift, bulge fraction and axis ratio (dropout)."""
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    root, _checkpoint, survey = app_files
    checkpoint = make_tiny_checkpoint(root / "morph.safetensors", condition_dropout=0.15,
                                      condition_names=("redshift", "true_bulge_fraction", "true_axis_ratio"))
    app_args = ["--checkpoint", str(checkpoint), "--data", str(survey),
                "--steps", str(UI_STEPS), "--grid-frames", str(UI_GRID_FRAMES)]
    env = {**os.environ, "GALAXY_EXPLORER_CACHE": str(root / "cache")}
    with app_serving.served_app(app_args, log_path=root / "panel-serve-morph.log", timeout=60.0, env=env) as url:
        yield url


def query(page) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))


def wait_exact(page, redshift: float) -> None:
    page.wait_for_function(
        f"() => {{ const s = ({SHOWN})(); return s && s.kind === 'exact' && Math.abs(s.position - {redshift}) < 1e-6; }}")


def test_moving_a_label_slider_starts_a_new_walk_and_the_url_follows(page, morph_app):
    page.goto(morph_app)
    wait_until_baked(page, TIMEOUT_MS / 1000)
    page.set_default_timeout(TIMEOUT_MS)
    page.get_by_text("minor over major axis").first.wait_for()  # what the label means…
    page.get_by_text("survey column true_axis_ratio").first.wait_for()  # …and where it came from
    # The page opens with every label free ("any" ticked): untick the axis ratio's box to set it with its slider.
    box = page.locator(".condition-any-true_axis_ratio input").first
    assert box.is_checked()
    box.uncheck()
    page.wait_for_function("() => new URLSearchParams(location.search).get('c.true_axis_ratio') === '0.5'")
    page.locator(".bake-status").get_by_text("frames baked").wait_for()
    wait_exact(page, 0.5)
    before = page.locator(".galaxy-image").first.screenshot()
    handle = page.locator(".condition-true_axis_ratio .noUi-handle").first
    handle.focus()
    for _ in range(20):  # 20 × 0.01
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('c.true_axis_ratio') === '0.7'")
    page.locator(".bake-status").get_by_text("frames baked").wait_for()
    wait_exact(page, 0.5)
    assert page.locator(".galaxy-image").first.screenshot() != before
    assert query(page)["seed"] == "7" and query(page)["walk"] == "redshift"


def test_a_shared_url_reopens_its_view_and_a_bad_value_is_named(page, morph_app):
    page.goto(morph_app + "?seed=11&z=1.25&c.true_bulge_fraction=any&steps=abc")
    page.set_default_timeout(TIMEOUT_MS)
    wait_exact(page, 1.25)
    assert page.locator(".seed-input input").first.input_value() == "11"
    assert page.locator(".condition-any-true_bulge_fraction input").first.is_checked()
    page.locator(".notyf__toast").get_by_text("steps='abc'").first.wait_for()
    page.get_by_text("Seed 11 at z = 1.25 (exact frame)").first.wait_for()


def test_the_generated_population_stands_beside_the_survey_grid(page, morph_app):
    page.goto(morph_app)
    wait_until_baked(page, TIMEOUT_MS / 1000)
    page.set_default_timeout(TIMEOUT_MS)
    page.locator(".population-status").get_by_text("generated (model)").wait_for()
    expect(page.locator(".population-grid img")).to_have_count(12)  # (Playwright's locators see into Panel's
    # shadow roots; document.querySelectorAll does not)
    page.locator(".population-status").get_by_text("seeds 8–19 at z = 0.50").wait_for()
    page.locator(".filmstrip-button button").first.click()
    expect(page.locator(".filmstrip img")).to_have_count(8)


CAPTION = "() => Bokeh.documents[0].get_model_by_name('galaxy-caption').text"
ON_IMAGE = "() => Bokeh.documents[0].get_model_by_name('redshift-label').text"


def test_a_label_walk_scrubs_in_the_browser_at_its_fixed_redshift(page, morph_app):
    page.goto(morph_app + "?z=1.5&walk=true_axis_ratio")
    wait_until_baked(page, TIMEOUT_MS / 1000)
    page.set_default_timeout(TIMEOUT_MS)
    page.wait_for_function(f"() => ({CAPTION})().startsWith('true_axis_ratio = 0.50 · exact')")
    handle = page.locator(".condition-true_axis_ratio .noUi-handle").first
    box = handle.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 50, y, steps=5)
    # While dragging the page shows the walk's nearest frame by itself; the image stays at the walk's redshift.
    page.wait_for_function(f"() => ({CAPTION})().includes('nearest baked frame')")
    assert page.evaluate(CAPTION).startswith("true_axis_ratio = ")
    assert page.evaluate(ON_IMAGE) == "z = 1.50"
    page.mouse.up()
    page.wait_for_function(f"() => ({CAPTION})().includes('exact frame') && !({CAPTION})().includes('0.50 ·')")
    assert page.evaluate(ON_IMAGE) == "z = 1.50"
    assert query(page)["walk"] == "true_axis_ratio" and query(page)["z"] == "1.5"
    # Dragging the redshift slider meanwhile picks no frame of the label walk (its positions are not redshifts).
    shown = page.evaluate(CAPTION)
    handle = page.locator(".redshift-slider .noUi-handle").first
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 - 60, box["y"] + box["height"] / 2, steps=5)
    page.wait_for_timeout(300)
    assert page.evaluate(CAPTION) == shown
    page.mouse.up()
