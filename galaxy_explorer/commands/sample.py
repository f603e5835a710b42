"""``galaxy-explorer sample``: draw images from a diffusion checkpoint at given redshifts, for one seed."""

from __future__ import annotations

import sys

from ..errors import GalaxyExplorerError


class SampleArgumentError(GalaxyExplorerError, ValueError):
    """A ``--condition`` argument that is not NAME=NUMBER."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sample", help="generate images at given redshifts from one seed (FITS, HDF5 or PNG)",
        description="Generate one image per redshift from the same initial noise (seed). The output format "
                    "follows the suffix of --out: .fits (one image HDU per sample), .hdf5 (GalaxiesML schema) or "
                    ".png (colour-composite grid).")
    p.add_argument("--checkpoint", default=None, help="diffusion checkpoint (.safetensors; default: the shipped one)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial noise (default: %(default)s)")
    p.add_argument("--z", type=float, nargs="+", required=True, metavar="Z", help="redshift(s), one image each")
    p.add_argument("--out", required=True, help="output file: .fits, .hdf5 or .png")
    from ..diffusion.samplers import SAMPLERS

    p.add_argument("--sampler", default="dpmpp2m", choices=SAMPLERS, help="sampler (default: %(default)s)")
    p.add_argument("--steps", type=int, default=20, help="sampler steps (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=8, help="images per network call (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--condition", action="append", default=[], metavar="NAME=VALUE",
                   help="a further condition of the model, the same for every image (repeatable)")
    p.add_argument("--guidance-scale", type=float, default=1.0,
                   help="classifier-free guidance scale; needs a model trained with condition dropout (default: 1)")
    p.set_defaults(func=run)


def parse_conditions(items: list[str]) -> dict[str, float]:
    conditions = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            conditions[name.strip()] = float(value)
        except ValueError:
            raise SampleArgumentError(f"--condition {item!r}: expected NAME=NUMBER") from None
    return conditions


def run(args) -> int:
    import numpy as np

    from ..diffusion.generator import Generator
    from ..diffusion.writers import Provenance, output_format, write_samples

    output_format(args.out)  # refuse an unknown suffix before the (slow) sampling
    conditions = parse_conditions(args.condition)
    generator = Generator.load(args.checkpoint, device=args.device)
    redshifts = np.asarray(args.z, dtype=np.float64)
    show = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show:
            print(f"\r{done}/{total} images", end="" if done < total else "\n", file=sys.stderr, flush=True)

    images = generator.frames(args.seed, redshifts, sampler=args.sampler, steps=args.steps,
                              batch_size=args.batch_size, progress=progress, guidance_scale=args.guidance_scale,
                              **conditions)
    columns = {"redshift": redshifts}
    columns.update({name: np.full(len(redshifts), value) for name, value in conditions.items()})
    provenance = Provenance(
        checkpoint=str(generator.checkpoint_path), seed=args.seed, sampler=args.sampler, steps=args.steps,
        bands=generator.bands, guidance_scale=args.guidance_scale, conditions=columns,
        synthetic_training_data=generator.metadata.get("data", {}).get("source") != "file")
    path = write_samples(args.out, images, provenance)
    print(f"wrote {len(images)} image(s) to {path}")
    return 0
