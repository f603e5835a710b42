"""The evaluation and training modules import one another without a cycle, and training does not reach up into
evaluation or the command lines (every import statement counts, those inside functions too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "galaxy_explorer"


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its text (``from a import b`` names a.b where b is a
    module, else a)."""
    names = module_names()
    graph = {}
    for name, path in names.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                edges |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in names else node.module
                          for alias in node.names}
        graph[name] = {target for target in edges if target in names and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(start):
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            target = next(edges, None)
            if target is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
            elif target not in index:
                index[target] = low[target] = counter[0]
                counter[0] += 1
                stack.append(target)
                on_stack.add(target)
                work.append((target, iter(sorted(graph[target]))))
            elif target in on_stack:
                low[node] = min(low[node], index[target])

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_evaluation_or_training_module_is_in_an_import_cycle():
    mine = ("galaxy_explorer.evaluation", "galaxy_explorer.training", "galaxy_explorer.json_output",
            "galaxy_explorer.options")
    offending = [sorted(c) for c in cycles(import_graph()) if any(m.startswith(mine) for m in c)]
    assert offending == []


def test_training_imports_neither_evaluation_nor_the_command_lines():
    graph = import_graph()
    upward = {(name, target) for name, targets in graph.items() if name.startswith("galaxy_explorer.training")
              for target in targets if target.startswith(("galaxy_explorer.evaluation", "galaxy_explorer.commands"))}
    assert upward == set()
