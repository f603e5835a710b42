"""Every change this app makes to Panel's and Bokeh's own code, and every call it makes into glibc, in one place.

Panel and Bokeh have no hooks for three things the served app needs, so it wraps four of their functions, once per
process: the scripts a page lists (``page_scripts``), the id a page request's session gets (``spare_session``, two
functions), and word that a page has been sent (``build_turns``). A fifth wrapper (``ApplicationContext.__init__``)
offers a spare page as soon as the server's application exists. ``PATCHES`` lists them: the target's dotted path,
the parameters the wrapper is written for, why, what the wrapper calls, and which of the library's functions look
the target up at each call (so that replacing the attribute reaches them). ``RELIED_ON`` and ``PRIVATE_ON_OBJECTS``
list the private parts the app reads or calls without replacing them, and ``GLIBC`` the C functions it calls.

The wrappers only route calls; what they do lives in the module that applies the patch, which passes it in.
``apply_patch`` puts a wrapper in place, idempotently, after checking that the target is still there with the
parameters in the table; where it is not (a Panel or Bokeh newer than ``pyproject.toml`` allows), it logs a warning
and leaves the library alone, and the app runs without that refinement. ``tests/test_serving_patches.py`` fails
loudly in that case instead: run it before raising the bounds on panel and bokeh in ``pyproject.toml``.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import functools
import importlib
import inspect
import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)

MARK = "__galaxy_explorer_patch__"  # set on each wrapper: the dotted path of the target it replaced


@dataclass(frozen=True)
class Patch:
    """One attribute of Panel or Bokeh that the app replaces with a wrapper."""

    module: str
    attribute: str  # inside ``module``; "Class.method" for a method
    parameters: str  # the original's signature as the wrapper calls it, annotations left out
    why: str
    logic: str  # what the module that applies the patch passes to ``apply_patch`` for the wrapper to call
    wrap: Callable[[Callable, Any], Callable]  # (the original, the logic) -> its wrapper
    looked_up_by: tuple[str, ...] = ()  # library functions that read the attribute at each call (so the patch works)

    @property
    def target(self) -> str:
        return f"{self.module}.{self.attribute}"


@dataclass(frozen=True)
class Internal:
    """A private (or undocumented) part of Panel or Bokeh that the app reads or calls without replacing it."""

    module: str
    attribute: str
    expected: str | type  # a callable's parameters (annotations left out), or the type of a value
    why: str

    @property
    def target(self) -> str:
        return f"{self.module}.{self.attribute}"


def resolve(module: str, attribute: str) -> tuple[Any, str]:
    """(the object that holds ``attribute``, its last name): ``("panel.io.server", "DocHandler.get")`` ->
    ``(DocHandler, "get")``. Raises ImportError or AttributeError where the library has no such thing."""
    owner: Any = importlib.import_module(module)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name


def parameters(function: Callable) -> str:
    """``function``'s signature without annotations: what a wrapper that passes arguments through relies on."""
    signature = inspect.signature(function)
    bare = [parameter.replace(annotation=inspect.Parameter.empty) for parameter in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=inspect.Signature.empty))


# --- the wrappers: each routes calls to the logic its caller passes (``apply_patch(target, logic)``) --------------
# The logic is passed in, not imported, so that this module depends on no module of the app and every serving
# module can depend on it.

def _lean_page_scripts(bundle_resources: Callable, lean_bundle: Callable) -> Callable:
    return lean_bundle(bundle_resources)


_answering: contextvars.ContextVar[Any] = contextvars.ContextVar("galaxy_explorer_page_request", default=None)


def _remember_the_page_request(original_get: Callable, _logic: None) -> Callable:
    """Panel's page handler, noting the request it answers for the ``generate_session_id`` it calls."""

    @functools.wraps(original_get)
    async def get(self, *args, **kwargs):
        answering = _answering.set(self)
        try:
            return await original_get(self, *args, **kwargs)
        finally:
            _answering.reset(answering)

    return get


def _hand_out_spares(original_id: Callable, spare_for: Callable) -> Callable:
    """The id of a page request's session: a spare session's where one is ready for that request."""

    @functools.wraps(original_id)
    def generate_session_id(*args, **kwargs):
        handler = _answering.get()
        if handler is not None:
            taken = spare_for(handler, kwargs.get("secret_key"), bool(kwargs.get("signed")))
            if taken is not None:
                return taken
        return original_id(*args, **kwargs)

    return generate_session_id


