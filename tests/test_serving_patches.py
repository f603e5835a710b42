"""The guard on the app's patches of Panel and Bokeh: run this before raising the bounds on panel or bokeh.

The served app replaces a few of Panel's and Bokeh's functions with wrappers and reads a few of their private
parts (``galaxy_explorer/app_parts/serving/patches.py`` lists them all). A release that renames, removes or changes
one of them would make the app quietly lose a refinement (or break a page), so every entry is checked here against
the installed versions, with a message that names the target, the versions and what changed. The patching itself
stays in that one module: nothing else in the package assigns to a library's attributes.
"""

from __future__ import annotations

import ast
import ctypes
import importlib.metadata
import inspect
import platform
from pathlib import Path

import pytest

from galaxy_explorer.app_parts.serving import patches
from galaxy_explorer.app_parts.serving.patches import GLIBC, MARK, PATCHES, RELIED_ON, parameters, resolve

PACKAGE = Path(__file__).resolve().parents[1] / "galaxy_explorer"
PATCHES_FILE = PACKAGE / "app_parts" / "serving" / "patches.py"
LIBRARIES = ("panel", "bokeh", "tornado", "param")  # whose code the app must change only through patches.py


def installed() -> str:
    return ", ".join(f"{name} {importlib.metadata.version(name)}" for name in ("panel", "bokeh"))


def found(module: str, attribute: str, why: str):
    """``module``'s ``attribute`` (dotted for a class's), failing with what is missing where it is gone."""
    try:
        owner, name = resolve(module, attribute)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{module}.{attribute} is gone with {installed()} ({exc}); the app relies on it: {why}")
    if not hasattr(owner, name):
        pytest.fail(f"{module}.{attribute} is gone with {installed()}; the app relies on it: {why}")
    return getattr(owner, name)


def original(target: str):
    """The library's own function, also when a test or the app has put the wrapper in place already."""
    patch = PATCHES[target]
    current = found(patch.module, patch.attribute, patch.why)
    while getattr(current, MARK, None) == target:
        current = current.__wrapped__
    return current


@pytest.mark.parametrize("target", sorted(PATCHES))
def test_every_patched_target_is_there_with_the_parameters_its_wrapper_was_written_for(target):
    patch = PATCHES[target]
    now = parameters(original(target))
    assert now == patch.parameters, (
        f"{target} changed with {installed()}: it now takes {now}, and its wrapper in {PATCHES_FILE.name} was "
        f"written for {patch.parameters}. Check the wrapper still does what it must ({patch.why}), then update "
        f"the table.")


@pytest.mark.parametrize("target", sorted(t for t, patch in PATCHES.items() if patch.looked_up_by))
def test_the_library_still_looks_each_patched_target_up_where_it_is_used(target):
    """Replacing a module's or class's attribute reaches only code that reads the attribute at each call."""
    name = PATCHES[target].attribute.rsplit(".", 1)[-1]
    for user in PATCHES[target].looked_up_by:
        function = inspect.unwrap(found(*_split(user), f"it calls {target}"))
        assert name in function.__code__.co_names, (
            f"{user} no longer calls {name} with {installed()}: patching {target} would change nothing "
            f"({PATCHES[target].why})")


