"""The served app under load: N sessions at once, one of them a real Chromium page, on loopback.

    python benchmarks/bench_load.py [--sessions 1 4 8 16] [--checkpoint C] [--data D] [--steps 20]
                                    [--grid-frames 64] [--drags 6] [--cycles 3] [--first-repeats 5]

Serves the app as the README says (``panel serve galaxy_explorer/app.py --warm --reuse-sessions warm``, plus a
1-second session expiry so closed sessions are destroyed promptly) and waits for the default walk to be baked at
server start. Then, for each N, N sessions open at once: N - 1 light clients (protocol-level sessions that
speak Bokeh's wire protocol and read the page as JSON, ``tests/support/protocol_session.py``, no browser:
each moves the slider like a drag, ~20 moves a second, releases it at a random redshift and waits for the exact
frame, again and again; every fourth also picks a new seed, so its walk is baked meanwhile) and one headless
Chromium page at 1400x1000, which measures what a person sees:
- time to first image: from opening the page (the browser: navigation start; a light client: connecting) until
  the galaxy is painted (a light client: until the page it was sent holds a picture); for N = 1 the page is
  opened ``--first-repeats`` times, one visit after another, each with nothing cached, and the median reported;
- drag latency, on the Chromium page only: mouse drags over the slider once the walk is baked; for each mouse
  move, from the browser's input event to the nearest frame painted;
- exact-frame latency: from the slider's release until the exact frame for that redshift is painted (the page) or
  has arrived (a light client);
- errors: tracebacks and errors in the server's log, "Failed sending" warnings, and sessions that failed;
- server RSS before the sessions, at its peak, and after they have all closed.
Last, a leak test: ``--cycles`` rounds of 8 light sessions opening, dragging and closing (releasing on baked frames,
so no new frames join the cache), with the server's RSS after each; it should come back to within 10% of before.

Without --checkpoint the shipped default assets/diffusion-small-morph.safetensors is used; without --data a 400-galaxy mock survey
is written to a temporary directory. Timings on a shared machine are noisy: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_app_common import chromium_page, served_app, untrained_small_checkpoint  # noqa: E402
from tests.support.protocol_session import ProtocolSession, attribute  # noqa: E402

from tests.support.app_serving import SERVE_ARGS, rss_mb, tracebacks  # noqa: E402

WAIT_S = 90.0  # the longest any one thing may take before it counts as failed
THINK_S = (3.0, 6.0)  # a light client looks at each exact frame this long (uniform) before the next drag

# The main image's glyph view in the page, to tell when a picture has been painted (not merely received).
FIND_VIEW_JS = """
function galaxy_view() {
  const source = Bokeh.documents[0].get_model_by_name('galaxy-image-source');
  for (const root of Object.values(Bokeh.index)) {
    if (!root.owner) continue;
    for (const view of root.owner.query((v) => v.model && v.model.type === 'GlyphRenderer'
                                             && v.model.data_source === source)) { return view; }
  }
  return null;
}
"""

# Resolves when the page has painted a galaxy: its time since navigation start, in ms.
FIRST_IMAGE_JS = """() => new Promise((resolve) => {
  %s
  const tick = () => {
    if (window.Bokeh && Bokeh.documents && Bokeh.documents.length && Bokeh.index) {
      const source = Bokeh.documents[0].get_model_by_name('galaxy-image-source');
      const view = source ? galaxy_view() : null;
      const url = source ? source.data.url[0] : '';
      const image = view && view.glyph.image ? view.glyph.image[0] : null;
      if (url && image && image.src === url) {
        requestAnimationFrame(() => resolve(performance.now()));
        return;
      }
    }
    requestAnimationFrame(tick);
  };
  tick();
})""" % FIND_VIEW_JS

# Records every picture change of the main image with the time it was painted, and every input event's time.
INSTRUMENT_JS = """() => {
  %s
  window.__inputs = [];
  window.__shown = [];
  for (const kind of ['pointermove', 'pointerup', 'keydown']) {
    document.addEventListener(kind, (e) => window.__inputs.push({kind, t: e.timeStamp}), true);
  }
  const source = Bokeh.documents[0].get_model_by_name('galaxy-image-source');
  const view = galaxy_view();
  source.change.connect(() => {
    const record = {url: source.data.url[0], kind: source.data.kind[0], requested: source.data.requested[0],
                    position: source.data.position[0], changed: performance.now()};
    window.__shown.push(record);
    const wait = () => {
      const image = view.glyph.image ? view.glyph.image[0] : null;
      if (image && image.src === record.url) {
        requestAnimationFrame(() => { record.painted = performance.now(); });
      } else if (window.__shown[window.__shown.length - 1] === record) {
        requestAnimationFrame(wait);
      }
    };
    requestAnimationFrame(wait);
  });
}""" % FIND_VIEW_JS


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


@dataclass
class ClientResult:
    first_image: float | None = None  # seconds
    exact: list[float] = field(default_factory=list)  # seconds
    errors: list[str] = field(default_factory=list)


class LightClient(threading.Thread):
    """One session without a browser: a protocol-level session (``light_client.ProtocolSession``) on its own
    asyncio loop, moving the slider as a browser's drag does."""

    def __init__(self, url: str, index: int, stop: threading.Event, new_seed: int | None = None,
                 grid_frames: int | None = None):
        super().__init__(name=f"light-client-{index}", daemon=True)
        self.url, self.stop, self.new_seed, self.grid_frames = url, stop, new_seed, grid_frames
        self.random = random.Random(index)
        self.result = ClientResult()
        self.closed = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._visit())
        except Exception as exc:  # counted as an error of the run
            self.result.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.closed.set()

    async def _visit(self) -> None:
        from bokeh.events import DocumentReady

        started = time.perf_counter()
        self._exact_arrived = asyncio.Event()
        self._waiting: float | None = None  # the redshift released on, until its exact frame arrives
        self.session = session = ProtocolSession(self.url, on_data=self._picture)
        try:
            await session.open()
        except Exception as exc:  # counted as an error of the run
            self.result.errors.append(f"connect: {exc}")
            return
        main = session.find(lambda m: attribute(m, "name") == "galaxy-image-source")
        self.slider = session.find(lambda m: m["name"] == "Slider" and str(attribute(m, "title")).startswith("Redshift"))
        seed = session.find(lambda m: m["name"] == "Spinner" and attribute(m, "title") == "Seed")
        session.followed.add(main["id"])
        self.data = attribute(main, "data")
        if self.data["url"][0]:
            self.result.first_image = time.perf_counter() - started
        self._started = started
        listening = asyncio.create_task(session.listen())
        try:
            # What a browser says once the page has rendered: the deferred parts of the page are built now.
            await session.event(DocumentReady())
            if self.new_seed is not None and seed is not None:
                await session.patch(seed["id"], "value", self.new_seed)
            self.value = attribute(self.slider, "value")
            await self._pause(0.5)
            while not self.stop.is_set() and not session.closed:
                await self._drag()
                await self._pause(self.random.uniform(*THINK_S))
            await asyncio.sleep(1.0)  # like a person closing the tab after looking at the last picture
        finally:
            session.close()
            await asyncio.wait([listening], timeout=10)

    def _picture(self, _model: str, data: dict) -> None:
        self.data = data
        if self.result.first_image is None and data["url"][0]:
            self.result.first_image = time.perf_counter() - self._started
        if (self._waiting is not None and data["kind"][0] == "exact"
                and abs(data["requested"][0] - self._waiting) < 1e-6):
            self._exact_arrived.set()

    async def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, deadline - time.monotonic()))

    async def _drag(self, moves: int = 12) -> None:
        """~20 moves a second towards a random redshift, the release there, and the wait for its exact frame."""
        start, end = attribute(self.slider, "start"), attribute(self.slider, "end")
        z = round(self.random.uniform(start, end), 2)
        if self.grid_frames:  # the leak test: only frames baked already (the default walk's grid)
            z = round(start + (end - start) * self.random.randrange(self.grid_frames) / (self.grid_frames - 1), 6)
        now, slider = self.value, self.slider["id"]
        for i in range(1, moves + 1):
            await asyncio.sleep(0.05)
            if self.stop.is_set():
                return
            await self.session.patch(slider, "value", round(now + (z - now) * i / moves, 4))
        await asyncio.sleep(0.05)
        self.value = z
        await self.session.patch(slider, "value", z)
        released = time.perf_counter()
        if self.data["kind"][0] == "exact" and abs(self.data["requested"][0] - z) < 1e-6:  # there already
            self.result.exact.append(0.0)
            return
        self._waiting = z
        self._exact_arrived.clear()
        await self.session.patch(slider, "value_throttled", z)
        try:
            await asyncio.wait_for(self._exact_arrived.wait(), WAIT_S)
            self.result.exact.append(time.perf_counter() - released)
        except asyncio.TimeoutError:
            self.result.errors.append(f"no exact frame for z = {z} within {WAIT_S:.0f} s")
        finally:
            self._waiting = None

    def close(self) -> None:
        self.stop.set()


