"""The survey-side controller: the survey the generated galaxy is compared with, the survey galaxies on the grid (the
nearest to the slider's redshift, or those selected in the colour plots), and their morphology and colours in a
redshift window. No Panel in here.

Inputs are calls from the app: ``load(data)`` and ``follow(redshift)`` (every slider movement), and from the colour
plots ``select(rows, note)`` (the ``clear_selection`` event ends a selection). Outputs are parameters that the views
watch: ``survey``, ``state``, ``neighbours``, ``window`` (re-announced as its measurements fill in) and
``selection``. A selection belongs to the redshift window it was made in: following the slider into another window
ends it, and the grid shows the nearest galaxies again. The survey loads on a short-lived thread of its own, because
the very first start writes the built-in synthetic survey, which takes a while and must not hold up the model;
neighbours and measurements are made on the session's worker, in chunks that give way to more urgent work.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Callable

import param

from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.app_parts.controllers.real import (
    Neighbours,
    WindowMorphology,
    nearest_galaxies,
    selected_galaxies,
    window_bounds,
    window_morphology,
)
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
    selection = param.Parameter(default=None, doc="Survey rows selected in the colour plots (sorted tuple); None: none")
    selection_note = param.String(default="", doc="How the selection was made, for people")
    clear_selection = param.Event(doc="End the selection: the grid shows the galaxies nearest the slider again")

    def __init__(self, worker: SessionWorker, run_on_ui: Callable[[Callable[[], None]], None],
                 messages: SessionMessages, **params):
        super().__init__(**params)
        self._worker, self._run_on_ui, self._messages = worker, run_on_ui, messages
        self._loader: threading.Thread | None = None
        self._redshift: float | None = None  # where the slider is (followed once a survey loads)
        self._near = True  # whether the last neighbours were near their redshift (warn once on leaving)
        self._selection_window: tuple[float, float] | None = None  # the window a selection was made in
        self.param.watch(lambda _event: self.select(None), "clear_selection")

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
            self.param.update(selection=None, selection_note="")  # rows of the survey before
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
        if self.selection is not None and window_bounds(redshift) != self._selection_window:
            self.param.update(selection=None, selection_note="")  # another window: the selection was of the last
        shown = None if fresh else self.window
        progress = {"neighbours_sent": False}  # kept if the step is pre-empted and run again
        step = partial(self._view_step, survey, float(redshift), shown, progress, self.selection, self.selection_note)
        self._worker.submit_once("view", step, name=f"view z={redshift:.3f}")

    def select(self, rows, note: str = "") -> None:
        """Show the survey ``rows`` (selected in the colour plots, all in the window on show) on the grid, nearest the
        slider's redshift first; None or no rows: back to the galaxies nearest the slider (UI thread)."""
        rows = None if rows is None or len(rows) == 0 else tuple(sorted({int(row) for row in rows}))
        if rows == self.selection and (rows is None or note == self.selection_note):
            return
        self._selection_window = None if rows is None or self._redshift is None else window_bounds(self._redshift)
        self.param.update(selection=rows, selection_note=note if rows else "")
        if self._redshift is not None:
            self.follow(self._redshift)

    def _view_step(self, survey, redshift: float, shown: WindowMorphology | None, progress: dict,
                   selection: tuple | None, note: str, ctx: TaskContext) -> None:
        if not progress["neighbours_sent"]:
            neighbours = (nearest_galaxies(survey, redshift) if selection is None
                          else selected_galaxies(survey, selection, redshift, note))
            neighbours.pictures()  # drawn here, not on the UI thread
            self._run_on_ui(partial(self._neighbours_ready, neighbours, selection))
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

    def _neighbours_ready(self, neighbours: Neighbours, selection: tuple | None = None) -> None:
        if selection != self.selection:
            return  # the selection changed meanwhile; the view step asked for since brings the grid
        if len(neighbours.rows) and not neighbours.selected:
            if not neighbours.near and self._near:  # say it once on entering an empty stretch, not every step
                self._messages.notify("warning", f"No survey galaxies near z = {neighbours.redshift:.2f}: the "
                                      f"nearest is {neighbours.nearest_offset:.2f} away in redshift.")
            self._near = neighbours.near
        self.neighbours = neighbours

    def _window_ready(self, window: WindowMorphology) -> None:
        self.window = window  # announced again as it fills in
