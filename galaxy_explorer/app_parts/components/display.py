"""How the pictures are drawn: the Lupton stretch and Q, and smooth or pixelated upscaling — the display controls,
and the pictures they make.

A change of look never generates anything: every frame keeps its float survey flux (``Frame.image``) and every
survey stamp its flux (``Neighbours.images``), so a new look is a re-encoding of those, made once per look and
kept with the frame (the default look is the frame's own shared picture, ``Frame.data_url``). The generated galaxy
and the survey galaxies are always drawn with the same look, so they stay comparable.

The single-band colour bar maps grey levels back to flux through the inverse of the stretch:
grey v = asinh(Q · flux / stretch) / Q, so flux = stretch · sinh(Q · v) / Q.
"""

from __future__ import annotations

import base64
import io
import weakref
from dataclasses import dataclass

import numpy as np
import panel as pn
import param
from bokeh.models import FixedTicker, Range1d
from bokeh.plotting import figure

from galaxy_explorer.output.composite import DEFAULT_Q, DEFAULT_STRETCH, band_image, lupton_rgb
from galaxy_explorer.app_parts.state.walk import COLOUR, DISPLAY_SCALE

PIXELATED, SMOOTH = "pixelated", "smooth"


@dataclass(frozen=True)
class Look:
    """How flux becomes a picture on screen."""

    stretch: float = DEFAULT_STRETCH
    Q: float = DEFAULT_Q
    upscaling: str = PIXELATED

    @property
    def is_default(self) -> bool:
        return self == Look()


DEFAULT_LOOK = Look()


def render(images: np.ndarray, band: str, look: Look) -> np.ndarray:
    """(…,5,H,W) survey flux -> (…,H,W,3) uint8 with ``look``'s stretch: the i,r,g composite or one band in grey."""
    if band == COLOUR:
        return lupton_rgb(images, stretch=look.stretch, Q=look.Q)
    return band_image(images, band, stretch=look.stretch, Q=look.Q)


def upscale(rgb: np.ndarray, factor: int, upscaling: str) -> np.ndarray:
    """(H,W,3) uint8 enlarged ``factor`` times: pixel blocks (pixelated) or bicubic interpolation (smooth)."""
    if factor == 1:
        return rgb
    if upscaling == PIXELATED:
        return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
    from PIL import Image

    height, width = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((width * factor, height * factor), Image.BICUBIC))


# Smooth pictures are photographs more than pixel art: as JPEG they are ~55 KB at 448 px, as PNG ~400 KB.
SMOOTH_JPEG_QUALITY = 85


def picture_url(rgb: np.ndarray, upscaling: str, scale: int = DISPLAY_SCALE) -> str:
    """(H,W,3) uint8, row 0 at the bottom -> a data URL of the picture enlarged for the page, row 0 at the top.

    Pixelated: PNG at compression level 1 (a new look re-encodes a whole walk at once, and level 6, the default
    look's, made once per process, takes five times longer for a few percent less). Smooth: JPEG."""
    from PIL import Image

    picture = upscale(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[::-1]), scale, upscaling)
    buffer = io.BytesIO()
    if upscaling == SMOOTH:
        Image.fromarray(picture).save(buffer, format="JPEG", quality=SMOOTH_JPEG_QUALITY)
        kind = "jpeg"
    else:
        Image.fromarray(picture).save(buffer, format="PNG", compress_level=1)
        kind = "png"
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# Pictures in other looks, kept with the frame or survey galaxies they show (and dropped with them). Neighbours
# are compared by value (a frozen dataclass of arrays), so they are keyed by identity, and forgotten when freed.
_FRAME_URLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SURVEY_PICTURES: dict[int, dict] = {}


def frame_url(frame, band: str, look: Look) -> str:
    """The frame's picture in ``band`` and ``look`` as a data URL, made once per (band, look)."""
    if look.is_default:
        return frame.data_url(band)
    urls = _FRAME_URLS.setdefault(frame, {})
    url = urls.get((band, look))
    if url is None:
        url = urls[(band, look)] = picture_url(render(frame.image, band, look), look.upscaling)
    return url


def encode_in_background(frames, band: str, look: Look, then) -> None:
    """Make the frames' pictures in ``band`` and ``look`` on a thread of their own, then call ``then()``: a new
    look re-encodes a whole walk (~0.6 s for 64 frames), which on the UI thread would hold up every session."""
    import threading

    def run() -> None:
        for frame in frames:
            frame_url(frame, band, look)
        then()

    threading.Thread(target=run, name="galaxy-explorer-look", daemon=True).start()


# Survey stamps are drawn 104 px wide from 64: smooth upscaling sends them twice as large, interpolated.
SURVEY_SMOOTH_FACTOR = 2


