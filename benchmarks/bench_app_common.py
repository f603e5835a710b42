"""Shared by the app benchmark and the README media script: serve the app, open it in headless Chromium.

The serving and browser helpers live in ``tests/support/app_serving.py`` (the UI tests use them too); this adds
what only the benchmarks need. Chromium is $GALAXY_EXPLORER_CHROMIUM, else ``chromium`` on the PATH.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the scripts run as ``python benchmarks/…``: make ``tests.support`` importable
    sys.path.insert(0, str(REPO))

# Re-exported for the benchmark scripts.
from tests.support.app_serving import (  # noqa: E402
    SHOWN_JS,
    chromium_page,
    served_app,
    wait_until_baked,
)

__all__ = ["REPO", "SHOWN_JS", "chromium_page", "served_app", "untrained_small_checkpoint", "wait_until_baked"]


def untrained_small_checkpoint(directory: Path) -> Path:
    """A randomly initialised ``small``-preset checkpoint: the same network, so the same cost, as a trained one."""
    from galaxy_explorer.diffusion.model_io import checkpoint_metadata, save_diffusion_checkpoint
    from galaxy_explorer.diffusion.schedule import make_schedule
    from galaxy_explorer.diffusion.testing import toy_stamps
    from galaxy_explorer.diffusion.unet import ConditionalUNet, preset_config
    from galaxy_explorer.data.normalization import Normalization

    config = preset_config("small")
    metadata = checkpoint_metadata(
        config, make_schedule("linear"), Normalization.fit(toy_stamps(64)), preset="small",
        data={"source": "none", "description": "untrained small-preset network, for timing only"},
        training={"step": 0, "images_seen": 0},
    )
    return save_diffusion_checkpoint(directory / "small-untrained.safetensors", ConditionalUNet(config), metadata)
