"""Galaxy Explorer: walk one generated galaxy (one fixed noise seed) through redshift.

Serve it with ``panel serve galaxy_explorer/app.py`` (options after ``--args``: ``--checkpoint PATH``,
``--data PATH``, ``--seed S``, ``--steps N``, ``--grid-frames N``, ``--torch-threads N``), or show it in a notebook
with ``from galaxy_explorer.app import GalaxyExplorer; GalaxyExplorer()``.

How it stays responsive: the model and the survey are loaded once per process (``pn.state.cache``) and shared by
sessions; each session has one background worker thread (``app_parts.worker``) that bakes the current seed's
frames on a redshift grid as soon as the seed is chosen. Dragging the slider (``value``) shows the nearest baked
frame at once; releasing it (``value_throttled``) asks the worker for the exact frame. Stale requests are
dropped, and the worker hands every result back to the UI thread with ``doc.add_next_tick_callback``, the one
thread-safe way in, so the UI thread never waits for the model. Images are Bokeh ``image_rgba`` glyphs whose
ColumnDataSources are updated in place.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np
import panel as pn
import param

from galaxy_explorer import BANDS
from galaxy_explorer.app_parts.export_panel import ExportPanel, WalkState
from galaxy_explorer.app_parts.real import (
    LIVE_COLUMNS,
    NEAR_TOLERANCE,
    nearest_galaxies,
    window_morphology,
)
from galaxy_explorer.app_parts.resources import (
    configure_torch_threads,
    is_synthetic_survey,
    load_generator,
    load_survey,
    parse_app_arguments,
)
from galaxy_explorer.app_parts.views import MainImageView, MorphologyView, RealGridView
from galaxy_explorer.app_parts.walk import DEFAULT_GRID_FRAMES, FrameCache, WalkCaches, WalkKey
from galaxy_explorer.app_parts.worker import SessionWorker, TaskContext
from galaxy_explorer.composite import band_image, lupton_rgb
from galaxy_explorer.diffusion.samplers import SAMPLERS
from galaxy_explorer.errors import GalaxyExplorerError
log = logging.getLogger(__name__)

DEFAULT_REDSHIFT_RANGE = (0.0, 4.0)
COLOUR = "colour"
# While dragging, the statistics follow the image after this delay, so the image is painted first.
DETAILS_DELAY_MS = 60
# Grid frames generated per worker step: two at once cost ~25% less per frame on a CPU than one at a time,
# while an exact-frame request waits at most for one such step.
BAKE_BATCH = 2

pn.extension(notifications=True)


def measure_frame(image: np.ndarray) -> dict[str, float]:
    """Fast morphology of one (5,H,W) frame, as plain floats (NaN where nothing was detected)."""
    from galaxy_explorer.morphology import measure

    result = measure(np.asarray(image)[None], mode="fast")
    return {name: float(result[name][0]) for name in LIVE_COLUMNS} | {"flag": int(result["flag"][0])}


def untrained(generator) -> bool:
    """Whether the checkpoint says it saw no training images (test and timing checkpoints)."""
    training = (generator.metadata or {}).get("training")
    return isinstance(training, dict) and training.get("images_seen", training.get("step")) == 0


def render(images: np.ndarray, band: str) -> np.ndarray:
    """(n,5,H,W) survey flux -> (n,H,W,3) uint8 with the shared fixed stretch (colour or one band)."""
    return lupton_rgb(images) if band == COLOUR else band_image(images, band)


class RedshiftSlider(pn.widgets.FloatSlider):
    """A FloatSlider whose movements reach Python at once: Panel otherwise waits 50 ms (``_debounce``) to
    coalesce widget changes, half the latency budget of a slider move. The change is still processed in a
    document-locked server callback, so the handlers may update Bokeh models directly."""

    _debounce: ClassVar[int] = 0


class GalaxyExplorer(pn.viewable.Viewer):
    """The app. One instance per browser session (or per notebook cell)."""

    checkpoint = param.String(default="", doc="Diffusion checkpoint (.safetensors); empty: the shipped one")
    data = param.String(default="", doc="GalaxiesML-schema HDF5 file; empty: the built-in SYNTHETIC survey")
    redshift = param.Number(default=0.5, bounds=DEFAULT_REDSHIFT_RANGE, doc="Conditioning redshift")
    seed = param.Integer(default=7, bounds=(0, 2**31 - 1), doc="Noise seed: fixes x_T for every redshift")
    sampler = param.Selector(default="dpmpp2m", objects=list(SAMPLERS))
    steps = param.Integer(default=20, bounds=(2, 200))
    band = param.Selector(default=COLOUR, objects=[COLOUR, *BANDS])

    def __init__(self, checkpoint: str | Path | None = None, data: str | Path | None = None,
                 grid_frames: int = DEFAULT_GRID_FRAMES, **params):
        super().__init__(checkpoint=str(checkpoint or ""), data=str(data or ""), **params)
        self.grid_frames = int(grid_frames)
        doc = pn.state.curdoc
        self._doc = doc if doc is not None and doc.session_context is not None else None
        self._notifications = pn.state.notifications if self._doc is not None else None
        self._worker = SessionWorker(on_error=self._worker_failed, name="galaxy-explorer-worker")
        self._generator = None
        self._survey = None
        self._caches = WalkCaches()
        self._cache: FrameCache | None = None
        self._shown_frame = None
        self._shown_neighbours = None
        self._shown_window = None
        self._survey_near = True
        self._survey_is_users = False
        self._survey_loader: threading.Thread | None = None
        self._direct_update_lock = threading.RLock()
        self._details_pending = False
        self._condition_sliders: dict[str, pn.widgets.FloatSlider] = {}
        self._build_widgets()
        self._build_layout()
        if self._doc is not None:
            # Load after the page has rendered, so a slow first load shows the page with its status lines.
            pn.state.onload(self._load)
            self._doc.on_session_destroyed(lambda _context: self.close())
        else:
            self._load()

    # ================================================================================================ widgets
    def _build_widgets(self) -> None:
        self.main_view = MainImageView()
        self.grid_view = RealGridView()
        self.morphology_view = MorphologyView()

        self.slider = RedshiftSlider.from_param(
            self.param.redshift, label="Redshift z", step=0.01, width=460, format="0.00",
            css_classes=["redshift-slider"],
        )
        self.slider.param.watch(self._on_release, "value_throttled")
        self.seed_input = pn.widgets.IntInput.from_param(self.param.seed, label="Seed", width=130)
        self.new_galaxy_button = pn.widgets.Button(label="New galaxy", color="primary", width=130)
        self.new_galaxy_button.on_click(self._new_galaxy)
        self.sampler_select = pn.widgets.Select.from_param(self.param.sampler, label="Sampler", width=130)
        self.steps_input = pn.widgets.IntInput.from_param(self.param.steps, label="Steps", width=130)
        self.band_toggle = pn.widgets.RadioButtonGroup.from_param(
            self.param.band, label="Show", color="default", width=280
        )
        self.condition_box = pn.Column()

        self.checkpoint_input = pn.widgets.TextInput.from_param(
            self.param.checkpoint, label="Checkpoint", placeholder="shipped: assets/diffusion-small.safetensors"
        )
        self.data_input = pn.widgets.TextInput.from_param(
            self.param.data, label="Survey (HDF5)", placeholder="built-in SYNTHETIC survey, test split"
        )
        self.load_button = pn.widgets.Button(label="Load", color="default", width=100, css_classes=["load-button"])
        self.load_button.on_click(lambda _event: self._load())
        self.model_info = pn.pane.Markdown("Loading…", sizing_mode="stretch_width")

        self.bake_progress = pn.indicators.Progress(
            value=0, max=self.grid_frames, width=460, height=14, bar_color="info"
        )
        self.frame_status = pn.pane.Markdown("Loading the model…", width=460, margin=(0, 10),
                                             css_classes=["frame-status"])
        self.bake_status = pn.pane.Markdown("", width=460, margin=(0, 10), css_classes=["bake-status"])
        self.grid_status = pn.pane.Markdown("Loading the survey…", width=440, css_classes=["grid-status"])
        self.morphology_table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["morphology-table"])
        self.honesty = pn.pane.Alert("", alert_type="warning", sizing_mode="stretch_width")
        self.problem = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")

        self.export = ExportPanel(
            worker=self._worker, walk=self._walk_state, generate=self._generate, measure=measure_frame,
            on_ui=self._on_ui, notify=self._notify,
        )

    def _build_layout(self) -> None:
        main_card = pn.Card(
            pn.pane.Bokeh(self.main_view.figure),
            self.slider,
            self.bake_progress,
            self.bake_status,
            self.frame_status,
            title="Generated galaxy (one fixed noise seed)",
            collapsible=False,
            width=500,
        )
        grid_card = pn.Card(
            self.grid_status,
            pn.pane.Bokeh(self.grid_view.figure),
            title="Survey galaxies nearest this redshift",
            collapsible=False,
            width=470,
        )
        names = LIVE_COLUMNS
        histogram_panes = [pn.pane.Bokeh(self.morphology_view.histograms[n]) for n in names]
        series_panes = [pn.pane.Bokeh(self.morphology_view.series[n]) for n in names]
        self._bokeh_panes = [main_card[0], grid_card[1], *histogram_panes, *series_panes]
        morphology_card = pn.Card(
            self.morphology_table,
            pn.pane.Markdown("**Real galaxies in the redshift window** (histograms; red line: this frame)",
                             margin=(0, 10)),
            pn.Row(*histogram_panes),
            pn.pane.Markdown("**This seed along the baked redshift grid** (dashed line: the slider's redshift)",
                             margin=(0, 10)),
            pn.Row(*series_panes),
            title="Morphology: this frame against real galaxies at this redshift",
            collapsible=True,
            sizing_mode="stretch_width",
        )
        self.main_area = pn.Column(
            self.honesty, self.problem, pn.Row(main_card, grid_card), morphology_card, sizing_mode="stretch_width"
        )
        self.sidebar = pn.Column(
            "### Galaxy",
            pn.Row(self.seed_input, self.new_galaxy_button),
            pn.Row(self.sampler_select, self.steps_input),
            self.condition_box,
            self.band_toggle,
            "### Export this walk",
            self.export,
            "### Model and data",
            self.checkpoint_input,
            self.data_input,
            self.load_button,
            self.model_info,
            width=300,
        )

    def __panel__(self):
        return pn.Row(self.sidebar, self.main_area)

    def template(self):
        """The served page: sidebar with controls, main area with the galaxy, real galaxies and statistics."""
        return pn.template.FastListTemplate(
            title="Galaxy Explorer",
            sidebar=[self.sidebar],
            main=[self.main_area],
            sidebar_width=330,
            accent="#3b5b92",
        )

    # ============================================================================= threads, notifications
    def _on_ui(self, callback) -> None:
        """Run ``callback`` on the UI thread (holding the document lock); call it from the worker."""
        if self._doc is None:  # notebook or tests: no server event loop to hop onto; one update at a time
            with self._direct_update_lock:
                try:
                    callback()
                except Exception as exc:  # keep the worker alive; say what went wrong
                    log.exception("app update failed")
                    self._show_problem(f"display update failed: {exc}")
            return
        doc = self._doc

        def run():
            from panel.io.state import set_curdoc

            with set_curdoc(doc):
                try:
                    callback()
                except Exception as exc:
                    log.exception("app update failed")
                    self._show_problem(f"display update failed: {exc}")

        try:
            doc.add_next_tick_callback(run)
        except Exception:  # the session has gone away
            log.debug("dropping an update for a closed session")

    def _notify(self, level: str, message: str, duration: int = 6000) -> None:
        """A toast notification (when served) plus the log; errors also stay visible in the main area."""
        getattr(log, "warning" if level != "info" and level != "success" else "info")(message)
        if level == "error":
            self._show_problem(message)
        if self._notifications is not None:
            getattr(self._notifications, level)(message, duration=duration)

    def _show_problem(self, message: str) -> None:
        self.problem.object = f"**Problem:** {message}"
        self.problem.visible = True

    def _clear_problem(self) -> None:
        self.problem.visible = False

    def _worker_failed(self, kind: str, exc: BaseException) -> None:
        what = {"load": "Loading", "exact": "Computing the exact frame", "view": "Updating the real galaxies",
                "export": "The export", "bake": "Baking frames"}.get(kind, kind)
        message = f"{what} failed: {exc}"

        def report():
            self._notify("error", message, duration=0)
            if kind == "export":
                self.export.failed(exc)
            if kind == "bake":
                self.bake_progress.bar_color = "danger"
                self.bake_status.object = f"Baking stopped: {exc}"

        self._on_ui(report)

    def close(self) -> None:
        """Stop this session's worker and remove its export files (the shared model and survey stay loaded)."""
        self._worker.close(timeout=2.0)
        self.export.close()

    # ============================================================================================= loading
    def _load(self) -> None:
        """Load (or switch) checkpoint and survey; failures are notified and the previous ones kept.

        The model loads on the session's worker (nothing else can run without it). The survey loads on a
        short-lived thread of its own, because the very first start writes the built-in synthetic survey,
        which takes a while and must not hold up the model.
        """
        checkpoint, data = self.checkpoint.strip(), self.data.strip()
        self._clear_problem()
        self.model_info.object = "Loading…"

        def load_model(_ctx: TaskContext) -> None:
            generator, problem = None, None
            try:
                generator = load_generator(checkpoint or None)
            except GalaxyExplorerError as exc:
                problem = str(exc)
            except Exception as exc:  # an unreadable file of the right name, a torch error…
                problem = f"could not load checkpoint {checkpoint or 'shipped'}: {exc}"
            self._on_ui(partial(self._model_loaded, generator, problem))

        def load_data() -> None:
            survey, problem = None, None
            try:
                survey = load_survey(data or None)
            except GalaxyExplorerError as exc:
                problem = str(exc)
            except Exception as exc:
                problem = f"could not read survey {data or 'built-in'}: {exc}"
            self._on_ui(partial(self._survey_loaded, survey, problem, bool(data)))

        self._worker.submit_once("load", load_model, name="load model")
        if not data:
            self.grid_status.object = ("Preparing the built-in synthetic survey (written once on the first start, "
                                       "which takes a minute or two)…")
        self._survey_loader = threading.Thread(target=load_data, name="galaxy-explorer-survey-loader", daemon=True)
        self._survey_loader.start()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until loading and all queued work are done (tests and scripts; never on the UI thread)."""
        deadline = time.perf_counter() + timeout
        loader = getattr(self, "_survey_loader", None)
        if loader is not None:
            loader.join(timeout)
        return self._worker.wait_idle(max(0.0, deadline - time.perf_counter()))

    def _model_loaded(self, generator, problem: str | None) -> None:
        if problem is not None:
            self._notify("error", problem, duration=0)
        if generator is not None:
            self._generator = generator
            self._configure_for_model(generator)
        self._update_texts()
        if self._generator is None:
            self.frame_status.object = (
                "**No model loaded.** Enter the path of a diffusion checkpoint (.safetensors) in the sidebar "
                "under *Model and data* and press *Load*."
            )
        elif generator is not None:
            self._start_walk()

    def _survey_loaded(self, survey, problem: str | None, user_data: bool) -> None:
        if problem is not None:
            self._notify("error", problem, duration=0)
            if self._survey is None:
                self.grid_status.object = "**No survey loaded.** Enter a GalaxiesML HDF5 path in the sidebar."
        if survey is not None:
            self._survey = survey
            self._survey_is_users = user_data
            self._shown_window = None
            self._request_view(self.redshift)
        self._update_texts()

    def _configure_for_model(self, generator) -> None:
        low, high = generator.condition_ranges.get("redshift", DEFAULT_REDSHIFT_RANGE)
        redshift = min(max(self.redshift, low), high)
        self.param.redshift.bounds = (low, high)
        self.slider.param.update(start=low, end=high)
        self.export.param.update(z_start=low, z_stop=high)
        self.redshift = redshift
        # One slider per further condition; a change re-bakes, so it acts on release only.
        self._condition_sliders = {}
        for name in generator.condition_names[1:]:
            c_low, c_high = generator.condition_ranges[name]
            slider = pn.widgets.FloatSlider(label=name, start=c_low, end=c_high, value=0.5 * (c_low + c_high),
                                            step=(c_high - c_low) / 100 or 0.01, width=280)
            slider.param.watch(lambda _event: self._start_walk(), "value_throttled")
            self._condition_sliders[name] = slider
        self.condition_box.objects = list(self._condition_sliders.values())

    def _update_texts(self) -> None:
        survey, generator = self._survey, self._generator
        if survey is not None and (is_synthetic_survey(survey) or not self._survey_is_users):
            survey_text = (
                "The real galaxies shown are from the built-in **SYNTHETIC survey** — simulated HSC-like images, "
                "not observations. Load a GalaxiesML file under *Model and data* to compare with real HSC galaxies."
            )
        elif survey is not None:
            survey_text = f"The real galaxies shown are from `{Path(survey.path).name}`."
        else:
            survey_text = "No survey is loaded."
        model_text = ""
        if generator is not None and untrained(generator):
            model_text = " **This checkpoint was never trained: its images are noise**, useful only for testing."
        self.honesty.object = (
            "**What you are looking at.** The large image is a *sample from the diffusion model* for one fixed "
            "noise seed. The slider changes only the redshift the model is conditioned on, so the frames show what "
            "the model draws from the same noise at each redshift — **not the history of one galaxy**. "
            + survey_text + model_text
        )
        lines = []
        if generator is not None:
            meta = generator.metadata or {}
            lines.append(f"**Model:** `{Path(generator.checkpoint_path).name}`")
            for key in ("preset", "trained_steps", "epochs", "description"):
                if key in meta and isinstance(meta[key], (str, int, float)):
                    lines.append(f"- {key}: {meta[key]}")
            data_meta = meta.get("data") if isinstance(meta.get("data"), dict) else {}
            if data_meta.get("description"):
                lines.append(f"- trained on: {data_meta['description']}")
            ranges = ", ".join(f"{n} {lo:g}–{hi:g}" for n, (lo, hi) in generator.condition_ranges.items())
            lines.append(f"- conditions: {ranges}")
        else:
            lines.append("**Model:** none loaded")
        if survey is not None:
            lines.append("")
            z = np.asarray(survey.redshift)
            name = Path(survey.path).name
            lines.append(f"**Survey:** `{name}` — {len(z)} galaxies, z {z.min():.2f}–{z.max():.2f}"
                         if len(z) else f"**Survey:** `{name}` — empty")
        self.model_info.object = "\n".join(lines)

    # =============================================================================================== walks
    def _walk_key(self) -> WalkKey:
        conditions = tuple(sorted((name, float(s.value)) for name, s in self._condition_sliders.items()))
        return WalkKey(str(self._generator.checkpoint_path), int(self.seed), self.sampler, int(self.steps),
                       conditions)

    def _grid(self) -> np.ndarray:
        low, high = self.param.redshift.bounds
        return np.linspace(low, high, self.grid_frames)

    @param.depends("seed", "sampler", "steps", watch=True)
    def _start_walk(self) -> None:
        """A new walk (seed, sampler, steps or condition changed): show what is cached, bake the rest."""
        if self._generator is None:
            return
        key = self._walk_key()
        cache = self._caches.get_or_create(key, self._grid())
        self._cache = cache
        self._shown_frame = None
        self.bake_progress.bar_color = "info"
        self._update_bake_progress(cache)
        self.morphology_view.show_series(cache.grid_series(LIVE_COLUMNS))
        frame = cache.nearest(self.redshift)
        if frame is not None:
            self._show_frame(frame)
        else:
            self.main_view.show(np.zeros((64, 64, 3), np.uint8), float("nan"), "none")
            self.frame_status.object = f"Generating seed {key.seed} at z = {self.redshift:.2f}…"
        self._request_exact(self.redshift)
        if not cache.complete:
            if cache.bake_started is None:
                cache.bake_started = time.perf_counter()
            self._worker.submit("bake", partial(self._bake_step, cache), name=f"bake seed {key.seed}")

    def _new_galaxy(self, _event=None) -> None:
        self.seed = int(np.random.default_rng().integers(0, 2**31 - 1))

    def _generate(self, cache: FrameCache, redshifts: list[float]) -> np.ndarray:
        """Frames of ``cache``'s walk. A worker step generates one call's worth: Generator.frames reports
        progress per batch, so it cannot be stopped mid-call, and more urgent work waits for the call to end."""
        key = cache.key
        return self._generator_for(cache).frames(
            key.seed, list(redshifts), sampler=key.sampler, steps=key.steps, batch_size=len(redshifts),
            **key.condition_dict,
        )

    def _generator_for(self, cache: FrameCache):
        generator = self._generator
        if generator is None or str(generator.checkpoint_path) != cache.key.checkpoint:
            raise GalaxyExplorerError("the model changed while this walk was being computed")
        return generator

    def _bake_step(self, cache: FrameCache, ctx: TaskContext) -> bool:
        """Bake the next BAKE_BATCH grid frames (coarse-to-fine order); True when the grid is full."""
        missing = cache.missing_grid_indices()
        if missing:
            redshifts = [float(cache.grid[i]) for i in missing[:BAKE_BATCH]]
            images = self._generate(cache, redshifts)
            # Kept even if the walk changed meanwhile: the frames belong to ``cache``'s walk, which may come back.
            for redshift, image in zip(redshifts, images):
                cache.add(redshift, image, measure_frame(image))
        done = cache.complete
        if done and cache.bake_seconds is None and cache.bake_started is not None:
            cache.bake_seconds = time.perf_counter() - cache.bake_started
        self._on_ui(partial(self._baked_one, cache))
        return done

    def _baked_one(self, cache: FrameCache) -> None:
        if cache is not self._cache:
            return
        self._update_bake_progress(cache)
        self.morphology_view.show_series(cache.grid_series(LIVE_COLUMNS))
        self._push()
        if self._shown_frame is None:
            frame = cache.nearest(self.redshift)
            if frame is not None:
                self._show_frame(frame)
        elif self._shown_frame.redshift != self.redshift:
            # A closer baked frame may have arrived for where the slider rests.
            frame = cache.nearest(self.redshift)
            shown_offset = abs(self._shown_frame.redshift - self.redshift)
            if frame is not None and abs(frame.redshift - self.redshift) < shown_offset:
                self._show_frame(frame)

    def _update_bake_progress(self, cache: FrameCache) -> None:
        n = cache.n_baked
        self.bake_progress.param.update(value=n, max=len(cache.grid))
        if cache.complete:
            took = f" in {cache.bake_seconds:.1f} s" if cache.bake_seconds else ""
            self.bake_status.object = (
                f"All {len(cache.grid)} frames baked{took}: dragging shows the nearest baked frame, "
                "releasing computes the exact one."
            )
            self.bake_progress.visible = False
        else:
            self.bake_progress.visible = True
            self.bake_status.object = (
                f"Baking frames for smooth dragging: {n}/{len(cache.grid)} (seed {cache.key.seed})"
            )

    # ============================================================================================ redshift
    @param.depends("redshift", watch=True)
    def _on_drag(self) -> None:
        """Every slider movement: nearest cached frame now; real galaxies and statistics via the worker."""
        if self._cache is not None:
            frame = self._cache.nearest(self.redshift)
            if frame is not None:
                self._show_frame(frame)
        self._request_view(self.redshift)

    def _on_release(self, event) -> None:
        if event.new is not None:
            self._request_exact(float(event.new))

    def set_redshift(self, redshift: float) -> None:
        """Move the slider from code (a notebook): nearest frame at once, exact frame from the worker."""
        self.slider.value = redshift
        with param.edit_constant(self.slider):  # what the browser sets on release
            self.slider.value_throttled = redshift

    def _request_exact(self, redshift: float) -> None:
        cache = self._cache
        if cache is None:
            return
        frame = cache.get(redshift)
        if frame is not None:
            if abs(frame.redshift - self.redshift) < 1e-6:
                self._show_frame(frame)
            return

        def step(ctx: TaskContext) -> None:
            image = self._generate(cache, [redshift])[0]
            frame = cache.add(redshift, image, measure_frame(image))
            self._on_ui(partial(self._exact_ready, cache, frame))

        self._worker.submit_once("exact", step, name=f"exact z={redshift:.3f}")

    def _exact_ready(self, cache: FrameCache, frame) -> None:
        if cache is self._cache and abs(frame.redshift - self.redshift) < 1e-6:
            self._show_frame(frame)

    def _show_frame(self, frame) -> None:
        """Put a cached frame on screen now; its measurements and status line follow a moment later.

        The image goes out in a message of its own: the statistics re-draw eight small plots and re-lay out
        text, which would otherwise delay the browser's paint of the image while the slider is dragged.
        """
        self._shown_frame = frame
        exact = abs(frame.redshift - self.redshift) < 1e-6
        rgb = render(frame.image[None], self.band)[0]
        self.main_view.show(rgb, frame.redshift, "exact" if exact else "baked", requested=self.redshift)
        if self._doc is None:
            self._show_frame_details()
        elif not self._details_pending:
            self._details_pending = True
            doc = self._doc

            def details():
                from panel.io.state import set_curdoc

                with set_curdoc(doc):
                    self._show_frame_details()

            doc.add_timeout_callback(details, DETAILS_DELAY_MS)

    def _show_frame_details(self) -> None:
        self._details_pending = False
        frame = self._shown_frame
        if frame is None:
            return
        exact = abs(frame.redshift - self.redshift) < 1e-6
        kind = "exact" if exact else "baked"
        self.morphology_view.show_frame(frame.measurements, frame.redshift)
        self.morphology_table.object = self.morphology_view.table_html(frame.redshift, kind)
        seed = self._cache.key.seed if self._cache is not None else self.seed
        if exact:
            self.frame_status.object = f"Seed {seed} at z = {frame.redshift:.2f} (exact frame)"
        else:
            self.frame_status.object = (
                f"Seed {seed}: nearest baked frame, z = {frame.redshift:.3f} — exact frame for "
                f"z = {self.redshift:.2f} on release"
            )
        self._push()

    def _push(self) -> None:
        """In a notebook, Bokeh models changed from Python need an explicit push (the server does it itself);
        for panes not on screen this does nothing."""
        if self._doc is None:
            pn.io.push_notebook(*self._bokeh_panes)

    @param.depends("band", watch=True)
    def _on_band(self) -> None:
        if self._shown_frame is not None:
            self._show_frame(self._shown_frame)
        if self._shown_neighbours is not None:
            self.grid_view.show(self._shown_neighbours, render(self._shown_neighbours.images, self.band))

    # ================================================================================= real survey galaxies
    def _request_view(self, redshift: float) -> None:
        survey = self._survey
        if survey is None:
            return
        band = self.band
        state = {"grid_done": False}

        def step(ctx: TaskContext) -> None:
            if not state["grid_done"]:
                neighbours = nearest_galaxies(survey, redshift)
                rgb = render(neighbours.images, band) if len(neighbours.rows) else np.zeros((0, 64, 64, 3), np.uint8)
                self._on_ui(partial(self._grid_ready, neighbours, rgb))
                state["grid_done"] = True
            window = window_morphology(survey, redshift)
            if window is self._shown_window and window.complete:
                return
            self._on_ui(partial(self._window_ready, window))
            from galaxy_explorer.morphology import measure

            chunks = 0
            while not window.complete:
                ctx.checkpoint()  # a newer slider position or an exact frame goes first; progress is kept
                window.advance(survey, measure)
                chunks += 1
                if chunks % 4 == 0 and not window.complete:
                    self._on_ui(partial(self._window_ready, window))
            self._on_ui(partial(self._window_ready, window))

        self._worker.submit_once("view", step, name=f"view z={redshift:.3f}")

    def _grid_ready(self, neighbours, rgb: np.ndarray) -> None:
        self._shown_neighbours = neighbours
        self.grid_view.show(neighbours, rgb)
        self._push()
        if len(neighbours.rows) == 0:
            self.grid_status.object = "**The survey is empty.**"
            return
        near = neighbours.near
        if near:
            self.grid_status.object = (
                f"{len(neighbours.rows)} nearest to z = {neighbours.redshift:.2f} "
                f"(|Δz| ≤ {neighbours.max_offset:.3f}); labels: z and object id"
            )
        else:
            self.grid_status.object = (
                f"**No survey galaxies within Δz = {NEAR_TOLERANCE} of z = {neighbours.redshift:.2f}**; "
                f"showing the nearest (from z = {neighbours.galaxy_redshift.min():.2f})"
            )
            if self._survey_near:  # say it once when the slider enters an empty stretch, not on every step
                self._notify("warning", f"No survey galaxies near z = {neighbours.redshift:.2f}: the nearest is "
                             f"{neighbours.nearest_offset:.2f} away in redshift.")
        self._survey_near = near

    def _window_ready(self, window) -> None:
        self._shown_window = window
        self.morphology_view.show_real(window)
        self._push()
        frame = self._shown_frame
        if frame is not None:
            kind = "exact" if abs(frame.redshift - self.redshift) < 1e-6 else "baked"
            self.morphology_table.object = self.morphology_view.table_html(frame.redshift, kind)
        else:
            self.morphology_table.object = self.morphology_view.table_html(self.redshift, "not yet generated")

    # ============================================================================================== export
    def _walk_state(self) -> WalkState | None:
        if self._generator is None or self._cache is None:
            return None
        return WalkState(self._cache, self.param.redshift.bounds, None if self.band == COLOUR else self.band)


def app_from_arguments(argv: list[str] | None = None) -> GalaxyExplorer:
    """The app for ``panel serve galaxy_explorer/app.py --args [--checkpoint PATH] [--data PATH] [--steps N]
    [--grid-frames N] [--torch-threads N] [--seed S]``."""
    arguments = parse_app_arguments(argv if argv is not None else sys.argv[1:])
    configure_torch_threads(arguments.torch_threads)
    options = {}
    if arguments.steps is not None:
        options["steps"] = arguments.steps
    if arguments.grid_frames is not None:
        options["grid_frames"] = arguments.grid_frames
    if arguments.seed is not None:
        options["seed"] = arguments.seed
    return GalaxyExplorer(checkpoint=arguments.checkpoint, data=arguments.data, **options)


if pn.state.served:
    app_from_arguments().template().servable(title="Galaxy Explorer")
