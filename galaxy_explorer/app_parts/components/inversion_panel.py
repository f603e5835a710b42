"""Walk a survey galaxy: click it in the survey grid, invert it at its own redshift, then walk its noise.

Clicking a stamp of the survey grid (``SurveyCard``) finds the galaxy under the pointer (``cell_at``). On the
session's worker, ``Generator.invert`` runs the DDIM ODE backwards from that image at the galaxy's own redshift to
the noise x_T that draws it back, and ``Generator.frames_from_noise`` draws it back with DDIM at the same steps: the
reconstruction, shown beside the original with the residual (relative L2 in survey flux). Then the session's walk
becomes that noise's walk through redshift, like any seed's: its ``WalkKey`` carries the noise and names the
galaxy ("survey object <id>"), so its frames are cached apart from every seed's, and the status lines name it.

What that walk is, honestly: the model's answer to *this* galaxy at other redshifts, not the galaxy's history; a
galaxy the model reconstructs poorly (the residual says so) walks a galaxy that is not quite it. Entering a seed,
pressing New galaxy or *Back to seed* returns to seed walks.
"""

from __future__ import annotations

import hashlib
import html
from functools import partial
from typing import Callable

import numpy as np
import panel as pn
import param

from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.app_parts.state.resources import model_identity
from galaxy_explorer.app_parts.state.session import SessionMessages
from galaxy_explorer.app_parts.state.walk import COLOUR, REDSHIFT_AXIS, WalkKey, png_data_url
from galaxy_explorer.app_parts.state.worker import SessionWorker, TaskContext

# 20 DDIM steps with 3 fixed-point iterations each: ~100 network calls, a few seconds on a CPU; the round trip
# then reproduces the built-in survey's test galaxies to a few per cent (benchmarks/bench_inversion.py, docs/app.md).
INVERSION_STEPS = 20
INVERSION_REFINE = 3
HONEST_LABEL = "the model's answer to <i>this</i> galaxy at other redshifts — not its history"
PICTURE_SCALE = 3  # 64 px stamps drawn 192 px wide, pixel-sharp
HELP = ("<b>Walk a survey galaxy:</b> click a galaxy in the survey grid. The app finds the noise from which the model "
        "draws it back at its own redshift, then walks that noise through redshift.")


def cell_at(cells: list[tuple[float, float]], pixels: float, x: float, y: float) -> int | None:
    """Index of the stamp whose square (lower-left corner ``cells[i]``, side ``pixels``) holds the data point (x, y);
    None between stamps or outside the grid."""
    for index, (left, bottom) in enumerate(cells):
        if left <= x < left + pixels and bottom <= y < bottom + pixels:
            return index
    return None


def relative_l2(reconstruction: np.ndarray, original: np.ndarray) -> float:
    """||reconstruction - original|| / ||original|| over all bands and pixels (survey flux)."""
    return float(np.linalg.norm(reconstruction - original) / np.linalg.norm(original))


def survey_source(object_id) -> str:
    return f"survey object {object_id}"


def inverted_walk_key(generator, object_id, noise, steps: int = INVERSION_STEPS) -> WalkKey:
    """The walk of an inverted galaxy: DDIM at the steps it was inverted with, no guidance (as inverted), no further
    conditions, from ``noise``; keyed by the galaxy's name and a digest of the noise itself."""
    digest = hashlib.sha1(np.ascontiguousarray(noise.numpy()).tobytes()).hexdigest()[:16]
    return WalkKey(str(generator.checkpoint_path), 0, "ddim", int(steps), (), 1.0, model_identity(generator),
                   REDSHIFT_AXIS, None, survey_source(object_id), digest, noise)


