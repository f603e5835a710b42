"""Where shipped assets and the per-user cache live.

Shipped assets (the diffusion and redshift checkpoints, the SED colour table, the shipped model's evaluation) are
package data of ``galaxy_explorer.assets`` and are found with ``importlib.resources``. In the repository they sit in
the top-level ``assets/`` folder, which ``pyproject.toml`` maps into the package (``package-dir``), so an editable
install reads them where they are and a wheel carries them inside the package.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

ASSETS_PACKAGE = "galaxy_explorer.assets"


def _assets_dir() -> Path:
    try:
        root = resources.files(ASSETS_PACKAGE)
    except ModuleNotFoundError:
        # The source tree imported without installing it (or an editable install made before assets/ was mapped
        # into the package): the folder that the mapping names.
        return Path(__file__).resolve().parent.parent / "assets"
    if not isinstance(root, Path):  # e.g. imported from a zip file: the checkpoints must be real files
        raise RuntimeError(f"{ASSETS_PACKAGE} is not a folder on disk ({root!r}); install galaxy-explorer unpacked")
    return root


ASSETS_DIR = _assets_dir()

MORPHOLOGY_DIFFUSION_CHECKPOINT = ASSETS_DIR / "diffusion-small-morph.safetensors"
REDSHIFT_ONLY_DIFFUSION_CHECKPOINT = ASSETS_DIR / "diffusion-small.safetensors"
# The default is the redshift + morphology model: trained on a GPU to 1.6 M images, with its labels left free it is
# closer to the survey on every quality check than the redshift-only model (README, "How good the shipped model is").
DEFAULT_DIFFUSION_CHECKPOINT = MORPHOLOGY_DIFFUSION_CHECKPOINT
# The diffusion models a user can pick by name (in the app's sidebar, or as --checkpoint FILE_NAME), as shipped.
SHIPPED_DIFFUSION_CHECKPOINTS = {
    "redshift + morphology": MORPHOLOGY_DIFFUSION_CHECKPOINT,
    "redshift": REDSHIFT_ONLY_DIFFUSION_CHECKPOINT,
}
DEFAULT_REDSHIFT_CHECKPOINT = ASSETS_DIR / "redshift-cnn.safetensors"
SED_TABLE = ASSETS_DIR / "sed_colours.csv"


def cache_dir() -> Path:
    """Per-user cache (built-in survey files). Override with GALAXY_EXPLORER_CACHE."""
    root = os.environ.get("GALAXY_EXPLORER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "galaxy_explorer"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shipped_or_given(checkpoint: str | os.PathLike) -> Path:
    """``checkpoint`` as given, or, where it is the bare file name of a shipped checkpoint and no such file is here,
    the shipped one: ``--checkpoint diffusion-small-morph.safetensors`` works from any folder."""
    given = Path(checkpoint).expanduser()
    if given.exists() or given.name != str(checkpoint):
        return given
    shipped = {path.name: path for path in SHIPPED_DIFFUSION_CHECKPOINTS.values()}
    return shipped.get(given.name, given)


def shipped_checkpoints() -> dict[str, Path]:
    """The shipped diffusion checkpoints present in this installation, by what they are conditioned on."""
    return {label: path for label, path in SHIPPED_DIFFUSION_CHECKPOINTS.items() if path.exists()}