SLIDER_VALUE_JS = """() => [...Bokeh.documents[0]._all_models.values()]
    .find(m => m.type === 'Slider' && String(m.title).startsWith('Redshift')).value"""


def browser_session(page, url: str, drags: int, result: dict, seed: int = 1, grid_frames: int = 64) -> None:
    """The Chromium page: time to first image, drags once baked, exact frames on release."""
    page.set_default_timeout(WAIT_S * 1000)
    page.goto(url, wait_until="commit")
    result["first_image"] = page.evaluate(FIRST_IMAGE_JS) / 1000
    page.locator(".bake-status").get_by_text("frames baked").wait_for()
    # Dragging after the bake: the walk's frames are on the page (they follow the first render).
    page.wait_for_function(
        "n => Bokeh.documents[0].get_model_by_name('galaxy-frames-source').data.position.length >= n",
        arg=grid_frames)
    page.evaluate(INSTRUMENT_JS)
    handle = page.locator(".redshift-slider .noUi-handle").first
    track = page.locator(".redshift-slider .noUi-base").first.bounding_box()
    rng = random.Random(seed)  # each N drags to other places, so its exact frames are not cached already
    drag_ms, exact_ms = [], []
    for _ in range(drags):
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        target = track["x"] + rng.uniform(0.05, 0.95) * track["width"]
        page.evaluate("() => { window.__inputs = []; window.__shown = []; }")
        page.mouse.move(x, y)
        page.mouse.down()
        steps = 15
        for i in range(1, steps + 1):
            page.mouse.move(x + (target - x) * i / steps, y)
            time.sleep(0.05)
        page.mouse.up()
        released_value = page.evaluate(SLIDER_VALUE_JS)
        page.wait_for_function(
            "z => window.__shown.some(r => r.kind === 'exact' && Math.abs(r.requested - z) < 1e-6"
            " && r.painted !== undefined)", arg=released_value)
        inputs, shown = page.evaluate("() => [window.__inputs, window.__shown]")
        moves = [event["t"] for event in inputs if event["kind"] == "pointermove"]
        release = next(event["t"] for event in inputs if event["kind"] == "pointerup")
        # A move's latency: from the input event to the painting of the picture it caused (the next change).
        for record in shown:
            if record.get("painted") is None or record["changed"] > release:
                continue  # after the release: the server's pictures, not the drag's
            if record["kind"] in ("baked", "exact"):
                before = [t for t in moves if t <= record["changed"]]
                if before:
                    drag_ms.append(record["painted"] - before[-1])
        exact = next(r for r in shown if r["kind"] == "exact" and abs(r["requested"] - released_value) < 1e-6
                     and r.get("painted") is not None)
        exact_ms.append(max(0.0, exact["painted"] - release))  # 0: the slider came to rest on a baked frame
        time.sleep(0.3)
    result["drag_ms"], result["exact_s"] = drag_ms, [ms / 1000 for ms in exact_ms]


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._stop.set()
        return self.peak