class InversionController(param.Parameterized):
    """One session's inverted galaxy: ``invert(...)`` in, the outputs below out (on the UI thread)."""

    state = param.Selector(default="idle", objects=["idle", "inverting", "ready", "failed"])
    object_id = param.String(default="", doc="The clicked galaxy's object id")
    galaxy_redshift = param.Number(default=float("nan"), doc="Its redshift, where it was inverted")
    original = param.Array(default=None, doc="(5,H,W) the survey image, survey flux")
    reconstruction = param.Array(default=None, doc="(5,H,W) DDIM from the inverted noise at the galaxy's redshift")
    residual = param.Number(default=float("nan"), doc="relative L2 of reconstruction against original")
    progress = param.String(default="")
    error = param.String(default="")
    walking = param.Boolean(default=False, doc="The session's walk is this galaxy's (not a seed's)")

    def __init__(self, walk, worker: SessionWorker, run_on_ui: Callable[[Callable[[], None]], None],
                 messages: SessionMessages, steps: int = INVERSION_STEPS, refine: int = INVERSION_REFINE, **params):
        super().__init__(**params)
        self._walk, self._worker, self._run_on_ui, self._messages = walk, worker, run_on_ui, messages
        self.steps, self.refine = int(steps), int(refine)
        self.key: WalkKey | None = None
        walk.param.watch(self._walk_changed, "cache")

    def invert(self, object_id, redshift: float, image: np.ndarray) -> None:
        """Invert ``image`` (5,H,W survey flux) at ``redshift`` on the worker, then walk it (UI thread)."""
        generator = self._walk.generator
        if generator is None:
            self._messages.notify("warning", "No model is loaded: nothing to invert the galaxy with.")
            return
        object_id, redshift, image = str(object_id), float(redshift), np.array(image, dtype=np.float32)
        self.param.update(state="inverting", object_id=object_id, galaxy_redshift=redshift, original=image,
                          reconstruction=None, residual=float("nan"), error="",
                          progress=f"Inverting {survey_source(object_id)} at z = {redshift:.3f}…")
        steps, refine = self.steps, self.refine

        def task(ctx: TaskContext) -> None:
            def on_step(step: int) -> None:
                ctx.checkpoint()  # a newer click (or loading a model) goes first
                if step % 5 == 0:
                    self._run_on_ui(partial(self._show_progress, object_id,
                                            f"Inverting {survey_source(object_id)}: step {step}/{steps}"))
            try:
                noise = generator.invert(image, redshift, steps=steps, refine=refine, on_step=on_step)
                back = generator.frames_from_noise(noise, [redshift], sampler="ddim", steps=steps,
                                                   guidance_scale=1.0)[0]
            except GalaxyExplorerError as exc:
                self._run_on_ui(partial(self._failed, object_id, str(exc)))
                return
            self._run_on_ui(partial(self._inverted, generator, object_id, redshift, noise, back))

        self._worker.submit_once("exact", task, name=f"invert {survey_source(object_id)}")

    def _show_progress(self, object_id: str, text: str) -> None:
        if self.object_id == object_id and self.state == "inverting":
            self.progress = text

    def _failed(self, object_id: str, problem: str) -> None:
        if self.object_id == object_id:
            self.param.update(state="failed", error=problem, progress="")
            self._messages.notify("warning", f"Could not invert {survey_source(object_id)}: {problem}")

    def _inverted(self, generator, object_id: str, redshift: float, noise, back: np.ndarray) -> None:
        if self.object_id != object_id or generator is not self._walk.generator:
            return  # another galaxy was clicked, or the model changed, meanwhile
        self.key = inverted_walk_key(generator, object_id, noise, self.steps)
        self.param.update(state="ready", reconstruction=back, residual=relative_l2(back, self.original), progress="")
        # The walk (along the redshift) starts at the slider's redshift, near the galaxy's: the grid shows the galaxies
        # nearest it. (From a label walk, that is the label walk's fixed redshift, not the label's value.)
        self._walk.start_key(self.key, self._walk.requested_redshift)

    def _walk_changed(self, *_events) -> None:
        cache = self._walk.cache
        self.walking = cache is not None and self.key is not None and cache.key == self.key


