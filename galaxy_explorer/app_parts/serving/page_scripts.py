"""The served page loads only the BokehJS bundles it uses.

Panel's page for a session lists BokehJS's MathJax bundle (1.8 MB) whenever the page holds any HTML pane, since
HTML might contain LaTeX, and BokehJS's WebGL bundle (0.2 MB) always. This app writes no LaTeX and draws no WebGL
plot, and the browser parses every listed script before it opens the session: measured in Chromium on 2 cores,
leaving both out brings the first picture ~0.1 s sooner (DOMContentLoaded ~0.7 s -> ~0.5 s). The tables bundle
stays: Panel's own bundle imports it.

``serve_lean_pages`` has ``patches`` wrap ``panel.io.server.bundle_resources`` with ``lean_bundle``.
"""

from __future__ import annotations

import functools

from galaxy_explorer.app_parts.serving.patches import apply_patch

UNUSED_BUNDLES = ("bokeh-gl",)  # besides MathJax, which Panel's own switch leaves out


def uses_webgl(roots) -> bool:
    from bokeh.models import Plot

    return any(isinstance(model, Plot) and model.output_backend == "webgl"
               for root in roots for model in root.references())


def lean_bundle(bundle_resources):
    """``panel.io.resources.bundle_resources`` without MathJax, and without WebGL unless a plot asks for it."""

    @functools.wraps(bundle_resources)
    def bundle(roots, resources, *args, **kwargs):
        kwargs.setdefault("enable_mathjax", False)
        result = bundle_resources(roots, resources, *args, **kwargs)
        if not uses_webgl(roots or []):
            result.js_files[:] = [url for url in result.js_files
                                  if not any(f"/{name}." in str(getattr(url, "url", url)) for name in UNUSED_BUNDLES)]
        return result

    return bundle


def serve_lean_pages() -> None:
    """Served pages of this process list only the bundles they use (``panel.io.server`` renders them). Idempotent;
    does nothing (but warn) if Panel no longer renders pages that way."""
    apply_patch("panel.io.server.bundle_resources", lean_bundle)
