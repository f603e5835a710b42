"""Read and click the app's colour plots in a Chromium page (Playwright), for the UI tests and the README screenshot.

The colour card names its Bokeh figures (``colour-cmd``, ``colour-ccd``, ``colour-hist``, ``colour-track``) and the
survey's data source in each (``colour-cmd-survey``, …; ``app_parts/components/colour_card.py``), so a page can be
asked what each plot draws and what is selected, and a data point can be found on screen through the plot's own
scales.
"""

from __future__ import annotations

# A named data source as plain arrays, with its selected indices under 'selected'.
SOURCE_JS = """(name) => {
  const s = Bokeh.documents[0].get_model_by_name(name);
  if (!s) return null;
  const out = {selected: Array.from(s.selected.indices)};
  for (const k of Object.keys(s.data)) out[k] = Array.from(s.data[k]);
  return out;
}"""
# Data coordinates in a named figure -> pixels on its canvas, through the plot's own scales.
ON_CANVAS_JS = """([name, x, y]) => {
  const figure = Bokeh.documents[0].get_model_by_name(name);
  for (const root of Object.values(Bokeh.index)) {
    if (!root.owner) continue;
    for (const view of root.owner.query((v) => v.model === figure)) {
      return [view.frame.x_scale.compute(x), view.frame.y_scale.compute(y)];
    }
  }
  return null;
}"""


def source(page, name: str) -> dict | None:
    """What the data source ``name`` holds on the page: its columns and 'selected'."""
    return page.evaluate(SOURCE_JS, name)


def on_canvas(page, figure: str, x: float, y: float) -> dict:
    """Where the data point (x, y) of ``figure`` is on its canvas, as Playwright's ``position``."""
    left, top = page.evaluate(ON_CANVAS_JS, [figure, x, y])
    return {"x": left, "y": top}


def events_layer(page, figure: str):
    """The layer of ``figure``'s canvas that takes the mouse's events (it lies over the drawing)."""
    return page.locator(f".{figure} .bk-events").first


def open_colour_card(page) -> None:
    """Open the colour card (it opens closed, its plots built on the first opening), as a visitor does: a click on
    its header."""
    page.locator(".colour-card").get_by_text("(click to open)").first.click()
    page.locator(".colour-cmd").first.wait_for()


def wait_for_colour_panels(page, redshift: float | None = None, min_galaxies: int = 10) -> None:
    """Open the colour card, and wait until its diagrams hold a survey window's galaxies and all 12 generated ones
    (``redshift``: those of the slider's release at ``redshift``, not of an earlier one)."""
    if page.locator(".colour-card").get_by_text("(click to open)").count():
        open_colour_card(page)
    page.locator(".colour-card").first.scroll_into_view_if_needed()
    page.wait_for_function(f"() => {{ const s = ({SOURCE_JS})('colour-cmd-survey'); "
                           f"return s && s.row.length >= {min_galaxies}; }}")
    header = page.locator(".colour-header")
    header.get_by_text("12 of 12 seeds").wait_for()
    if redshift is not None:
        from galaxy_explorer.app_parts.controllers.real import window_bounds

        z_min, z_max = window_bounds(redshift)
        header.get_by_text(f"{z_min:.2f} ≤ z < {z_max:.2f}").wait_for()
        header.get_by_text(f"at z = {redshift:.2f}").first.wait_for()


def click_tallest_bar(page) -> tuple[float, float, int]:
    """Click the histogram's tallest bar (the survey grid then shows its galaxies): (its left, right, count)."""
    bars = source(page, "colour-hist-survey")
    tallest = max(range(len(bars["top"])), key=lambda k: bars["top"][k])
    left, right, count = bars["left"][tallest], bars["right"][tallest], int(bars["top"][tallest])
    events_layer(page, "colour-hist").click(position=on_canvas(page, "colour-hist", 0.5 * (left + right), 0.5 * count))
    return left, right, count
