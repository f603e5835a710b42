"""How responsive the served app is for one person, measured in a real (headless) browser.

    python benchmarks/bench_app_latency.py [--checkpoint C] [--data D] [--steps 20] [--grid-frames 64] [--moves 30]
                                           [--colour-card]

Serves the app as the README says (``panel serve … --warm --reuse-sessions warm``), opens it in Debian's headless
Chromium at 1400x1000, and measures, in the browser's clock:
- the default walk's bake at server start (the app reports it);
- slider key press -> picture painted: the nearest baked frame, shown by the page's own JavaScript (target p50 <=
  50 ms), and the exact frame from the server (target <= 1 s); a key press is a move and a release at once;
- a new seed's bake: seconds until 8, 16, 32 and all grid frames are baked (coarse to fine, so after k frames the
  largest gap in redshift is about range/k; target <= 30 s for 64 frames).
With ``--colour-card`` the page's colour card is opened first (it opens closed, and its four HoloViews plots are
built when it is first opened), so every key press also re-draws the colour panels. For many sessions at once, see
bench_load.py.

Without --checkpoint the shipped default assets/diffusion-small-morph.safetensors is used, or, if it does not exist
yet, an untrained network of the same ``small`` preset (same architecture, same cost). Without --data a 400-galaxy
mock survey is written to a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_app_common import (  # noqa: E402
    SHOWN_JS,
    chromium_page,
    served_app,
    untrained_small_checkpoint,
    wait_until_baked,
)
from bench_load import INSTRUMENT_JS, load_average, wait_for_log  # noqa: E402
from tests.support.colour_plots import wait_for_colour_panels  # noqa: E402

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--grid-frames", type=int, default=64)
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--torch-threads", type=int, default=1, help="the app's --torch-threads (default 1)")
    parser.add_argument("--bake-timeout", type=float, default=600.0)
    parser.add_argument("--colour-card", action="store_true",
                        help="open the colour card before measuring, so each release also re-draws its plots")
    args = parser.parse_args(argv)

    from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT

    workdir = Path(tempfile.mkdtemp(prefix="bench-app-"))
    checkpoint = args.checkpoint
    note = ""
    if checkpoint is None:
        if DEFAULT_DIFFUSION_CHECKPOINT.exists():
            checkpoint = DEFAULT_DIFFUSION_CHECKPOINT
        else:
            checkpoint = untrained_small_checkpoint(workdir)
            note = " (untrained weights: the shipped checkpoint does not exist yet; same network, same cost)"
    data = args.data
    if data is None:
        from galaxy_explorer.synthetic.mock_file import write_mock_survey

        data = write_mock_survey(workdir / "mock.hdf5", 400, seed=11)

    app_args = ["--checkpoint", str(checkpoint), "--data", str(data), "--steps", str(args.steps),
                "--grid-frames", str(args.grid_frames), "--torch-threads", str(args.torch_threads)]
    print(f"bench_app_latency: {checkpoint.name}{note}, dpmpp2m {args.steps} steps, "
          f"{args.grid_frames}-frame grid, {args.torch_threads} torch thread(s), headless Chromium"
          f"{', colour card open' if args.colour_card else ''}; "
          f"load average {load_average()}", flush=True)
    log_path = workdir / "panel-serve.log"
    env = {**os.environ, "GALAXY_EXPLORER_CACHE": str(workdir / "cache")}
    with served_app(app_args, log_path=log_path, env=env) as url, chromium_page(1400, 1000) as page:
        wait_for_log(log_path, r"default walk .* ready", 1, args.bake_timeout)
        warm = re.search(r"default walk .* ready ([0-9.]+) s after start", log_path.read_text())
        page.goto(url)
        wait_until_baked(page, args.bake_timeout)
        page.set_default_timeout(30_000)
        if args.colour_card:
            wait_for_colour_panels(page)  # opens it, and waits for the survey's and the model's galaxies in it
            page.locator(".galaxy-image").first.scroll_into_view_if_needed()  # the picture measured is in view
        page.evaluate(INSTRUMENT_JS)
        handle = page.locator(".redshift-slider .noUi-handle").first
        handle.focus()
        baked_ms, exact_ms = [], []
        direction = "ArrowRight"
        for move in range(args.moves):
            if move and move % 15 == 0:
                direction = "ArrowLeft" if direction == "ArrowRight" else "ArrowRight"
            before = page.evaluate(SHOWN_JS)
            page.evaluate("() => { window.__inputs = []; window.__shown = []; }")
            page.keyboard.press(direction)
            target = round(before["requested"] + (0.01 if direction == "ArrowRight" else -0.01), 2)
            page.wait_for_function(
                f"() => window.__shown.some(u => u.kind === 'exact' && Math.abs(u.requested - {target}) < 1e-6"
                " && u.painted !== undefined)"
            )
            inputs, updates = page.evaluate("() => [window.__inputs, window.__shown]")
            pressed = next(event["t"] for event in inputs if event["kind"] == "keydown")
            first = next(u for u in updates if abs(u["requested"] - target) < 1e-6)
            exact = next(u for u in updates if u["kind"] == "exact" and abs(u["requested"] - target) < 1e-6
                         and u.get("painted") is not None)
            if first["kind"] == "baked" and first.get("painted") is not None:
                baked_ms.append(first["painted"] - pressed)
            exact_ms.append(exact["painted"] - pressed)
            time.sleep(0.1)

        # A new seed: how soon the grid fills, coarse to fine.
        seed_field = page.locator(".seed-input input").first
        seed_field.fill("4321")
        started = time.perf_counter()
        seed_field.press("Enter")
        page.locator(".frame-status").get_by_text("4321").first.wait_for()  # the new walk is on
        reached: dict[int, float] = {}
        marks = [k for k in (8, 16, 32) if k < args.grid_frames] + [args.grid_frames]
        while len(reached) < len(marks) and time.perf_counter() - started < args.bake_timeout:
            status = page.locator(".bake-status").get_by_text(re.compile("frames baked|Baking frames")).first
            text = status.inner_text() if status.count() else ""
            done = args.grid_frames if text.startswith("All") else None  # the new walk's grid is full
            match = re.search(r"(\d+)/(\d+) \(seed 4321\)", text)
            if match:
                done = int(match.group(1))
            if done is not None:
                for k in marks:
                    if done >= k and k not in reached:
                        reached[k] = time.perf_counter() - started
            time.sleep(0.2)

    print(f"default walk baked at server start ({args.grid_frames + 1} frames): "
          f"{float(warm.group(1)) if warm else float('nan'):.1f} s")
    if baked_ms:
        print(f"key press -> nearest baked frame painted (in the browser): p50 {statistics.median(baked_ms):.0f} ms, "
              f"p90 {percentile(baked_ms, 90):.0f} ms over {len(baked_ms)} presses (target p50 <= 50 ms)")
    print(f"key press -> exact frame painted: p50 {statistics.median(exact_ms) / 1000:.2f} s, "
          f"p90 {percentile(exact_ms, 90) / 1000:.2f} s over {len(exact_ms)} presses (target <= 1 s)")
    print("new seed, grid frames baked after: " + ", ".join(f"{k}: {t:.1f} s" for k, t in reached.items())
          + f" (target <= 30 s for 64); load average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
