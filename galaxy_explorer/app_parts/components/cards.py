"""The app's page in thin Viewer components. Each watches output parameters of the controllers (and the band it is
given) and redraws its own panes; none calls into a controller. Each can be built and checked without a browser:
give it the controllers, or any ``param`` objects with the same parameters, and a headless ``UiThread``.

- ``GalaxyCard``: the generated galaxy, the redshift slider, bake progress and the frame's status line.
- ``SurveyCard``: the survey galaxies nearest the slider's redshift, or those selected in the colour plots.
- ``MorphologyCard``: this frame's morphology against the survey's in the redshift window, and along the walk.
- ``ModelInfo``: what model and survey are loaded. ``Banners``: what the page shows and is not, problems, toasts.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import panel as pn
import param

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.app_parts.components.display import DEFAULT_LOOK, ColourBar, Look, encode_in_background, frame_url, survey_pictures
from galaxy_explorer.app_parts.components.physical import PhysicalOverlay, shared_table
from galaxy_explorer.app_parts.components.player import WalkPlayer
from galaxy_explorer.app_parts.components.units import UNITS, WindowInUnit, convert_measurements, convert_series, relabel
from galaxy_explorer.app_parts.controllers.real import LIVE_COLUMNS, NEAR_TOLERANCE, Neighbours
from galaxy_explorer.app_parts.state.session import SessionMessages, UiThread
from galaxy_explorer.app_parts.controllers.survey_controller import SurveyController
from galaxy_explorer.app_parts.components.views import COLOUR, MainImageView, MorphologyView, RealGridView
from galaxy_explorer.app_parts.controllers.walk_controller import WalkController, requested_redshift, untrained
from galaxy_explorer.app_parts.state.walk import REDSHIFT_AXIS

# The status line and statistics follow the image after this delay, so the image is painted first: they re-draw
# eight small plots and re-lay out text, which would otherwise delay the browser's paint of the image. While the
# slider is dragged they follow at most every DRAG_DETAILS_MS (the image itself is swapped in the browser).
DETAILS_DELAY_MS = 60
DRAG_DETAILS_MS = 300
NO_MODEL = ("**No model loaded.** Enter the path of a diffusion checkpoint (.safetensors) in the sidebar under "
            "*Model and data* and press *Load*.")
NEAREST_TITLE = "Survey galaxies nearest this redshift"
SELECTED_TITLE = "Survey galaxies selected in the colour plots"
PREPARING_SURVEY = ("Preparing the built-in synthetic survey (written once on the first start, which takes a minute "
                    "or two)…")


def inline_html(text: str) -> str:
    """One status line as HTML: escaped, with ``**bold**`` and ``*italic*`` as in Markdown. (An HTML pane: a Markdown pane costs
    ~15 ms of the server's time per update under load, and status lines change on every release.)"""
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text, quote=False))
    return re.sub(r"\*(.+?)\*", r"<i>\1</i>", text)


def frame_kind(walk: WalkController) -> str:
    """'exact' when the frame on screen is at the slider's position itself, 'previous' when it is left from the walk
    before (while the new walk's first frame is made), else 'baked' (the nearest one)."""
    frame = walk.frame
    if frame is None:
        return "none"
    if walk.cache is not None and frame.walk is not None and frame.walk != walk.cache.key:
        return "previous"
    return "exact" if frame.matches(walk.requested) else "baked"


