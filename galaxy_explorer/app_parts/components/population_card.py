"""The generated population beside the survey grid, and the current seed's filmstrip: a thin Viewer that watches
``PopulationController`` (``app_parts.population``) and draws its frames, with the same fixed stretch as every other
picture (``Frame.rgb``), as small PNGs the browser enlarges pixel-sharp."""

from __future__ import annotations

import html
import weakref

import panel as pn
import param

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.app_parts.controllers.population import PopulationController
from galaxy_explorer.app_parts.state.session import UiThread
from galaxy_explorer.app_parts.components.views import COLOUR
from galaxy_explorer.app_parts.state.walk import Frame, png_data_url

# The survey grid's stamps are 104 px in 4 columns; the population matches them, so the two read as one comparison.
STAMP_PX = 104
COLUMNS = 4
FILM_PX = 52
STYLE = """<style>
.gen-grid {display: grid; gap: 4px; background: #0b0b12; padding: 4px; justify-content: start}
.gen-grid figure {margin: 0; text-align: center; color: #e8e8f0; font-size: 9pt}
.gen-grid img {image-rendering: pixelated; display: block}
.gen-grid .pending {background: #1b1b26; display: flex; align-items: center; justify-content: center;
                    color: #777; font-size: 8pt}
</style>"""


# Each frame's 64-px picture per band, made once (the grid is redrawn as its frames arrive).
_PICTURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def small_picture(frame: Frame, band: str) -> str:
    """The frame at its own 64 pixels as a PNG data URL (~5 KB; the page enlarges it)."""
    pictures = _PICTURES.setdefault(frame, {})
    if band not in pictures:
        pictures[band] = png_data_url(frame.rgb(band), scale=1)
    return pictures[band]


def _cells(frames: list[Frame | None], captions: list[str], band: str, px: int) -> str:
    cells = []
    for frame, caption in zip(frames, captions):
        if frame is None:
            picture = f'<div class="pending" style="width:{px}px;height:{px}px">…</div>'
        else:
            url = small_picture(frame, band)
            picture = f'<img src="{url}" width="{px}" height="{px}" alt="{html.escape(caption)}">'
        cells.append(f"<figure>{picture}<figcaption>{html.escape(caption)}</figcaption></figure>")
    return "".join(cells)


class PopulationCard(pn.viewable.Viewer):
    """N generated galaxies at the slider's redshift (one per seed), and, one click away, this seed's filmstrip."""

    band = param.Selector(default=COLOUR, objects=[COLOUR, *BANDS])

    def __init__(self, population: PopulationController, ui: UiThread, filmstrip: param.Parameter, **params):
        """``filmstrip``: the app's event that asks for the filmstrip (its button is on this card)."""
        super().__init__(**params)
        self._population, self._ui = population, ui
        self.filmstrip_button = pn.widgets.Button.from_param(filmstrip, label="Filmstrip of this seed", width=200,
                                                             css_classes=["filmstrip-button"])
        self.status = pn.pane.HTML("The generated population follows the slider once it is released.", width=440,
                                   css_classes=["population-status"])
        self.grid = pn.pane.HTML("", width=450, css_classes=["population-grid"])
        self.film_status = pn.pane.HTML("", width=440, css_classes=["filmstrip-status"])
        self.film = pn.pane.HTML("", width=450, css_classes=["filmstrip"])
        self._layout = pn.Card(self.status, self.grid, self.filmstrip_button, self.film_status, self.film,
                               title="Generated (model) at this redshift", collapsible=False, width=470)
        population.param.watch(self._show, ["population", "filmstrip", "revision", "error"])
        self.param.watch(self._show, "band")
        self._show()

    def __panel__(self):
        return self._layout

    def _show(self, *_events) -> None:
        self._show_population()
        self._show_filmstrip()

    def _show_population(self) -> None:
        cache = self._population.population
        if self._population.error:
            self.status.object = f"<b>Generating the population failed:</b> {html.escape(self._population.error)}"
        if cache is None:
            return
        frames = self._population.population_frames()
        seeds = [int(round(seed)) for seed in cache.grid]
        made = sum(frame is not None for frame in frames)
        key = cache.key
        conditions = ", ".join(f"{name} {'any' if value is None else f'{value:.2f}'}"
                               for name, value in key.conditions)
        text = (f"<b>generated (model)</b>, seeds {seeds[0]}–{seeds[-1]} at z = {key.at_redshift:.2f}"
                + (f" ({conditions})" if conditions else "") + "; same stretch as the survey")
        if made < len(frames):
            text += f" — generating {made}/{len(frames)} (after the walk's frames)…"
        if not self._population.error:
            self.status.object = text
        self.grid.object = (STYLE + f'<div class="gen-grid" style="grid-template-columns: repeat({COLUMNS}, '
                            f'{STAMP_PX}px)">' + _cells(frames, [f"seed {s}" for s in seeds], self.band, STAMP_PX)
                            + "</div>")

    def _show_filmstrip(self) -> None:
        cache = self._population.filmstrip
        if cache is None:
            return
        frames = self._population.filmstrip_frames()
        redshifts = self._population.filmstrip_redshifts
        made = sum(frame is not None for frame in frames)
        self.film_status.object = (f"<b>Filmstrip</b>: seed {cache.key.seed} at {len(redshifts)} redshifts"
                                   + ("" if made == len(frames) else f" — generating {made}/{len(frames)}…"))
        self.film.object = (STYLE + f'<div class="gen-grid" style="grid-template-columns: repeat({len(frames)}, '
                            f'{FILM_PX}px)">'
                            + _cells(frames, [f"z {z:.2f}" for z in redshifts], self.band, FILM_PX) + "</div>")
