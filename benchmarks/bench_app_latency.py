"""How responsive the served app is, measured in a real (headless) browser.

    python benchmarks/bench_app_latency.py [--checkpoint C] [--data D] [--steps 20] [--grid-frames 64] [--moves 30]

Serves the app, opens it in Debian's headless Chromium, and measures, in the browser's clock:
- baking: the seconds the app needs to fill the per-seed frame grid (the app reports it; target <= 30 s for 64
  frames with the small preset);
- slider move -> image updated: keydown on the slider handle until the main image's data source has changed to
  the nearest baked frame for the new position and the browser has painted it (target p50 <= 100 ms);
- slider release -> exact frame: keydown until the exact frame for the new position is on screen (target <= 1 s).
A key press is a move and a release at once, so each press gives one figure of each kind.

Without --checkpoint the shipped assets/diffusion-small.safetensors is used, or, if it does not exist yet, an
untrained network of the same ``small`` preset (same architecture, same cost). Without --data a 400-galaxy mock
survey is written to a temporary directory.
"""

from __future__ import annotations

import argparse
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

# Record every change of the main image's source with the time since the last keydown, and when it was painted.
INSTRUMENT_JS = """() => {
  window.__updates = [];
  document.addEventListener('keydown', () => { window.__keydown = performance.now(); }, true);
  const source = Bokeh.documents[0].get_model_by_name('galaxy-image-source');
  source.change.connect(() => {
    const record = {kind: source.data.kind[0], requested: source.data.requested[0],
                    received: performance.now() - window.__keydown};
    window.__updates.push(record);
    // Two animation frames later the browser has painted the new image.
    requestAnimationFrame(() => requestAnimationFrame(() => {
      record.painted = performance.now() - window.__keydown;
    }));
  });
}"""


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
          f"{args.grid_frames}-frame grid, {args.torch_threads} torch thread(s), headless Chromium", flush=True)
    with served_app(app_args, log_path=workdir / "panel-serve.log") as url, chromium_page() as page:
        opened = time.perf_counter()
        page.goto(url)
        wait_until_baked(page, args.bake_timeout)
        wall = time.perf_counter() - opened
        status = page.locator(".bake-status").get_by_text("frames baked").inner_text()
        reported = re.search(r"baked in ([0-9.]+) s", status)
        bake_s = float(reported.group(1)) if reported else float("nan")

        page.set_default_timeout(30_000)
        page.evaluate(INSTRUMENT_JS)
        handle = page.locator(".redshift-slider .noUi-handle").first
        handle.focus()
        baked_ms, exact_ms, received_ms = [], [], []
        direction = "ArrowRight"
        for move in range(args.moves):
            if move and move % 15 == 0:
                direction = "ArrowLeft" if direction == "ArrowRight" else "ArrowRight"
            before = page.evaluate(SHOWN_JS)
            page.evaluate("() => { window.__updates = []; }")
            page.keyboard.press(direction)
            target = round(before["requested"] + (0.01 if direction == "ArrowRight" else -0.01), 2)
            page.wait_for_function(
                f"() => window.__updates.some(u => u.kind === 'exact' && Math.abs(u.requested - {target}) < 1e-6"
                " && u.painted !== undefined)"
            )
            updates = page.evaluate("() => window.__updates")
            first = next(u for u in updates if abs(u["requested"] - target) < 1e-6)
            exact = next(u for u in updates if u["kind"] == "exact" and abs(u["requested"] - target) < 1e-6)
            if first["kind"] == "baked":
                baked_ms.append(first["painted"])
                received_ms.append(first["received"])
            exact_ms.append(exact["painted"])
            time.sleep(0.1)

    print(f"baking {args.grid_frames} frames: {bake_s:.1f} s reported by the app "
          f"({wall:.1f} s from opening the page to a full grid; target <= 30 s for 64)")
    if baked_ms:
        print(f"slider move -> nearest baked frame painted: p50 {statistics.median(baked_ms):.0f} ms, "
              f"p90 {percentile(baked_ms, 90):.0f} ms over {len(baked_ms)} moves (target p50 <= 100 ms); "
              f"data received after p50 {statistics.median(received_ms):.0f} ms")
    print(f"slider release -> exact frame painted: p50 {statistics.median(exact_ms) / 1000:.2f} s, "
          f"p90 {percentile(exact_ms, 90) / 1000:.2f} s over {len(exact_ms)} moves (target <= 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