class GalaxyCard(pn.viewable.Viewer):
    """The generated galaxy, large, with the redshift slider under it.

    The walk's frames go to the page once each (``MainImageView.frames_source``); the slider's JavaScript shows
    the nearest of them while it is dragged, with no server round trip. This card writes the picture on screen
    only when the slider is at rest: a release, an exact frame, a new walk or band.
    """

    band = param.Selector(default=COLOUR, objects=[COLOUR, *BANDS])
    look = param.ClassSelector(class_=Look, default=DEFAULT_LOOK, doc="Stretch, Q and upscaling of the pictures")

    def __init__(self, walk: WalkController, ui: UiThread, slider: pn.widgets.Widget, **params):
        super().__init__(**params)
        self._walk, self._ui = walk, ui
        self.view = MainImageView()
        code, args = self.view.slider_js
        # Along a label walk (the image source's tags, MainImageView.set_axis) the frames are the label's values:
        # the redshift slider then picks no frame (its release starts the walk at the new redshift).
        slider.jscallback(args=args, value="if (main.tags.length) { return; }\n" + code)
        self.overlay = PhysicalOverlay(self.view.figure, self.view.source, slider, pixels=self.view.pixels)
        self.player = WalkPlayer(slider, self.view.frames_source)
        self.figure = pn.pane.Bokeh(self.view.figure)
        self.bake_progress = pn.indicators.Progress(value=0, max=walk.grid_frames, width=448, height=14,
                                                    bar_color="info")
        self.bake_status = pn.pane.HTML("", width=448, margin=(0, 10), css_classes=["bake-status"])
        self.frame_status = pn.pane.HTML("Loading the model…", width=448, margin=(0, 10),
                                             css_classes=["frame-status"])
        self.colour_bar = ColourBar()
        self._layout = pn.Card(self.figure, pn.pane.Bokeh(self.colour_bar.figure), slider,
                               pn.pane.Bokeh(self.overlay.times_figure, margin=(0, 10)), self.player,
                               self.bake_progress, self.bake_status, self.frame_status,
                               title="Generated galaxy (one fixed noise seed)", collapsible=False, width=490)
        self._sent: set[float] = set()  # positions of the frames on the page…
        self._sent_for: tuple = (None, None, None)  # …for this (cache, band, look)
        self._page_ready = not ui.served  # served: frames go once the page has rendered (page_ready)
        walk.param.watch(self._show_frames, ["cache", "revision"])
        walk.param.watch(self._show_frame, ["cache", "frame", "requested", "dragging"])
        walk.param.watch(self._show_note, ["progress", "frame", "cache"])
        walk.param.watch(self._show_bake, ["cache", "baked", "bake_error"])
        walk.param.watch(self._show_status, ["model_state"])
        self.param.watch(self._band_changed, ["band", "look"])
        self._show_frames()
        self._show_frame()

    def __panel__(self):
        return self._layout

    def _url(self, frame) -> str:
        """The frame's picture in the band and look on screen."""
        return frame_url(frame, self.band, self.look)

    def _band_changed(self, *_events) -> None:
        self.overlay.show_band(self.band)
        self.colour_bar.show(self.band, self.look)
        cache = self._walk.cache
        if self._ui.served and cache is not None and not self.look.is_default:
            encode_in_background(cache.frames(), self.band, self.look, lambda: self._ui.call(self._redraw))
        else:
            self._redraw()

    def _redraw(self) -> None:
        """Every frame on the page, and the one on screen, in the band and look now chosen."""
        self._show_frames()
        self._show_frame()

    def page_ready(self) -> None:
        """Served: the page has rendered; now send it the walk's frames (they are not needed for the first
        picture, and would make the first page a megabyte heavier)."""
        self._page_ready = True
        self._show_frames()

    def _show_frames(self, *_events) -> None:
        """Send the walk's frames the page does not have yet (all of them for a new walk or band): the grid, and
        exact frames where this session's slider was (other sessions' exact frames stay on the server)."""
        cache, walk = self._walk.cache, self._walk
        if cache is None or not self._page_ready:
            return
        frames = [f for f in cache.frames() if f.exact_grid or f.matches(walk.requested) or f is walk.frame]
        if self._sent_for != (cache, self.band, self.look):
            self.view.set_frames([f.position for f in frames], [self._url(f) for f in frames])
            self._sent_for, self._sent = (cache, self.band, self.look), {f.position for f in frames}
        else:
            new = [f for f in frames if f.position not in self._sent]
            self.view.add_frames([f.position for f in new], [self._url(f) for f in new])
            self._sent.update(f.position for f in new)
        self._ui.push(self.figure)

    def _show_frame(self, *_events) -> None:
        """The picture at rest, in a message of its own (while dragging the browser draws it); the status line a
        moment later."""
        walk, frame = self._walk, self._walk.frame
        dragging = walk.dragging and self._ui.served
        if not dragging:
            if frame is None:
                self.view.show("", float("nan"), "none", walk.requested)
            else:
                kind = frame_kind(walk)
                if kind != "previous" and self._page_ready and frame.position not in self._sent \
                        and self._sent_for == (walk.cache, self.band, self.look):  # keep the page's frames in step
                    self.view.add_frames([frame.position], [self._url(frame)])
                    self._sent.add(frame.position)
                key = frame.walk
                label_walk = key is not None and key.axis != REDSHIFT_AXIS
                self.view.set_axis(key.axis if label_walk else None, key.at_redshift if label_walk else None)
                self.view.show(self._url(frame), frame.position, kind, requested=walk.requested,
                               dimmed=kind == "previous")
            self.overlay.show_frame(float("nan") if frame is None else frame.redshift)
            self._ui.push(self.figure)
        self._ui.call_later("frame-status", DRAG_DETAILS_MS if dragging else DETAILS_DELAY_MS, self._show_status)

    def _show_note(self, *_events) -> None:
        """Over the picture, while a new frame is made: what, and how far along."""
        walk = self._walk
        note = walk.progress
        if not note and frame_kind(walk) == "previous":
            note = f"Generating {walk.cache.key.name}…"
        if self.view.note.text != note:
            self.view.note.text = note
            self._ui.push(self.figure)

    def _show_status(self, *_events) -> None:
        walk, frame = self._walk, self._walk.frame
        self.overlay.show_times(requested_redshift(walk))
        if walk.generator is None:
            text = "Loading the model…" if walk.model_state == "loading" else NO_MODEL
        elif walk.cache is None:
            return
        elif frame is None or frame_kind(walk) == "previous":
            text = f"Generating {walk.cache.key.name} at {walk.cache.key.describe(walk.requested)}…"
        elif frame_kind(walk) == "exact":
            text = f"{walk.cache.key.name.capitalize()} at {walk.cache.key.describe(frame.position)} (exact frame)"
        else:  # (a label walk's positions are the label's values: WalkKey.describe says so)
            key = walk.cache.key
            text = (f"{key.name.capitalize()}: nearest baked frame, {key.describe(frame.position, 3)} "
                    f"— exact frame for {key.describe(walk.requested)} on release")
        self.frame_status.object = inline_html(text)

    def _show_bake(self, *_events) -> None:
        cache = self._walk.cache
        if cache is None:
            return
        if self._walk.bake_error:
            self.bake_progress.bar_color = "danger"
            self.bake_status.object = inline_html(f"Baking stopped: {self._walk.bake_error}")
            return
        n = cache.n_baked
        self.bake_progress.param.update(value=n, max=len(cache.grid), bar_color="info", visible=not cache.complete)
        if cache.complete:
            took = f" in {cache.bake_seconds:.1f} s" if cache.bake_seconds else ""
            text = (f"All {len(cache.grid)} frames baked{took}: dragging shows the nearest baked frame, releasing "
                    "computes the exact one.")
        else:
            text = f"Baking frames for smooth dragging: {n}/{len(cache.grid)} ({cache.key.name})"
        self.bake_status.object = inline_html(text)


