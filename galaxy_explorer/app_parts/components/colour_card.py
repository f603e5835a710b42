"""The colour panels, in HoloViews: the generated population against the survey in colour–magnitude (g − i against
i) and colour–colour (g − r against r − i) diagrams at the slider's redshift, a histogram of one colour, and this
seed's colour along its walk over the survey's median and 16–84% band. Selecting survey galaxies in a plot (a box
or a click on points, a click on a histogram bin) shows them on the survey grid (``SurveyController.select``).

How it stays quick: the card opens closed, and its plots are built when it is first opened. Every plot is a
``hv.DynamicMap`` built once and fed by a ``hv.streams.Pipe`` (one for the three diagrams, one for the track), so a
change re-draws each plot once, in place (~55 ms for the diagrams, ~20 ms for the track, on 2 cores), instead of
replacing a pane (~70 ms a plot, and a new plot in the browser); and a release is drawn once it has settled (its
exact frame, survey window and generated galaxies in), not at each of them. Selections arrive through
``hv.streams.Selection1D`` and are shown in every plot with Bokeh's own selection (the plots' ``selected`` option),
not through ``hv.link_selections``: measured here, that re-drew every plot twice per change (~90 ms a change, 0.4 s
a selection, 0.34 s to build against 0.2 s). The colours themselves are measured elsewhere (the generation thread,
the window's chunks: ``app_parts.state.colours``); this card only draws. Nothing is drawn while the slider is
dragged or the card is closed: the panels follow on release, like the morphology statistics.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn

from galaxy_explorer.app_parts.controllers.colour_controller import (
    ColourController,
    empty_survey_table,
    histogram_edges,
    median_range,
    outside,
    population_table,
    rows_in_bins,
    seed_track,
    survey_table,
)
from galaxy_explorer.app_parts.controllers.population import PopulationController
from galaxy_explorer.app_parts.controllers.survey_controller import SurveyController
from galaxy_explorer.app_parts.controllers.walk_controller import WalkController, requested_redshift
from galaxy_explorer.app_parts.state.colours import APERTURE_NOTE, COLOUR_COLUMNS, COLOUR_LABELS
from galaxy_explorer.app_parts.state.session import UiThread
from galaxy_explorer.app_parts.state.walk import REDSHIFT_AXIS, Frame

hv.renderer("bokeh")  # the backend is loaded when the server starts, not when a visitor's first colour card is built

# Drawn once nothing has changed for SETTLE_MS (a release brings the exact frame, then the survey window, then the 12
# generated galaxies in batches of 4: one re-draw, not five), or every MAX_WAIT_MS while changes keep coming (a bake).
# A re-draw costs the server ~75 ms and the browser four plots' worth of drawing, and a visitor stepping the slider
# release after release would otherwise wait for it at every step (measured: bench_app_latency.py --colour-card).
SETTLE_MS = 800
MAX_WAIT_MS = 5000
TITLE = "Colour: the generated population against the survey at this redshift"
CLOSED_TITLE = TITLE + " (click to open)"
# The plots are built when the card is first opened: four HoloViews plots cost a page ~0.5 s of the server's time to
# build and ~75 ms to re-draw after a release; built on every page, they slowed every visitor's slider and exact
# frames on 2 cores (bench_load.py, docs/benchmarks.md).
CLOSED_NOTE = ("Colour–magnitude (g − i against i) and colour–colour (g − r against r − i) diagrams of the "
               "generated population and the survey galaxies at this redshift, a colour histogram, and this seed's "
               "colour along its walk against the survey's; select survey galaxies in them to see them on the grid. "
               "<b>Open this card to draw them.</b>")
SURVEY_COLOUR, MODEL_COLOUR, SEED_COLOUR, SELECTED_COLOUR = "#4a6590", "#f28e2b", "#d62728", "#1b9e77"
COLOURS_SHOWN = {"g − r": "g_r", "r − i": "r_i", "g − i": "g_i"}  # the histogram's and the track's colour
DIMENSIONS = {name: hv.Dimension(name, label=COLOUR_LABELS[name]) for name in COLOUR_COLUMNS}
REDSHIFT = hv.Dimension("z", label="redshift z")
SIZE = {"width": 340, "height": 300}
# No toolbars: with the three toolbars on screen the slider's picture took ~25 ms longer to paint (Chromium, 2 cores,
# bench_app_latency.py --colour-card: 81–93 ms against 54–62 ms). So the tools are fixed: a drag draws a selection
# box, a click picks (shift adds), hovering names the galaxy; the axes follow the data, so nothing needs zooming back.
SELECT_TOOLS = ["box_select", "tap", "hover"]
LEGEND = (f"<span style='color:{SURVEY_COLOUR}'>●</span> survey galaxies in the window "
          f"(<span style='color:{SELECTED_COLOUR}'>●</span> selected) · "
          f"<span style='color:{MODEL_COLOUR}'>▲</span> "
          f"generated (model; short ticks in the histogram) · <span style='color:{SEED_COLOUR}'>★</span> this frame "
          "(tall tick)")
HOW_TO_SELECT = ("Select survey galaxies: drag a box or click points in either diagram, or click a "
                 "histogram bar; the survey grid shows them. Shift adds to a selection.")


@dataclass(frozen=True)
class SurveyLayer:
    """What the survey's plots draw: the window's galaxies, which are selected, and the histogram's colour and bins."""

    table: dict = field(default_factory=empty_survey_table)
    selected: frozenset = frozenset()  # survey rows
    colour: str = "g_r"
    edges: np.ndarray = field(default_factory=lambda: histogram_edges(np.zeros(0)))
    bins: tuple = ()  # histogram bins selected (when the selection came from the histogram)

    def indices(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(np.isin(self.table["row"], list(self.selected)))]


