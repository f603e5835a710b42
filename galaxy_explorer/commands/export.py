"""``galaxy-explorer export``: one seed's walk through redshift as GIF, MP4 (H.264) or FITS cube."""

from __future__ import annotations

import argparse
from pathlib import Path

from galaxy_explorer.instrument import BANDS

from galaxy_explorer.commands import arguments
from galaxy_explorer.output.export import (
    MAX_FPS,
    MAX_FRAMES,
    MAX_SIZE,
    MIN_FPS,
    MIN_FRAMES,
    MIN_SIZE,
    ExportError,
    ExportRequest,
    export_format,
    export_walk,
    validate_request,
)
from galaxy_explorer.output_path import check_output_file
from galaxy_explorer.diffusion.redshift_range import REDSHIFT_MARGIN, fit_to_training_range
from galaxy_explorer.commands import print_notes

SAMPLER_CHOICES = ("ddpm", "ddim", "dpmpp2m")


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
                   help="diffusion checkpoint (.safetensors); default: the shipped assets/diffusion-small-morph")
    p.add_argument("--seed", type=arguments.seed, default=0, help="noise seed, 0 to 2**63-1 (default 0)")
    p.add_argument("--z-start", type=arguments.finite_float, default=None,
                   help="first redshift (default: low end of training range; up to "
                        f"{REDSHIFT_MARGIN:g} outside it is moved onto it, further is refused)")
    p.add_argument("--z-stop", type=arguments.finite_float, default=None,
                   help="last redshift (default: high end of training range)")
    p.add_argument("--frames", type=int, default=60, help=f"number of frames, {MIN_FRAMES}-{MAX_FRAMES} (default 60)")
    p.add_argument("--fps", type=int, default=12, help=f"frames per second, {MIN_FPS}-{MAX_FPS} (default 12)")
    p.add_argument("--size", type=int, default=512,
                   help=f"frame side in pixels for GIF/MP4, {MIN_SIZE}-{MAX_SIZE}, rounded up to even (default 512)")
    p.add_argument("--sampler", choices=SAMPLER_CHOICES, default="dpmpp2m", help="sampler (default dpmpp2m)")
    p.add_argument("--steps", type=arguments.positive_int, default=20, help="sampler steps (default 20)")
    arguments.add_denoise_step_argument(p)
    arguments.add_guidance_argument(p)
    p.add_argument("--label", action=argparse.BooleanOptionalAction, default=True,
                   help="burn 'z = ...' into each GIF/MP4 frame (default: on)")
    p.add_argument("--band", choices=BANDS, default=None,
                   help="show one band in grey instead of the i,r,g colour composite")
    p.add_argument("--condition", type=arguments.condition, action="append", default=[], metavar="NAME=VALUE",
                   help="value of a further condition of the checkpoint (repeatable)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=arguments.positive_int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 is faster on a busy, shared CPU)")
    p.add_argument("--out", type=Path, required=True, help="output file: .gif, .mp4 or .fits")
    arguments.add_overwrite_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from galaxy_explorer.diffusion import Generator

    export_format(args.out)
    print_notes("export", check_output_file(args.out, overwrite=args.overwrite))
    validate_request(_request(args, 0.0, 1.0, {}))  # frames, size, fps: before the checkpoint is even loaded
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    generator = Generator.load(args.checkpoint, device=args.device)
    request = _request(args, *_walk_ends(args, generator), _conditions(args, generator))
    validate_request(request, generator.condition_ranges["redshift"])
    # disable=None: a progress bar on a terminal only, never in a log or a pipe
    with tqdm(total=request.frames, unit="frame", desc=f"export {args.out.name}", disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        out = export_walk(generator, request, progress=progress)
    print(f"wrote {out} ({request.frames} frames, z {request.z_start:g} -> {request.z_stop:g}, seed {request.seed})")
    return 0


def _request(args, z_start: float, z_stop: float, conditions: dict[str, float]) -> ExportRequest:
    return ExportRequest(out=args.out, seed=args.seed, z_start=z_start, z_stop=z_stop, frames=args.frames,
                         fps=args.fps, size=args.size, sampler=args.sampler, steps=args.steps,
                         denoise_step=args.denoise_step, label=args.label,
                         band=args.band, conditions=conditions, guidance_scale=args.guidance,
                         overwrite=args.overwrite)


def _walk_ends(args, generator) -> tuple[float, float]:
    """--z-start/--z-stop by the shared redshift rule (defaults: the ends of the training range)."""
    redshift_range = generator.condition_ranges["redshift"]
    ends, notes = [], []
    for name, given, default in (("--z-start", args.z_start, redshift_range[0]),
                                 ("--z-stop", args.z_stop, redshift_range[1])):
        value, note = fit_to_training_range(name, default if given is None else given, redshift_range)
        ends.append(value)
        notes += [note] if note else []
    print_notes("export", notes)
    return ends[0], ends[1]


def _conditions(args, generator) -> dict[str, float]:
    """--condition values, named conditions of the checkpoint. The rest are left free when the checkpoint was trained
    with condition dropout (as the app's "any" box does), else set to the middle of their training range."""
    conditions = dict(args.condition)
    unknown = sorted(set(conditions) - set(generator.condition_names[1:]))
    if unknown:
        raise ExportError(
            f"--condition {unknown[0]!r} is not a condition of {generator.checkpoint_path}; "
            f"it has {list(generator.condition_names[1:]) or 'none besides redshift'}"
        )
    for name in generator.condition_names[1:]:
        if name not in conditions and generator.supports_guidance:
            print_notes("export", [f"condition {name} not given: left free (the model draws it)"])
        elif name not in conditions:
            low, high = generator.condition_ranges[name]
            conditions[name] = 0.5 * (low + high)
            print_notes("export", [f"condition {name} not given: using the middle of its training range, "
                                   f"{conditions[name]:g}"])
    return conditions
