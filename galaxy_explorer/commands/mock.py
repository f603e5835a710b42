"""``galaxy-explorer mock --n N --seed S --out FILE``: write the built-in synthetic survey to a file."""

from __future__ import annotations

import argparse
import time


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "mock",
        help="render the built-in SYNTHETIC survey into a GalaxiesML-schema HDF5 file (with true_* columns)",
        description="Render N synthetic HSC-like galaxies (known truth; see galaxy_explorer.synthetic) into a "
                    "GalaxiesML-schema HDF5 file. The same --seed and --n give identical file contents.",
    )
    p.add_argument("--n", type=int, required=True, help="number of galaxies")
    p.add_argument("--seed", type=int, required=True, help="random seed")
    p.add_argument("--out", required=True, help="output .hdf5/.h5 file (written atomically)")
    p.add_argument("--device", default="cpu", help="torch device to render on (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..errors import GalaxyExplorerError
    from ..synthetic import write_mock_survey

    if args.n < 1:
        raise GalaxyExplorerError(f"--n must be at least 1, got {args.n}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        device = torch.device(args.device)
        torch.empty(0, device=device)
    except (RuntimeError, ValueError) as exc:
        raise GalaxyExplorerError(f"--device {args.device!r} is not usable here: {exc}") from exc

    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 5 or done == total:
            last[0] = now
            print(f"  {done}/{total} galaxies ({done / max(now - started, 1e-9):.0f}/s)", flush=True)

    path = write_mock_survey(args.out, args.n, args.seed, device=device, progress=progress)
    print(f"wrote {path}: {args.n} SYNTHETIC galaxies, seed {args.seed}, in {time.perf_counter() - started:.1f} s")
    return 0
