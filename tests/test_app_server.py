"""Process-wide parts of the served app: pages opening, the page's scripts, the garbage collector."""

import gc

from bokeh.embed.bundle import Bundle
from bokeh.models import Plot

from galaxy_explorer.app_parts.serving import page_openings
from galaxy_explorer.app_parts.serving.page_openings import STALE_S, page_opened, page_opening, pages_opening
from galaxy_explorer.app_parts.serving.page_scripts import lean_bundle
from galaxy_explorer.app_parts.serving.server import freeze_long_lived_objects

SCRIPTS = ["static/js/bokeh.min.js?v=1", "static/js/bokeh-gl.min.js?v=2", "static/js/bokeh-widgets.min.js?v=3",
           "static/js/bokeh-tables.min.js?v=4"]


def panel_bundle_resources(calls):
    def bundle_resources(roots, resources, **kwargs):
        calls.append(kwargs)
        return Bundle(js_files=list(SCRIPTS))
    return bundle_resources


def test_a_page_counts_as_opening_until_it_has_rendered_or_closed():
    first, second = object(), object()
    before = pages_opening()
    page_opening(first)
    page_opening(second)
    assert pages_opening() == before + 2
    page_opened(first)
    page_opened(first)  # twice (rendered, then closed) is fine
    assert pages_opening() == before + 1
    page_opened(second)
    assert pages_opening() == before


def test_a_page_that_never_renders_stops_holding_the_others_back():
    lost = object()
    page_opening(lost)
    opened_at = page_openings._opening[lost]
    assert pages_opening(now=opened_at + STALE_S / 2) >= 1
    assert pages_opening(now=opened_at + STALE_S + 1) == 0
    assert lost not in page_openings._opening


def test_the_served_page_lists_neither_mathjax_nor_webgl_when_no_plot_uses_webgl():
    calls = []
    bundle = lean_bundle(panel_bundle_resources(calls))([Plot()], resources=None)
    assert calls == [{"enable_mathjax": False}]
    assert bundle.js_files == [SCRIPTS[0], SCRIPTS[2], SCRIPTS[3]]


def test_a_webgl_plot_keeps_its_bundle():
    bundle = lean_bundle(panel_bundle_resources([]))([Plot(output_backend="webgl")], resources=None)
    assert bundle.js_files == SCRIPTS


def test_long_lived_objects_are_frozen_out_of_the_collectors_sight():
    try:
        gc.unfreeze()
        freeze_long_lived_objects()
        assert gc.get_freeze_count() > 1000  # the imported libraries
        garbage = []
        garbage.append(garbage)  # a cycle made after the freeze is still collected
        del garbage
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
