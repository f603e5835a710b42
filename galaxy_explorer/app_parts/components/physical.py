"""Physical context on and beside the main image: a scale bar in arcsec and proper kpc at the frame's redshift, the
frame's redshift and band drawn on the image, and the look-back time and age of the universe beside the slider.

Everything follows in the browser while the slider moves or the walk plays: the Planck18 table
(``galaxy_explorer.measure.cosmology``) travels to the page once per session in a ColumnDataSource, and two small CustomJS
callbacks interpolate it, one when the picture on screen changes (the frame's own redshift sets the scale), one
when the slider moves (the slider's redshift sets the times). The server writes the same texts at rest, so a
notebook or a test without a browser reads them too.
"""

from __future__ import annotations

from functools import lru_cache

import panel as pn
from bokeh.models import ColumnDataSource, CustomJS, Label, Range1d

from galaxy_explorer.measure import cosmology
from galaxy_explorer.app_parts.components.views import bare_figure
from galaxy_explorer.app_parts.state.walk import COLOUR

TABLE_Z_MAX = 6.0  # beyond any model's redshift range so far; the interpolation clamps past it
# Linear interpolation on this grid is within 0.003 kpc/″ of Planck18 (0.04 % above z = 0.2), far below the 0.1 kpc
# the bar shows, and the table stays small (~12 KB, once per session).
TABLE_STEP = 0.02
BAR_MARGIN_PX = 3.0  # stamp pixels between the bar and the image's edge
TEXT = "#e8e8f0"
TIMES_HEIGHT_PX = 20
TIMES_INDENT_PX = 10  # in line with the slider's title

SHOW_SCALE_JS = cosmology.INTERPOLATE_JS + """
// A label walk's frames all sit at one redshift, carried in the source's tags (MainImageView.set_axis); along the
// redshift a frame's position is its redshift.
const z = main.tags.length ? main.tags[1] : main.data.position[0];
if (!Number.isFinite(z)) {
  scale_label.setv({text: ''}, {sync: false});
  redshift_label.setv({text: ''}, {sync: false});
} else {
  const c = cosmo_at(table.data, z);
  scale_label.setv({text: scale_bar_text(c.kpc, ARCSEC)}, {sync: false});
  redshift_label.setv({text: redshift_text(z)}, {sync: false});
}
function redshift_text(z) { return `z = ${z.toFixed(2)}`; }
"""

SHOW_TIMES_JS = cosmology.INTERPOLATE_JS + """
const c = cosmo_at(table.data, cb_obj.value);
times.setv({text: times_text(cb_obj.value, c.lookback, c.age)}, {sync: false});
"""


def text_line_figure(label: Label, width: int, height: int, name: str, css_class: str):
    """A line of text that changes at every slider move, drawn on a canvas: a Label's new text only repaints its
    own small plot, whereas a Div's new text re-lays out the whole card (BokehJS's ``MarkupView`` re-renders and
    recomputes the layout of its root), which took ~23 ms of every drag move on 2 cores (profiled in Chromium)."""
    line = bare_figure(width, height, Range1d(0, 1), Range1d(0, 1), name, css_class=css_class, background=None)
    line.add_layout(label)
    return line


@lru_cache(maxsize=1)
def shared_table() -> cosmology.RedshiftTable:
    """The process's Planck18 table (~0.3 s to compute; every session sends the same one)."""
    return cosmology.redshift_table(0.0, TABLE_Z_MAX, TABLE_STEP)


def redshift_text(redshift: float) -> str:
    return f"z = {redshift:.2f}"


def band_text(band: str) -> str:
    """The legend drawn on the image: which band goes to which colour, or which band is shown in grey."""
    return "i, r, g → R, G, B" if band == COLOUR else f"{band} band"


class PhysicalOverlay:
    """The scale bar, redshift and band on the main image ``figure`` (a ``pixels``-wide stamp in data units), and
    the times line (``times``, a Label drawn in ``times_figure``, to put beside the slider)."""

    def __init__(self, figure, main_source: ColumnDataSource, slider: pn.widgets.Widget, pixels: int = 64):
        self.table = shared_table()
        self.table_source = ColumnDataSource(self.table.as_lists(), name="cosmology-table")
        length = cosmology.scale_bar_pixels()
        x1 = pixels - BAR_MARGIN_PX
        figure.segment(x0=[x1 - length], y0=[BAR_MARGIN_PX], x1=[x1], y1=[BAR_MARGIN_PX], line_color=TEXT,
                       line_width=3, name="scale-bar")
        self.scale_label = Label(x=x1, y=BAR_MARGIN_PX + 0.8, text="", text_align="right", text_color=TEXT,
                                 text_font_size="10pt", name="scale-bar-label")
        self.redshift_label = Label(x=6, y=-6, x_units="screen", y_units="screen", text="", text_color=TEXT,
                                    text_font_size="13pt", text_font_style="bold", text_baseline="top",
                                    name="redshift-label")
        self.band_label = Label(x=-6, y=-6, x_units="screen", y_units="screen", text=band_text(COLOUR),
                                text_align="right", text_baseline="top", text_color=TEXT, text_font_size="10pt",
                                background_fill_color="#0b0b12", background_fill_alpha=0.6, name="band-label")
        # Screen offsets from the top and right edges: Labels in screen units count from the bottom left.
        self.redshift_label.y = figure.height - 6
        self.band_label.x, self.band_label.y = figure.width - 6, figure.height - 6
        for label in (self.scale_label, self.redshift_label, self.band_label):
            figure.add_layout(label)
        main_source.js_on_change("data", CustomJS(code=SHOW_SCALE_JS, args={
            "main": main_source, "table": self.table_source, "scale_label": self.scale_label,
            "redshift_label": self.redshift_label, "ARCSEC": cosmology.SCALE_BAR_ARCSEC}))
        self.times = Label(x=TIMES_INDENT_PX, y=TIMES_HEIGHT_PX / 2, x_units="screen", y_units="screen", text="",
                           text_baseline="middle", text_color="#444", text_font_size="12px", name="cosmic-times")
        self.times_figure = text_line_figure(self.times, width=448, height=TIMES_HEIGHT_PX, name="cosmic-times-line",
                                              css_class="cosmic-times")
        slider.jscallback(value=SHOW_TIMES_JS, args={"table": self.table_source, "times": self.times})

    def show_frame(self, redshift: float) -> None:
        """The scale and redshift of the frame on screen, at ``redshift`` (``Frame.redshift``, whatever the walk's
        axis; the browser writes the same while it plays or drags)."""
        if redshift != redshift:  # NaN: no frame
            self.scale_label.text = self.redshift_label.text = ""
            return
        kpc_per_arcsec = cosmology.interpolate(self.table, redshift)[0]
        self.scale_label.text = cosmology.scale_bar_text(kpc_per_arcsec)
        self.redshift_label.text = redshift_text(redshift)

    def show_times(self, redshift: float) -> None:
        """The look-back time and age at the slider's redshift."""
        _, lookback, age = cosmology.interpolate(self.table, redshift)
        self.times.text = cosmology.times_text(redshift, lookback, age)

    def show_band(self, band: str) -> None:
        self.band_label.text = band_text(band)
