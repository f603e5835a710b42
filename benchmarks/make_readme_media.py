"""Make the README's screenshot of the app and its example GIF with the project's own commands.

    python benchmarks/make_readme_media.py [--checkpoint C] [--data D] [--seed 7] [--redshift 1.2] [--out-dir docs]
                                           [--no-selection]

1. serves the app (``panel serve galaxy_explorer/app.py``), opens it in Debian's headless Chromium, waits until
   the seed's frames are baked, moves the redshift slider with the keyboard to ``--redshift``, waits for the model's
   population and the colour panels, clicks the colour histogram's tallest bar (so the survey grid and both colour
   diagrams show that selection; ``--no-selection`` leaves the grid on the galaxies nearest z) and saves a
   screenshot of the page: ``docs/app-screenshot.png``;
2. runs ``galaxy-explorer export --seed S --z-start 0 --z-stop 3 --frames 48 --out docs/evolution.gif``.
Both use the shipped default checkpoint (assets/diffusion-small-morph.safetensors) and the built-in survey unless told
otherwise; the script refuses to run without a checkpoint, because the README must show a trained model.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_app_common import REPO, SHOWN_JS, chromium_page, served_app, wait_until_baked  # noqa: E402
from tests.support.colour_plots import click_tallest_bar, wait_for_colour_panels  # noqa: E402


def wait_for_the_model_population(page, redshift: float, timeout: float) -> None:
    """The "Generated (model) at this redshift" grid fills after the walk's frames: wait for all of its galaxies, so
    the README shows what a visitor sees a few seconds later rather than a grid of placeholders."""
    status = page.locator(".population-status")
    status.get_by_text(f"at z = {redshift:.2f}").wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while page.locator(".population-grid .pending").count() or "generating" in status.inner_text():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the model population at z = {redshift:.2f} was not generated within {timeout:.0f} s")
        time.sleep(0.5)


def screenshot(app_args: list[str], redshift: float, out: Path, bake_timeout: float, select: bool = True) -> None:
    from galaxy_explorer.atomic import atomic_path

    with served_app(app_args, timeout=bake_timeout) as url, chromium_page(1500, 1800) as page:
        page.goto(url)
        wait_until_baked(page, bake_timeout)
        start = page.evaluate(SHOWN_JS)["requested"]
        presses = round((redshift - start) / 0.01)
        page.locator(".redshift-slider .noUi-handle").first.focus()
        for _ in range(abs(presses)):
            page.keyboard.press("ArrowRight" if presses > 0 else "ArrowLeft")
        target = round(start + presses * 0.01, 2)
        page.set_default_timeout(60_000)
        page.wait_for_function(
            f"() => {{ const s = ({SHOWN_JS})(); "
            f"return s.kind === 'exact' && Math.abs(s.requested - {target}) < 1e-6; }}"
        )
        page.locator("table.morphology-table").get_by_text(f"z={target:.2f}, exact").wait_for()
        wait_for_the_model_population(page, target, timeout=180.0)
        wait_for_colour_panels(page, target)
        if select:  # the linked selection: one colour bar's survey galaxies on the grid and in both diagrams
            count = click_tallest_bar(page)[2]
            page.locator(".grid-status").get_by_text(f"{count} survey galaxies selected").wait_for()
        time.sleep(2.0)  # let the real-galaxy statistics for the new window and the selection's plots finish
        page.mouse.move(0, 0)  # no hover tooltip in the picture
        # The template scrolls its main area inside the window: a window as tall as that area shows all of it.
        height = page.evaluate("() => (document.querySelector('#main') || document.documentElement).scrollHeight")
        page.set_viewport_size({"width": 1500, "height": int(height) + 40})
        time.sleep(1.0)
        with atomic_path(out) as tmp:
            page.screenshot(path=str(tmp), full_page=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--redshift", type=float, default=1.2, help="slider position in the screenshot")
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs")
    parser.add_argument("--no-selection", action="store_true",
                        help="leave the survey grid on the galaxies nearest z (no colour selection in the shot)")
    parser.add_argument("--bake-timeout", type=float, default=900.0,
                        help="seconds to wait for the page (the first start writes the built-in survey)")
    args = parser.parse_args(argv)

    from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT

    checkpoint = args.checkpoint or DEFAULT_DIFFUSION_CHECKPOINT
    if not checkpoint.exists():
        print(f"make_readme_media: no checkpoint at {checkpoint}; train the shipped model first", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    # The shipped model is the app's default: not naming it keeps this machine's paths out of the screenshot.
    app_args = (["--checkpoint", str(checkpoint)] if args.checkpoint else []) + ["--seed", str(args.seed)]
    app_args += ["--data", str(args.data)] if args.data else []
    shot = args.out_dir / "app-screenshot.png"
    screenshot(app_args, args.redshift, shot, args.bake_timeout, select=not args.no_selection)
    print(f"wrote {shot}")

    gif = args.out_dir / "evolution.gif"
    command = [shutil.which("galaxy-explorer") or "galaxy-explorer", "export", "--checkpoint", str(checkpoint),
               "--seed", str(args.seed), "--z-start", "0", "--z-stop", "3", "--frames", "48", "--fps", "12",
               "--size", "256", "--out", str(gif), "--overwrite"]  # the README shows the newest
    print("running:", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True, cwd=REPO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
