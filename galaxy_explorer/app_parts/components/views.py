"""Bokeh figures of the app. Each is built once; updates replace ColumnDataSource data or move a Span.

Replacing a 64×64 RGBA image in a ColumnDataSource costs ~1 ms and a ~16 KiB message, while rebuilding a plot
costs tens of milliseconds, so nothing here ever rebuilds a figure. The figures are plain Bokeh, so the unit
tests can check what would be drawn by reading the sources, without a browser.
"""

from __future__ import annotations

import html

import numpy as np
from bokeh.models import ColumnDataSource, CustomJS, Label, Range1d, Span
from bokeh.plotting import figure

from galaxy_explorer.output.export import rgb_frames
from galaxy_explorer.app_parts.controllers.real import LIVE_COLUMNS, Neighbours, WindowMorphology, percentile_of
from galaxy_explorer.app_parts.state.walk import COLOUR, MATCH_TOLERANCE  # noqa: F401  (COLOUR is part of this module's interface)

DIMMED_ALPHA = 0.35  # a frame left from the previous walk while the new one is being made

LABELS = {
    "ellipticity": "ellipticity 1 − b/a",
    "semi_major_axis": "semi-major axis a [px]",
    "isophotal_area": "isophotal area [px²]",
    "half_light_radius": "half-light radius [px]",
}
SHORT_LABELS = {
    "ellipticity": "ellipticity",
    "semi_major_axis": "a [px]",
    "isophotal_area": "area [px²]",
    "half_light_radius": "r½ [px]",
}
PIXEL_NOTE = "1 px = 0.168″ (HSC)"
BACKGROUND = "#0b0b12"


def render(images: np.ndarray, band: str) -> np.ndarray:
    """(n,5,H,W) survey flux -> (n,H,W,3) uint8 with the shared fixed stretch: ``COLOUR`` or one band in grey,
    exactly as an exported animation draws it."""
    return rgb_frames(images, None if band == COLOUR else band)