def _announce_sent_pages(original: Callable, announce_page_sent: Callable) -> Callable:
    """Bokeh's answer to a browser's request for its page, then word of it to ``build_turns``."""

    @functools.wraps(original)
    async def handle_pull(self, message, connection):
        reply = original(self, message, connection)
        if asyncio.iscoroutine(reply) or isinstance(reply, asyncio.Future):
            reply = await reply
        announce_page_sent(self.id)
        return reply

    return handle_pull


def _offer_spares_once_made(original_init: Callable, application_context_made: Callable) -> Callable:
    """A Bokeh application context, which offers spare pages from its start where it serves this app."""

    @functools.wraps(original_init)
    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        application_context_made(self)

    return init


PATCHES: dict[str, Patch] = {patch.target: patch for patch in (
    Patch("panel.io.server", "bundle_resources", "(roots, resources, notebook=False, reloading=False, "
          "enable_mathjax='auto')",
          "a served page lists BokehJS's MathJax and WebGL bundles, which this app never uses",
          "page_scripts.lean_bundle(bundle_resources) -> the wrapper",
          _lean_page_scripts, ("panel.io.server.server_html_page_for_session",)),
    Patch("panel.io.server", "DocHandler.get", "(self, *args, **kwargs)",
          "to know which page request the generate_session_id below answers", "nothing (None)",
          _remember_the_page_request),
    Patch("panel.io.server", "generate_session_id", "(secret_key=None, signed=False)",
          "Panel has no hook for choosing a page's session: a plain request gets a spare built ahead",
          "spare_session.spare_for(page handler, secret_key, signed) -> a spare's id or None",
          _hand_out_spares, ("panel.io.server.DocHandler.get",)),
    Patch("bokeh.server.session", "ServerSession._handle_pull", "(self, message, connection)",
          "Bokeh has no hook for 'a page was sent': the next page build waits for it",
          "build_turns.announce_page_sent(session_id)",
          _announce_sent_pages, ("bokeh.server.session.ServerSession.pull",)),
    Patch("bokeh.server.contexts", "ApplicationContext.__init__",
          "(self, application, io_loop=None, url=None, logout_url=None)",
          "a spare page is offered from the server's start, before any visitor",
          "spare_session.application_context_made(context)",
          _offer_spares_once_made),
)}

RELIED_ON: dict[str, Internal] = {internal.target: internal for internal in (
    Internal("panel.io.state", "state._on_session_created", list,
             "a callback for every session of the process: pn.state.on_session_created refuses one from inside a "
             "session, and the app's first run is inside one (build_turns, spare_session)"),
    Internal("panel.io.resources", "patch_model_css", "(root, dist_url)",
             "a session served from a page rendered earlier points its stylesheets at Panel's CDN (offline)"),
    Internal("panel.io.resources", "LOCAL_DIST", str, "the server's own copy of Panel's files (offline)"),
    Internal("panel.theme", "Fast._resources", dict, "the Fast design without its web font (offline)"),
    Internal("panel.links", "Callback.registry", weakref.WeakKeyDictionary,
             "a closed session's browser-side callbacks would keep its page in memory (server.forget_js_callbacks)"),
    Internal("bokeh.util.token", "generate_session_id", "(secret_key=None, signed=False)",
             "a spare session's id, made as Panel makes a page's (spare_session)"),
    Internal("bokeh.util.token", "generate_jwt_token",
             "(session_id, secret_key=None, signed=False, extra_payload=None, expiration=300)",
             "a spare session's token, as a plain page request's (spare_session)"),
    Internal("bokeh.server.contexts", "ApplicationContext.create_session_if_needed",
             "(self, session_id, request=None, token=None)", "builds a spare session (spare_session)"),
    Internal("bokeh.server.session", "ServerSession.block_expiration", "(self)",
             "a spare is kept while nobody is connected to it yet (spare_session)"),
    Internal("bokeh.server.session", "ServerSession.unblock_expiration", "(self)",
             "a spare handed out and never connected to expires as any unused session (spare_session)"),
    Internal("bokeh.server.session", "current_time", "()",
             "a handed-out spare's unused time counts from its hand-out (spare_session)"),
)}


