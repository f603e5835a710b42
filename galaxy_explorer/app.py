"""Galaxy Explorer: walk one generated galaxy (one fixed noise seed) through redshift.

Serve it with ``panel serve galaxy_explorer/app.py`` (options after ``--args``: ``--checkpoint PATH``,
``--data PATH``, ``--seed S``, ``--steps N``, ``--grid-frames N``, ``--torch-threads N``), or show it in a notebook
with ``from galaxy_explorer.app import GalaxyExplorer; GalaxyExplorer()``.

Data flows one way: widgets -> this class's parameters -> the controllers (``app_parts.walk_controller``,
``app_parts.survey_controller``) -> their output parameters -> the views (``app_parts.cards``,
``app_parts.export_panel``), which watch them. This module only builds the parts and wires them; see
docs/architecture.md for the path of a frame from the slider to the screen.

How it stays responsive: the model and the survey are loaded once per process (``app_parts.resources``) and shared
by sessions. Frames are made by one generation queue per process (``app_parts.generation``), interactive frames
first and fair between sessions, into one process-wide frame store (``app_parts.walk``), so every frame is made
once whoever asks; the default walk is baked at server start (``warm_up``). A walk's frames go to the page once, as
small PNGs, and the slider's JavaScript shows the nearest of them while it is dragged, with no server round trip;
releasing it (``value_throttled``) asks for the exact frame, and the real galaxies and statistics follow on
release (and at most every ``FOLLOW_MS`` while dragging). Each session also has a worker thread
(``app_parts.worker``) for loading and for the survey side. Results reach the page through
``app_parts.session.UiThread`` (``doc.add_next_tick_callback``, the one thread-safe way in), so the UI thread never
waits for the model. When the tab closes, the session's requests are dropped and its threads stop.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import panel as pn
import param

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.app_parts.serving.build_turns import order_page_builds
from galaxy_explorer.app_parts.components.cards import Banners, GalaxyCard, ModelInfo, MorphologyCard, SurveyCard
from galaxy_explorer.app_parts.components.conditions_panel import ConditionsPanel, label_title
from galaxy_explorer.app_parts.components.display import DisplayControls
from galaxy_explorer.app_parts.components.export_panel import ExportPanel
from galaxy_explorer.app_parts.components.inversion_panel import InversionController, InversionPanel
from galaxy_explorer.app_parts.serving.offline import FastWithoutWebFonts, use_local_stylesheets
from galaxy_explorer.app_parts.serving.page_scripts import serve_lean_pages
from galaxy_explorer.app_parts.serving.page_openings import page_opened, page_opening, pages_opening
from galaxy_explorer.app_parts.controllers.population import PopulationController
from galaxy_explorer.app_parts.components.population_card import PopulationCard
from galaxy_explorer.app_parts.state.resources import configure_torch_threads, loaded_generator, parse_app_arguments
from galaxy_explorer.app_parts.serving.server import (
    DEFAULT_REDSHIFT,
    closer,
    default_conditions,
    favour_the_event_loop,
    limit_malloc_arenas,
    quiet_closed_websockets,
    show_app_log,
    warm_up,
)
from galaxy_explorer.app_parts.state.session import SessionMessages, UiThread
from galaxy_explorer.app_parts.serving.spare_session import is_spare, keep_spare_pages
from galaxy_explorer.app_parts.controllers.survey_controller import SurveyController
from galaxy_explorer.app_parts.state.url_state import checked_conditions, parse_query, query_of, to_query
from galaxy_explorer.app_parts.components.views import COLOUR
from galaxy_explorer.app_parts.state.walk import DEFAULT_GRID_FRAMES, REDSHIFT_AXIS
from galaxy_explorer.app_parts.controllers.walk_controller import DEFAULT_REDSHIFT_RANGE, WalkController
from galaxy_explorer.app_parts.state.worker import SessionWorker
from galaxy_explorer.diffusion.samplers import SAMPLERS
from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT, shipped_checkpoints, shipped_or_given

pn.extension(notifications=True)

# While the slider is dragged, the real galaxies and statistics follow at most this often (ms); on release at once.
FOLLOW_MS = 1000
# How often a served session checks that its browser is still connected (ms).
CONNECTION_CHECK_MS = 1000
# How long after the page has rendered the parts the first picture does not need are put on it (ms), and how often
# it looks again while other visitors' pages are still opening (``app_parts.page_openings``).
LATER_MS = 1500
LATER_RETRY_MS = 250


class RedshiftSlider(pn.widgets.FloatSlider):
    """A FloatSlider whose movements reach Python at once: Panel otherwise waits 50 ms (``_debounce``) to
    coalesce widget changes, half the latency budget of a slider move. The change is still processed in a
    document-locked server callback, so the handlers may update Bokeh models directly."""

    _debounce: ClassVar[int] = 0


class GalaxyExplorer(pn.viewable.Viewer):
    """The app. One instance per browser session (or per notebook cell)."""

    checkpoint = param.String(default="", doc="Diffusion checkpoint (.safetensors); empty: the shipped one")
    data = param.String(default="", doc="GalaxiesML-schema HDF5 file; empty: the built-in SYNTHETIC survey")
    redshift = param.Number(default=DEFAULT_REDSHIFT, bounds=DEFAULT_REDSHIFT_RANGE, doc="Conditioning redshift")
    seed = param.Integer(default=7, bounds=(0, 2**31 - 1), doc="Noise seed: fixes x_T for every redshift")
    sampler = param.Selector(default="dpmpp2m", objects=list(SAMPLERS))
    steps = param.Integer(default=20, bounds=(2, 200))
    band = param.Selector(default=COLOUR, objects=[COLOUR, *BANDS])
    guidance = param.Number(default=1.0, bounds=(0.0, 20.0),
                            doc="Classifier-free guidance scale (1: none); set to the checkpoint's default on load")
    reset_guidance = param.Event(doc="Back to the checkpoint's default guidance scale")
    load = param.Event(doc="Load (or switch to) the checkpoint and the survey named above")
    new_galaxy = param.Event(doc="Pick a random seed")
    filmstrip = param.Event(doc="Show this seed at a few redshifts across the range, in one row")

    def __init__(self, checkpoint: str | Path | None = None, data: str | Path | None = None,
                 grid_frames: int = DEFAULT_GRID_FRAMES, query: dict[str, str] | None = None, **params):
        doc = pn.state.curdoc
        served = doc is not None and doc.session_context is not None
        # The view a shared URL asks for (``query``: its query, for notebooks and tests; served, the page's own).
        # It wins over the server's options; the conditions wait for the model (``_model_loaded``).
        location = pn.state.location if served else None
        if query is None and location is not None:
            query = query_of(location.search or "")
        url = parse_query(query or {}, type(self).param)
        super().__init__(checkpoint=str(checkpoint or ""), data=str(data or ""), **{**params, **url.values})
        self._location, self._url = location, url
        self._settling = False  # a model is being put in place: its widget updates start no walks
        self.url_problems: list[str] = []  # what of the URL could not be used, as told to the person
        self._url_problems_told = 0
        self._page_shown = not served  # served, a toast sent before the page has rendered is lost
        self.messages = SessionMessages()
        self.ui = UiThread(doc if served else None, self.messages)
        self.worker = SessionWorker(on_error=self._worker_failed, name="galaxy-explorer-worker")
        self.walk = WalkController(self.worker, self.ui.call, self.messages, grid_frames=grid_frames)
        self.survey_side = SurveyController(self.worker, self.ui.call, self.messages)
        self.population = PopulationController(self.ui.call, self.walk.client)
        self.morphology_card: MorphologyCard | None = None
        self._closed = False
        self._build_widgets()
        self._build_page(pn.state.notifications if served else None, served)
        self._report_url_problems(self._url.problems)
        self.walk.param.watch(self._model_loaded, "generator")
        # Its key among the pages opening: the session's id, which a spare page's hand-out also knows.
        self.page_key = doc.session_context.id if served else id(self)
        if served:
            if not is_spare(doc.session_context):  # a spare page opens when it is handed out, not now
                page_opening(self.page_key)
            doc.on_session_destroyed(closer(self))
            self._connection_check = doc.add_periodic_callback(self._check_connection, CONNECTION_CHECK_MS)
            pn.state.onload(self.galaxy_card.page_ready)
            pn.state.onload(self._page_rendered)
            quiet_closed_websockets()
        # A model this process has loaded already is taken now, so the first picture is in the page as it opens.
        self._load(now=loaded_generator(self.checkpoint.strip()) is not None)

    # -- the page ---------------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        p = self.param
        self.slider = RedshiftSlider.from_param(p.redshift, label="Redshift z", step=0.01, width=460,
                                                format="0.00", css_classes=["redshift-slider"])
        self.slider.param.watch(self._on_release, "value_throttled")
        self.seed_input = pn.widgets.IntInput.from_param(p.seed, label="Seed", width=130, css_classes=["seed-input"])
        self.new_galaxy_button = pn.widgets.Button.from_param(p.new_galaxy, label="New galaxy", color="primary",
                                                              width=130)
        self.sampler_select = pn.widgets.Select.from_param(p.sampler, label="Sampler", width=130)
        self.steps_input = pn.widgets.IntInput.from_param(p.steps, label="Steps", width=130,
                                                          css_classes=["steps-input"])
        self.band_toggle = pn.widgets.RadioButtonGroup.from_param(p.band, label="Show", color="default",
                                                                  width=280)
        self.display_controls = DisplayControls()
        self.display_controls.param.watch(self._on_look, "look")
        self.conditions_panel = ConditionsPanel()
        self.conditions_panel.param.watch(self._conditions_changed, ["conditions", "axis"])
        self.conditions_panel.param.watch(self._label_dragged, "moving")
        self.guidance_input = pn.widgets.FloatInput.from_param(
            p.guidance, label="Guidance scale", step=0.1, width=130, css_classes=["guidance-input"],
            description="Classifier-free guidance: above 1 the image follows its conditions more strongly")
        self.guidance_reset = pn.widgets.Button.from_param(p.reset_guidance, label="Default", width=130,
                                                           css_classes=["guidance-reset"], align="end")
        self.guidance_note = pn.pane.HTML("", width=280, margin=(0, 10), css_classes=["guidance-note"])
        self.filmstrip_button = pn.widgets.Button.from_param(p.filmstrip, label="Filmstrip of this seed", width=200,
                                                             css_classes=["filmstrip-button"])
        self.checkpoint_input = pn.widgets.TextInput.from_param(
            p.checkpoint, label="Checkpoint", placeholder=f"shipped: assets/{DEFAULT_DIFFUSION_CHECKPOINT.name}")
        self.data_input = pn.widgets.TextInput.from_param(
            p.data, label="Survey (HDF5)", placeholder="built-in SYNTHETIC survey, test split")
        self.load_button = pn.widgets.Button.from_param(p.load, label="Load", width=100, css_classes=["load-button"])
        self.model_select = pn.widgets.Select(label="Shipped model", options=shipped_model_options(),
                                              css_classes=["model-select"], width=280,
                                              description="The diffusion models that come with Galaxy Explorer, by "
                                                          "what they are conditioned on; pick one to load it")
        self._show_checkpoint_choice()
        self.model_select.param.watch(self._pick_shipped_model, "value")

    def _build_page(self, notifications, served: bool = False) -> None:
        self.banners = Banners(self.messages, self.walk, self.survey_side, notifications)
        self.galaxy_card = GalaxyCard(self.walk, self.ui, self.slider, band=self.band)
        self.survey_card = SurveyCard(self.survey_side, self.ui, band=self.band)
        # Clicking a survey galaxy inverts it and walks its noise; "Back to seed" restarts the seed's walk.
        self.inversion = InversionPanel(InversionController(self.walk, self.worker, self.ui.call, self.messages),
                                        self.survey_card, self.survey_side, self._start_walk, self.ui, band=self.band)
        self.model_info = ModelInfo(self.walk, self.survey_side)
        self.export = ExportPanel(self.walk, self.worker, self.ui, self.messages, band=self.band)
        self.population_card = PopulationCard(self.population, self.ui, self.filmstrip_button, band=self.band)
        population = self.population_card
        if served:
            # What the first picture does not need is put on the page a moment after it has rendered: built with the
            # page it would cost every visitor's first picture ~0.3 s of the server's time (the morphology card's
            # eight plots most), and sessions opening together add up. The cards exist (and follow the
            # controllers) from the start; only their Bokeh models wait.
            self.morphology_card = None
            morphology = self._later("Morphology: loading…", self._make_morphology_card, width=None)
            survey = self._later("Loading the survey galaxies…", lambda: self.survey_card, width=470)
            export = self._later("", lambda: self.export, width=250)
            population = self._later("", lambda: self.population_card, width=470)
        else:
            morphology, survey, export = self._make_morphology_card(), self.survey_card, self.export
        # A FlexBox: on a screen too narrow for both cards side by side the survey side goes under the galaxy.
        self.main_area = pn.Column(self.banners, pn.FlexBox(self.galaxy_card, pn.Column(survey, self.inversion, population)),
                                   morphology, sizing_mode="stretch_width")
        self.sidebar = pn.Column(
            "### Galaxy", pn.Row(self.seed_input, self.new_galaxy_button), pn.Row(self.sampler_select, self.steps_input),
            pn.Row(self.guidance_input, self.guidance_reset), self.guidance_note, self.conditions_panel,
            self.band_toggle, self.display_controls,
            "### Export this walk", export,
            "### Model and data", self.model_select, self.checkpoint_input, self.data_input, self.load_button,
            self.model_info,
            width=300,
        )

    def _later(self, placeholder: str, make, width: int | None) -> pn.Column:
        """A place on the page that ``make()``'s result fills ``LATER_MS`` after the page has rendered, once no
        other page of this process is opening (its first picture goes first)."""
        sizing = {"sizing_mode": "stretch_width"} if width is None else {"width": width}
        slot = pn.Column(pn.pane.HTML(placeholder, margin=(10, 20)), **sizing)
        key = f"later-{id(slot)}"

        def fill() -> None:
            if pages_opening():
                self.ui.call_later(key, LATER_RETRY_MS, fill)
                return
            slot.objects = [make()]

        pn.state.onload(lambda: self.ui.call_later(key, LATER_MS, fill))
        return slot

    def _make_morphology_card(self) -> MorphologyCard:
        if self.morphology_card is None:
            self.morphology_card = MorphologyCard(self.walk, self.survey_side, self.ui)
        return self.morphology_card

    def __panel__(self):
        return pn.Row(self.sidebar, self.main_area)

    def template(self):
        """The served page: sidebar with controls, main area with the galaxy, real galaxies and statistics."""
        return pn.template.FastListTemplate(title="Galaxy Explorer", sidebar=[self.sidebar], main=[self.main_area],
                                            sidebar_width=330, accent="#3b5b92", design=FastWithoutWebFonts)

    # -- widgets -> parameters -> controllers -----------------------------------------------------------------
    @param.depends("checkpoint", watch=True)
    def _show_checkpoint_choice(self) -> None:
        """The shipped-model list follows the checkpoint field: a shipped model's name, or "another file"."""
        chosen = shipped_or_given(self.checkpoint.strip()) if self.checkpoint.strip() else DEFAULT_DIFFUSION_CHECKPOINT
        names = {str(shipped_or_given(value)) if value else str(DEFAULT_DIFFUSION_CHECKPOINT): value
                 for value in self.model_select.options.values() if value != ANOTHER_FILE}
        self.model_select.value = names.get(str(chosen), ANOTHER_FILE)

    def _pick_shipped_model(self, event) -> None:
        if event.new == ANOTHER_FILE or event.new == self.checkpoint.strip():
            return
        self.checkpoint = event.new
        self.param.trigger("load")

    @param.depends("load", watch=True)
    def _load(self, now: bool = False) -> None:
        """Load (or switch) checkpoint and survey; failures are reported and the previous ones kept. ``now``: the
        model is in memory already, so it is taken on this thread."""
        self.messages.clear_problem()
        self.walk.load(self.checkpoint.strip(), now=now)
        self.survey_side.follow(self.redshift)  # where to look once the survey is in
        self.survey_side.load(self.data.strip())

    def _model_loaded(self, _event=None) -> None:
        """A model arrived: the slider spans its redshift range, the guidance its default (or the URL's), one
        slider per further condition (where the URL put them), a new walk."""
        generator = self.walk.generator
        low, high = self.walk.redshift_range
        url, self._url = self._url, None  # a shared URL sets up the first model only
        self._settling = True
        try:
            self.param.redshift.bounds = (low, high)
            self.slider.param.update(start=low, end=high)
            self.redshift = min(max(self.redshift, low), high)
            self._show_guidance(generator, url)
            ranges = {name: generator.condition_ranges[name] for name in generator.condition_names[1:]}
            conditions, axis = default_conditions(generator), REDSHIFT_AXIS
            if url is not None:
                conditions, axis, problems = checked_conditions(url, ranges, generator.supports_guidance, conditions)
                self._report_url_problems(problems)
            self.conditions_panel.show_labels(ranges, generator.supports_guidance, conditions, axis)
            code, args = self.galaxy_card.view.slider_js
            self.conditions_panel.scrub_walk_with(code, args)
        finally:
            self._settling = False
        self._start_walk()

    def _show_guidance(self, generator, url) -> None:
        """The checkpoint's default guidance (or the URL's); fixed at 1, and said why, without condition dropout."""
        default = float(generator.default_guidance)
        asked = url.values.get("guidance") if url is not None else None
        if not generator.supports_guidance:
            if asked is not None and asked != 1.0:
                self._report_url_problems([f"guidance={asked:g} in the URL: this checkpoint was trained without "
                                           "condition dropout, so it samples without guidance (scale 1)"])
            self.guidance = 1.0
            note = ("Guidance is off: this checkpoint was trained without condition dropout, so it has no "
                    "unconditional model to guide with.")
        else:
            self.guidance = default if asked is None else float(asked)
            guided = tuple(generator.default_guided)
            towards = "its conditions" if guided == tuple(generator.condition_names) else \
                "its " + ", ".join(label_title(name) for name in guided) + \
                (" only, not the redshift" if "redshift" not in guided else " only")
            note = f"Checkpoint default: {default:g}. Above 1 the galaxy follows {towards} more strongly."
        self.guidance_input.disabled = self.guidance_reset.disabled = not generator.supports_guidance
        self.guidance_note.object = f"<small>{note}</small>"

    @param.depends("reset_guidance", watch=True)
    def _reset_guidance(self) -> None:
        if self.walk.generator is not None:
            self.guidance = float(self.walk.generator.default_guidance)

    def _conditions_changed(self, _event=None) -> None:
        """A label released, an "any" box or the walk mode changed: a new walk (or, for the walked label's own
        slider, its exact frame, since the position is not part of the walk)."""
        self._start_walk()

    @param.depends("seed", "sampler", "steps", "guidance", watch=True)
    def _start_walk(self) -> None:
        # A new walk redraws Bokeh models at once: a button or field event that Panel runs outside the document's
        # lock (it does when other widget changes are still queued) waits for the next tick, under the lock.
        self.ui.locked(self._start_walk_now)

    def _start_walk_now(self) -> None:
        if self._settling or self.walk.generator is None:
            return
        self.walk.start(self.seed, self.sampler, self.steps, self._conditions(), self.redshift,
                        guidance=self.guidance, axis=self.conditions_panel.axis)
        self._write_url()
        self._show_population()

    def _conditions(self) -> dict[str, float | None]:
        """The further conditions as the sliders hold them (a walked label: where its slider is)."""
        panel = self.conditions_panel
        conditions = dict(panel.conditions)
        if panel.axis != REDSHIFT_AXIS:
            conditions[panel.axis] = panel.position()
        return conditions

    def _show_population(self) -> None:
        """The generated population beside the survey grid, at the slider's redshift (on release only)."""
        self.population.show_population(self.walk.generator, self.seed, self.redshift, self.sampler, self.steps,
                                        self.guidance, self._conditions())

    @param.depends("filmstrip", watch=True)
    def _show_filmstrip(self) -> None:
        self.ui.locked(self._show_filmstrip_now)  # a button: see _start_walk

    def _show_filmstrip_now(self) -> None:
        self.population.show_filmstrip(self.walk.generator, self.seed, self.sampler, self.steps, self.guidance,
                                       self._conditions(), self.walk.grid)

    @param.depends("redshift", watch=True)
    def _on_drag(self) -> None:
        """Every slider movement (the page has shown the nearest frame already): note where the slider is; the
        survey side follows a few times a second. Along a label the redshift is fixed until release."""
        if self.conditions_panel.axis == REDSHIFT_AXIS:
            self.walk.drag(self.redshift)
        self.ui.call_later("follow", FOLLOW_MS, self._follow)

    def _label_dragged(self, _event=None) -> None:
        """The walked label's slider moves (the page has shown the nearest frame already)."""
        moving = self.conditions_panel.moving
        if moving is not None and self.conditions_panel.axis != REDSHIFT_AXIS:
            self.walk.drag(moving)

    def _follow(self) -> None:
        self.survey_side.follow(self.redshift)

    def _on_release(self, event) -> None:
        if event.new is not None:
            if self.conditions_panel.axis == REDSHIFT_AXIS:
                self.walk.release(float(event.new))
                self._write_url()
                self._show_population()
            else:  # a label walk at another redshift
                self._start_walk()
            self._follow()

    # -- the URL ----------------------------------------------------------------------------------------------
    def url_query(self) -> dict[str, str]:
        """The URL query that reopens this view (``url_state``)."""
        values = {name: getattr(self, name) for name in ("seed", "redshift", "band", "sampler", "steps", "guidance")}
        return to_query(values, self.conditions_panel.conditions, self.conditions_panel.axis)

    @param.depends("band", watch=True)
    def _write_url(self) -> None:
        """Served: the page's URL says what it shows (merged: at most once per ``FOLLOW_MS``)."""
        if self._location is not None and not self._closed:
            self.ui.call_later("url", FOLLOW_MS, lambda: self._location.update_query(**self.url_query()))

    def _report_url_problems(self, problems: list[str]) -> None:
        self.url_problems += problems
        if self._page_shown and len(self.url_problems) > self._url_problems_told:
            told, self._url_problems_told = self._url_problems_told, len(self.url_problems)
            self.messages.notify("warning", "Link: " + "; ".join(self.url_problems[told:]) + ".", duration=15000)

    def _page_rendered(self) -> None:
        self._page_shown = True
        page_opened(self.page_key)
        self._report_url_problems([])

    @param.depends("band", watch=True)
    def _on_band(self) -> None:
        for view in (self.galaxy_card, self.survey_card, self.export, self.population_card, self.inversion):
            view.band = self.band

    def _on_look(self, _event=None) -> None:
        """A new stretch, Q or upscaling: every picture on screen is drawn again from its flux, the same way."""
        for view in (self.galaxy_card, self.survey_card, self.population_card):
            if "look" in view.param:
                view.look = self.display_controls.look

    @param.depends("new_galaxy", watch=True)
    def _pick_seed(self) -> None:
        self.seed = int(np.random.default_rng().integers(0, 2**31 - 1))

    def set_redshift(self, redshift: float) -> None:
        """Move the slider from code (a notebook): nearest frame at once, exact frame from the worker."""
        self.slider.value = redshift
        with param.edit_constant(self.slider):  # what the browser sets on release
            self.slider.value_throttled = redshift

    # -- the session ------------------------------------------------------------------------------------------
    def _worker_failed(self, kind: str, exc: BaseException) -> None:
        """The worker's error hook (worker thread): say so on the page; the worker carries on."""
        self.ui.call(lambda: self.messages.task_failed(kind, exc))

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until loading and all queued work are done (tests and scripts; never on the UI thread)."""
        deadline = time.perf_counter() + timeout
        self.survey_side.wait_loaded(timeout)
        while True:  # the worker may queue frames (an export) and frames may queue work for the worker
            for idle in (self.worker.wait_idle, self.walk.queue.wait_idle, self.worker.wait_idle):
                if not idle(max(0.0, deadline - time.perf_counter())):
                    return False
            if self.walk.queue.wait_idle(0) and self.worker.wait_idle(0):
                return True

    def _check_connection(self) -> None:
        """Served: once the browser has gone (its tab closed), stop at once rather than when the server gets
        round to destroying the session (tens of seconds later), so no more work is done or sent for it."""
        if self.ui.connected is False:
            closer(self)(None)

    def js_callback_sources(self) -> list:
        """Every widget of this page given a browser-side callback (``jscallback``), for ``server.closer``."""
        return [self.slider, self.galaxy_card.player.play, *self.conditions_panel.sliders.values()]

    def close(self) -> None:
        """The session has gone: drop its requests for frames, stop its worker, remove its export files and stop
        sending to its page (the shared model, survey and frames stay). Safe to call more than once.

        Served, this runs when Bokeh has already emptied this script's module, so it uses no module-level names
        (``app_parts.server.closer`` calls it, then hands the memory back)."""
        if self._closed:
            return
        self._closed = True
        self.ui.close()
        self.walk.close()
        if self.ui.doc is not None:
            try:
                self.ui.doc.remove_periodic_callback(self._connection_check)
            except (ValueError, KeyError, AttributeError):
                pass
        self.worker.close(timeout=0.0)
        self.export.close()
        self.population.close()


ANOTHER_FILE = "another file (path below)"


def shipped_model_options() -> dict[str, str]:
    """The shipped diffusion models (label -> the checkpoint field's value for it), then "another file"."""
    options = {}
    for conditioned_on, path in shipped_checkpoints().items():
        value = "" if path == DEFAULT_DIFFUSION_CHECKPOINT else path.name
        options[f"{path.stem}: {conditioned_on}"] = value
    return {**options, ANOTHER_FILE: ANOTHER_FILE}


def app_from_arguments(argv: list[str] | None = None) -> GalaxyExplorer:
    """The app for ``panel serve galaxy_explorer/app.py --args [--checkpoint PATH] [--data PATH] [--steps N]
    [--grid-frames N] [--torch-threads N] [--seed S]``; the first call also starts baking the default walk."""
    arguments = parse_app_arguments(argv if argv is not None else sys.argv[1:])
    configure_torch_threads(arguments.torch_threads)
    show_app_log()
    limit_malloc_arenas()
    favour_the_event_loop()
    serve_lean_pages()
    order_page_builds()
    keep_spare_pages(__file__)
    options = {name: value for name, value in (("steps", arguments.steps), ("grid_frames", arguments.grid_frames),
                                               ("seed", arguments.seed)) if value is not None}
    defaults = GalaxyExplorer.param
    warm_up(arguments.checkpoint, seed=options.get("seed", defaults.seed.default),
            steps=options.get("steps", defaults.steps.default), sampler=defaults.sampler.default,
            grid_frames=options.get("grid_frames", DEFAULT_GRID_FRAMES), redshift=defaults.redshift.default)
    return GalaxyExplorer(checkpoint=arguments.checkpoint, data=arguments.data, **options)


if pn.state.served:
    app_from_arguments().template().servable(title="Galaxy Explorer")
    use_local_stylesheets(pn.state.curdoc)