def neighbours_text(neighbours: Neighbours) -> str:
    """The line above the survey galaxies: how near they are, or that none are near, or what was selected."""
    if neighbours.selected:
        shown = len(neighbours.rows)
        order = f"the {shown} nearest z = {neighbours.redshift:.2f}" if neighbours.selected > shown else "all"
        return (f"**{neighbours.selected} survey galaxies selected** in the colour plots "
                f"({neighbours.selection_note}); showing {order}. *Clear selection* returns to the galaxies nearest "
                "the slider's redshift (so does moving it to another window).")
    if len(neighbours.rows) == 0:
        return "**The survey is empty.**"
    if neighbours.near:
        return (f"{len(neighbours.rows)} nearest to z = {neighbours.redshift:.2f} "
                f"(|Δz| ≤ {neighbours.max_offset:.3f}); labels: z and object id")
    return (f"**No survey galaxies within Δz = {NEAR_TOLERANCE} of z = {neighbours.redshift:.2f}**; "
            f"showing the nearest (from z = {neighbours.galaxy_redshift.min():.2f})")


class SurveyCard(pn.viewable.Viewer):
    """The survey galaxies nearest the slider's redshift, or those selected in the colour plots (with a button that
    ends the selection: the controller's ``clear_selection`` event), with the same stretch as the generated galaxy."""

    band = param.Selector(default=COLOUR, objects=[COLOUR, *BANDS])
    look = param.ClassSelector(class_=Look, default=DEFAULT_LOOK, doc="Stretch, Q and upscaling (as the galaxy's)")

    def __init__(self, survey_side: SurveyController, ui: UiThread, **params):
        super().__init__(**params)
        self._survey_side, self._ui = survey_side, ui
        self.view = RealGridView()
        self.figure = pn.pane.Bokeh(self.view.figure)
        self.status = pn.pane.HTML("Loading the survey…", width=440, css_classes=["grid-status"])
        self.clear = pn.widgets.Button.from_param(survey_side.param.clear_selection, label="Clear selection",
                                                  width=140, visible=False, css_classes=["clear-selection"])
        self._layout = pn.Card(self.status, self.clear, self.figure, title=NEAREST_TITLE, collapsible=False, width=470)
        survey_side.param.watch(self._show_galaxies, "neighbours")
        survey_side.param.watch(self._show_state, "state")
        self.param.watch(self._show_galaxies, ["band", "look"])

    def __panel__(self):
        return self._layout

    def _show_galaxies(self, *_events) -> None:
        neighbours = self._survey_side.neighbours
        if neighbours is None:
            return
        self.view.show(neighbours, survey_pictures(neighbours, self.band, self.look))
        self._ui.push(self.figure)
        self.status.object = inline_html(neighbours_text(neighbours))
        self.clear.visible = bool(neighbours.selected)
        self._layout.title = SELECTED_TITLE if neighbours.selected else NEAREST_TITLE

    def _show_state(self, *_events) -> None:
        state = self._survey_side.state
        if state == "preparing":
            self.status.object = inline_html(PREPARING_SURVEY)
        elif state == "none":
            self.status.object = inline_html("**No survey loaded.** Enter a GalaxiesML HDF5 path in the sidebar.")