# Private attributes of the objects Bokeh's server makes (not there to look up on a class): "Class.attribute" -> why.
PRIVATE_ON_OBJECTS: dict[str, str] = {
    "bokeh.server.contexts.ApplicationContext._sessions": "a spare handed out after its build is found there "
                                                          "(spare_session)",
    "bokeh.server.session.ServerSession._last_unsubscribe_time": "a handed-out spare's unused time restarts "
                                                                 "(spare_session)",
    "bokeh.document.Document._template_variables": "where Panel looks for its static folder when restyling (offline)",
    "panel.io.handlers.ScriptHandler._runner.path": "which served script an application context runs "
                                                    "(spare_session.serves_the_app)",
}

def _problem(patch: Patch) -> tuple[str | None, Any, str, Any]:
    """(what is wrong with ``patch``'s target, or None; the object holding it, its name there, its value)."""
    try:
        owner, name = resolve(patch.module, patch.attribute)
    except (ImportError, AttributeError) as exc:
        return f"{patch.target} is gone ({exc})", None, "", None
    current = getattr(owner, name, None)
    if current is None:
        return f"{patch.target} is gone", owner, name, None
    if getattr(current, MARK, None) != patch.target and parameters(current) != patch.parameters:
        return (f"{patch.target} now takes {parameters(current)}; its wrapper was written for "
                f"{patch.parameters}"), owner, name, current
    return None, owner, name, current


_lock = threading.Lock()
_replaced: dict[str, tuple[Any, str, bool, Any]] = {}  # target -> (owner, name, owner had it itself, original)
_warned: set[str] = set()


def apply_patch(target: str, logic: Any = None) -> bool:
    """Replace ``target`` (a key of ``PATCHES``) with its wrapper, which calls ``logic`` (the entry's ``logic``
    says what), once per process. True where the wrapper is in place (now or from before); False, after a warning,
    where the target is gone or takes other parameters than its wrapper was written for: the library is then left
    as it is."""
    patch = PATCHES[target]
    with _lock:
        problem, owner, name, current = _problem(patch)
        if problem is not None:
            if target not in _warned:
                _warned.add(target)
                log.warning("galaxy-explorer: not patching %s; the app runs without it (see %s)", problem, __name__)
            return False
        if getattr(current, MARK, None) == target:
            return True
        wrapper = patch.wrap(current, logic)
        setattr(wrapper, MARK, target)
        _replaced[target] = (owner, name, name in vars(owner), current)
        setattr(owner, name, wrapper)
        return True


def is_patched(target: str) -> bool:
    owner, name = resolve(PATCHES[target].module, PATCHES[target].attribute)
    return getattr(getattr(owner, name, None), MARK, None) == target


def undo_patch(target: str) -> None:
    """Put ``target``'s original back (for tests). Does nothing where it is not patched."""
    with _lock:
        if target not in _replaced:
            return
        owner, name, had_it, original = _replaced.pop(target)
        if had_it:
            setattr(owner, name, original)
        else:  # inherited: the class's own entry was the wrapper only
            delattr(owner, name)


def on_every_session_created(callback: Callable) -> None:
    """``callback(session_context)`` for every session this process creates from now on. Idempotent."""
    from panel.io.state import state

    # ``pn.state.on_session_created`` appends to this list, but refuses to from inside a session, and the app's
    # first run is inside one (the page built at start-up) while these callbacks are for the whole process.
    if callback not in state._on_session_created:
        state._on_session_created.append(callback)


GLIBC: dict[str, str] = {
    "mallopt": "int mallopt(int param, int value): at most 2 malloc arenas, so that memory sessions freed is "
               "reused (server.limit_malloc_arenas)",
    "malloc_trim": "int malloc_trim(size_t pad): the heap a closed session freed goes back to the system "
                   "(server.reclaim_memory)",
}


def glibc_call(name: str, *args: int) -> int | None:
    """glibc's ``name(*args)`` (a function of ``GLIBC``); None where the C library is not glibc."""
    if name not in GLIBC:
        raise ValueError(f"glibc_call: {name!r} is not one of the glibc functions this app calls ({', '.join(GLIBC)})")
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)(*args)
    except (OSError, AttributeError):  # not glibc
        return None
