"""``galaxy-explorer sample``: draw images from a diffusion checkpoint at given redshifts, for one seed."""

from __future__ import annotations

import sys

from galaxy_explorer.commands import arguments
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.diffusion.redshift_range import REDSHIFT_MARGIN, fit_to_training_range
from galaxy_explorer.commands import print_notes


class SampleArgumentError(GalaxyExplorerError, ValueError):
    """A ``--condition`` the checkpoint does not have."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sample", help="generate images at given redshifts from one seed (FITS, HDF5 or PNG)",
        description="Generate one image per redshift from the same initial noise (seed). The output format "
                    "follows the suffix of --out: .fits (one image HDU per sample), .hdf5 (GalaxiesML schema) or "
                    ".png (colour-composite grid).")
    p.add_argument("--checkpoint", default=None, help="diffusion checkpoint (.safetensors; default: the shipped one)")
    p.add_argument("--seed", type=arguments.seed, default=0,
                   help="seed of the initial noise, 0 to 2**63-1 (default: %(default)s)")
    p.add_argument("--z", type=arguments.finite_float, nargs="+", required=True, metavar="Z",
                   help="redshift(s), one image each; up to {:g} outside the checkpoint's training range is moved "
                        "onto it, further is refused".format(REDSHIFT_MARGIN))
    p.add_argument("--out", required=True, help="output file: .fits, .hdf5 or .png")
    from galaxy_explorer.diffusion.samplers import SAMPLERS

    p.add_argument("--sampler", default="dpmpp2m", choices=SAMPLERS, help="sampler (default: %(default)s)")
    p.add_argument("--steps", type=arguments.positive_int, default=20, help="sampler steps (default: %(default)s)")
    arguments.add_denoise_step_argument(p)
    p.add_argument("--batch-size", type=arguments.positive_int, default=8,
                   help="images per network call (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--condition", type=arguments.condition, action="append", default=[], metavar="NAME=VALUE",
                   help="a further condition of the model, the same for every image (repeatable)")
    arguments.add_guidance_argument(p, "--guidance-scale")
    arguments.add_guide_argument(p)
    arguments.add_overwrite_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from galaxy_explorer.diffusion.frame_checks import require_finite_frames
    from galaxy_explorer.diffusion.generator import Generator
    from galaxy_explorer.output.sample_files import Provenance, output_format, write_samples
    from galaxy_explorer.output_path import check_output_file

    output_format(args.out)  # refuse an unknown suffix, an unwritable place or an existing file before sampling
    print_notes("sample", check_output_file(args.out, overwrite=args.overwrite))
    generator = Generator.load(args.checkpoint, device=args.device)
    conditions = _conditions(args.condition, generator)
    redshifts = _redshifts(args.z, generator)
    show = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show:
            print(f"\r{done}/{total} images", end="" if done < total else "\n", file=sys.stderr, flush=True)

    images = generator.frames(args.seed, redshifts, sampler=args.sampler, steps=args.steps,
                              batch_size=args.batch_size, progress=progress, guidance_scale=args.guidance,
                              guided=args.guide, denoise_step=args.denoise_step, **conditions)
    require_finite_frames(images, redshifts, generator.checkpoint_path)
    columns = {"redshift": redshifts}
    columns.update({name: np.full(len(redshifts), value) for name, value in conditions.items()})
    provenance = Provenance(
        checkpoint=str(generator.checkpoint_path), seed=args.seed, sampler=args.sampler, steps=args.steps,
        denoise_step=args.denoise_step,
        bands=generator.bands, conditions=columns,
        guidance_scale=generator.default_guidance if args.guidance is None else args.guidance,
        guided=tuple(args.guide or generator.default_guided) if len(generator.condition_names) > 1 else (),
        free=tuple(name for name in generator.condition_names[1:] if name not in conditions),
        synthetic_training_data=generator.metadata.get("data", {}).get("source") != "file")
    path = write_samples(args.out, images, provenance, overwrite=args.overwrite)
    print(f"wrote {len(images)} image(s) to {path}")
    return 0


def _conditions(pairs: list[tuple[str, float]], generator) -> dict[str, float]:
    """--condition NAME=VALUE pairs, each a condition the checkpoint was trained on."""
    conditions = dict(pairs)
    unknown = sorted(set(conditions) - set(generator.condition_names[1:]))
    if unknown:
        raise SampleArgumentError(f"--condition {unknown[0]!r} is not a condition of {generator.checkpoint_path}; "
                                  f"it has {list(generator.condition_names[1:]) or 'none besides redshift'}")
    return conditions


def _redshifts(values: list[float], generator):
    """--z values by the shared redshift rule: moved onto the training range within the margin, else refused."""
    import numpy as np

    training_range = generator.condition_ranges["redshift"]
    fitted = [fit_to_training_range("--z", z, training_range) for z in values]
    print_notes("sample", [note for _, note in fitted if note])
    return np.asarray([z for z, _ in fitted], dtype=np.float64)
