"""The served page asks nothing of other machines: no web fonts, no stylesheets from Panel's CDN.

An astronomer may run the app on a laptop on a mountain, or behind an observatory's firewall; a request that
leaves the machine there fails after a timeout and leaves the page half styled. Two of Panel's defaults send
requests out: the Fast design's web font (Open Sans from Google Fonts), and the CDN address of Panel's own
stylesheets in the models of a session that ``--reuse-sessions`` serves from a page rendered earlier (Panel
rewrites those addresses to its local ``static/`` folder, and notes that folder for models restyled later, only
while rendering a page for the session itself).

The Panel internals read here (``Fast._resources``, ``patch_model_css``, ``LOCAL_DIST``) are listed in
``patches.RELIED_ON``, and checked against the installed Panel by ``tests/test_serving_patches.py``.
"""

from __future__ import annotations

from panel.theme import Fast


def _fast_without_web_fonts() -> type:
    """Panel's Fast design without its web font: the page's text falls back to the system's sans-serif.

    Panel finds a design's own files (``js/fast_design.js``) by its class name and module, so the subclass takes
    both from ``Fast``; only its font resources differ."""
    design = type("Fast", (Fast,), {"_resources": {**Fast._resources, "font": {}}, "__module__": Fast.__module__})
    design.__qualname__ = Fast.__qualname__
    return design


FastWithoutWebFonts = _fast_without_web_fonts()


def use_local_stylesheets(doc) -> None:
    """Point the stylesheets of ``doc``'s models at the server's own copy of Panel's files."""
    from panel.io.resources import LOCAL_DIST, patch_model_css
    from panel.io.state import state

    dist_url = f"{state.rel_path}/{LOCAL_DIST}" if state.rel_path else LOCAL_DIST
    # Panel reads this when it restyles a model later (else it falls back to the CDN), as a rendered page sets it.
    doc._template_variables["dist_url"] = dist_url
    for root in doc.roots:
        patch_model_css(root, dist_url=dist_url)