def picture(image: np.ndarray | None, band: str) -> str:
    if image is None:
        return ""
    from galaxy_explorer.output.export import rgb_frames

    return png_data_url(rgb_frames(np.asarray(image)[None], None if band == COLOUR else band)[0], PICTURE_SCALE)


def panel_html(controller: InversionController, band: str) -> str:
    """The card's text and pictures for the controller's state."""
    c = controller
    if c.state == "idle":
        return HELP
    name = html.escape(survey_source(c.object_id))
    if c.state == "failed":
        return f"<b>Could not invert {name}:</b> {html.escape(c.error)}"
    size = 64 * PICTURE_SCALE
    original = f"<img src='{picture(c.original, band)}' width={size} height={size} alt='original'>"
    if c.state == "inverting":
        right = f"<div style='width:{size}px'>{html.escape(c.progress)}</div>"
        residual = ""
    else:
        right = f"<img src='{picture(c.reconstruction, band)}' width={size} height={size} alt='reconstruction'>"
        residual = (f"<div class='inversion-residual'>Residual ‖reconstruction − original‖ / ‖original‖ = "
                    f"<b>{c.residual:.3f}</b> (DDIM, {controller.steps} steps)</div>")
    walking = (f"<div class='inversion-walk'>The slider now walks {name}: {HONEST_LABEL}.</div>" if c.walking else
               f"<div>Back on a seed walk; click a survey galaxy to walk one again.</div>" if c.state == "ready"
               else "")
    return (f"<div style='display:flex;gap:8px'><figure style='margin:0'>{original}<figcaption>{name}, "
            f"z = {c.galaxy_redshift:.3f}</figcaption></figure><figure style='margin:0'>{right}<figcaption>"
            f"reconstruction</figcaption></figure></div>{residual}{walking}")


class InversionPanel(pn.viewable.Viewer):
    """The clicked galaxy beside its reconstruction, the residual, the honest label and *Back to seed*.

    ``grid``: the survey card whose stamps are clicked (its ``view`` a ``RealGridView``); ``survey_side``: its
    controller (``neighbours`` are the galaxies on the grid); ``back_to_seed()`` restarts the app's seed walk."""

    band = param.Selector(default=COLOUR, objects=[COLOUR, "g", "r", "i", "z", "y"])

    def __init__(self, controller: InversionController, grid, survey_side, back_to_seed: Callable[[], None],
                 ui, **params):
        from bokeh.events import Tap
        from bokeh.models import TapTool

        super().__init__(**params)
        self.controller, self._grid, self._survey_side, self._ui = controller, grid, survey_side, ui
        self.text = pn.pane.HTML(HELP, width=440, css_classes=["inversion-panel"])
        self.back = pn.widgets.Button(label="Back to seed", width=140, visible=False,
                                      css_classes=["inversion-back"])
        self.back.on_click(lambda _event: back_to_seed())
        self._layout = pn.Card(self.text, self.back, title="Walk a survey galaxy (inversion)", collapsible=False,
                               width=470)
        figure = grid.view.figure
        figure.add_tools(TapTool())
        figure.on_event(Tap, lambda event: self.tapped(event.x, event.y))
        controller.param.watch(self._show, ["state", "progress", "residual", "walking"])
        self.param.watch(self._show, "band")

    def __panel__(self):
        return self._layout

    def tapped(self, x: float, y: float) -> None:
        """A click on the survey grid at data coordinates (x, y): invert the galaxy there, if any (UI thread)."""
        neighbours, view = self._survey_side.neighbours, self._grid.view
        index = cell_at(view._cells, view.pixels, float(x), float(y))
        if neighbours is None or index is None or index >= min(len(neighbours.rows), view.n):
            return
        self.controller.invert(int(neighbours.object_id[index]), float(neighbours.galaxy_redshift[index]),
                               neighbours.images[index])

    def _show(self, *_events) -> None:
        self.text.object = panel_html(self.controller, self.band)
        self.back.visible = self.controller.walking
