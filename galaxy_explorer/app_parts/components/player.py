"""Play the walk in the browser: a play/pause button, loop and ping-pong options and a speed in frames per second.

Playing needs no server at all: the walk's frames are on the page already (``MainImageView.frames_source``), so the
button's JavaScript steps the slider through them, in order along the walk, with ``setv(…, {sync: false})``: the
slider's own JavaScript (``views.SHOW_NEAREST_JS``) shows each frame, and nothing is sent per frame. It steps
through whatever frames are there at each tick, so it plays while the bake is still filling in. On pause the
server hears the slider's position once, as a release (``value`` then ``value_throttled``), so the exact frame
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
function positions() {
  return Array.from(new Set(frames.data.position)).sort((a, b) => a - b);
}
function nearest(along, value) {
  let best = 0;
  for (let i = 1; i < along.length; i++) {
    if (Math.abs(along[i] - value) < Math.abs(along[best] - value)) { best = i; }
  }
  return best;
}
function tick() {
  const along = positions(), n = along.length;
  if (n >= 2) {
    const i = nearest(along, slider.value);
    let next = i + s.direction;
    if (next < 0 || next >= n) {
      if (ping_pong.active) { s.direction = -s.direction; next = i + s.direction; }
      else if (loop.active) { next = s.direction > 0 ? 0 : n - 1; }
      else { cb_obj.active = false; return; }  // the end of a single pass: pause (this callback runs again)
    }
    slider.setv({value: along[next]}, {sync: false});
  }
  s.timer = setTimeout(tick, 1000 / Math.min(Math.max(fps.value, 1), MAX_FPS));
}
if (cb_obj.active) {
  if (s.timer !== null) { return; }
  s.heard = slider.value;
  s.direction = 1;
  const along = positions();
  // A single pass started at the last frame starts again from the first.
  if (along.length >= 2 && !loop.active && !ping_pong.active && nearest(along, slider.value) === along.length - 1) {
    slider.setv({value: along[0]}, {sync: false});
  }
  cb_obj.setv({label: PAUSE_LABEL}, {sync: false});
  s.timer = setTimeout(tick, 0);
} else {
  if (s.timer !== null) { clearTimeout(s.timer); s.timer = null; }
  cb_obj.setv({label: PLAY_LABEL}, {sync: false});
  const value = slider.value;
  if (s.heard !== null && value !== s.heard) {
    // The server last heard s.heard: put that back quietly, then make one real change, which is sent.
    slider.setv({value: s.heard}, {sync: false});
    slider.value = value;
  }
  // And a release, so that the exact frame follows (NaN first: the page's last release may equal this value).
  slider.setv({value_throttled: NaN}, {sync: false});
  slider.value_throttled = value;
  s.heard = null;
}
"""


class WalkPlayer(pn.viewable.Viewer):
    """The play controls, driving ``slider`` through the positions in ``frames`` (a source with a 'position'
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
