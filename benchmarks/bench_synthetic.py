"""Benchmark: synthetic galaxies rendered per second (images + truth, noise included), median of repeats.

    python benchmarks/bench_synthetic.py [--n 2000] [--repeats 5] [--threads N] [--device cpu]

Target: >= 2,000 galaxies/s on the project's 2-core CPU. Other processes on the machine slow it down (and
oversubscribed torch threads much more so): the 1-minute load average is printed beside the figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from galaxy_explorer.synthetic import SyntheticSurvey


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="galaxies per repeat (default 2000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    started = time.perf_counter()
    survey = SyntheticSurvey(seed=0, device=args.device)
    survey.sample(256)  # warm-up: tables, FFT plans
    setup = time.perf_counter() - started

    rates = []
    for _ in range(args.repeats):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        batch = survey.sample(args.n)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        rates.append(args.n / (time.perf_counter() - start))
        del batch
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"synthetic survey: {statistics.median(rates):.0f} galaxies/s (median of {args.repeats} x {args.n}; "
          f"min {min(rates):.0f}, max {max(rates):.0f}) on {args.device}, torch threads {torch.get_num_threads()}, "
          f"cpu count {os.cpu_count()}, load average {load:.2f}; start-up {setup:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
