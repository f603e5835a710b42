"""The colour panels in headless Chromium: the survey window and the generated population in the colour–magnitude and
colour–colour diagrams, a box drawn with the mouse or a click on a histogram bar putting those survey galaxies on the
grid, the *Clear selection* button, and the panels following the slider on release."""

from __future__ import annotations

import pytest

from tests.support.app_serving import SHOWN_JS as SHOWN
from tests.support.app_serving import wait_until_baked
from tests.support.colour_plots import (
    SOURCE_JS,
    click_tallest_bar,
    events_layer,
    on_canvas,
    source,
    wait_for_colour_panels,
)

pytestmark = pytest.mark.ui

TIMEOUT_MS = 60_000


def open_colour_panels(page, url: str) -> None:
    page.goto(url)
    wait_until_baked(page, TIMEOUT_MS / 1000)
    page.set_default_timeout(TIMEOUT_MS)
    wait_for_colour_panels(page)


def grid_rows(page) -> list[int]:
    return page.evaluate(SHOWN)["rows"]


def test_the_colour_panels_show_the_survey_and_the_generated_population_and_follow_the_slider(page, served_app):
    open_colour_panels(page, served_app)
    header = page.locator(".colour-header")
    header.get_by_text("SYNTHETIC").wait_for()
    header.get_by_text("not PSF-matched").wait_for()
    page.locator(".colour-track-note").get_by_text("not one galaxy's history").wait_for()
    page.locator(".colour-table").get_by_text("generated − survey").wait_for()
    before = source(page, "colour-cmd-survey")["row"]
    # Release the slider far away: the panels show the new redshift window and population once it is released.
    target = round(page.evaluate(SHOWN)["requested"] + 0.50, 2)
    page.locator(".redshift-slider .noUi-handle").first.focus()
    for _ in range(50):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"() => {{ const s = ({SHOWN})(); return s && s.kind === 'exact' && Math.abs(s.position - {target}) < 1e-6; }}")
    header.get_by_text(f"at z = {target:.2f}").first.wait_for()
    page.wait_for_function(
        f"() => {{ const s = ({SOURCE_JS})('colour-cmd-survey'); return s && s.row.join() !== {before!r}.join(); }}")


def test_a_box_drawn_in_the_colour_magnitude_diagram_puts_those_galaxies_on_the_grid_until_cleared(page, served_app):
    open_colour_panels(page, served_app)
    nearest = grid_rows(page)
    survey = source(page, "colour-cmd-survey")
    i_mag, g_i = sorted(survey["i_mag"]), sorted(survey["g_i"])
    # A box over the middle half of the galaxies in both i and g − i, drawn with the mouse (box select is active).
    low, high = (i_mag[len(i_mag) // 4], g_i[3 * len(g_i) // 4]), (i_mag[3 * len(i_mag) // 4], g_i[len(g_i) // 4])
    corner, opposite = on_canvas(page, "colour-cmd", *low), on_canvas(page, "colour-cmd", *high)
    events_layer(page, "colour-cmd").hover(position=corner)
    box = events_layer(page, "colour-cmd").bounding_box()
    page.mouse.down()
    page.mouse.move(box["x"] + opposite["x"], box["y"] + opposite["y"], steps=10)
    page.mouse.up()
    status = page.locator(".grid-status")
    status.get_by_text("survey galaxies selected").wait_for()
    selected = source(page, "colour-cmd-survey")
    chosen = {selected["row"][i] for i in selected["selected"]}
    assert chosen and all(low[0] <= selected["i_mag"][i] <= high[0] and high[1] <= selected["g_i"][i] <= low[1]
                          for i in selected["selected"])
    page.wait_for_function(f"() => ({SHOWN})().rows.join() !== {nearest!r}.join()")
    assert set(grid_rows(page)) <= chosen
    status.get_by_text(f"{len(chosen)} survey galaxies selected").wait_for()
    # The colour–colour diagram shows the same galaxies selected.
    page.wait_for_function(f"() => ({SOURCE_JS})('colour-ccd-survey').selected.length === {len(chosen)}")
    ccd = source(page, "colour-ccd-survey")
    assert {ccd["row"][i] for i in ccd["selected"]} == chosen

    page.locator(".clear-selection button").first.click()
    status.get_by_text("nearest to z").wait_for()
    page.wait_for_function(f"() => ({SHOWN})().rows.join() === {nearest!r}.join()")
    page.wait_for_function(f"() => ({SOURCE_JS})('colour-ccd-survey').selected.length === 0")


def test_a_click_on_a_histogram_bar_puts_the_galaxies_counted_in_it_on_the_grid(page, served_app):
    open_colour_panels(page, served_app)
    left, right, count = click_tallest_bar(page)
    status = page.locator(".grid-status")
    status.get_by_text(f"{count} survey galaxies selected").wait_for()
    status.get_by_text(f"between {left:.2f} and {right:.2f}").wait_for()
    # Every galaxy on the grid has its g − r in that bar (read from the colour–colour diagram's data).
    ccd = source(page, "colour-ccd-survey")
    g_r = dict(zip(ccd["row"], ccd["g_r"]))
    page.wait_for_function(f"() => ({SHOWN})().rows.length === {min(count, 12)}")
    assert all(left - 1e-9 <= g_r[row] <= right + 1e-9 for row in grid_rows(page))