def _split(dotted: str) -> tuple[str, str]:
    """``"bokeh.server.session.ServerSession.pull"`` -> ``("bokeh.server.session", "ServerSession.pull")``: the
    longest importable prefix is the module."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        return ".".join(parts[:cut]), ".".join(parts[cut:])
    raise AssertionError(f"no module in {dotted}")


@pytest.mark.parametrize("target", sorted(RELIED_ON))
def test_every_internal_the_app_relies_on_is_there_as_it_expects(target):
    internal = RELIED_ON[target]
    value = found(internal.module, internal.attribute, internal.why)
    if isinstance(internal.expected, str):
        now = parameters(value)
        assert now == internal.expected, (
            f"{target} changed with {installed()}: it now takes {now}, and the app calls it as "
            f"{internal.expected} ({internal.why})")
    else:
        assert isinstance(value, internal.expected), (
            f"{target} is a {type(value).__name__} with {installed()}, no longer a {internal.expected.__name__} "
            f"({internal.why})")


def test_the_private_attributes_the_app_reads_on_bokeh_and_panel_objects_are_still_there():
    """Instance attributes cannot be looked up on a class, so these are checked on objects made as the server makes
    them: the spare's session table and expiry clock, a document's template variables, the app script's path."""
    from bokeh.application import Application
    from bokeh.document import Document
    from bokeh.server.contexts import ApplicationContext
    from bokeh.server.session import ServerSession
    from panel.io.application import build_single_handler_application

    app_file = PACKAGE / "app.py"
    handler, = build_single_handler_application(str(app_file)).handlers
    found_on_objects = {
        "bokeh.server.contexts.ApplicationContext._sessions": isinstance(
            ApplicationContext(Application())._sessions, dict),
        "bokeh.server.session.ServerSession._last_unsubscribe_time": isinstance(
            ServerSession("spare", Document(), io_loop=None)._last_unsubscribe_time, float),
        "bokeh.document.Document._template_variables": isinstance(Document()._template_variables, dict),
        "panel.io.handlers.ScriptHandler._runner.path": (
            f"{type(handler).__module__}.{type(handler).__name__}" == "panel.io.handlers.ScriptHandler"
            and Path(getattr(getattr(handler, "_runner", None), "path", "")) == app_file),
    }
    assert set(found_on_objects) == set(patches.PRIVATE_ON_OBJECTS)  # every entry of the table is checked here
    gone = {name: patches.PRIVATE_ON_OBJECTS[name] for name, there in found_on_objects.items() if not there}
    assert gone == {}, f"gone or changed with {installed()} (what the app used it for): {gone}"


def logic_of(target: str):
    """What the app passes to ``apply_patch`` for ``target`` (its wrapper calls it)."""
    from galaxy_explorer.app_parts.serving import build_turns, page_scripts, spare_session

    return {
        "panel.io.server.bundle_resources": page_scripts.lean_bundle,
        "panel.io.server.DocHandler.get": None,
        "panel.io.server.generate_session_id": spare_session.spare_for,
        "bokeh.server.session.ServerSession._handle_pull": build_turns.announce_page_sent,
        "bokeh.server.contexts.ApplicationContext.__init__": spare_session.application_context_made,
    }[target]


@pytest.mark.parametrize("target", sorted(PATCHES))
def test_the_table_names_the_logic_each_wrapper_calls(target):
    logic = logic_of(target)
    named = "nothing" if logic is None else f"{logic.__module__.rsplit('.', 1)[-1]}.{logic.__name__}"
    assert PATCHES[target].logic.startswith(named), f"{target}: the table says {PATCHES[target].logic!r}"


def test_every_patch_in_the_table_is_applied_by_the_app_and_only_those():
    applied = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "apply_patch"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                applied.add(node.args[0].value)
    assert applied == set(PATCHES)


@pytest.mark.parametrize("target", sorted(PATCHES))
def test_applying_a_patch_puts_its_wrapper_in_place_once(target):
    owner, name = resolve(PATCHES[target].module, PATCHES[target].attribute)
    was_patched = patches.is_patched(target)  # the app or another test may have patched it in this process
    library_own = original(target)
    try:
        assert patches.apply_patch(target, logic_of(target))
        wrapper = getattr(owner, name)
        assert getattr(wrapper, MARK) == target and wrapper.__wrapped__ is library_own
        assert patches.apply_patch(target, logic_of(target))  # the second time changes nothing
        assert getattr(owner, name) is wrapper
    finally:
        if not was_patched:
            patches.undo_patch(target)
    if not was_patched:
        assert getattr(owner, name) is library_own
        assert not patches.is_patched(target)


def test_a_target_that_has_changed_is_left_alone_with_a_warning(monkeypatch, caplog):
    """At run time a changed target costs the app a refinement, not its pages; only this test file fails loudly."""
    import panel.io.server

    def bundle_resources(roots, resources, *, new_required_argument):
        raise AssertionError("never called")

    monkeypatch.setattr(panel.io.server, "bundle_resources", bundle_resources)
    monkeypatch.setattr(patches, "_warned", set())
    with caplog.at_level("WARNING", logger=patches.__name__):
        assert not patches.apply_patch("panel.io.server.bundle_resources", logic_of("panel.io.server.bundle_resources"))
    assert panel.io.server.bundle_resources is bundle_resources
    assert "panel.io.server.bundle_resources now takes (roots, resources, *, new_required_argument)" in caplog.text


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the glibc calls are skipped where libc is not glibc")
@pytest.mark.parametrize("name", sorted(GLIBC))
def test_the_glibc_functions_the_server_calls_are_there(name):
    assert hasattr(ctypes.CDLL("libc.so.6"), name), f"{name} missing from libc.so.6 ({platform.libc_ver()})"