def wait_for_log(log_path: Path, pattern: str, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(re.findall(pattern, log_path.read_text())) >= count:
            return True
        time.sleep(0.2)
    return False


def settle_rss(pid: int, seconds: float = 4.0) -> float:
    """RSS once the memory of closed sessions has been handed back (the app does so 2 s after a close)."""
    time.sleep(seconds)
    return rss_mb(pid)


def first_images(browser, url: str, count: int) -> list[float]:
    """The time to first image of ``count`` more pages opened one after another, each a first visit (a fresh
    browser context: nothing cached), so that one visitor's figure is a median rather than one reading."""
    times = []
    for _ in range(count):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(WAIT_S * 1000)
        page.goto(url, wait_until="commit")
        times.append(page.evaluate(FIRST_IMAGE_JS) / 1000)
        time.sleep(4.0)  # the rest of the page is put in place meanwhile, as it is while a person looks
        page.close()
        time.sleep(1.0)
    return times


def run_phase(url: str, pid: int, log_path: Path, n: int, drags: int, new_seed_every: int, browser,
              grid_frames: int, first_repeats: int = 1) -> dict:
    closed_before = log_path.read_text().count("session closed")
    log_before = log_path.read_text()
    rss_before = rss_mb(pid)
    sampler = RssSampler(pid)
    sampler.start()
    stop = threading.Event()
    every = new_seed_every
    clients = [LightClient(url, i, stop, new_seed=1000 + i if every and (i + 1) % every == 0 else None)
               for i in range(n - 1)]
    for client in clients:
        client.start()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    measured: dict = {}
    errors = []
    try:
        browser_session(page, url, drags, measured, seed=n, grid_frames=grid_frames)
    except Exception as exc:  # the page's measurement failed: an error of the run
        errors.append(f"browser: {exc}")
    page.close()
    # One visitor alone: more first visits, one after another (with others at once, every session gives one).
    more_first = first_images(browser, url, first_repeats - 1) if n == 1 and "first_image" in measured else []
    browser_first = [measured["first_image"], *more_first] if "first_image" in measured else []
    for client in clients:
        client.close()
    for client in clients:
        client.closed.wait(30)
    all_closed = wait_for_log(log_path, "session closed", closed_before + n + len(more_first), 60)
    if not all_closed:
        errors.append("not every session closed within 60 s")
    rss_after = settle_rss(pid)
    peak = max(sampler.stop(), rss_after)
    log_phase = log_path.read_text()[len(log_before):]
    first = [client.result.first_image for client in clients if client.result.first_image is not None]
    exact = [z for client in clients for z in client.result.exact]
    errors += [error for client in clients for error in client.result.errors]
    errors += [f"client {i} never got a picture" for i, c in enumerate(clients) if c.result.first_image is None]
    return {
        "n": n,
        "first_browser": statistics.median(browser_first) if browser_first else None,
        "first_all": first + browser_first,
        "drag_ms": measured.get("drag_ms", []),
        "exact_browser": measured.get("exact_s", []),
        "exact_all": exact + measured.get("exact_s", []),
        "tracebacks": len(tracebacks(log_phase)),
        "failed_sending": log_phase.count("Failed sending"),
        "errors": errors,
        "rss": (rss_before, peak, rss_after),
        "load": load_average(),
    }


def leak_test(url: str, pid: int, log_path: Path, cycles: int, grid_frames: int) -> list[float]:
    """RSS before, then after each of ``cycles`` rounds of 8 light sessions opening, dragging and closing."""
    readings = [settle_rss(pid, 1.0)]
    for _ in range(cycles):
        closed_before = log_path.read_text().count("session closed")
        stop = threading.Event()
        clients = [LightClient(url, 100 + i, stop, grid_frames=grid_frames) for i in range(8)]
        for client in clients:
            client.start()
        time.sleep(8.0)
        for client in clients:
            client.close()
        for client in clients:
            client.closed.wait(30)
        wait_for_log(log_path, "session closed", closed_before + 8, 60)
        readings.append(settle_rss(pid))
    return readings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--grid-frames", type=int, default=64)
    parser.add_argument("--drags", type=int, default=6, help="mouse drags on the Chromium page per N")
    parser.add_argument("--new-seed-every", type=int, default=4,
                        help="every k-th light client picks a new seed (0: none)")
    parser.add_argument("--cycles", type=int, default=3, help="open/close rounds of the leak test (0: none)")
    parser.add_argument("--first-repeats", type=int, default=5,
                        help="for N = 1, first visits of the page one after another (the median is reported)")
    args = parser.parse_args(argv)

    from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT

    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = DEFAULT_DIFFUSION_CHECKPOINT if DEFAULT_DIFFUSION_CHECKPOINT.exists() else \
            untrained_small_checkpoint(workdir)
    data = args.data
    if data is None:
        from galaxy_explorer.synthetic.mock_file import write_mock_survey

        data = write_mock_survey(workdir / "mock.hdf5", 400, seed=11)
    app_args = ["--checkpoint", str(checkpoint), "--data", str(data), "--steps", str(args.steps),
                "--grid-frames", str(args.grid_frames)]
    log_path = workdir / "panel-serve.log"
    env = {**os.environ, "GALAXY_EXPLORER_CACHE": str(workdir / "cache")}
    print(f"bench_load: {Path(checkpoint).name}, dpmpp2m {args.steps} steps, {args.grid_frames}-frame grid, "
          f"N = {args.sessions}; load average {load_average()}", flush=True)
    process: list = []
    started = time.perf_counter()
    with served_app(app_args, log_path=log_path, env=env, process_out=process,
                    panel_args=(*SERVE_ARGS, "--check-unused-sessions", "1000", "--unused-session-lifetime", "1000")) \
            as url, chromium_page() as first_page:
        pid = process[0].pid
        if not wait_for_log(log_path, r"default walk .* ready", 1, 600):
            print("the default walk was not baked within 600 s")
            return 1
        warm = re.search(r"default walk .* ready ([0-9.]+) s after start", log_path.read_text())
        print(f"server start -> default walk baked ({args.grid_frames + 1} frames): {float(warm.group(1)):.1f} s "
              f"(the app's own clock; {time.perf_counter() - started:.1f} s from launching the server)", flush=True)
        first_page.close()
        browser = first_page.context.browser
        results = []
        for n in args.sessions:
            result = run_phase(url, pid, log_path, n, args.drags, args.new_seed_every, browser, args.grid_frames,
                               first_repeats=args.first_repeats)
            results.append(result)
            print_phase(result)
        leak = leak_test(url, pid, log_path, args.cycles, args.grid_frames) if args.cycles else []
        log_text = log_path.read_text()
    print_table(results)
    if leak:
        worst = max(leak[1:])
        print(f"leak test (8 light sessions open, drag and close, {args.cycles} times): RSS "
              + " -> ".join(f"{mb:.0f}" for mb in leak) + f" MB; worst {100 * (worst / leak[0] - 1):+.1f}% "
              "(target within 10%)")
    print(f"tracebacks in the whole server log: {len(tracebacks(log_text))}; "
          f"'Failed sending' warnings: {log_text.count('Failed sending')}; load average now {load_average()}")
    return 0


def fmt(values: list[float], scale: float = 1.0, unit: str = "s", digits: int = 2) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values) * scale:.{digits}f} / {percentile(values, 90) * scale:.{digits}f} {unit}"


