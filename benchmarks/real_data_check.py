"""Regenerate the real-data check: the synthetic survey against real COSMOS galaxies and the reader on real HSC scenes.

    python benchmarks/real_data_check.py [--realdata DIR] [--seed N]

Reads the real data read-only from DIR (default: $GALAXY_EXPLORER_REALDATA, else ../shared/realdata beside the
repository) and writes, each atomically:

    assets/evaluation/real-data.json   the numbers (medians with bootstrap errors, scene checks)
    docs/real-relations.png            colours, i magnitude and sizes against redshift
    docs/real-galaxies.png             real galaxies at HSC resolution beside synthetic ones
    docs/real-scenes.png               the real HSC scenes as the reader sees them

About 30 s on two cores. docs/real-data.md discusses the results; update it when the numbers change.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.evaluation.real_data import default_realdata_dir
from galaxy_explorer.evaluation.real_galaxies import (DEFAULT_SEED, FIGURE_FILES, RESULT_PATH, evaluate_real_galaxies,
                                                      write_result)

REPO = Path(__file__).resolve().parents[1]
MAX_FIGURE_BYTES = 300_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", default=None, help=f"real-data folder (default {default_realdata_dir()})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--json", type=Path, default=RESULT_PATH)
    parser.add_argument("--docs", type=Path, default=REPO / "docs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    evaluation = evaluate_real_galaxies(args.realdata, seed=args.seed)
    if evaluation is None:
        print(f"no real-data folder at {args.realdata or default_realdata_dir()}; nothing written", file=sys.stderr)
        return 1
    for name, (_, png) in evaluation.figures.items():
        if len(png) > MAX_FIGURE_BYTES:
            print(f"warning: figure {name} is {len(png) / 1e3:.0f} kB (keep figures under "
                  f"{MAX_FIGURE_BYTES / 1e3:.0f} kB)", file=sys.stderr)
        with atomic_path(args.docs / FIGURE_FILES[name]) as tmp:
            tmp.write_bytes(png)
    write_result(args.json, evaluation.result)
    for selection, relations in evaluation.result["summary"].items():
        within = sum(r["within"] for r in relations.values())
        bins = sum(r["bins"] for r in relations.values())
        print(f"{selection}: {within} of {bins} bins within the errors")
    print(f"wrote {args.json} and {len(evaluation.figures)} figures in {args.docs} "
          f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
