"""``galaxy-explorer export``: one seed's walk through redshift as GIF, MP4 (H.264) or FITS cube."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import BANDS
from ..export import (
    MAX_FPS,
    MAX_FRAMES,
    MAX_SIZE,
    MIN_FPS,
    MIN_FRAMES,
    MIN_SIZE,
    ExportError,
    ExportRequest,
    export_walk,
    snap_to_redshift_range,
)

SAMPLER_CHOICES = ("ddpm", "ddim", "dpmpp2m")


def parse_condition(text: str) -> tuple[str, float]:
    """'NAME=VALUE' -> (NAME, float(VALUE)); argparse turns the ValueError into a usage error."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"value of condition {name!r} is not a number: {value!r}") from None


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export one seed's walk through redshift as .gif, .mp4 or .fits",
        description=(
            "Generate the model's image for one fixed noise seed at evenly spaced redshifts and write an "
            "animated GIF, an MP4 (H.264, yuv420p, plays in browsers) or a FITS cube (frames x 5 x 64 x 64, "
            "redshift per frame in a table). A fixed seed walking through redshift is not the history of "
            "one galaxy."
        ),
    )
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="diffusion checkpoint (.safetensors); default: the shipped assets/diffusion-small")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--z-start", type=float, default=None, help="first redshift (default: low end of training range)")
    p.add_argument("--z-stop", type=float, default=None, help="last redshift (default: high end of training range)")
    p.add_argument("--frames", type=int, default=60, help=f"number of frames, {MIN_FRAMES}-{MAX_FRAMES} (default 60)")
    p.add_argument("--fps", type=int, default=12, help=f"frames per second, {MIN_FPS}-{MAX_FPS} (default 12)")
    p.add_argument("--size", type=int, default=512,
                   help=f"frame side in pixels for GIF/MP4, {MIN_SIZE}-{MAX_SIZE}, rounded up to even (default 512)")
    p.add_argument("--sampler", choices=SAMPLER_CHOICES, default="dpmpp2m", help="sampler (default dpmpp2m)")
    p.add_argument("--steps", type=int, default=20, help="sampler steps (default 20)")
    p.add_argument("--label", action=argparse.BooleanOptionalAction, default=True,
                   help="burn 'z = ...' into each GIF/MP4 frame (default: on)")
    p.add_argument("--band", choices=BANDS, default=None,
                   help="show one band in grey instead of the i,r,g colour composite")
    p.add_argument("--condition", type=parse_condition, action="append", default=[], metavar="NAME=VALUE",
                   help="value of a further condition of the checkpoint (repeatable)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 is faster on a busy, shared CPU)")
    p.add_argument("--out", type=Path, required=True, help="output file: .gif, .mp4 or .fits")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from ..diffusion import Generator

    if args.threads is not None:
        if args.threads < 1:
            raise ExportError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    generator = Generator.load(args.checkpoint, device=args.device)
    conditions = dict(args.condition)
    unknown = sorted(set(conditions) - set(generator.condition_names[1:]))
    if unknown:
        raise ExportError(
            f"--condition {unknown[0]!r} is not a condition of {generator.checkpoint_path}; "
            f"it has {list(generator.condition_names[1:]) or 'none besides redshift'}"
        )
    for name in generator.condition_names[1:]:
        if name not in conditions:
            low, high = generator.condition_ranges[name]
            conditions[name] = 0.5 * (low + high)
            print(f"condition {name} not given: using the middle of its training range, {conditions[name]:g}")
    redshift_range = generator.condition_ranges["redshift"]
    walk_ends = []
    for name, given, default in (("z_start", args.z_start, redshift_range[0]), ("z_stop", args.z_stop, redshift_range[1])):
        value, note = snap_to_redshift_range(name, default if given is None else given, redshift_range)
        if note:
            print(note)
        walk_ends.append(value)
    request = ExportRequest(
        out=args.out,
        seed=args.seed,
        z_start=walk_ends[0],
        z_stop=walk_ends[1],
        frames=args.frames,
        fps=args.fps,
        size=args.size,
        sampler=args.sampler,
        steps=args.steps,
        label=args.label,
        band=args.band,
        conditions=conditions,
    )
    with tqdm(total=request.frames, unit="frame", desc=f"export {args.out.name}") as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        out = export_walk(generator, request, progress=progress)
    print(f"wrote {out} ({request.frames} frames, z {request.z_start:g} -> {request.z_stop:g}, seed {request.seed})")
    return 0
