"""Physical context for a redshift, with astropy's Planck18: proper kpc per arcsec, look-back time, age.

The app needs these while the slider is dragged, in the browser, so they are tabulated once on a redshift grid
(``redshift_table``) and interpolated linearly, in Python (``interpolate``) and in JavaScript
(``INTERPOLATE_JS``) alike; on a 0.01 grid the interpolation error is far below the digits shown. The same
formatting is written in both languages (``scale_bar_text`` / ``times_text`` and their JS twins), so what the
server writes at rest is exactly what the browser writes while dragging.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galaxy_explorer.instrument import PIXEL_SCALE_ARCSEC, STAMP_SIZE

TABLE_STEP = 0.01
# The scale bar's length: 2″ is 12 pixels of a 64-pixel stamp, long enough to read, short enough to stay clear
# of the galaxy in the centre.
SCALE_BAR_ARCSEC = 2.0


@dataclass(frozen=True)
class RedshiftTable:
    """Planck18 quantities on an even redshift grid (arrays of equal length)."""

    redshift: np.ndarray
    kpc_per_arcsec: np.ndarray  # proper transverse scale
    lookback_gyr: np.ndarray
    age_gyr: np.ndarray

    def as_lists(self) -> dict[str, list[float]]:
        """The table as plain lists, for a CustomJS's ``args``."""
        return {name: [round(float(v), 6) for v in getattr(self, name)]
                for name in ("redshift", "kpc_per_arcsec", "lookback_gyr", "age_gyr")}


def redshift_table(z_min: float = 0.0, z_max: float = 4.0, step: float = TABLE_STEP) -> RedshiftTable:
    """Planck18 at ``z_min, z_min + step, …`` up to at least ``z_max`` (redshifts below 0 are taken as 0)."""
    from astropy.cosmology import Planck18

    z_min, z_max = max(0.0, float(z_min)), max(0.0, float(z_max))
    n = int(np.ceil((z_max - z_min) / step - 1e-9)) + 1
    z = z_min + step * np.arange(max(n, 2))
    # At z = 0 the angular diameter distance is 0: an arcsec spans no distance (astropy warns dividing by it).
    kpc = Planck18.kpc_proper_per_arcmin(z).value / 60.0
    return RedshiftTable(z, kpc, Planck18.lookback_time(z).value, Planck18.age(z).value)


def interpolate(table: RedshiftTable, z: float) -> tuple[float, float, float]:
    """(kpc per arcsec, look-back time in Gyr, age in Gyr) at ``z``, clamped to the table's ends."""
    return tuple(float(np.interp(z, table.redshift, column))
                 for column in (table.kpc_per_arcsec, table.lookback_gyr, table.age_gyr))


def scale_bar_pixels(arcsec: float = SCALE_BAR_ARCSEC, pixel_scale: float = PIXEL_SCALE_ARCSEC) -> float:
    """The bar's length in stamp pixels."""
    return arcsec / pixel_scale


def scale_bar_text(kpc_per_arcsec: float, arcsec: float = SCALE_BAR_ARCSEC) -> str:
    """The bar's label: its length in arcsec, and in proper kpc at the frame's redshift."""
    return f"{arcsec:g}″ = {arcsec * kpc_per_arcsec:.1f} kpc"


def times_text(z: float, lookback_gyr: float, age_gyr: float) -> str:
    """The line beside the slider."""
    return f"z = {z:.2f}: look-back time {lookback_gyr:.2f} Gyr · age of the universe {age_gyr:.2f} Gyr (Planck18)"


# The browser's twins of ``interpolate``, ``scale_bar_text`` and ``times_text``; ``table`` is ``as_lists()``.
INTERPOLATE_JS = """
function cosmo_at(table, z) {
  const zs = table.redshift, n = zs.length;
  const t = Math.min(Math.max((z - zs[0]) / (zs[n - 1] - zs[0]) * (n - 1), 0), n - 1);
  const i = Math.min(Math.floor(t), n - 2), w = t - i;
  const at = (col) => col[i] * (1 - w) + col[i + 1] * w;
  return {kpc: at(table.kpc_per_arcsec), lookback: at(table.lookback_gyr), age: at(table.age_gyr)};
}
function scale_bar_text(kpc_per_arcsec, arcsec) {
  return `${arcsec}″ = ${(arcsec * kpc_per_arcsec).toFixed(1)} kpc`;
}
function times_text(z, lookback, age) {
  return `z = ${z.toFixed(2)}: look-back time ${lookback.toFixed(2)} Gyr · age of the universe ${age.toFixed(2)} Gyr (Planck18)`;
}
"""


def size_in(value_px, unit: str, z, table: RedshiftTable, power: int = 1):
    """Sizes measured in pixels (``power`` 2 for areas) in ``unit``: 'px', 'arcsec' or 'kpc' (proper, at ``z``,
    each value at its own redshift when ``z`` is an array)."""
    if unit == "px":
        return value_px
    if unit not in ("arcsec", "kpc"):
        raise ValueError(f"unit {unit!r} is not one of px, arcsec, kpc")
    factor = PIXEL_SCALE_ARCSEC * (np.interp(z, table.redshift, table.kpc_per_arcsec) if unit == "kpc" else 1.0)
    return np.asarray(value_px, dtype=np.float64) * np.asarray(factor) ** power