@dataclass(frozen=True)
class ModelLayer:
    """What the model's layers draw: the generated population, this frame, and how tall the histogram's rug is."""

    population: dict
    seed: dict
    colour: str = "g_r"
    rug: float = 1.0


@dataclass(frozen=True)
class Layers:
    """What the three diagrams draw, sent through one pipe so that a change re-draws each plot once."""

    survey: SurveyLayer
    model: ModelLayer


@dataclass(frozen=True)
class TrackLayer:
    """The colour-against-redshift plot: the survey's band, this seed's track, this frame and the slider's z."""

    band: dict
    track: dict
    seed: dict
    colour: str = "g_r"
    redshift: float = 0.5


def _columns(table: dict, names) -> dict:
    return {name: table[name] for name in names}


def _name(figure_name: str, source_name: str):
    """A hook naming the Bokeh figure and the survey layer's data source, for browser tests to find them."""
    def hook(plot, _element) -> None:
        if plot.state.name != figure_name:
            plot.state.name = figure_name
        source = plot.handles.get("source")
        if source is not None and source.name != source_name:
            source.name = source_name
    return hook


def survey_points(x: str, y: str):
    def draw(data: Layers):
        survey = data.survey
        return hv.Points(_columns(survey.table, (x, y, "object_id", "z", "row")), kdims=[DIMENSIONS[x], DIMENSIONS[y]],
                         vdims=["object_id", "z", "row"], group="Survey").opts(selected=survey.indices())
    return draw


def model_points(x: str, y: str):
    """The generated population and this frame, one layer (a marker, colour and size per 'kind')."""
    def draw(data: Layers):
        table = model_table(data.model)
        return hv.Points(_columns(table, (x, y, "seed", "kind")), kdims=[DIMENSIONS[x], DIMENSIONS[y]],
                         vdims=["seed", "kind"], group="Model")
    return draw


def model_table(model: ModelLayer) -> dict[str, np.ndarray]:
    """The population's rows, then this frame's, each with its 'kind' ('generated' or 'this frame')."""
    population, seed = model.population, model.seed
    table = {name: np.concatenate([np.asarray(population[name]), np.asarray(seed[name])])
             for name in ("seed", "z", *COLOUR_COLUMNS)}
    kinds = ["generated"] * len(population["seed"]) + ["this frame"] * len(seed["seed"])
    table["kind"] = np.asarray(kinds, dtype=object)
    return table


