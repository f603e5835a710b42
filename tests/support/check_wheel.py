"""Build the wheel, install it in a fresh virtual environment outside the repository, and use it there.

    python3 tests/support/check_wheel.py            # what .ci/run does; ~30 s on a 2-core CPU

Checks that a plain install (no ``-e``) carries the shipped model: ``galaxy-explorer sample`` with the default
checkpoint, the app started headless with its defaults (shipped checkpoint, built-in synthetic survey rendered
from the shipped SED table) showing an exact frame and 12 survey galaxies, and ``panel serve`` of the installed
``app.py`` answering. The environment is made with ``--system-site-packages`` and the wheel installed with
``--no-deps``, so the dependencies (CPU torch included) are the ones already installed: nothing is downloaded.
The wheel is built from a copy of the working tree's files (tracked and untracked, not ignored), so no stale
``build/`` folder can leak into it and nothing is written into the checkout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]

HEADLESS_APP = textwrap.dedent("""
    import galaxy_explorer, sys
    from pathlib import Path
    from galaxy_explorer import paths
    from galaxy_explorer.app import GalaxyExplorer

    here = Path(sys.prefix).resolve()
    for name, path in (("package", galaxy_explorer.__file__), ("assets", paths.ASSETS_DIR)):
        assert Path(path).resolve().is_relative_to(here), f"{name} not from the installed wheel: {path}"
    app = GalaxyExplorer(grid_frames=4, steps=4)
    assert app.wait_idle(600), "the app did not finish loading"
    assert not app.banners.problem.visible, app.banners.problem.object
    assert app.galaxy_card.view.shown[1] == "exact", app.galaxy_card.view.shown
    assert len(app.survey_card.view.shown_rows) == 12, app.survey_card.status.object
    assert app.walk.generator.checkpoint_path == paths.DEFAULT_DIFFUSION_CHECKPOINT
    print("headless app: exact frame from", app.walk.generator.checkpoint_path.name, "and 12 survey galaxies")
    app.close()
""")


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    shown = ["<script>" if "\n" in str(part) else str(part) for part in command]
    print("+", " ".join(shown), flush=True)
    started = time.perf_counter()
    result = subprocess.run([str(part) for part in command], check=True, **kwargs)
    print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)
    return result


def source_copy(destination: Path) -> Path:
    """The working tree's files that git does not ignore, copied to ``destination``."""
    if not (REPO_DIR / ".git").exists():  # an unpacked source archive: everything but build products
        shutil.copytree(REPO_DIR, destination, ignore=shutil.ignore_patterns(
            "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".venv", "runs", "scratch"))
        return destination
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO_DIR, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_DIR / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def build_wheel(work: Path) -> Path:
    source = source_copy(work / "source")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", work / "dist",
         source])
    (wheel,) = (work / "dist").glob("galaxy_explorer-*.whl")
    return wheel


def install(wheel: Path, work: Path) -> Path:
    """A fresh venv (seeing the installed dependencies) with the wheel in it; returns its bin folder."""
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", venv])
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall",
         wheel])
    return venv / "bin"


def check_served(python: Path, work: Path, env: dict) -> None:
    sys.path.insert(0, str(REPO_DIR))
    from tests.support.app_serving import served_app

    app_path = subprocess.run([python, "-c", "import galaxy_explorer.app as a; print(a.__file__)"], env=env,
                              cwd=work, check=True, capture_output=True, text=True).stdout.strip()
    with served_app([], app_path=app_path, python=str(python), cwd=work, env=env, timeout=120,
                    log_path=work / "panel-serve.log") as url:
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200 and b"Galaxy Explorer" in response.read()
    print("served app: answered at", url)


def check_wheel(work: Path) -> None:
    wheel = build_wheel(work)
    print(f"wheel: {wheel.name}, {wheel.stat().st_size / 2**20:.1f} MiB")
    bin_dir = install(wheel, work)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"GALAXY_EXPLORER_CACHE": str(work / "cache"), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    outside = work / "elsewhere"  # not the checkout: nothing may be found through the current directory
    outside.mkdir()
    run([bin_dir / "galaxy-explorer", "sample", "--seed", "7", "--z", "0.5", "2", "--steps", "4",
         "--out", work / "sample.fits"], cwd=outside, env=env)
    assert (work / "sample.fits").stat().st_size > 0
    run([bin_dir / "python", "-c", HEADLESS_APP], cwd=outside, env=env)
    check_served(bin_dir / "python", outside, env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        check_wheel(args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="galaxy-explorer-wheel-") as work:
            check_wheel(Path(work))
    print("wheel check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
