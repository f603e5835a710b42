"""Import a script of the repository (benchmarks/, train/) as a module, by its path, for tests of its parts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def load_script(relative_path: str, module_name: str | None = None) -> ModuleType:
    """The script at ``relative_path`` (from the repository root), executed once as a module of its own."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(module_name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
