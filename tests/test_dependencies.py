"""The dependencies declared in pyproject.toml are the ones the code imports, no more and no fewer.

A package imported but not declared works here only because something else pulled it in (Pillow and tornado came
with bokeh), and breaks the day that changes; one declared but never imported costs every install for nothing.
Every import counts, including those inside functions and ``pytest.importorskip("...")``: the package's against
``[project] dependencies``, the tests' against those plus ``[project.optional-dependencies] dev``. A declared
dependency nobody imports stays only with its reason in an allowlist below.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
# This repository's own top-level modules (galaxy_explorer, tests, docs, benchmarks...): a test may import a script.
OWN = {path.stem for path in ROOT.iterdir()
       if not path.name.startswith(".") and (path.is_dir() or path.suffix == ".py")}

# Declared though nothing imports them: the reason each stays.
DECLARED_NOT_IMPORTED: dict[str, str] = {}
DEV_DECLARED_NOT_IMPORTED = {
    "pytest-playwright": "a pytest plugin: it gives the UI tests their browser fixtures (``page``) and is never "
                         "imported",
}
# Calls that import the module named by their first argument.
IMPORTING_CALLS = {("pytest", "importorskip"), ("importlib", "import_module")}


def canonical(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503): ``Pillow`` = ``pillow``, ``imageio_ffmpeg`` =
    ``imageio-ffmpeg``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise AssertionError(f"pyproject.toml: cannot read a distribution name from {requirement!r}")
    return canonical(match.group(1))


def declared() -> tuple[set[str], set[str]]:
    """(``[project] dependencies``, ``[project.optional-dependencies] dev``) of pyproject.toml, by canonical name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return ({requirement_name(r) for r in project["dependencies"]},
            {requirement_name(r) for r in project["optional-dependencies"]["dev"]})


def imported_modules(path: Path) -> set[str]:
    """The top-level modules ``path`` imports anywhere: import statements at any depth (absolute ones: a relative
    import is the package's own) and ``pytest.importorskip("name")`` / ``importlib.import_module("name")``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name)
              and (node.func.value.id, node.func.attr) in IMPORTING_CALLS
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value)
    return {name.split(".")[0] for name in names}


def third_party_imports(folder: Path) -> dict[str, set[str]]:
    """Top-level third-party module -> the files under ``folder`` that import it (not the standard library, not
    this repository's own modules)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for module in imported_modules(path) - set(sys.stdlib_module_names) - OWN:
            found.setdefault(module, set()).add(path.relative_to(folder.parent).as_posix())
    return found


def distributions(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    """Top-level module -> the canonical names of the installed distributions that provide it."""
    provided_by = importlib.metadata.packages_distributions()
    missing = {module: sorted(files) for module, files in imports.items() if module not in provided_by}
    assert not missing, f"imported, but no installed distribution provides it (not installed?): {missing}"
    return {module: {canonical(name) for name in provided_by[module]} for module in imports}


def undeclared(imports: dict[str, set[str]], allowed: set[str]) -> dict[str, str]:
    """The imports none of whose distributions is in ``allowed``: module -> 'distribution (first files)'."""
    return {module: f"{'/'.join(sorted(names))} (imported by {', '.join(sorted(imports[module])[:3])})"
            for module, names in distributions(imports).items() if not names & allowed}


def test_every_package_the_app_imports_is_declared_in_its_dependencies():
    main, _ = declared()
    missing = undeclared(third_party_imports(ROOT / "galaxy_explorer"), main)
    assert missing == {}, f"add to [project] dependencies in pyproject.toml: {missing}"


def test_every_declared_dependency_is_imported_by_the_app_or_has_its_reason():
    main, _ = declared()
    used = set().union(*distributions(third_party_imports(ROOT / "galaxy_explorer")).values())
    unused = main - used - {canonical(name) for name in DECLARED_NOT_IMPORTED}
    assert unused == set(), f"declared in pyproject.toml but never imported by galaxy_explorer/: {sorted(unused)}"
    stale = {name for name in DECLARED_NOT_IMPORTED if canonical(name) in used or canonical(name) not in main}
    assert stale == set(), f"DECLARED_NOT_IMPORTED lists what is imported now, or not declared: {sorted(stale)}"


def test_every_package_the_tests_import_is_declared_for_development():
    main, dev = declared()
    missing = undeclared(third_party_imports(ROOT / "tests"), main | dev)
    assert missing == {}, f"add to [project.optional-dependencies] dev in pyproject.toml: {missing}"


def test_every_development_dependency_is_imported_by_the_tests_or_has_its_reason():
    main, dev = declared()
    used = set().union(*distributions(third_party_imports(ROOT / "tests")).values())
    unused = dev - used - {canonical(name) for name in DEV_DECLARED_NOT_IMPORTED}
    assert unused == set(), f"declared in the dev extra but never imported by tests/: {sorted(unused)}"
    stale = {name for name in DEV_DECLARED_NOT_IMPORTED if canonical(name) in used or canonical(name) not in dev}
    assert stale == set(), f"DEV_DECLARED_NOT_IMPORTED lists what is imported now, or not declared: {sorted(stale)}"


def test_imports_are_found_wherever_they_are_written(tmp_path):
    """The scan must see the imports that are easy to miss, or the tests above could not fail."""
    source = tmp_path / "module.py"
    source.write_text(
        "from __future__ import annotations\n"
        "import os.path\n"
        "import numpy as np\n"
        "from . import sibling\n"
        "from galaxy_explorer.paths import shipped_checkpoints\n"
        "def lazily():\n"
        "    from PIL import Image\n"
        "    import tornado.ioloop\n"
        "    galsim = pytest.importorskip('galsim')\n"
        "    return importlib.import_module('h5py'), importlib.import_module(f'galaxy_explorer.{name}')\n",
        encoding="utf-8")
    assert imported_modules(source) == {"__future__", "os", "numpy", "galaxy_explorer", "PIL", "tornado", "galsim",
                                        "h5py"}
    assert set(third_party_imports(tmp_path)) == {"numpy", "PIL", "tornado", "galsim", "h5py"}
    assert undeclared({"PIL": {"module.py"}}, {"pillow"}) == {}  # a module's name need not be its distribution's
    assert undeclared({"PIL": {"module.py"}}, {"numpy"}) == {"PIL": "pillow (imported by module.py)"}
