"""Shared by the app benchmark and the README media script: serve the app, open it in headless Chromium.

Chromium is Debian's (/usr/bin/chromium, or $GALAXY_EXPLORER_CHROMIUM); nothing is downloaded.
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
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("GALAXY_EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

# What the app's main image source says is on screen (see app_parts/views.MainImageView).
SHOWN_JS = """() => {
  if (!window.Bokeh || !Bokeh.documents || Bokeh.documents.length === 0) return null;
  const doc = Bokeh.documents[0];
  const image = doc.get_model_by_name('galaxy-image-source');
  const grid = doc.get_model_by_name('real-grid-source');
  if (!image || !grid) return null;
  return {kind: image.data.kind[0], redshift: image.data.redshift[0], requested: image.data.requested[0],
          rows: Array.from(grid.data.row)};
}"""


def untrained_small_checkpoint(directory: Path) -> Path:
    """A randomly initialised ``small``-preset checkpoint: the same network, so the same cost, as a trained one."""
    from galaxy_explorer.diffusion.model_io import checkpoint_metadata, save_diffusion_checkpoint
    from galaxy_explorer.diffusion.schedule import make_schedule
    from galaxy_explorer.diffusion.testing import toy_stamps
    from galaxy_explorer.diffusion.unet import ConditionalUNet, preset_config
    from galaxy_explorer.normalization import Normalization

    config = preset_config("small")
    metadata = checkpoint_metadata(
        config, make_schedule("linear"), Normalization.fit(toy_stamps(64)), preset="small",
        data={"source": "none", "description": "untrained small-preset network, for timing only"},
        training={"step": 0, "images_seen": 0},
    )
    return save_diffusion_checkpoint(directory / "small-untrained.safetensors", ConditionalUNet(config), metadata)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served_app(app_args: list[str], log_path: Path | None = None, timeout: float = 300.0) -> Iterator[str]:
    """``panel serve galaxy_explorer/app.py --args APP_ARGS`` on a free port; yields the app's URL."""
    port = free_port()
    panel = shutil.which("panel") or str(Path(sys.executable).with_name("panel"))
    log_path = log_path or Path(tempfile.mkstemp(prefix="panel-serve-", suffix=".log")[1])
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [panel, "serve", "galaxy_explorer/app.py", "--port", str(port), "--address", "127.0.0.1",
             "--allow-websocket-origin", f"127.0.0.1:{port}", "--num-procs", "1", "--args", *app_args],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/app"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"panel serve exited ({process.returncode}); see {log_path}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not answer in {timeout} s; see {log_path}") from None
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.contextmanager
def chromium_page(width: int = 1500, height: int = 1200):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_until_baked(page, timeout_s: float) -> None:
    """Until the exact starting frame is shown and the bake status says the grid is full."""
    page.set_default_timeout(timeout_s * 1000)
    page.wait_for_function(f"() => {{ const s = ({SHOWN_JS})(); return s && s.kind === 'exact' && s.rows.length; }}")
    page.locator(".bake-status").get_by_text("frames baked").wait_for()
