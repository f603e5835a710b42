"""``galaxy-explorer mock --n N --seed S --out FILE``: write the built-in synthetic survey to a file."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from galaxy_explorer.commands import arguments
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.commands import print_notes

SUFFIXES = (".hdf5", ".h5")
BYTES_PER_GALAXY = 5 * 64 * 64 * 4 + 100 * 8  # float32 image plus ~100 catalogue columns


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "mock",
        help="render the built-in SYNTHETIC survey into a GalaxiesML-schema HDF5 file (with true_* columns)",
        description="Render N synthetic HSC-like galaxies (known truth; see galaxy_explorer.synthetic) into a "
                    "GalaxiesML-schema HDF5 file. The same --seed and --n give identical file contents.",
    )
    p.add_argument("--n", type=int, required=True, help="number of galaxies (at least 1)")
    p.add_argument("--seed", type=arguments.seed, required=True, help="random seed, 0 to 2**63-1")
    p.add_argument("--out", required=True, help="output .hdf5/.h5 file (written atomically)")
    p.add_argument("--device", default="cpu", help="torch device to render on (default cpu)")
    p.add_argument("--threads", type=arguments.positive_int, default=None,
                   help="torch CPU threads (default: torch's choice)")
    arguments.add_overwrite_argument(p)
    p.set_defaults(func=run)


def check_request(args: argparse.Namespace) -> list[str]:
    """Everything about the request that can be checked before rendering; returns notes for the user."""
    from galaxy_explorer.output_path import check_output_file

    if args.n < 1:
        raise GalaxyExplorerError(f"--n must be at least 1, got {args.n}")
    out = Path(args.out)
    if out.suffix.lower() not in SUFFIXES:
        raise GalaxyExplorerError(f"--out {out}: expected a file name ending in {' or '.join(SUFFIXES)} (HDF5)")
    notes = check_output_file(out, overwrite=args.overwrite)
    _check_free_space(out, args.n)
    return notes


def _check_free_space(out: Path, n: int) -> None:
    folder = next(p for p in (out.parent, *out.parents) if p.is_dir())
    needed, free = n * BYTES_PER_GALAXY, shutil.disk_usage(folder).free
    if needed > free:
        raise GalaxyExplorerError(f"--out {out}: {n} galaxies need about {needed / 1e9:.3g} GB, "
                                  f"but {folder} has {free / 1e9:.3g} GB free")


def _device(name: str):
    import torch

    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, ValueError) as exc:
        raise GalaxyExplorerError(f"--device {name!r} is not usable here: {exc}") from exc
    return device


def run(args: argparse.Namespace) -> int:
    import torch

    from galaxy_explorer.synthetic import write_mock_survey

    print_notes("mock", check_request(args))
    device = _device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 5 or done == total:
            last[0] = now
            print(f"  {done}/{total} galaxies ({done / max(now - started, 1e-9):.0f}/s)", flush=True)

    path = write_mock_survey(args.out, args.n, args.seed, device=device, progress=progress, overwrite=args.overwrite)
    print(f"wrote {path}: {args.n} SYNTHETIC galaxies, seed {args.seed}, in {time.perf_counter() - started:.1f} s")
    return 0