def survey_histogram(data: Layers):
    survey = data.survey
    counts, edges = np.histogram(survey.table[survey.colour], bins=survey.edges)
    return hv.Histogram((edges, counts), kdims=[DIMENSIONS[survey.colour]],
                        vdims=[hv.Dimension("count", label="survey galaxies")])


def selected_histogram(data: Layers):
    """The selected galaxies' share of each bar, whichever plot they were selected in."""
    survey = data.survey
    chosen = np.isin(survey.table["row"], list(survey.selected))
    counts, edges = np.histogram(np.asarray(survey.table[survey.colour])[chosen], bins=survey.edges)
    return hv.Histogram((edges, counts), kdims=[DIMENSIONS[survey.colour]],
                        vdims=[hv.Dimension("count", label="survey galaxies")], group="Selected")


def model_rug(data: Layers):
    """The generated galaxies' colours as short ticks under the bars, this frame's as a taller one."""
    colour, table = data.survey.colour, model_table(data.model)
    height = np.where(table["kind"] == "generated", 0.35, 0.6) * data.model.rug
    return hv.Spikes((table[colour], height, table["kind"]), kdims=[DIMENSIONS[colour]], vdims=["h", "kind"],
                     group="Model")


def colour_track(data: TrackLayer):
    colour, band = DIMENSIONS[data.colour], data.band
    return (hv.Area((band["z"], band["low"], band["high"]), kdims=[REDSHIFT], vdims=[colour, "high"], group="Band")
            * hv.Curve((band["z"], band["median"]), kdims=[REDSHIFT], vdims=[colour], group="Band")
            * hv.Curve((data.track["z"], data.track[data.colour]), kdims=[REDSHIFT], vdims=[colour], group="Track")
            * hv.Points((data.seed["z"], data.seed[data.colour]), kdims=[REDSHIFT, colour], group="Seed")
            * hv.VLine(float(data.redshift)))


KIND = hv.dim("kind")
MODEL_STYLE = dict(color=KIND.categorize({"generated": MODEL_COLOUR, "this frame": SEED_COLOUR}),
                   marker=KIND.categorize({"generated": "triangle", "this frame": "star"}),
                   size=KIND.categorize({"generated": 9, "this frame": 18}), line_color="black", line_width=0.5)


def _options(name: str, hover: list[tuple[str, str]]) -> list:
    common = dict(framewise=True, show_legend=False, default_tools=[])
    return [
        hv.opts.Points("Survey", color=SURVEY_COLOUR, size=5, alpha=0.55, selection_color=SELECTED_COLOUR,
                       selection_alpha=1.0, nonselection_alpha=0.2, tools=SELECT_TOOLS,
                       active_tools=["box_select", "tap"], hover_tooltips=hover, hooks=[_name(name, f"{name}-survey")],
                       **common),
        hv.opts.Points("Model", tools=["hover"], hover_tooltips=[("", "@kind, seed @seed")], **MODEL_STYLE, **common),
        hv.opts.Overlay(**SIZE, title="", toolbar=None),
    ]


