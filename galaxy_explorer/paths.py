"""Where shipped assets and the per-user cache live."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
ASSETS_DIR = REPO_DIR / "assets"

DEFAULT_DIFFUSION_CHECKPOINT = ASSETS_DIR / "diffusion-small.safetensors"
DEFAULT_REDSHIFT_CHECKPOINT = ASSETS_DIR / "redshift-cnn.safetensors"


def cache_dir() -> Path:
    """Per-user cache (built-in survey files). Override with GALAXY_EXPLORER_CACHE."""
    root = os.environ.get("GALAXY_EXPLORER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "galaxy_explorer"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