def rgba_image(rgb: np.ndarray) -> np.ndarray:
    """(H,W,3) uint8 -> (H,W) uint32 RGBA, opaque, as Bokeh's ``image_rgba`` wants it."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb, alpha], axis=-1)).view(np.uint32)[..., 0]


def bare_figure(width: int, height: int, x_range, y_range, name: str, *, css_class: str | None = None,
                background: str | None = BACKGROUND):
    """A figure with no tools, axes, grid, outline or border: a canvas to draw pictures or text on. ``css_class``
    defaults to ``name``; ``background`` None is transparent."""
    fig = figure(
        width=width, height=height, x_range=x_range, y_range=y_range, toolbar_location=None, tools="",
        name=name, css_classes=[css_class or name], min_border=0, background_fill_color=background,
        border_fill_color=background,
    )
    fig.axis.visible = False
    fig.grid.visible = False
    fig.outline_line_color = None
    return fig


# The browser's half of the slider: pick the frame nearest the slider's ``position`` (along the walk's axis) among
# those sent to the page and show it, with no server round trip. ``setv(..., {sync: false})`` keeps the change on
# the page (the server is not told of each move).
SHOW_NEAREST_JS = """
function show_nearest(requested) {
  const f = frames.data, n = f.position.length;
  if (n === 0) { return; }  // nothing of this walk on the page yet: the last picture stays (the server dims it)
  let best = 0, best_offset = Infinity;
  for (let i = 0; i < n; i++) {
    const offset = Math.abs(f.position[i] - requested);
    if (offset < best_offset) { best_offset = offset; best = i; }
  }
  const kind = best_offset < MATCH ? 'exact' : 'baked';
  const m = main.data;
  if (m.url[0] === f.url[best] && m.requested[0] === requested && m.kind[0] === kind && m.alpha[0] === 1) { return; }
  main.setv({data: {url: [f.url[best]], x: m.x, y: m.y, w: m.w, h: m.h, position: [f.position[best]],
                    kind: [kind], requested: [requested], alpha: [1]}}, {sync: false});
  caption.setv({text: caption_text(f.position[best], kind, requested)}, {sync: false});
}
function caption_text(position, kind, requested) {
  const name = main.tags.length ? main.tags[0] : 'z';  // a label walk's positions are its label's values (set_axis)
  return kind === 'exact' ? `${name} = ${position.toFixed(2)} · exact frame`
                          : `${name} = ${position.toFixed(3)} · nearest baked frame (slider ${requested.toFixed(2)})`;
}
"""


def caption_text(position: float, kind: str, requested: float, name: str = "z") -> str:
    """The line drawn on the image (the browser writes the same while dragging: ``SHOW_NEAREST_JS``); ``name``:
    what the walk moves ('z', or a label walk's label)."""
    if kind == "exact":
        return f"{name} = {position:.2f} · exact frame"
    if kind == "baked":
        return f"{name} = {position:.3f} · nearest baked frame (slider {requested:.2f})"
    return ""


class MainImageView:
    """The generated galaxy, large, and the walk's frames as sent to the page.

    ``frames_source`` holds every frame of the walk the page has (its position and a PNG data URL), sent once each:
    replaced when the walk or band changes, streamed as frames are made. ``source`` is the frame on screen: an
    ``image_url`` glyph whose ``alpha`` dims a frame left from the previous walk. Dragging the slider runs
    ``slider_js`` in the browser, which shows the nearest frame in ``frames_source`` at once; the server writes
    ``source`` only when the slider is at rest (a release, an exact frame, a new walk).
    """

    def __init__(self, size: int = 448, pixels: int = 64):
        self.pixels = pixels
        # 'position' (of the frame along the walk's axis), 'kind' ('baked' nearest frame, 'exact', or 'none') and
        # 'requested' (the slider's position) ride along with the picture, so a browser test or benchmark can tell
        # what is on screen.
        self.source = ColumnDataSource(self._data("", float("nan"), "none", float("nan"), 1.0),
                                       name="galaxy-image-source")
        self.frames_source = ColumnDataSource({"position": [], "url": []}, name="galaxy-frames-source")
        self.figure = bare_figure(size, size, Range1d(0, pixels), Range1d(0, pixels), "galaxy-image")
        self.glyph = self.figure.image_url(url="url", x="x", y="y", w="w", h="h", anchor="top_left",
                                           global_alpha="alpha", source=self.source).glyph
        self.caption = Label(x=4, y=4, x_units="screen", y_units="screen", text="", text_color="#e8e8f0",
                             text_font_size="10pt", background_fill_color="#0b0b12", background_fill_alpha=0.6,
                             name="galaxy-caption")
        self.note = Label(x=size / 2, y=size / 2, x_units="screen", y_units="screen", text="", text_align="center",
                          text_baseline="middle", text_color="#ffffff", text_font_size="12pt",
                          background_fill_color="#1c2b4a", background_fill_alpha=0.8, name="galaxy-note")
        self.figure.add_layout(self.caption)
        self.figure.add_layout(self.note)
        self.frames_callback = CustomJS(
            args={"main": self.source, "frames": self.frames_source, "caption": self.caption, "MATCH": MATCH_TOLERANCE},
            code=SHOW_NEAREST_JS + "show_nearest(main.data.requested[0]);")
        self.frames_source.js_on_change("data", self.frames_callback)
        self.frames_source.js_on_change("streaming", self.frames_callback)

    def _data(self, url: str, position: float, kind: str, requested: float, alpha: float) -> dict:
        return {"url": [url], "x": [0], "y": [self.pixels], "w": [self.pixels], "h": [self.pixels],
                "position": [float(position)], "kind": [kind], "requested": [float(requested)], "alpha": [alpha]}

    @property
    def slider_js(self) -> tuple[str, dict]:
        """(code, args) of the slider's ``value`` callback that shows the nearest frame in the browser."""
        return (SHOW_NEAREST_JS + "show_nearest(cb_obj.value);",
                {"main": self.source, "frames": self.frames_source, "caption": self.caption,
                 "MATCH": MATCH_TOLERANCE})

    def show(self, url: str, position: float, kind: str, requested: float | None = None, dimmed: bool = False) -> None:
        """Put the picture of the frame at ``position`` on screen (``url`` '' for none)."""
        requested = float(position if requested is None else requested)
        self.source.data = self._data(url, position, kind, requested, DIMMED_ALPHA if dimmed else 1.0)
        name = self.source.tags[0] if self.source.tags else "z"
        self.caption.text = caption_text(position, kind, requested, name) if url else ""

    def set_axis(self, label: str | None, redshift: float | None = None) -> None:
        """A label walk (``label``; None: a redshift walk): the frames' 'position' is the label's value, and every
        frame is at ``redshift``. Carried in the image source's ``tags``, so the browser's caption names the label
        and the scale bar (``physical``) uses the true redshift; set it before ``show``."""
        tags = [] if label is None else [label, float(redshift)]
        if self.source.tags != tags:
            self.source.tags = tags

    def set_frames(self, positions: list[float], urls: list[str]) -> None:
        """The walk's frames on the page, replacing what was there (a new walk, another band)."""
        self.frames_source.data = {"position": [float(at) for at in positions], "url": list(urls)}

    def add_frames(self, positions: list[float], urls: list[str]) -> None:
        """More frames of the same walk: only these travel to the page."""
        if positions:
            self.frames_source.stream({"position": [float(at) for at in positions], "url": list(urls)})

    @property
    def shown(self) -> tuple[float, str]:
        """(the position of the frame on screen, its kind)."""
        return float(self.source.data["position"][0]), str(self.source.data["kind"][0])

    @property
    def dimmed(self) -> bool:
        return float(self.source.data["alpha"][0]) < 1.0


class RealGridView:
    """Survey galaxies nearest the slider's redshift: a grid of stamps, each labelled with its z and object id."""

    def __init__(self, n: int = 12, columns: int = 4, pixels: int = 64, stamp_px: int = 104):
        self.n, self.columns, self.pixels = n, columns, pixels
        rows = -(-n // columns)
        self.gap, self.label_height = 4, 22
        cell_w, cell_h = pixels + self.gap, pixels + self.label_height
        width_units, height_units = columns * cell_w, rows * cell_h
        scale = stamp_px / pixels
        self.image_source = ColumnDataSource(
            {"image": [], "x": [], "y": [], "dw": [], "dh": [], "row": [], "object_id": [], "redshift": []},
            name="real-grid-source",
        )
        self.label_source = ColumnDataSource(
            {"x": [], "y": [], "y_id": [], "z_text": [], "id_text": []}, name="real-grid-labels"
        )
        self.figure = bare_figure(
            int(width_units * scale), int(height_units * scale), Range1d(0, width_units), Range1d(0, height_units),
            "real-grid",
        )
        self.figure.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.image_source)
        # Two lines under each stamp: its redshift, and its object id in a smaller font (ids have ~17 digits).
        self.figure.text(
            x="x", y="y", text="z_text", source=self.label_source, text_color="#e8e8f0", text_font_size="9pt",
            text_align="center", text_baseline="top",
        )
        self.figure.text(
            x="x", y="y_id", text="id_text", source=self.label_source,
            text_color="#a8a8b8", text_font_size="7pt", text_align="center", text_baseline="top",
        )
        self._cells = [
            (col * cell_w + self.gap / 2, height_units - (row + 1) * cell_h + self.label_height)
            for row in range(rows) for col in range(columns)
        ]

    def show(self, neighbours: Neighbours, rgb: np.ndarray) -> None:
        """``rgb``: (k,H,W,3) composites of ``neighbours.images`` (same stretch as the generated galaxy)."""
        k = min(len(neighbours.rows), self.n)
        cells = self._cells[:k]
        self.image_source.data = {
            "image": [rgba_image(rgb[i]) for i in range(k)],
            "x": [c[0] for c in cells], "y": [c[1] for c in cells],
            "dw": [self.pixels] * k, "dh": [self.pixels] * k,
            "row": [int(r) for r in neighbours.rows[:k]],
            "object_id": [str(int(o)) for o in neighbours.object_id[:k]],
            "redshift": [float(z) for z in neighbours.galaxy_redshift[:k]],
        }
        self.label_source.data = {
            "x": [c[0] + self.pixels / 2 for c in cells],
            "y": [c[1] - 1 for c in cells],
            "y_id": [c[1] - 10 for c in cells],
            "z_text": [f"z = {z:.3f}" for z in neighbours.galaxy_redshift[:k]],
            "id_text": [str(int(o)) for o in neighbours.object_id[:k]],
        }

    @property
    def shown_rows(self) -> list[int]:
        return list(self.image_source.data["row"])


def histogram(values: np.ndarray, bins: int = 20, value_range: tuple[float, float] | None = None):
    """Counts and edges of finite ``values`` (empty arrays when there are none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.zeros(0), np.zeros(1)
    return np.histogram(values, bins=bins, range=value_range)


def display_range(sample: np.ndarray, marker: float) -> tuple[float, float]:
    """x range showing the bulk of the real sample (0.5–99.5 percentile) and the current value."""
    points = list(np.percentile(sample, [0.5, 99.5])) if len(sample) else []
    if np.isfinite(marker):
        points.append(marker)
    if not points:
        return 0.0, 1.0
    low, high = min(points), max(points)
    pad = 0.06 * (high - low) if high > low else max(abs(high), 1.0) * 0.1
    return low - pad, high + pad


def padded_range(values, pad: float = 0.06) -> tuple[float, float]:
    """(low, high) around the finite ``values`` with a margin; (0, 1) when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    margin = pad * (high - low) if high > low else max(abs(high), 1.0) * 0.1
    return low - margin, high + margin


class MorphologyView:
    """Per quantity: the real distribution in the redshift window with this frame's value marked, and this
    seed's value along the walk's baked grid with the slider's position marked. Plus a table of the numbers."""

    def __init__(self, width: int = 250, height: int = 170):
        self.histograms, self.series = {}, {}
        self.hist_sources, self.series_sources = {}, {}
        self.value_spans, self.position_spans = {}, {}
        self.hist_ranges = {}
        self.labels = dict(LABELS)  # the table's row names, in the unit shown (app_parts.units.relabel)
        self._window: WindowMorphology | None = None
        self._frame: dict[str, float] = {}
        for name in LIVE_COLUMNS:
            hist_source = ColumnDataSource({"left": [], "right": [], "top": []}, name=f"hist-{name}")
            x_range = Range1d(0, 1)
            # Explicit ranges (Range1d), set as the data change: a DataRange1d over an empty or all-NaN source
            # makes BokehJS warn "could not set initial ranges" on every render.
            fig = figure(width=width, height=height, x_range=x_range, y_range=Range1d(0, 1), toolbar_location=None,
                         tools="", title=LABELS[name], name=f"hist-fig-{name}")
            fig.quad(left="left", right="right", top="top", bottom=0, source=hist_source,
                     fill_color="#7f9cc8", line_color="#4a6590", fill_alpha=0.8)
            span = Span(location=0, dimension="height", line_color="#e4572e", line_width=3, visible=False)
            fig.add_layout(span)
            fig.yaxis.axis_label = "real galaxies"
            fig.title.text_font_size = "10pt"
            self.histograms[name], self.hist_sources[name] = fig, hist_source
            self.value_spans[name], self.hist_ranges[name] = span, x_range

            series_source = ColumnDataSource({"position": [], "value": []}, name=f"series-{name}")
            series_fig = figure(width=width, height=int(height * 0.85), x_range=Range1d(0, 1), y_range=Range1d(0, 1),
                                toolbar_location=None, tools="", name=f"series-fig-{name}")
            series_fig.line("position", "value", source=series_source, line_color="#e4572e", line_width=2)
            series_fig.scatter("position", "value", source=series_source, size=3, color="#e4572e")
            position_span = Span(location=0, dimension="height", line_color="#444", line_dash="dashed", line_width=1)
            series_fig.add_layout(position_span)
            series_fig.xaxis.axis_label = "redshift"
            series_fig.yaxis.axis_label = SHORT_LABELS[name]
            for axis in (*series_fig.axis, *fig.axis):
                axis.axis_label_text_font_size = "9pt"
                axis.major_label_text_font_size = "8pt"
            series_fig.min_border_left = fig.min_border_left = 50
            self.series[name], self.series_sources[name] = series_fig, series_source
            self.position_spans[name] = position_span

    # -- the real distribution --------------------------------------------------------------------------------
    def show_real(self, window: WindowMorphology) -> None:
        self._window = window
        for name in LIVE_COLUMNS:
            sample = window.detected(name)
            counts, edges = histogram(sample)
            self.hist_sources[name].data = {"left": edges[:-1], "right": edges[1:], "top": counts}
            self.histograms[name].y_range.update(start=0, end=1.08 * max(counts.max(initial=0), 1))
            self._rescale(name)

    # -- this frame ---------------------------------------------------------------------------------------------
    def show_frame(self, measurements: dict[str, float], position: float) -> None:
        """This frame's values on the histograms, and its ``position`` along the walk on the series."""
        self._frame = dict(measurements)
        for name in LIVE_COLUMNS:
            value = float(measurements.get(name, np.nan))
            span = self.value_spans[name]
            span.visible = bool(np.isfinite(value))
            if np.isfinite(value):
                span.location = value
            self._rescale(name)
            self.position_spans[name].location = float(position)

    def show_series(self, series: dict[str, np.ndarray], axis: str = "redshift") -> None:
        """The walk's baked grid (``FrameCache.grid_series``: a 'position' column along ``axis``, one per quantity)."""
        for name in LIVE_COLUMNS:
            self.series_sources[name].data = {"position": series["position"], "value": series[name]}
            figure_ = self.series[name]
            figure_.xaxis.axis_label = axis
            figure_.x_range.update(**dict(zip(("start", "end"), padded_range(series["position"]))))
            figure_.y_range.update(**dict(zip(("start", "end"), padded_range(series[name]))))

    def _rescale(self, name: str) -> None:
        sample = self._window.detected(name) if self._window is not None else np.zeros(0)
        low, high = display_range(sample, float(self._frame.get(name, np.nan)))
        x_range = self.hist_ranges[name]
        if (x_range.start, x_range.end) != (low, high):
            x_range.update(start=low, end=high)

    def table_html(self, redshift: float, frame_kind: str) -> str:
        """The numbers behind the plots, for people (and tests) to read; ``redshift``: the frame's."""
        window = self._window
        rows = []
        for name in LIVE_COLUMNS:
            value = float(self._frame.get(name, np.nan))
            sample = window.detected(name) if window is not None else np.zeros(0)
            if len(sample):
                median, low, high = np.percentile(sample, [50, 16, 84])
                real = f"{median:.3g} [{low:.3g}–{high:.3g}]"
                rank = percentile_of(value, sample)
                rank_text = f"{rank:.0f}%" if np.isfinite(rank) else "–"
            else:
                real, rank_text = "–", "–"
            value_text = f"{value:.3g}" if np.isfinite(value) else "not detected"
            rows.append(
                f"<tr><td>{html.escape(self.labels[name])}</td><td class='frame-value'>{value_text}</td>"
                f"<td>{real}</td><td>{rank_text}</td></tr>"
            )
        if window is None:
            caption = "real distribution: loading…"
        elif window.too_few:
            caption = (f"only {window.n_in_window} survey galaxies with {window.z_min:.2f} ≤ z < {window.z_max:.2f}: "
                       "too few for a distribution")
        else:
            state = "" if window.complete else f" (measuring {window.done}/{len(window.rows)}…)"
            caption = (f"real: {window.done} of {window.n_in_window} survey galaxies with "
                       f"{window.z_min:.2f} ≤ z < {window.z_max:.2f}{state}")
        return (
            "<table class='morphology-table' style='font-size:0.9em;border-collapse:collapse'>"
            f"<caption style='caption-side:bottom;text-align:left;color:#666'>{html.escape(caption)}; "
            f"{PIXEL_NOTE}; Sérsic index not measured live (statmorph takes ~0.6 s a stamp)</caption>"
            f"<tr><th style='text-align:left'>quantity</th><th>this frame (z={redshift:.2f}, {frame_kind})</th>"
            "<th>real median [16–84%]</th><th>percentile</th></tr>" + "".join(rows) + "</table>"
        )