class ColourCard(pn.viewable.Viewer):
    """The colour diagrams and this seed's colour track. Watches the walk, the survey side, the population and the
    survey's colour bands; a selection in a plot goes to ``survey_side.select`` (the one call into a controller)."""

    def __init__(self, walk: WalkController, survey_side: SurveyController, population: PopulationController,
                 colours: ColourController, ui: UiThread, **params):
        super().__init__(**params)
        self._walk, self._survey_side, self._population, self._colours, self._ui = (walk, survey_side, population,
                                                                                      colours, ui)
        self._dirty: set[str] = set()
        self._survey = SurveyLayer()
        # The selection each plot was last drawn with: a selection event that only repeats it is the plot's echo of
        # the server's own change (the ``selected`` option), not a person's.
        self._drawn: dict[str, list[int]] = {"cmd": [], "ccd": [], "hist": []}
        self.colour = pn.widgets.RadioButtonGroup(options=COLOURS_SHOWN, value="g_r", width=220,
                                                  css_classes=["colour-choice"])
        self.header = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["colour-header"])
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["colour-table"])
        self.track_note = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["colour-track-note"])
        self.built = False  # the plots are built when the card is first opened
        self._layout = pn.Card(pn.pane.HTML(CLOSED_NOTE, sizing_mode="stretch_width", margin=(5, 10)),
                               title=CLOSED_TITLE, collapsed=True, collapsible=True, sizing_mode="stretch_width",
                               css_classes=["colour-card"])
        self._layout.param.watch(self._opened, "collapsed")
        self.colour.param.watch(lambda *_events: self._changed("survey", "model", "track"), "value")
        walk.param.watch(lambda *_events: self._changed("model", "track"), ["frame", "requested"])
        walk.param.watch(lambda *_events: self._changed("track"), ["cache", "revision"])
        walk.param.watch(self._drag_ended, "dragging")
        survey_side.param.watch(lambda *_events: self._changed("survey"), ["window", "selection"])
        population.param.watch(lambda *_events: self._changed("model"), ["population", "revision"])
        colours.param.watch(lambda *_events: self._changed("track"), "bands")
        self._dirty = {"survey", "model", "track"}
        self._drawn_at = self._changed_at = time.perf_counter()  # of the last re-draw, and of the last change

    def open(self) -> None:
        """Open the card, as a click on its header does (a notebook, tests)."""
        self._layout.collapsed = False

    def _opened(self, *_events) -> None:
        """The card was opened: the first time, its plots are built (and the survey's colour band measured); each
        time, what changed while it was closed is drawn."""
        if self._layout.collapsed:
            return
        if not self.built:
            self._colours.activate()
            self._build_plots()
            self._layout.param.update(title=TITLE, objects=[
                self.header, self.table,
                pn.Row(pn.pane.HTML("Colour in the histogram and along the walk:", margin=(12, 5, 0, 10)),
                       self.colour),
                pn.Row(*self.panes[:3]),  # (a FlexBox leaves HoloViews plots 0 px wide)
                pn.pane.HTML("<b>This seed along its walk</b> against the survey at every redshift", margin=(0, 10)),
                self.panes[3], self.track_note])
            self.built = True
        self._changed()

    def __panel__(self):
        return self._layout

    # -- the plots, built once ------------------------------------------------------------------------------------
    def _build_plots(self) -> None:
        self.pipe = hv.streams.Pipe(data=Layers(self._survey, self._model_layer()))
        self.track_pipe = hv.streams.Pipe(data=self._track_layer())
        hover = [("object id", "@object_id"), ("z", "@z{0.000}")]
        # The survey's layers are DynamicMaps of their own: a selection stream needs one element to listen to.
        self.survey_maps = {
            "cmd": hv.DynamicMap(survey_points("i_mag", "g_i"), streams=[self.pipe]),
            "ccd": hv.DynamicMap(survey_points("r_i", "g_r"), streams=[self.pipe]),
            "hist": hv.DynamicMap(survey_histogram, streams=[self.pipe]),
        }
        cmd = (self.survey_maps["cmd"] * hv.DynamicMap(model_points("i_mag", "g_i"), streams=[self.pipe])).opts(
            *_options("colour-cmd", hover))
        ccd = (self.survey_maps["ccd"] * hv.DynamicMap(model_points("r_i", "g_r"), streams=[self.pipe])).opts(
            *_options("colour-ccd", hover))
        hist = (self.survey_maps["hist"] * hv.DynamicMap(selected_histogram, streams=[self.pipe])
                * hv.DynamicMap(model_rug, streams=[self.pipe])).opts(
            # Bars keep their colour when clicked (the selected galaxies are the green bars over them); the bars'
            # own selection is set to the bins selected (none after a selection elsewhere), which Histogram has
            # no ``selected`` option for: a hook.
            hv.opts.Histogram(color=SURVEY_COLOUR, alpha=0.45, line_color="white", nonselection_alpha=0.45,
                              selection_alpha=0.45, tools=SELECT_TOOLS, active_tools=["box_select", "tap"],
                              framewise=True, default_tools=[],
                              hooks=[_name("colour-hist", "colour-hist-survey"), self._show_bins]),
            hv.opts.Histogram("Selected", color=SELECTED_COLOUR, alpha=0.9, line_color="white", tools=[], hooks=[]),
            hv.opts.Spikes("Model", color=MODEL_STYLE["color"], line_width=3, framewise=True),
            hv.opts.Overlay(**SIZE, show_legend=False, toolbar=None))
        track = hv.DynamicMap(colour_track, streams=[self.track_pipe]).opts(
            hv.opts.Area(color="#9fb3d6", alpha=0.45, line_alpha=0, framewise=True),
            hv.opts.Curve("Band", color=SURVEY_COLOUR, line_width=2, framewise=True),
            hv.opts.Curve("Track", color=SEED_COLOUR, line_width=2, framewise=True),
            hv.opts.Points("Seed", color=SEED_COLOUR, marker="star", size=18, line_color="black", framewise=True),
            hv.opts.VLine(color="#444", line_dash="dashed", line_width=1),
            hv.opts.Overlay(width=700, height=260, show_legend=False, toolbar=None, default_tools=[],
                            hooks=[_name("colour-track", "colour-track-band")]))
        self.panes = [pn.pane.HoloViews(plot, linked_axes=False, css_classes=[f"colour-{key}"])
                      for key, plot in (("cmd", cmd), ("ccd", ccd), ("hist", hist), ("track", track))]
        # A box or a click in a diagram, a click on a bar: the indices of what was selected in that plot.
        self.selections = {key: hv.streams.Selection1D(source=dmap) for key, dmap in self.survey_maps.items()}
        for key in ("cmd", "ccd"):
            self.selections[key].add_subscriber(lambda index, key=key: self._points_selected(key, index))
        self.selections["hist"].add_subscriber(self._bins_selected)

    def _show_bins(self, plot, _element) -> None:
        """The histogram's own selection: the bins selected there, or none (a Histogram has no ``selected``)."""
        selected = plot.handles["source"].selected
        if list(selected.indices) != list(self._survey.bins):
            selected.indices = list(self._survey.bins)

    # -- what to draw -------------------------------------------------------------------------------------------
    def _model_layer(self) -> ModelLayer:
        """The population beside the grid (made at the slider's redshift on release) and the frame on screen."""
        counts = np.histogram(self._survey.table[self.colour.value], bins=self._survey.edges)[0]
        return ModelLayer(population_table(self._population.population), frame_table(self._walk.frame),
                          self.colour.value, float(max(counts.max(initial=0), 1)))

    def _track_layer(self) -> TrackLayer:
        bands, colour = self._colours.bands, self.colour.value
        band = bands.summary(colour) if bands is not None else {k: np.zeros(0) for k in ("z", "median", "low", "high")}
        return TrackLayer(band, seed_track(self._walk.cache), frame_table(self._walk.frame), colour,
                          requested_redshift(self._walk))

    def _survey_layer(self) -> SurveyLayer:
        side = self._survey_side
        table = survey_table(side.window, side.survey)
        selected = frozenset(side.selection or ())
        colour = self.colour.value
        bins = self._survey.bins if selected and selected == self._survey.selected and colour == self._survey.colour \
            else ()
        return SurveyLayer(table, selected, colour, histogram_edges(table[colour]), bins)

    # -- when to draw ---------------------------------------------------------------------------------------------
    @property
    def showing(self) -> bool:
        """Whether the plots are on screen and may be drawn now: built, open, and the slider not being dragged."""
        return self.built and not self._layout.collapsed and not (self._walk.dragging and self._ui.served)

    def _changed(self, *what: str) -> None:
        """Something the plots show changed: drawn once things settle, or once the slider is released or the card
        opened."""
        if what:
            self._changed_at = time.perf_counter()
        self._dirty.update(what)
        if self.showing and self._dirty:
            self._ui.call_later("colour-card", SETTLE_MS, self._redraw)

    def _drag_ended(self, *_events) -> None:
        self._changed()

    def _redraw(self) -> None:
        if not self.showing:
            return
        now = time.perf_counter()
        quiet_ms, waited_ms = 1000.0 * (now - self._changed_at), 1000.0 * (now - self._drawn_at)
        if self._ui.served and quiet_ms < SETTLE_MS and waited_ms < MAX_WAIT_MS:  # still changing: wait a little more
            self._ui.call_later("colour-card", int(SETTLE_MS - quiet_ms) + 1, self._redraw)
            return
        dirty, self._dirty = self._dirty, set()
        self._drawn_at = now
        if "survey" in dirty:
            self._survey = self._survey_layer()
            indices = self._survey.indices()
            self._drawn = {"cmd": indices, "ccd": indices, "hist": list(self._survey.bins)}
        if "survey" in dirty or "model" in dirty:
            self.pipe.send(Layers(self._survey, self._model_layer()))
        if "track" in dirty:
            self.track_pipe.send(self._track_layer())
        self._show_text()

    # -- selections -----------------------------------------------------------------------------------------------
    def _points_selected(self, key: str, index: list[int]) -> None:
        if sorted(index) == self._drawn[key]:
            return
        rows = np.asarray(self._survey.table["row"])[[i for i in index if 0 <= i < len(self._survey.table["row"])]]
        where = ("colour–magnitude diagram, g − i against i" if key == "cmd"
                 else "colour–colour diagram, g − r against r − i")
        self._select(rows, f"picked in the {where}", ())

    def _bins_selected(self, index: list[int]) -> None:
        if sorted(index) == self._drawn["hist"]:
            return
        layer = self._survey
        bins = tuple(sorted(int(i) for i in index if 0 <= i < len(layer.edges) - 1))
        rows = rows_in_bins(layer.table, layer.colour, layer.edges, bins)
        label = COLOUR_LABELS[layer.colour]
        note = (f"histogram: {label} between {layer.edges[bins[0]]:.2f} and {layer.edges[bins[-1] + 1]:.2f}"
                if bins and bins == tuple(range(bins[0], bins[-1] + 1)) else f"{len(bins)} histogram bars of {label}")
        self._select(rows, note, bins)

    def _select(self, rows: np.ndarray, note: str, bins: tuple) -> None:
        """A selection in a plot (a Bokeh event, under the document lock): the survey grid shows those galaxies;
        every plot shows it on its next draw."""
        self._survey = SurveyLayer(self._survey.table, frozenset(int(r) for r in rows), self._survey.colour,
                                   self._survey.edges, bins if len(rows) else ())
        self._survey_side.select(rows if len(rows) else None, note)
        self._changed("survey")

    # -- text -----------------------------------------------------------------------------------------------------
    def _show_text(self) -> None:
        population = self._population.population
        survey = self._survey
        self.header.object = header_html(self._survey_side, population, self._walk.frame, len(survey.table["row"]),
                                         outside(survey.table[survey.colour], survey.edges))
        self.table.object = summary_html(self._survey.table, population_table(population), self._walk.frame)
        self.track_note.object = track_note(self._walk, self._colours.bands)