def test_only_the_listed_glibc_functions_can_be_called():
    assert patches.glibc_call("malloc_trim", 0) in ({0, 1} if platform.libc_ver()[0] == "glibc" else {None})
    with pytest.raises(ValueError, match="'free' is not one of the glibc functions"):
        patches.glibc_call("free", 0)


def library_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it imports, for every import of ``LIBRARIES`` in ``tree`` (inside functions too)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update({alias.asname or alias.name.split(".")[0]: alias.name for alias in node.names
                          if alias.name.split(".")[0] in LIBRARIES})
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] in LIBRARIES:
            names.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
    return names


def attribute_chain(node) -> tuple[str | None, list[str]]:
    """``a.b.c`` -> ``("a", ["b", "c"])``; the root is None where the chain does not start at a plain name."""
    chain = []
    while isinstance(node, ast.Attribute):
        chain.insert(0, node.attr)
        node = node.value
    return (node.id if isinstance(node, ast.Name) else None), chain


def assigned(node: ast.AST) -> list[ast.expr]:
    """What the statement ``node`` assigns to or deletes (nothing where it is no such statement)."""
    if isinstance(node, (ast.Assign, ast.Delete)):
        return node.targets
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    return []


def library_changes(path: Path) -> list[str]:
    """Where ``path`` changes a library's attribute, adds to a private part of it, or loads a C library."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names, found_here = library_names(tree), []  # (line, what)
    for node in ast.walk(tree):
        for target in assigned(node):
            root, chain = attribute_chain(target)
            if root in names and chain:
                found_here.append((node.lineno, f"assigns {root}.{'.'.join(chain)}"))
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") and node.args:
            if attribute_chain(node.args[0])[0] in names:
                found_here.append((node.lineno, f"{node.func.id} on {ast.unparse(node.args[0])}"))
        root, chain = attribute_chain(node.func)
        if root in names and any(part.startswith("_") for part in chain[:-1]):
            found_here.append((node.lineno, f"calls {root}.{'.'.join(chain)} (a private part)"))
        if root == "ctypes" and chain[:1] in (["CDLL"], ["cdll"]):
            found_here.append((node.lineno, "loads a C library"))
    return [f"line {line}: {what}" for line, what in sorted(found_here)]


def test_nothing_outside_the_patches_module_changes_panel_bokeh_or_glibc():
    changes = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PATCHES_FILE:
            continue
        unexpected = library_changes(path)
        if unexpected:
            changes[path.relative_to(PACKAGE).as_posix()] = unexpected
    assert changes == {}, f"patch Panel/Bokeh/glibc only through {PATCHES_FILE.name} (and list it there): {changes}"


def test_the_fence_finds_each_kind_of_patch(tmp_path):
    """The scan above must be able to fail: the patches this app used to make in place, one of each kind."""
    source = tmp_path / "patching.py"
    source.write_text(
        "import ctypes\n"
        "import panel.io.server as panel_server\n"
        "def patch(wrapper):\n"
        "    from bokeh.server.session import ServerSession\n"
        "    from panel.io.state import state\n"
        "    ServerSession._handle_pull = wrapper\n"
        "    panel_server.DocHandler.get = wrapper\n"
        "    setattr(panel_server, 'generate_session_id', wrapper)\n"
        "    state._on_session_created.append(wrapper)\n"
        "    ctypes.CDLL('libc.so.6').malloc_trim(0)\n"
        "    wrapper.value = 1\n", encoding="utf-8")
    assert library_changes(source) == [
        "line 6: assigns ServerSession._handle_pull", "line 7: assigns panel_server.DocHandler.get",
        "line 8: setattr on panel_server", "line 9: calls state._on_session_created.append (a private part)",
        "line 10: loads a C library"]
