"""What goes into the JSON files the package writes (metrics.json, augment.json, a checkpoint's description):
``json_safe`` makes values strict JSON, ``portable_name`` names an input file without the machine that read it.

A top-level module (beside ``paths`` and ``atomic``) because training, evaluation and the commands all write such
files, and a lower layer must not import a higher one to do it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """NaN/inf -> null; numpy types -> Python (strict JSON, as browsers and jq read it)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def portable_name(path: Path, builtin_split: str | None = None) -> str:
    """How a JSON file names an input without recording the machine that made it: ``shipped:<file>`` for a
    shipped asset, ``synthetic:<split>`` for a built-in survey split, a path relative to the current folder where
    the input lies below it, and the path as given otherwise."""
    from galaxy_explorer.paths import ASSETS_DIR

    path = Path(path)
    if builtin_split is not None:
        return f"synthetic:{builtin_split}"
    resolved = path.resolve()
    for folder, prefix in ((Path(ASSETS_DIR).resolve(), "shipped:"), (Path.cwd().resolve(), "")):
        if resolved.is_relative_to(folder):
            return prefix + str(resolved.relative_to(folder))
    return str(path)