def survey_pictures(neighbours, band: str, look: Look) -> np.ndarray:
    """(k,H',W',3) pictures of the survey galaxies in ``band`` and ``look`` (H' = H, or 2H when smooth)."""
    if look.is_default:
        return neighbours.pictures(band)
    pictures = _SURVEY_PICTURES.get(id(neighbours))
    if pictures is None:
        pictures = _SURVEY_PICTURES[id(neighbours)] = {}
        weakref.finalize(neighbours, _SURVEY_PICTURES.pop, id(neighbours), None)
    if (band, look) not in pictures:
        rgb = render(neighbours.images, band, look) if len(neighbours.rows) else neighbours.pictures(band)
        factor = SURVEY_SMOOTH_FACTOR if look.upscaling == SMOOTH else 1
        pictures[(band, look)] = np.stack([upscale(picture, factor, look.upscaling) for picture in rgb]) \
            if len(rgb) else rgb
    return pictures[(band, look)]


def flux_at_grey(grey, look: Look):
    """The flux drawn at grey level ``grey`` (0–1) by a single band: the inverse of the asinh stretch."""
    return look.stretch * np.sinh(look.Q * np.asarray(grey, dtype=np.float64)) / look.Q


def grey_at_flux(flux, look: Look):
    return np.arcsinh(look.Q * np.asarray(flux, dtype=np.float64) / look.stretch) / look.Q


def colour_bar_ticks(look: Look, candidates=(0.0, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100)) -> dict[float, str]:
    """Grey level -> flux label, for the round fluxes the bar spans (white is reached at grey 1)."""
    top = float(flux_at_grey(1.0, look))
    return {float(grey_at_flux(flux, look)): f"{flux:g}" for flux in candidates if flux <= top * 1.0001}


class ColourBar:
    """The grey scale of a single band, labelled in survey flux (shown only when one band is on screen)."""

    def __init__(self, width: int = 448, height: int = 58):
        self.figure = figure(width=width, height=height, x_range=Range1d(0, 1), y_range=Range1d(0, 1),
                             toolbar_location=None, tools="", name="colour-bar", css_classes=["colour-bar"],
                             min_border_left=10, min_border_right=10, min_border_top=2)
        ramp = np.linspace(0, 255, 256).astype(np.uint8)[None, :].repeat(2, axis=0)
        grey = np.concatenate([np.repeat(ramp[..., None], 3, axis=-1), np.full(ramp.shape + (1,), 255, np.uint8)],
                              axis=-1)
        self.figure.image_rgba(image=[np.ascontiguousarray(grey).view(np.uint32)[..., 0]], x=0, y=0, dw=1, dh=1)
        self.figure.yaxis.visible = False
        self.figure.grid.visible = False
        self.figure.xaxis.axis_label_text_font_size = "8pt"
        self.figure.xaxis.major_label_text_font_size = "8pt"
        self.figure.visible = False
        self.show(COLOUR, DEFAULT_LOOK)

    def show(self, band: str, look: Look) -> None:
        self.figure.visible = band != COLOUR
        ticks = colour_bar_ticks(look)
        self.figure.xaxis.ticker = FixedTicker(ticks=sorted(ticks))
        self.figure.xaxis.major_label_overrides = ticks
        self.figure.xaxis.axis_label = f"{band}-band flux (AB zero point 27), asinh stretch {look.stretch:g}, Q {look.Q:g}"


class DisplayControls(pn.viewable.Viewer):
    """Stretch, Q (with a reset) and upscaling; ``look`` changes when a slider is released or a button pressed."""

    look = param.ClassSelector(class_=Look, default=DEFAULT_LOOK)

    def __init__(self, **params):
        super().__init__(**params)
        self.stretch = pn.widgets.FloatSlider(label="Stretch", start=0.05, end=3.0, step=0.05, value=DEFAULT_STRETCH,
                                              width=125, css_classes=["display-stretch"])
        self.Q = pn.widgets.FloatSlider(label="Q", start=0.5, end=20.0, step=0.5, value=DEFAULT_Q, width=125,
                                        css_classes=["display-q"])
        self.reset = pn.widgets.Button(label="Reset", width=80, css_classes=["display-reset"])
        self.upscaling = pn.widgets.RadioButtonGroup(options=[PIXELATED, SMOOTH], value=PIXELATED, width=180,
                                                     css_classes=["display-upscaling"])
        # On release: a new look re-encodes every frame on the page, not something to do on every slider move.
        for widget in (self.stretch, self.Q):
            widget.param.watch(self._changed, "value_throttled")
        self.upscaling.param.watch(self._changed, "value")
        self.reset.on_click(self._reset)
        self._layout = pn.Column(pn.Row(self.stretch, self.Q), pn.Row(self.upscaling, self.reset))

    def __panel__(self):
        return self._layout

    def _changed(self, *_events) -> None:
        self.look = Look(float(self.stretch.value), float(self.Q.value), self.upscaling.value)

    def _reset(self, *_events) -> None:
        self.stretch.value, self.Q.value = DEFAULT_STRETCH, DEFAULT_Q
        self.look = Look(DEFAULT_STRETCH, DEFAULT_Q, self.upscaling.value)


def keep_in_step(source: param.Parameterized, name: str, views: list) -> None:
    """From now on, each of ``views`` that has a parameter ``name`` (the band on screen, the look) follows
    ``source``'s: every picture on screen is drawn the same way."""
    def follow(event) -> None:
        for view in views:
            if name in view.param:
                setattr(view, name, event.new)

    source.param.watch(follow, name)
