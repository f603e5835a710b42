"""Serve the app with a tiny model and a small synthetic survey, and drive it with Debian's headless Chromium.

pytest-playwright is pointed at the Chromium that ``tests.support.app_serving`` finds ($GALAXY_EXPLORER_CHROMIUM or
``chromium`` on the PATH, as ``executable_path``): nothing is downloaded. The served app runs in a subprocess on a
free localhost port (``tests.support.app_serving``, as the benchmarks do) and is stopped when the tests of a module
are done.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import app_serving

UI_STEPS = 2  # sampler steps of the served tiny model: a frame in tens of milliseconds
UI_GRID_FRAMES = 16


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.ui)
            if app_serving.CHROMIUM is None:
                item.add_marker(pytest.mark.skip(reason=app_serving.MISSING_CHROMIUM))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": app_serving.CHROMIUM,
            "args": app_serving.CHROMIUM_ARGS, "headless": True}


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
    app_args = ["--checkpoint", str(checkpoint), "--data", str(survey),
                "--steps", str(UI_STEPS), "--grid-frames", str(UI_GRID_FRAMES)]
    env = {**os.environ, "GALAXY_EXPLORER_CACHE": str(root / "cache")}
    with app_serving.served_app(app_args, log_path=root / "panel-serve.log", timeout=60.0, env=env) as url:
        yield url
