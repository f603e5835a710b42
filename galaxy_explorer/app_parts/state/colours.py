"""The colours the app shows for every stamp, generated or survey: aperture colours and an aperture i magnitude.

They are measured by ``galaxy_explorer.measure.photometry`` (one pipeline for both) where the stamp's morphology is
measured (the generation thread for frames, the window's chunks for survey galaxies), so that a session's UI thread
only draws.

What they are, honestly: fluxes in one fixed circular aperture of ``APERTURE_RADIUS_PIXELS`` (5 px = 0.84″) about
the stamp's centre, the same in every band (not matched to each band's PSF), after subtracting each band's sky (the
stamp's outer frame). Good for comparing two samples measured alike; not a galaxy's total colour.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from galaxy_explorer.instrument import BANDS, ZERO_POINT_AB
from galaxy_explorer.measure.photometry import APERTURE_RADIUS_PIXELS, aperture_fluxes, colours

# Names safe as column names in a data table: g−r, r−i, g−i and the i-band aperture magnitude (AB).
COLOUR_COLUMNS = ("g_r", "r_i", "g_i", "i_mag")
COLOUR_LABELS = {"g_r": "g − r", "r_i": "r − i", "g_i": "g − i", "i_mag": "i (aperture, AB)"}
APERTURE_NOTE = (f"aperture colours: a fixed {APERTURE_RADIUS_PIXELS:g}-px (0.84″) circular aperture, the same in "
                 "every band (not PSF-matched), measured alike on survey and generated stamps")


def measure_colours(images: np.ndarray, bands: Sequence[str] = BANDS) -> dict[str, np.ndarray]:
    """{"g_r", "r_i", "g_i", "i_mag": (N,)} of (N, B, H, W) stamps in survey flux: magnitudes, NaN where a flux in
    the aperture is not positive. ``bands``: the stamps' bands in order (g, r and i must be among them)."""
    images = np.asarray(images, dtype=np.float64)
    bands = tuple(bands)
    missing = [band for band in "gri" if band not in bands]
    if missing:
        raise ValueError(f"aperture colours need the g, r and i bands; the stamps' bands are {bands}")
    measured = colours(images, bands)
    i_flux = aperture_fluxes(images)[:, bands.index("i")]
    with np.errstate(invalid="ignore", divide="ignore"):
        i_mag = np.where(i_flux > 0, ZERO_POINT_AB - 2.5 * np.log10(i_flux), np.nan)
    # g − i from the two colours of the same aperture fluxes: NaN where either is (a non-positive r flux included).
    return {"g_r": measured["g-r"], "r_i": measured["r-i"], "g_i": measured["g-r"] + measured["r-i"], "i_mag": i_mag}


def frame_colours(image: np.ndarray) -> dict[str, float]:
    """The colours of one generated (5, H, W) frame (the model's bands are ``instrument.BANDS``), as plain floats."""
    return {name: float(values[0]) for name, values in measure_colours(np.asarray(image)[None]).items()}