def print_phase(r: dict) -> None:
    before, peak, after = r["rss"]
    print(f"N = {r['n']:2d}: first image (browser) {r['first_browser'] or float('nan'):.2f} s, all sessions p50/p90 "
          f"{fmt(r['first_all'])}; drag {fmt(r['drag_ms'], unit='ms', digits=0)} ({len(r['drag_ms'])} moves); "
          f"exact (browser) {fmt(r['exact_browser'])}, all {fmt(r['exact_all'])} ({len(r['exact_all'])}); "
          f"tracebacks {r['tracebacks']}, failed sending {r['failed_sending']}, errors {len(r['errors'])}; "
          f"RSS {before:.0f} -> peak {peak:.0f} -> {after:.0f} MB; load {r['load']}", flush=True)
    for error in r["errors"][:5]:
        print(f"    {error}")


def print_table(results: list[dict]) -> None:
    print()
    print("| N | first image p50 / p90 (browser) | drag → painted p50 / p90 | exact frame p50 / p90 (browser) "
          "| errors | server RSS before → peak → after | load average |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        before, peak, after = r["rss"]
        errors = r["tracebacks"] + r["failed_sending"] + len(r["errors"])
        print(f"| {r['n']} | {fmt(r['first_all'])} ({r['first_browser'] or float('nan'):.2f} s) "
              f"| {fmt(r['drag_ms'], unit='ms', digits=0)} | {fmt(r['exact_all'])} ({fmt(r['exact_browser'])}) "
              f"| {errors} | {before:.0f} → {peak:.0f} → {after:.0f} MB | {r['load']} |")


if __name__ == "__main__":
    sys.exit(main())
