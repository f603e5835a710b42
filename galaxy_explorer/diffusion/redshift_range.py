"""One rule for redshifts asked of a model, used by every command.

Inside the checkpoint's training range: used as given. Outside it by at most ``REDSHIFT_MARGIN``: moved onto the
nearest end of the range, with one note (the shipped survey starts at z = 0.02, yet "z = 0" is what people type).
Further out, or not a finite number: refused, naming the value, the range and the margin.
"""

from __future__ import annotations

import math

from galaxy_explorer.errors import GalaxyExplorerError

REDSHIFT_MARGIN = 0.05


class RedshiftRangeError(GalaxyExplorerError, ValueError):
    """A redshift that is not finite or lies further outside the training range than the margin allows."""


def fit_to_training_range(name: str, value: float, training_range: tuple[float, float]) -> tuple[float, str | None]:
    """``(value to use, note or None)``; ``RedshiftRangeError`` beyond the margin. ``name`` is how the user
    gave the value (an option such as ``--z``)."""
    low, high = (float(v) for v in training_range)
    value = float(value)
    if not math.isfinite(value):
        raise RedshiftRangeError(f"{name}={value} is not a finite redshift")
    if low <= value <= high:
        return value, None
    snapped = min(max(value, low), high)
    if abs(snapped - value) > REDSHIFT_MARGIN:
        raise RedshiftRangeError(
            f"{name}={value:g} is outside the checkpoint's training redshift range [{low:g}, {high:g}] by more "
            f"than the margin of {REDSHIFT_MARGIN:g}; the model cannot be trusted there")
    return snapped, (f"{name}={value:g} is just outside the checkpoint's training redshift range "
                     f"[{low:g}, {high:g}]: using {snapped:g}")
