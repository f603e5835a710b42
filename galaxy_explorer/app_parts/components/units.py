"""The morphology card's sizes in pixels, arcsec or proper kpc.

Sizes are measured in pixels (``morphology``); here they are only shown in another unit. Arcsec is one factor
(0.168″ per HSC pixel); kpc depends on the redshift, and each value is converted at its own galaxy's redshift:
a survey galaxy at its catalogue redshift, the frame at its conditioning redshift, the baked series at each
frame's conditioning redshift. Areas go with the square of the factor; the ellipticity has no unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galaxy_explorer.measure import cosmology
from galaxy_explorer.app_parts.controllers.real import LIVE_COLUMNS, WindowMorphology

UNITS = ("px", "arcsec", "kpc")
# The power of a length each quantity has (0: none, it is not converted).
POWERS = {"ellipticity": 0, "semi_major_axis": 1, "isophotal_area": 2, "half_light_radius": 1}
NAMES = {"ellipticity": "ellipticity 1 − b/a", "semi_major_axis": "semi-major axis a",
         "isophotal_area": "isophotal area", "half_light_radius": "half-light radius"}
SHORT_NAMES = {"ellipticity": "ellipticity", "semi_major_axis": "a", "isophotal_area": "area",
               "half_light_radius": "r½"}
UNIT_TEXT = {"px": "px", "arcsec": "″", "kpc": "kpc"}


def unit_suffix(name: str, unit: str) -> str:
    power = POWERS[name]
    if power == 0:
        return ""
    return f" [{UNIT_TEXT[unit]}{'²' if power == 2 else ''}]"


def label(name: str, unit: str) -> str:
    """A plot title / table row: 'half-light radius [kpc]'."""
    return NAMES[name] + unit_suffix(name, unit)


def short_label(name: str, unit: str) -> str:
    """An axis label: 'r½ [kpc]'."""
    return SHORT_NAMES[name] + unit_suffix(name, unit)


def convert(name: str, values, redshift, unit: str, table: cosmology.RedshiftTable):
    """``values`` of ``name`` measured in pixels, in ``unit`` (kpc at ``redshift``, one per value or one for all)."""
    power = POWERS[name]
    if power == 0 or unit == "px":
        return values
    return cosmology.size_in(values, unit, redshift, table, power=power)


def convert_measurements(measurements: dict[str, float], redshift: float, unit: str,
                         table: cosmology.RedshiftTable) -> dict[str, float]:
    """One frame's measurements in ``unit``."""
    return {name: (float(convert(name, value, redshift, unit, table)) if name in POWERS else value)
            for name, value in measurements.items()}


def convert_series(series: dict[str, np.ndarray], unit: str, table: cosmology.RedshiftTable) -> dict:
    """The baked series (``FrameCache.grid_series``: 'position' and 'redshift' columns and one per quantity), each
    value at its frame's redshift (along a label walk, the walk's fixed redshift)."""
    z = np.asarray(series["redshift"], dtype=np.float64)
    return {name: (convert(name, np.asarray(values, dtype=np.float64), z, unit, table) if name in POWERS
                   else values) for name, values in series.items()}


@dataclass
class WindowInUnit:
    """A ``WindowMorphology`` read in another unit: what ``MorphologyView`` reads of a window, converted at each
    galaxy's own redshift (``redshifts``: one per row of the window)."""

    window: WindowMorphology
    redshifts: np.ndarray
    unit: str
    table: cosmology.RedshiftTable

    def detected(self, name: str) -> np.ndarray:
        values = self.window.values.get(name) if self.window.values else None
        if values is None:
            return np.zeros(0)
        done = self.window.done
        values, z = values[:done], np.asarray(self.redshifts[:done], dtype=np.float64)
        finite = np.isfinite(values)
        return np.asarray(convert(name, values[finite], z[finite], self.unit, self.table), dtype=np.float64)

    def __getattr__(self, attribute: str):  # z_min, n_in_window, done, complete, too_few, rows… as they are
        return getattr(self.window, attribute)


def relabel(view, unit: str) -> None:
    """Titles, axis labels and table rows of a ``MorphologyView`` in ``unit``."""
    for name in LIVE_COLUMNS:
        view.labels[name] = label(name, unit)
        view.histograms[name].title.text = label(name, unit)
        view.series[name].yaxis.axis_label = short_label(name, unit)