def frame_table(frame: Frame | None) -> dict[str, np.ndarray]:
    """This frame as a one-row table ('seed', 'z' and its colours); no rows before the first frame."""
    if frame is None:
        return {"seed": np.zeros(0, np.int64), "z": np.zeros(0), **{name: np.zeros(0) for name in COLOUR_COLUMNS}}
    seed = frame.walk.seed if frame.walk is not None else 0
    return {"seed": np.asarray([seed]), "z": np.asarray([frame.redshift]),
            **{name: np.asarray([frame.measurements.get(name, np.nan)], dtype=np.float64) for name in COLOUR_COLUMNS}}


def header_html(survey_side, population, frame: Frame | None, n_shown: int, left_out: int = 0) -> str:
    """What the plots show, in words: the survey window, the model's galaxies, this frame and how they are measured
    (``left_out``: far outliers the histogram leaves out)."""
    window, survey = survey_side.window, survey_side.survey
    if survey is None or window is None:
        survey_text = "Survey: loading…"
    else:
        name = "the built-in <b>SYNTHETIC</b> survey" if survey_side.synthetic else html.escape(Path(survey.path).name)
        subset = (f" (a random {len(window.rows)} of {window.n_in_window})" if window.n_in_window > len(window.rows)
                  else "")
        state = "" if window.complete else f", measuring {window.done}/{len(window.rows)}…"
        survey_text = (f"Survey: {n_shown} galaxies of {name} with {window.z_min:.2f} ≤ z &lt; {window.z_max:.2f}"
                       f"{subset}{state}" + (f" ({left_out} far outside the histogram's range)" if left_out else ""))
    if population is None:
        model_text = "generated population: after the slider is released"
    else:
        made = sum(population.get(seed) is not None for seed in population.grid)
        seeds = [int(round(s)) for s in population.grid]
        model_text = (f"generated (model): {made} of {len(seeds)} seeds ({seeds[0]}–{seeds[-1]}) at "
                      f"z = {population.key.at_redshift:.2f}")
    frame_text = "" if frame is None else f"; this frame: {html.escape(frame.walk.name if frame.walk else 'seed')} " \
                                          f"at z = {frame.redshift:.2f}"
    return (f"<div>{survey_text}; {model_text}{frame_text}.</div><div>{LEGEND}</div>"
            f"<div style='color:#555'>{html.escape(APERTURE_NOTE)}; i: aperture magnitude, AB (zero point 27). "
            f"{HOW_TO_SELECT}</div>")