class MorphologyCard(pn.viewable.Viewer):
    """This frame's morphology against the survey galaxies in the redshift window, and along the baked grid."""

    def __init__(self, walk: WalkController, survey_side: SurveyController, ui: UiThread, **params):
        super().__init__(**params)
        self._walk, self._survey_side, self._ui = walk, survey_side, ui
        self.view = MorphologyView()
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["morphology-table"])
        histograms = [pn.pane.Bokeh(self.view.histograms[name]) for name in LIVE_COLUMNS]
        series = [pn.pane.Bokeh(self.view.series[name]) for name in LIVE_COLUMNS]
        self._panes = [*histograms, *series]
        self.unit = pn.widgets.RadioButtonGroup(options=list(UNITS), value="px", width=200,
                                                css_classes=["morphology-unit"])
        self.unit.param.watch(self._unit_changed, "value")
        # FlexBox: the four plots wrap onto a second line where the page is too narrow for them side by side.
        self._layout = pn.Card(
            pn.Row(pn.pane.Markdown("Sizes in", margin=(12, 5, 0, 10)), self.unit), self.table,
            pn.pane.Markdown("**Real galaxies in the redshift window** (histograms; red line: this frame)",
                             margin=(0, 10)),
            pn.FlexBox(*histograms),
            pn.pane.Markdown("**This seed along the walk's baked grid** (dashed line: where the slider is)",
                             margin=(0, 10)),
            pn.FlexBox(*series),
            title="Morphology: this frame against real galaxies at this redshift",
            collapsible=True, sizing_mode="stretch_width",
        )
        walk.param.watch(self._frame_changed, ["frame", "requested"])
        walk.param.watch(self._show_series, ["cache", "revision"])
        survey_side.param.watch(self._show_window, "window")
        # Built after the page has rendered (served), so draw what there is already.
        self._show_series()
        self._show_window()
        self._show_frame()
        self._show_table()

    def __panel__(self):
        return self._layout

    def _frame_changed(self, *_events) -> None:
        delay = DRAG_DETAILS_MS if self._walk.dragging else DETAILS_DELAY_MS
        self._ui.call_later("morphology-frame", delay, self._show_frame)

    def _unit_changed(self, *_events) -> None:
        """Sizes in another unit: the same measurements, converted (nothing is measured again)."""
        relabel(self.view, self.unit.value)
        self._show_series()
        self._show_window()
        self._show_frame()

    def _show_frame(self) -> None:
        frame = self._walk.frame
        if frame is None:
            return
        self.view.show_frame(convert_measurements(frame.measurements, frame.redshift, self.unit.value,
                                                  shared_table()), frame.position)
        self._show_table()
        self._ui.push(*self._panes)

    def _show_window(self, *_events) -> None:
        if self._survey_side.window is None:
            return
        window, survey = self._survey_side.window, self._survey_side.survey
        if self.unit.value != "px" and survey is not None:  # each galaxy's size at its own redshift
            window = WindowInUnit(window, np.asarray(survey.redshift)[window.rows], self.unit.value, shared_table())
        self.view.show_real(window)
        self._show_table()
        self._ui.push(*self._panes)

    def _show_series(self, *_events) -> None:
        cache = self._walk.cache
        if cache is not None:
            self.view.show_series(convert_series(cache.grid_series(LIVE_COLUMNS), self.unit.value, shared_table()),
                                  cache.key.axis)
            self._ui.push(*self._panes)

    def _show_table(self) -> None:
        frame = self._walk.frame
        if frame is None:
            self.table.object = self.view.table_html(requested_redshift(self._walk), "not yet generated")
        else:
            self.table.object = self.view.table_html(frame.redshift, frame_kind(self._walk))


