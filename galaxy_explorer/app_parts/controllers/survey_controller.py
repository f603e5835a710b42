"""The survey-side controller: the survey the generated galaxy is compared with, the survey galaxies nearest the
slider's redshift, and their morphology in a redshift window. No Panel in here.

Inputs are calls from the app: ``load(data)`` and ``follow(redshift)`` (every slider movement). Outputs are
parameters that the views watch: ``survey``, ``state``, ``neighbours`` and ``window`` (re-announced as its
measurements fill in). The survey loads on a short-lived thread of its own, because the very first start writes
the built-in synthetic survey, which takes a while and must not hold up the model; neighbours and measurements are
made on the session's worker, in chunks that give way to more urgent work.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Callable

import param

from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.app_parts.controllers.real import Neighbours, WindowMorphology, nearest_galaxies, window_morphology
from galaxy_explorer.app_parts.state.resources import load_survey
from galaxy_explorer.app_parts.state.session import SessionMessages
from galaxy_explorer.app_parts.state.worker import SessionWorker, TaskContext

# Measuring chunks between two redraws of the real distribution while a window fills in (0: only when it is done;
# each redraw costs every session on the window a few plots' worth of messages).
REDRAW_EVERY = 0


class SurveyController(param.Parameterized):
    """One session's survey side."""

    survey = param.Parameter(default=None, doc="The loaded Survey; None until one loads")
    state = param.Selector(default="loading", objects=["loading", "preparing", "ready", "none"],
                           doc="'preparing': writing the built-in survey; 'none': a load failed, none loaded")
    neighbours = param.ClassSelector(class_=Neighbours, default=None, doc="Survey galaxies nearest the slider")
    window = param.ClassSelector(class_=WindowMorphology, default=None,
                                 doc="Morphology of the survey galaxies in the slider's redshift window")

    def __init__(self, worker: SessionWorker, run_on_ui: Callable[[Callable[[], None]], None],
                 messages: SessionMessages, **params):
        super().__init__(**params)
        self._worker, self._run_on_ui, self._messages = worker, run_on_ui, messages
        self._loader: threading.Thread | None = None
        self._redshift: float | None = None  # where the slider is (followed once a survey loads)
        self._near = True  # whether the last neighbours were near their redshift (warn once on leaving)

    @property
    def synthetic(self) -> bool:
        return self.survey is not None and self.survey.is_synthetic

    # -- loading --------------------------------------------------------------------------------------------------
    def load(self, data: str) -> None:
        """Load (or switch to) the survey file ``data`` (empty: the built-in synthetic survey's test split)."""
        if not data:
            self.state = "preparing"

        def run() -> None:
            survey, problem = None, None
            try:
                survey = load_survey(data or None)
            except GalaxyExplorerError as exc:
                problem = str(exc)
            except Exception as exc:
                problem = f"could not read survey {data or 'built-in'}: {exc}"
            self._run_on_ui(partial(self._loaded, survey, problem))

        self._loader = threading.Thread(target=run, name="galaxy-explorer-survey-loader", daemon=True)
        self._loader.start()

    def wait_loaded(self, timeout: float | None = None) -> None:
        """Until the survey being loaded has loaded or failed (tests and scripts; never on the UI thread)."""
        if self._loader is not None:
            self._loader.join(timeout)

    def _loaded(self, survey, problem: str | None) -> None:
        if problem is not None:
            self._messages.error(problem)
        if survey is not None:
            self.survey = survey
        self.state = "ready" if self.survey is not None else "none"
        if survey is not None and self._redshift is not None:
            self.follow(self._redshift, fresh=True)

    # -- following the slider -----------------------------------------------------------------------------------
    def follow(self, redshift: float, fresh: bool = False) -> None:
        """The galaxies nearest ``redshift`` and their window's morphology, from the worker. ``fresh``: announce
        the window even if it is the one on screen (a new survey was loaded)."""
        self._redshift = float(redshift)
        survey = self.survey
        if survey is None:
            return
        shown = None if fresh else self.window
        progress = {"neighbours_sent": False}  # kept if the step is pre-empted and run again
        self._worker.submit_once("view", partial(self._view_step, survey, float(redshift), shown, progress),
                                 name=f"view z={redshift:.3f}")

    def _view_step(self, survey, redshift: float, shown: WindowMorphology | None, progress: dict,
                   ctx: TaskContext) -> None:
        if not progress["neighbours_sent"]:
            neighbours = nearest_galaxies(survey, redshift)
            neighbours.pictures()  # drawn here, not on the UI thread
            self._run_on_ui(partial(self._neighbours_ready, neighbours))
            progress["neighbours_sent"] = True
        window = window_morphology(survey, redshift)
        if window is shown and window.complete:
            return
        self._run_on_ui(partial(self._window_ready, window))
        from galaxy_explorer.measure.morphology import measure

        chunks = 0
        while not window.complete:
            ctx.checkpoint()  # a newer slider position or an exact frame goes first; progress is kept
            window.advance(survey, measure)
            chunks += 1
            if REDRAW_EVERY and chunks % REDRAW_EVERY == 0 and not window.complete:
                self._run_on_ui(partial(self._window_ready, window))
        self._run_on_ui(partial(self._window_ready, window))

    def _neighbours_ready(self, neighbours: Neighbours) -> None:
        if len(neighbours.rows):
            if not neighbours.near and self._near:  # say it once on entering an empty stretch, not every step
                self._messages.notify("warning", f"No survey galaxies near z = {neighbours.redshift:.2f}: the "
                                      f"nearest is {neighbours.nearest_offset:.2f} away in redshift.")
            self._near = neighbours.near
        self.neighbours = neighbours

    def _window_ready(self, window: WindowMorphology) -> None:
        self.window = window  # announced again as it fills in
