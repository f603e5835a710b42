"""Serve the app in a subprocess and drive it from a headless Chromium.

Shared by the UI tests (``tests/ui``), the latency benchmark and the script that makes the README's screenshot, so
that all three start the app and read what it shows in exactly the same way. The browser is
``$GALAXY_EXPLORER_CHROMIUM`` if set, else the first of ``chromium`` / ``chromium-browser`` / ``google-chrome`` on
the PATH (Debian's package installs ``/usr/bin/chromium``); nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Mapping

REPO_DIR = Path(__file__).resolve().parents[2]
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The Chromium to drive: ``$GALAXY_EXPLORER_CHROMIUM``, else one on the PATH; None when there is none."""
    chosen = os.environ.get("GALAXY_EXPLORER_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).exists() else None
    return next((found for name in BROWSER_NAMES if (found := shutil.which(name))), None)


CHROMIUM = find_chromium()
MISSING_CHROMIUM = ("no Chromium found: install Debian's chromium package (apt-get install chromium) or set "
                    "GALAXY_EXPLORER_CHROMIUM to a Chromium executable")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

# What the app's main image and real-galaxy grid sources say is on screen (names set in app_parts/views.py):
# the frame's kind ('baked' or 'exact'), its position along the walk (its redshift, on a walk along the redshift), the
# slider's position, and the grid's survey rows.
SHOWN_JS = """() => {
  if (!window.Bokeh || !Bokeh.documents || Bokeh.documents.length === 0) return null;
  const doc = Bokeh.documents[0];
  const image = doc.get_model_by_name('galaxy-image-source');
  const grid = doc.get_model_by_name('real-grid-source');
  if (!image || !grid) return null;
  return {kind: image.data.kind[0], position: image.data.position[0], requested: image.data.requested[0],
          rows: Array.from(grid.data.row)};
}"""

# Ready: the exact frame for the starting redshift is shown, the grid has galaxies, and the seed's grid is baked.
READY_JS = f"() => {{ const s = ({SHOWN_JS})(); return s && s.kind === 'exact' && s.rows.length > 0; }}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_http(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"panel serve exited with status {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s; see {log_path}") from None
            time.sleep(0.3)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# How the app is served: baked default walk at start (--warm), the page's HTML at once and its session built
# while the browser loads the scripts (--reuse-sessions warm).
SERVE_ARGS = ("--warm", "--reuse-sessions", "warm")
# Sessions whose browser has gone are destroyed within about a second (Bokeh's defaults: 15-30 s).
FAST_SESSION_EXPIRY = ("--check-unused-sessions", "500", "--unused-session-lifetime", "500")


@contextlib.contextmanager
def served_app(app_args: list[str], *, log_path: Path | None = None, timeout: float = 300.0,
               env: Mapping[str, str] | None = None, app_path: str | Path = "galaxy_explorer/app.py",
               python: str = sys.executable, cwd: str | Path = REPO_DIR,
               panel_args: tuple[str, ...] = SERVE_ARGS, process_out: list | None = None) -> Iterator[str]:
    """``python -m panel serve APP_PATH PANEL_ARGS --args APP_ARGS`` on a free localhost port; yields the app's URL.

    ``app_path`` (relative to ``cwd``) defaults to this checkout's app; the packaging check serves an installed
    copy with that installation's ``python``. The server's output goes to ``log_path`` (a temporary file if not
    given); if it exits with an error, the last lines of that log are printed, so a failing test shows why.
    ``process_out``, a list, receives the server's ``Popen`` (to read its memory).
    """
    port = free_port()
    log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="panel-serve-", suffix=".log")[1])
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [python, "-m", "panel", "serve", str(app_path), "--port", str(port), "--address", "127.0.0.1",
             "--allow-websocket-origin", f"127.0.0.1:{port}", "--num-procs", "1", *panel_args,
             "--args", *app_args],
            cwd=cwd, env=dict(env) if env is not None else None, stdout=log, stderr=subprocess.STDOUT,
        )
    if process_out is not None:
        process_out.append(process)
    url = f"http://127.0.0.1:{port}/{Path(app_path).stem}"
    try:
        _wait_for_http(url, process, log_path, timeout)
        yield url
    finally:
        _stop(process)
        if process.returncode not in (0, -15, 143):  # 143 / -15: stopped by our SIGTERM
            print(log_path.read_text()[-3000:])


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tracebacks(log_text: str) -> list[str]:
    """The tracebacks and logged errors in a server log, each with the line that introduces it."""
    lines = log_text.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.startswith("Traceback") or " ERROR" in line or "Error:" in line.split(" - ")[-1][:200]:
            found.append("\n".join(lines[max(0, i - 1): i + 3]))
    return found


@contextlib.contextmanager
def chromium_page(width: int = 1500, height: int = 1200):
    """A page in Debian's headless Chromium, driven by Playwright (outside pytest)."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise SystemExit(MISSING_CHROMIUM)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def wait_until_baked(page, timeout_s: float) -> None:
    """Until the exact starting frame is shown and the bake status says the seed's grid is full."""
    page.set_default_timeout(timeout_s * 1000)
    page.wait_for_function(READY_JS)
    page.locator(".bake-status").get_by_text("frames baked").wait_for()