class ModelInfo(pn.viewable.Viewer):
    """What model and survey are loaded (sidebar, under the Load button)."""

    def __init__(self, walk: WalkController, survey_side: SurveyController, **params):
        super().__init__(**params)
        self._walk, self._survey_side = walk, survey_side
        self.text = pn.pane.Markdown("Loading…", sizing_mode="stretch_width")
        walk.param.watch(self._show, ["generator", "model_state"])
        survey_side.param.watch(self._show, ["survey"])

    def __panel__(self):
        return self.text

    def _show(self, *_events) -> None:
        generator, survey = self._walk.generator, self._survey_side.survey
        if generator is None and self._walk.model_state == "loading":
            self.text.object = "Loading…"
            return
        lines = model_lines(generator) if generator is not None else ["**Model:** none loaded"]
        if survey is not None:
            z, name = np.asarray(survey.redshift), Path(survey.path).name
            lines += ["", f"**Survey:** `{name}` — {len(z)} galaxies, z {z.min():.2f}–{z.max():.2f}"
                      if len(z) else f"**Survey:** `{name}` — empty"]
        self.text.object = "\n".join(lines)


def model_lines(generator) -> list[str]:
    """Markdown lines describing a loaded model: file, preset, training, conditions and their ranges."""
    meta = generator.metadata or {}
    lines = [f"**Model:** `{Path(generator.checkpoint_path).name}`"]
    for key in ("preset", "trained_steps", "epochs", "description"):
        if key in meta and isinstance(meta[key], (str, int, float)):
            lines.append(f"- {key}: {meta[key]}")
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    if data.get("description"):
        lines.append(f"- trained on: {data['description']}")
    ranges = ", ".join(f"{n} {lo:g}–{hi:g}" for n, (lo, hi) in generator.condition_ranges.items())
    lines.append(f"- conditions: {ranges}")
    return lines


class Banners(pn.viewable.Viewer):
    """Above everything: what the page shows and what it is not, any problem, and (served) toast notifications."""

    def __init__(self, messages: SessionMessages, walk: WalkController, survey_side: SurveyController,
                 notifications=None, **params):
        super().__init__(**params)
        self._messages, self._walk, self._survey_side = messages, walk, survey_side
        self._notifications = notifications  # pn.state.notifications of a served session; None headless
        self.honesty = pn.pane.Alert("", alert_type="warning", sizing_mode="stretch_width")
        self.problem = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        messages.param.watch(self._show_problem, "problem")
        messages.param.watch(self._toast, "notice")
        walk.param.watch(self._show_honesty, "generator")
        survey_side.param.watch(self._show_honesty, "survey")
        # Work that succeeds again resolves the problem its failure left: a new frame, new survey galaxies.
        walk.param.watch(lambda _event: messages.resolve("exact", "bake"), "frame")
        survey_side.param.watch(lambda _event: messages.resolve("view"), "neighbours")
        self._show_honesty()

    def __panel__(self):
        return pn.Column(self.honesty, self.problem, sizing_mode="stretch_width")

    def _show_problem(self, *_events) -> None:
        self.problem.param.update(object=f"**Problem:** {self._messages.problem}", visible=bool(self._messages.problem))

    def _toast(self, *_events) -> None:
        notice = self._messages.notice
        if self._notifications is not None and notice is not None:
            getattr(self._notifications, notice.level)(notice.text, duration=notice.duration)

    def _show_honesty(self, *_events) -> None:
        survey, generator = self._survey_side.survey, self._walk.generator
        if survey is None:
            survey_text = "No survey is loaded."
        elif self._survey_side.synthetic:
            survey_text = ("The real galaxies shown are from the built-in **SYNTHETIC survey** — simulated HSC-like "
                           "images, not observations. Load a GalaxiesML file under *Model and data* to compare with "
                           "real HSC galaxies.")
        else:
            survey_text = f"The real galaxies shown are from `{Path(survey.path).name}`."
        model_text = ""
        if generator is not None and untrained(generator):
            model_text = " **This checkpoint was never trained: its images are noise**, useful only for testing."
        self.honesty.object = (
            "**What you are looking at.** The large image is a *sample from the diffusion model* for one fixed "
            "noise seed. The slider changes only the redshift the model is conditioned on, so the frames show what "
            "the model draws from the same noise at each redshift — **not the history of one galaxy**. "
            + survey_text + model_text
        )
