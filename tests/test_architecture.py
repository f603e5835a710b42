"""The package's shape is what docs/architecture.md says: every module is described there (its module map is made
from the code by docs/make_architecture.py), lower layers never import higher ones, and no modules import each other
in a cycle (imports inside functions count: they still tie the two modules together)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from docs.make_architecture import ARCHITECTURE, LAYERS, ROOT, group_of, package_modules, updated

LAYER_GROUPS = [set(groups) for _, groups in LAYERS]


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``path`` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno}: relative import; the package imports "
                                 "absolutely (galaxy_explorer.<layer>.<module>)")
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "galaxy_explorer":
            base = node.module.removeprefix("galaxy_explorer").lstrip(".") or "__init__"
            for alias in node.names:
                submodule = f"{base}.{alias.name}" if base != "__init__" else alias.name
                found.add(submodule if submodule in modules else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "galaxy_explorer":
                    found.add(alias.name.removeprefix("galaxy_explorer").lstrip(".") or "__init__")
    return found


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported_modules(path, modules) - {name} for name, path in modules.items()}


def test_the_module_map_in_the_architecture_doc_is_up_to_date():
    text = ARCHITECTURE.read_text()
    assert updated(text) == text, "docs/architecture.md's module map is out of date: run python docs/make_architecture.py"


def test_every_package_module_is_described_in_the_architecture_doc():
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`([\w.]+)`", text))
    missing = sorted(name for name in package_modules() if name not in named and name != "__init__")
    assert not missing, f"docs/architecture.md does not describe these modules (name them as `dotted.name`): {missing}"


def test_the_architecture_doc_names_no_module_that_is_gone():
    modules = package_modules()
    listed = re.findall(r"^\*\*`([\w.]+)`\*\*", ARCHITECTURE.read_text(), flags=re.M)
    assert listed, "docs/architecture.md lists modules as **`dotted.name`** at the start of a line"
    gone = sorted(name for name in listed if name not in modules and name != "galaxy_explorer")
    assert not gone, f"docs/architecture.md describes modules that do not exist: {gone}"


def test_every_group_has_a_layer():
    groups = {group_of(name) for name in package_modules()}
    layered = set().union(*LAYER_GROUPS)
    assert groups <= layered, f"groups with no layer in LAYERS: {sorted(groups - layered)}"


def test_lower_layers_never_import_higher_ones():
    level = {group: index for index, layer in enumerate(LAYER_GROUPS) for group in layer}
    upward = [f"{module} ({group_of(module)}) imports {target} ({group_of(target)})"
              for module, targets in import_graph().items() for target in targets
              if level.get(group_of(target), -1) > level.get(group_of(module), -1)]
    assert not upward, "imports that go up a layer:\n" + "\n".join(sorted(upward))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None. Iterative depth-first search."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            target = next(stack[-1], None)
            if target is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(target) == 1:
                return path[path.index(target):] + [target]
            elif not state.get(target):
                state[target] = 1
                path.append(target)
                stack.append(iter(sorted(graph.get(target, ()))))
    return None


def test_find_cycle_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles_between_package_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_group_is_in_two_layers():
    groups = [group for layer in LAYER_GROUPS for group in layer]
    assert len(groups) == len(set(groups))
