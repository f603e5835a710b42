"""Play the walk in the browser: a play/pause button, loop and ping-pong options and a speed in frames per second.

Playing needs no server at all: the walk's frames are on the page already (``MainImageView.frames_source``), so the
button's JavaScript steps the redshift slider through them, in redshift order, with ``setv(…, {sync: false})``:
the slider's own JavaScript (``views.SHOW_NEAREST_JS``) shows each frame, and nothing is sent per frame. It steps
through whatever frames are there at each tick, so it plays while the bake is still filling in. On pause the
server hears the slider's redshift once, as a release (``value`` then ``value_throttled``), so the exact frame
and the survey side follow as after a drag.
"""

from __future__ import annotations

import panel as pn
from bokeh.models import ColumnDataSource

DEFAULT_FPS = 8
MAX_FPS = 30
PLAY_LABEL, PAUSE_LABEL = "▶ Play", "⏸ Pause"

# cb_obj: the play button (Bokeh Toggle). Its state (timer, direction, what the server last heard) lives on the
# model object itself, which outlives each run of the callback.
PLAY_JS = """
const s = cb_obj._walk_player || (cb_obj._walk_player = {timer: null, direction: 1, heard: null});
function redshifts() {
  return Array.from(new Set(frames.data.redshift)).sort((a, b) => a - b);
}
function nearest(zs, z) {
  let best = 0;
  for (let i = 1; i < zs.length; i++) {
    if (Math.abs(zs[i] - z) < Math.abs(zs[best] - z)) { best = i; }
  }
  return best;
}
function tick() {
  const zs = redshifts(), n = zs.length;
  if (n >= 2) {
    const i = nearest(zs, slider.value);
    let next = i + s.direction;
    if (next < 0 || next >= n) {
      if (ping_pong.active) { s.direction = -s.direction; next = i + s.direction; }
      else if (loop.active) { next = s.direction > 0 ? 0 : n - 1; }
      else { cb_obj.active = false; return; }  // the end of a single pass: pause (this callback runs again)
    }
    slider.setv({value: zs[next]}, {sync: false});
  }
  s.timer = setTimeout(tick, 1000 / Math.min(Math.max(fps.value, 1), MAX_FPS));
}
if (cb_obj.active) {
  if (s.timer !== null) { return; }
  s.heard = slider.value;
  s.direction = 1;
  const zs = redshifts();
  // A single pass started at the last frame starts again from the first.
  if (zs.length >= 2 && !loop.active && !ping_pong.active && nearest(zs, slider.value) === zs.length - 1) {
    slider.setv({value: zs[0]}, {sync: false});
  }
  cb_obj.setv({label: PAUSE_LABEL}, {sync: false});
  s.timer = setTimeout(tick, 0);
} else {
  if (s.timer !== null) { clearTimeout(s.timer); s.timer = null; }
  cb_obj.setv({label: PLAY_LABEL}, {sync: false});
  const z = slider.value;
  if (s.heard !== null && z !== s.heard) {
    // The server last heard s.heard: put that back quietly, then make one real change, which is sent.
    slider.setv({value: s.heard}, {sync: false});
    slider.value = z;
  }
  // And a release, so that the exact frame follows (NaN first: the page's last release may equal z).
  slider.setv({value_throttled: NaN}, {sync: false});
  slider.value_throttled = z;
  s.heard = null;
}
"""


class WalkPlayer(pn.viewable.Viewer):
    """The play controls, driving ``slider`` through the redshifts in ``frames`` (a source with a 'redshift'
    column) in the browser."""

    def __init__(self, slider: pn.widgets.Widget, frames: ColumnDataSource, **params):
        super().__init__(**params)
        self.play = pn.widgets.Toggle(label=PLAY_LABEL, value=False, width=90, color="primary",
                                      css_classes=["play-button"])
        self.loop = pn.widgets.Checkbox(label="loop", value=True, width=55, css_classes=["play-loop"])
        self.ping_pong = pn.widgets.Checkbox(label="ping-pong", value=False, width=90,
                                             css_classes=["play-ping-pong"])
        self.fps = pn.widgets.IntSlider(label="frames / s", start=1, end=MAX_FPS, value=DEFAULT_FPS, width=170,
                                        css_classes=["play-fps"])
        self.play.jscallback(value=PLAY_JS, args={
            "slider": slider, "frames": frames, "loop": self.loop, "ping_pong": self.ping_pong, "fps": self.fps,
            "MAX_FPS": MAX_FPS, "PLAY_LABEL": PLAY_LABEL, "PAUSE_LABEL": PAUSE_LABEL})
        self._layout = pn.Row(self.play, self.fps, self.loop, self.ping_pong, margin=(0, 5))

    def __panel__(self):
        return self._layout
