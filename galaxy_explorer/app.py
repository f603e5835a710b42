"""Galaxy Explorer: walk one generated galaxy (one fixed noise seed) through redshift.

Serve it with ``panel serve galaxy_explorer/app.py`` (options after ``--args``: ``--checkpoint PATH``,
``--data PATH``, ``--seed S``, ``--steps N``, ``--grid-frames N``, ``--torch-threads N``), or show it in a notebook
with ``from galaxy_explorer.app import GalaxyExplorer; GalaxyExplorer()``.

Data flows one way: widgets -> this class's parameters -> the controllers (``app_parts.walk_controller``,
``app_parts.survey_controller``) -> their output parameters -> the views (``app_parts.cards``,
``app_parts.export_panel``), which watch them. This module only builds the parts and wires them (the sidebar's
widgets are in ``app_parts.sidebar``, the page's URL in ``app_parts.url_link``); see docs/architecture.md for the
path of a frame from the slider to the screen.

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
from functools import cached_property, partial
from pathlib import Path
from typing import ClassVar

import numpy as np
import panel as pn
import param

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.app_parts.serving.build_turns import order_page_builds
from galaxy_explorer.app_parts.components.cards import Banners, GalaxyCard, ModelInfo, MorphologyCard, SurveyCard
from galaxy_explorer.app_parts.components.colour_card import ColourCard
from galaxy_explorer.app_parts.controllers.colour_controller import ColourController
from galaxy_explorer.app_parts.components.conditions_panel import ConditionsPanel
from galaxy_explorer.app_parts.components.display import DisplayControls, keep_in_step
from galaxy_explorer.app_parts.components.export_panel import ExportPanel
from galaxy_explorer.app_parts.components.inversion_panel import InversionController, InversionPanel
from galaxy_explorer.app_parts.serving.offline import FastWithoutWebFonts, use_local_stylesheets
from galaxy_explorer.app_parts.serving.page_scripts import serve_lean_pages
from galaxy_explorer.app_parts.serving.page_openings import page_opened, page_opening, pages_opening
from galaxy_explorer.app_parts.components.later import later
from galaxy_explorer.app_parts.controllers.population import PopulationController
from galaxy_explorer.app_parts.components.population_card import PopulationCard
from galaxy_explorer.app_parts.components.sidebar import SidebarControls
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
from galaxy_explorer.app_parts.state.session import ConnectionWatch, SessionMessages, UiThread, under_document_lock
from galaxy_explorer.app_parts.serving.spare_session import is_spare, keep_spare_pages
from galaxy_explorer.app_parts.controllers.survey_controller import SurveyController
from galaxy_explorer.app_parts.controllers.url_link import UrlLink, asked_for
from galaxy_explorer.app_parts.state.url_state import to_query
from galaxy_explorer.app_parts.components.views import COLOUR
from galaxy_explorer.app_parts.state.walk import DEFAULT_GRID_FRAMES, REDSHIFT_AXIS
from galaxy_explorer.app_parts.controllers.walk_controller import DEFAULT_REDSHIFT_RANGE, WalkController
from galaxy_explorer.app_parts.state.worker import SessionWorker, wait_all_idle
from galaxy_explorer.diffusion.samplers import SAMPLERS

pn.extension(notifications=True)

# While the slider is dragged, the real galaxies and statistics follow at most this often (ms); on release at once.
FOLLOW_MS = 1000
# How often a served session checks that its browser is still connected (ms).
CONNECTION_CHECK_MS = 1000


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
        asked = asked_for(query, location, type(self).param)
        super().__init__(checkpoint=str(checkpoint or ""), data=str(data or ""), **{**params, **asked.values})
        self._settling = False  # a model is being put in place: its widget updates start no walks
        self.messages = SessionMessages()
        self.ui = UiThread(doc if served else None, self.messages)
        # Served, what of the link cannot be used is told once the page has rendered (a toast before it is lost).
        self.link = UrlLink(asked, location, self.messages, self.ui, shown=not served, write_ms=FOLLOW_MS)
        # The worker's error hook (on the worker thread): the page says so; the worker carries on.
        report = lambda kind, exc: self.ui.call(partial(self.messages.task_failed, kind, exc))  # noqa: E731
        self.worker = SessionWorker(on_error=report, name="galaxy-explorer-worker")
        self.walk = WalkController(self.worker, self.ui.call, self.messages, grid_frames=grid_frames)
        self.survey_side = SurveyController(self.worker, self.ui.call, self.messages)
        self.population = PopulationController(self.ui.call, self.walk.client)
        self._closed = False
        self._build_widgets()
        self._build_page(pn.state.notifications if served else None, served)
        self.walk.param.watch(self._model_loaded, "generator")
        # Its key among the pages opening: the session's id, which a spare page's hand-out also knows.
        self.page_key = doc.session_context.id if served else id(self)
        # Served: once the browser has gone (its tab closed), stop at once, not when the server destroys the session.
        self._connection = ConnectionWatch(self.ui, lambda: closer(self)(None), CONNECTION_CHECK_MS)
        if served:
            if not is_spare(doc.session_context):  # a spare page opens when it is handed out, not now
                page_opening(self.page_key)
            doc.on_session_destroyed(closer(self))
            pn.state.onload(self.galaxy_card.page_ready)
            pn.state.onload(self._page_rendered)
            quiet_closed_websockets()
        # A model this process has loaded already is taken now, so the first picture is in the page as it opens.
        self._load(now=loaded_generator(self.checkpoint.strip()) is not None)

    # -- the page ---------------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.slider = RedshiftSlider.from_param(self.param.redshift, label="Redshift z", step=0.01, width=460,
                                                format="0.00", css_classes=["redshift-slider"])
        self.slider.param.watch(self._on_release, "value_throttled")
        self.controls = SidebarControls(self)
        self.display_controls = DisplayControls()
        self.conditions_panel = ConditionsPanel()
        # A label released, an "any" box or the walk mode changed: a new walk (or, for the walked label's own
        # slider, its exact frame, since the position is not part of the walk).
        self.conditions_panel.param.watch(lambda _event: self._start_walk(), ["conditions", "axis"])
        self.conditions_panel.param.watch(self._label_dragged, "moving")

    def _build_page(self, notifications, served: bool = False) -> None:
        self.banners = Banners(self.messages, self.walk, self.survey_side, notifications)
        self.galaxy_card = GalaxyCard(self.walk, self.ui, self.slider, band=self.band)
        self.survey_card = SurveyCard(self.survey_side, self.ui, band=self.band)
        # Clicking a survey galaxy inverts it and walks its noise; "Back to seed" restarts the seed's walk.
        self.inversion = InversionPanel(InversionController(self.walk, self.worker, self.ui.call, self.messages),
                                        self.survey_card, self.survey_side, self._start_walk, self.ui, band=self.band)
        self.model_info = ModelInfo(self.walk, self.survey_side)
        self.export = ExportPanel(self.walk, self.worker, self.ui, self.messages, band=self.band)
        self.population_card = PopulationCard(self.population, self.ui, self.param.filmstrip, band=self.band)
        # Every picture on screen is in the band chosen, and drawn again from its flux when the look changes.
        pictures = [self.galaxy_card, self.survey_card, self.population_card]
        keep_in_step(self, "band", [*pictures, self.export, self.inversion])
        keep_in_step(self.display_controls, "look", pictures)
        population = self.population_card
        if served:  # what the first picture does not need follows a moment after the page has rendered
            slot = partial(later, self.ui, pages_opening)
            morphology = slot("Morphology: loading…", lambda: self.morphology_card, width=None)
            survey = slot("Loading the survey galaxies…", lambda: self.survey_card, width=470)
            export = slot("", lambda: self.export, width=250)
            population = slot("", lambda: self.population_card, width=470)
        else:
            morphology, survey, export = self.morphology_card, self.survey_card, self.export
        # A FlexBox: on a screen too narrow for both cards side by side the survey side goes under the galaxy.
        self.main_area = pn.Column(self.banners,
                                   pn.FlexBox(self.galaxy_card, pn.Column(survey, self.inversion, population)),
                                   self.colour_card, morphology, sizing_mode="stretch_width")
        self.sidebar = self.controls.layout(self.conditions_panel, self.display_controls, export, self.model_info)

    @cached_property  # served: built once the page has rendered (``later``)
    def morphology_card(self) -> MorphologyCard:
        return MorphologyCard(self.walk, self.survey_side, self.ui)

    @cached_property  # its plots are built when it is first opened; selecting in them changes the survey grid
    def colour_card(self) -> ColourCard:
        colours = ColourController(self.worker, self.ui.call, self.survey_side)  # the survey's colours against z
        return ColourCard(self.walk, self.survey_side, self.population, colours, self.ui)

    def __panel__(self):
        return pn.Row(self.sidebar, self.main_area)

    def template(self):
        """The served page: sidebar with controls, main area with the galaxy, real galaxies and statistics."""
        return pn.template.FastListTemplate(title="Galaxy Explorer", sidebar=[self.sidebar], main=[self.main_area],
                                            sidebar_width=330, accent="#3b5b92", design=FastWithoutWebFonts)

    # -- widgets -> parameters -> controllers -----------------------------------------------------------------
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
        generator, (low, high) = self.walk.generator, self.walk.redshift_range
        asked = self.link.take()  # a shared URL sets up the first model only
        self._settling = True
        try:
            self.param.redshift.bounds = (low, high)
            self.slider.param.update(start=low, end=high)
            self.redshift = min(max(self.redshift, low), high)
            self.link.report(self.controls.guidance.show(generator, asked.values.get("guidance") if asked else None))
            ranges = {name: generator.condition_ranges[name] for name in generator.condition_names[1:]}
            conditions, axis = self.link.conditions(asked, ranges, generator.supports_guidance,
                                                    default_conditions(generator))
            self.conditions_panel.show_labels(ranges, generator.supports_guidance, conditions, axis)
            self.conditions_panel.scrub_walk_with(*self.galaxy_card.view.slider_js)
        finally:
            self._settling = False
        self._start_walk()

    @param.depends("seed", "sampler", "steps", "guidance", watch=True)
    @under_document_lock  # a new walk redraws Bokeh models at once
    def _start_walk(self) -> None:
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
    @under_document_lock  # a button
    def _show_filmstrip(self) -> None:
        self.population.show_filmstrip(self.walk.generator, self.seed, self.sampler, self.steps, self.guidance,
                                       self._conditions(), self.walk.grid)

    @param.depends("redshift", watch=True)
    def _on_drag(self) -> None:
        """Every slider movement (the page has shown the nearest frame already): note where the slider is; the
        survey side follows a few times a second. Along a label the redshift is fixed until release."""
        if self.conditions_panel.axis == REDSHIFT_AXIS:
            self.walk.drag(self.redshift)
        self.ui.call_later("follow", FOLLOW_MS, lambda: self.survey_side.follow(self.redshift))

    def _label_dragged(self, _event=None) -> None:
        """The walked label's slider moves (the page has shown the nearest frame already)."""
        moving = self.conditions_panel.moving
        if moving is not None and self.conditions_panel.axis != REDSHIFT_AXIS:
            self.walk.drag(moving)

    def _on_release(self, event) -> None:
        if event.new is not None:
            if self.conditions_panel.axis == REDSHIFT_AXIS:
                self.walk.release(float(event.new))
                self._write_url()
                self._show_population()
            else:  # a label walk at another redshift
                self._start_walk()
            self.survey_side.follow(self.redshift)

    # -- the URL ----------------------------------------------------------------------------------------------
    def url_query(self) -> dict[str, str]:
        """The URL query that reopens this view (``url_state``)."""
        values = {name: getattr(self, name) for name in ("seed", "redshift", "band", "sampler", "steps", "guidance")}
        return to_query(values, self.conditions_panel.conditions, self.conditions_panel.axis)

    @param.depends("band", watch=True)
    def _write_url(self) -> None:
        """Served: the page's URL says what it shows (merged: at most once per ``FOLLOW_MS``)."""
        self.link.write(self.url_query)

    def _page_rendered(self) -> None:
        page_opened(self.page_key)
        self.link.page_shown()

    @param.depends("new_galaxy", watch=True)
    def _pick_seed(self) -> None:
        self.seed = int(np.random.default_rng().integers(0, 2**31 - 1))

    def set_redshift(self, redshift: float) -> None:
        """Move the slider from code (a notebook): nearest frame at once, exact frame from the worker."""
        self.slider.value = redshift
        with param.edit_constant(self.slider):  # what the browser sets on release
            self.slider.value_throttled = redshift

    # -- the session ------------------------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until loading and all queued work are done (tests and scripts; never on the UI thread)."""
        started = time.perf_counter()
        self.survey_side.wait_loaded(timeout)
        return wait_all_idle([self.worker, self.walk.queue], timeout - (time.perf_counter() - started))

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
        self.link.close()
        self.ui.close()
        self.walk.close()
        self._connection.close()
        self.worker.close(timeout=0.0)
        self.export.close()
        self.population.close()


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
