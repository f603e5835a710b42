"""Serve the app with a tiny model and a small synthetic survey, and drive it with Debian's headless Chromium.

pytest-playwright is pointed at /usr/bin/chromium (``executable_path``): nothing is downloaded. The served app
runs in a subprocess on a free localhost port and is stopped when the tests of a module are done.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("GALAXY_EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
UI_STEPS = 2  # sampler steps of the served tiny model: a frame in tens of milliseconds
UI_GRID_FRAMES = 16


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.ui)
            if not Path(CHROMIUM).exists():
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} not found: install Debian's chromium package"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"panel serve exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def app_files(tmp_path_factory):
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
    from galaxy_explorer.synthetic.mock_file import write_mock_survey

    root = tmp_path_factory.mktemp("served-app")
    checkpoint = make_tiny_checkpoint(root / "tiny.safetensors")
    survey = write_mock_survey(root / "mock.hdf5", 240, seed=5)
    return root, checkpoint, survey


@pytest.fixture(scope="module")
def served_app(app_files):
    """URL of the app served by ``panel serve`` in a subprocess (stopped after the module's tests)."""
    root, checkpoint, survey = app_files
    port = free_port()
    panel = shutil.which("panel") or str(Path(sys.executable).with_name("panel"))
    log_path = root / "panel-serve.log"
    env = {**os.environ, "GALAXY_EXPLORER_CACHE": str(root / "cache")}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [panel, "serve", "galaxy_explorer/app.py", "--port", str(port), "--address", "127.0.0.1",
             "--allow-websocket-origin", f"127.0.0.1:{port}", "--num-procs", "1",
             "--args", "--checkpoint", str(checkpoint), "--data", str(survey),
             "--steps", str(UI_STEPS), "--grid-frames", str(UI_GRID_FRAMES)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/app"
    try:
        wait_for_http(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.returncode not in (0, -15, 143):
            print(log_path.read_text()[-3000:])
