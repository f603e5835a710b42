"""The app's export controls: the current seed's walk as GIF, MP4 or FITS, made by the session's worker and
offered as a download.

Making the file is one click ("Make export": the worker generates the frames, reusing any the walk has already
computed, with a progress bar), fetching it a second ("Download …", a ``pn.widgets.FileDownload``), so the
browser never waits on an open request while frames are generated, and a finished file can be fetched again.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import panel as pn
import param

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.output.export import (
    MAX_FPS,
    MAX_FRAMES,
    MAX_SIZE,
    MIN_FPS,
    MIN_FRAMES,
    MIN_SIZE,
    ExportRequest,
    validate_request,
    walk_header,
    write_export,
)
from galaxy_explorer.app_parts.state.session import SessionMessages, UiThread
from galaxy_explorer.app_parts.components.views import COLOUR
from galaxy_explorer.app_parts.components.conditions_panel import label_title
from galaxy_explorer.app_parts.state.walk import REDSHIFT_AXIS, FrameCache, WalkKey
from galaxy_explorer.app_parts.controllers.walk_controller import WalkController, axis_range
from galaxy_explorer.app_parts.state.worker import Preempted, SessionWorker, TaskContext


class ExportPanel(pn.viewable.Viewer):
    """Export settings, the Make/Download buttons and the progress bar, for one session.

    It exports the walk on screen (``walk.cache``), in the band the page shows (``band``, set by the app), with
    frames from ``walk.frames_for`` on the session's worker; problems go to the session's messages.
    """

    # Positions along the walk's axis: redshifts, or the walked label's values (a label walk, at its fixed redshift).
    walk_start = param.Number(default=0.0, doc="First position of the walk (redshift, or the walked label)")
    walk_stop = param.Number(default=3.0, doc="Last position of the walk (redshift, or the walked label)")
    # Bounds are checked by export.validate_request, which says which value is out of bounds and why.
    frames = param.Integer(default=60, doc=f"{MIN_FRAMES}-{MAX_FRAMES} frames")
    fps = param.Integer(default=12, doc=f"{MIN_FPS}-{MAX_FPS} frames per second")
    size = param.Integer(default=512, doc=f"{MIN_SIZE}-{MAX_SIZE} pixels a side (GIF/MP4)")
    label = param.Boolean(default=True, doc="Burn 'z = …' into each GIF/MP4 frame")
    format = param.Selector(default="mp4", objects=["gif", "mp4", "fits"])
    band = param.Selector(default=COLOUR, objects=[COLOUR, *BANDS], doc="What the page shows (GIF/MP4 frames)")

    def __init__(self, walk: WalkController, worker: SessionWorker, ui: UiThread, messages: SessionMessages,
                 **params):
        super().__init__(**params)
        self._walk, self._worker, self._ui, self._messages = walk, worker, ui, messages
        self.directory = Path(tempfile.mkdtemp(prefix="galaxy-explorer-export-"))
        p = self.param
        self.button = pn.widgets.Button(label="Make export", color="primary", width=240, css_classes=["export-button"])
        self.button.on_click(self.start)
        self.progress = pn.indicators.Progress(value=0, max=1, width=240, height=12, visible=False)
        self.status = pn.pane.Markdown("", width=240, css_classes=["export-status"])
        self.download = pn.widgets.FileDownload(
            label="Nothing exported yet", disabled=True, auto=True, embed=False, color="success", width=240,
            css_classes=["export-download"],
            # A long file name wraps onto a second line instead of being cut off.
            stylesheets=[".bk-btn { white-space: normal; overflow-wrap: anywhere; height: auto; }"],
        )
        self.start_input = pn.widgets.FloatInput.from_param(p.walk_start, label="z start", step=0.1, width=110,
                                                            css_classes=["export-z-start"])
        self.stop_input = pn.widgets.FloatInput.from_param(p.walk_stop, label="z stop", step=0.1, width=110,
                                                           css_classes=["export-z-stop"])
        self._axis = REDSHIFT_AXIS
        self.axis_note = pn.pane.HTML("", width=240, margin=(0, 10), visible=False, css_classes=["export-axis"])
        self._layout = pn.Column(
            self.axis_note,
            pn.Row(self.start_input, self.stop_input),
            pn.Row(
                pn.widgets.IntInput.from_param(p.frames, label="frames", width=70, css_classes=["export-frames"]),
                pn.widgets.IntInput.from_param(p.fps, label="fps", width=70, css_classes=["export-fps"]),
                pn.widgets.IntInput.from_param(p.size, label="size px", width=80, css_classes=["export-size"]),
            ),
            pn.widgets.Checkbox.from_param(p.label, label="redshift label in frames"),
            pn.widgets.RadioButtonGroup.from_param(p.format, label="format", width=240, css_classes=["export-format"]),
            self.button,
            self.progress,
            self.status,
            self.download,
        )
        walk.param.watch(self._model_loaded, "generator")
        walk.param.watch(self._walk_changed, "cache")

    def __panel__(self):
        return self._layout

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def _model_loaded(self, *_events) -> None:
        """A new model: the walk to export spans its whole redshift range."""
        low, high = self._walk.redshift_range
        self.param.update(walk_start=low, walk_stop=high)

    def _walk_changed(self, *_events) -> None:
        """The walk now moves along another axis (redshift or a label): export its whole range along it."""
        axis, cache = self._walk.axis, self._walk.cache
        if axis != REDSHIFT_AXIS and cache is not None:
            self.axis_note.param.update(visible=True, object=f"<small>The walk along <b>{label_title(axis)}</b> "
                                                             f"({axis}) at z = {cache.key.at_redshift:.2f}:</small>")
        else:
            self.axis_note.visible = False
        if axis == self._axis:
            return
        self._axis = axis
        # (a label's name is too long for the field: the note above says what start and stop are)
        self.start_input.label, self.stop_input.label = ("z start", "z stop") if axis == REDSHIFT_AXIS else \
            ("start", "stop")
        low, high = axis_range(self._walk.generator, axis)
        self.param.update(walk_start=low, walk_stop=high)

    def request(self) -> ExportRequest:
        """The export these settings describe, for the current walk; GalaxyExplorerError names what is wrong."""
        cache = self._walk.cache
        if self._walk.generator is None or cache is None:
            raise GalaxyExplorerError("no model is loaded, so there is nothing to export")
        key = cache.key
        start, stop = float(self.walk_start), float(self.walk_stop)
        if key.axis == REDSHIFT_AXIS:
            name = f"galaxy-seed{key.seed}-z{start:.2f}-{stop:.2f}.{self.format}"
        else:
            name = f"galaxy-seed{key.seed}-{key.axis}{start:.2f}-{stop:.2f}-z{key.at_redshift:.2f}.{self.format}"
        # (ExportRequest names the ends z_start and z_stop: along a label they are the label's values.)
        request = ExportRequest(
            out=self.directory / name, seed=key.seed, z_start=start, z_stop=stop,
            frames=int(self.frames), fps=int(self.fps), size=int(self.size), sampler=key.sampler, steps=key.steps,
            label=bool(self.label), band=None if self.band == COLOUR else self.band,
            conditions={name: value for name, value in key.condition_dict.items() if value is not None},
            guidance_scale=key.guidance,
        )
        if key.axis == REDSHIFT_AXIS:
            validate_request(request, self._walk.redshift_range)
        else:  # the positions are the label's values: its own range, and the bounds of everything else
            validate_request(request)
            low, high = axis_range(self._walk.generator, key.axis)
            for which, value in (("start", start), ("stop", stop)):
                if not low - 1e-9 <= value <= high + 1e-9:
                    raise GalaxyExplorerError(f"{key.axis} {which} = {value:g} is outside the checkpoint's "
                                              f"training range [{low:g}, {high:g}]")
        return request

    def start(self, _event=None) -> None:
        """Make the file on the session's worker; its frames come from the process's generation queue, which makes
        interactive frames first and reuses every frame already made for this walk."""
        try:
            request = self.request()
        except GalaxyExplorerError as exc:
            self._messages.notify("error", f"Cannot export: {exc}")
            return
        self.button.disabled = True
        self.progress.param.update(value=0, max=request.frames, visible=True)
        self.status.object = f"Exporting {request.out.name}: generating {request.frames} frames…"
        self._worker.submit("export", partial(self._step, request, self._walk.cache),
                            name=f"export {request.out.name}")

    def _step(self, request: ExportRequest, cache: FrameCache, ctx: TaskContext) -> bool:
        """Wait for the frames (more urgent work on the worker goes in between), then write the file."""
        try:
            frames = self._walk.frames_for(
                cache, walk_positions(request), ctx,
                progress=lambda done, total: self._ui.call(partial(self._progressed, done, total)))
            frame_redshifts, conditions, header = export_description(request, cache.key)
            out = write_export(
                request.out, np.stack([frame.image for frame in frames]), frame_redshifts, fps=request.fps,
                size=request.size, label=request.label, band=request.band, header=header, conditions=conditions,
                captions=export_captions(request, cache.key),
            )
        except Preempted:
            raise
        except Exception as exc:  # the worker reports it; the panel says the export failed and can be retried
            self._ui.call(partial(self._failed, exc))
            raise
        self._ui.call(partial(self._ready, out))
        return True

    def _failed(self, exc: BaseException) -> None:
        self.progress.visible = False
        self.button.disabled = False
        self.status.object = f"Export failed: {exc}"

    def _progressed(self, done: int, total: int) -> None:
        self.progress.value = done
        self.status.object = f"Generating frames: {done}/{total}"

    def _ready(self, out: Path) -> None:
        self.progress.visible = False
        self.button.disabled = False
        self.status.object = f"Ready: `{out.name}` ({out.stat().st_size / 1024:.0f} KiB)"
        self.download.param.update(file=str(out), filename=out.name, label=f"Download {out.name}", disabled=False)
        self._messages.notify("success", f"Export ready: {out.name} — click Download")


def walk_positions(request: ExportRequest) -> list[float]:
    """Where the export's frames are along the walk's axis: evenly from its start to its stop (``ExportRequest``
    calls them redshifts, as they are along the redshift; along a label they are the label's values)."""
    return [float(position) for position in request.redshifts]


def export_captions(request: ExportRequest, key: WalkKey) -> list[str]:
    """The text burnt into each frame of a GIF or MP4: its redshift, or on a walk along a label the label's value
    over the fixed redshift ('true_axis_ratio = 0.30' / 'z = 0.50')."""
    return [key.describe(position).replace(" at ", "\n") for position in walk_positions(request)]


def export_description(request: ExportRequest, key: WalkKey) -> tuple[list[float], dict, dict]:
    """(each frame's redshift, the conditions per frame for the FITS table, the FITS header cards) of an export of
    ``key``'s walk: along the redshift, or along a label at one redshift (the header says which label moves)."""
    _seeds, redshifts, conditions = key.sampling(walk_positions(request))
    header = walk_header(request, key.checkpoint)
    # Card comments stay short (a card is 80 characters; a long label name leaves ~40 for the comment): the
    # longer explanations go in COMMENT cards.
    header["GUIDANCE"] = (key.guidance, "classifier-free guidance (1: none)")
    free = [name for name, value in conditions.items() if value is None]
    if free:
        header["FREE"] = (",".join(free), "labels left free")
        header["COMMENT"] = "FREE: conditions left out; the model used its learned null embedding for them."
    if key.axis != REDSHIFT_AXIS:
        header["WALKAXIS"] = (key.axis, "changes frame to frame")
        header["ZFIXED"] = (key.at_redshift, "the redshift of every frame")
        header["COMMENT"] = "WALKAXIS: its value for each frame is in the REDSHIFT HDU's table."
    else:
        header["WALKAXIS"] = ("redshift", "changes frame to frame")
    return redshifts, {name: value for name, value in conditions.items() if value is not None}, header
