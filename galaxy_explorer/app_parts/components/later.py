"""Parts of a served page that its first picture does not need, put on it a moment after it has rendered.

Built with the page, they would cost every visitor's first picture ~0.3 s of the server's time (the morphology
card's eight plots most), and sessions opening together add up. So the page gets a placeholder, and the part
follows ``LATER_MS`` after the page has rendered, once no other page of the process is still opening: every
visitor's first picture goes first. The parts themselves exist (and follow the controllers) from the start; only
their Bokeh models wait.
"""

from __future__ import annotations

from typing import Callable

import panel as pn

from galaxy_explorer.app_parts.state.session import UiThread

LATER_MS = 1500
LATER_RETRY_MS = 250  # how often it looks again while other visitors' pages are still opening


def later(ui: UiThread, others_opening: Callable[[], int], placeholder: str, make: Callable[[], object],
          width: int | None) -> pn.Column:
    """A place on the page for ``make()``'s result, showing ``placeholder`` until it is filled (``width`` None: as
    wide as the page). ``others_opening()``: how many pages of this process are still opening
    (``app_parts.serving.page_openings.pages_opening``)."""
    sizing = {"sizing_mode": "stretch_width"} if width is None else {"width": width}
    slot = pn.Column(pn.pane.HTML(placeholder, margin=(10, 20)), **sizing)
    key = f"later-{id(slot)}"

    def fill() -> None:
        if others_opening():
            ui.call_later(key, LATER_RETRY_MS, fill)
            return
        slot.objects = [make()]

    pn.state.onload(lambda: ui.call_later(key, LATER_MS, fill))
    return slot
