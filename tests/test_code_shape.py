"""Code a newcomer can read in one sitting: no class over 250 lines and no function over 60 (from its ``def`` to its
last line, docstring included) in the package or the training scripts, unless a comment directly above it (above
its decorators) begins ``# Long because:`` and says why."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = [ROOT / "galaxy_explorer", ROOT / "train"]
MAX_LINES = {"class": 250, "function": 60}
EXCUSE = "# Long because:"


def too_long(path: Path, root: Path = ROOT) -> list[str]:
    """Classes and functions in ``path`` over their limit and without an excuse, as 'file:line name (N lines)'."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.ClassDef):
            kind = "class"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kind = "function"
        else:
            continue
        length = node.end_lineno - node.lineno + 1
        first = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
        above = lines[first - 2].strip() if first >= 2 else ""
        if length > MAX_LINES[kind] and not above.startswith(EXCUSE):
            found.append(f"{path.relative_to(root)}:{node.lineno} {kind} {node.name} ({length} lines)")
    return found


def test_no_class_or_function_is_over_its_limit_without_a_reason():
    offenders = [entry for folder in CHECKED for path in sorted(folder.rglob("*.py")) for entry in too_long(path)]
    assert not offenders, (f"over {MAX_LINES['class']} lines (class) or {MAX_LINES['function']} (function); split "
                           f"it, or say why above it with '{EXCUSE} ...':\n" + "\n".join(offenders))


def test_the_check_finds_a_long_function_and_accepts_a_reason(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES["function"]))
    plain = tmp_path / "plain.py"
    plain.write_text(f"def long_one():\n{body}")
    excused = tmp_path / "excused.py"
    excused.write_text(f"{EXCUSE} one table of constants, read top to bottom\ndef long_one():\n{body}")
    assert too_long(plain, root=tmp_path) == ["plain.py:1 function long_one (61 lines)"]
    assert too_long(excused, root=tmp_path) == []