def summary_html(survey: dict, population: dict, frame: Frame | None) -> str:
    """Per colour: the survey window's median [16–84%], the generated population's median and its offset, and this
    frame's value."""
    rows = []
    for name in COLOUR_COLUMNS:
        real, real_low, real_high, n_real = median_range(survey[name])
        model, _, _, n_model = median_range(population[name])
        value = float(frame.measurements.get(name, np.nan)) if frame is not None else float("nan")
        real_text = f"{real:.2f} [{real_low:.2f}–{real_high:.2f}] ({n_real})" if n_real else "–"
        model_text = f"{model:.2f} ({n_model})" if n_model else "–"
        offset = f"{model - real:+.2f}" if n_model and n_real else "–"
        value_text = f"{value:.2f}" if np.isfinite(value) else "–"
        rows.append(f"<tr><td>{html.escape(COLOUR_LABELS[name])}</td><td>{real_text}</td><td>{model_text}</td>"
                    f"<td class='colour-offset'>{offset}</td><td>{value_text}</td></tr>")
    return ("<table class='colour-table' style='font-size:0.9em;border-collapse:collapse'>"
            "<tr><th style='text-align:left'>colour or magnitude</th><th>survey median [16–84%] (n)</th>"
            "<th>generated median (n)</th><th>generated − survey</th><th>this frame</th></tr>"
            + "".join(rows) + "</table>")


def track_note(walk: WalkController, bands) -> str:
    cache = walk.cache
    if cache is not None and cache.key.axis != REDSHIFT_AXIS:
        walk_text = (f"A walk along {html.escape(cache.key.axis)}: all its frames are at one redshift, so only this "
                     "frame is marked.")
    else:
        name = html.escape(cache.key.name) if cache is not None else "this seed"
        walk_text = (f"Red line: {name} along the walk's baked grid, each frame the model's answer at that redshift "
                     "from the same noise — <b>not one galaxy's history</b>.")
    band_text = ("Band: the survey's median and 16–84% in redshift bins of 0.1, measured on a fixed random sample "
                 f"({len(bands.rows)} galaxies; bins with fewer than 8 left empty)." if bands is not None
                 else "The survey's band: measuring…")
    return f"<div style='color:#555'>{walk_text} {band_text} Dashed line: the slider.</div>"
