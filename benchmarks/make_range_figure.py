"""The README's figure of the redshift range (issue 31): generated galaxies from z = 0.02 to 3 beside survey ones.

    python benchmarks/make_range_figure.py [--denoise-step T|none --out PATH]

Seed 7 (the app's first seed) and five more, each walked through z = 0.02, 0.5, 1, 2 and 3 as the app does (one
seed, one initial noise, every label left free as on the app's first page; the shipped default checkpoint with the
app's sampler, DPM-Solver++(2M) at 20 steps and its final denoising step, and the checkpoint's guidance), beside
the survey galaxies of the built-in testing split nearest each redshift. Lupton i,r,g composites at the app's fixed
stretch of the central 48 x 48 pixels (8.1") of each stamp, each pixel drawn 2 x 2, so the grain shows as the app
shows it. Writes docs/range-ends.png and, beside it, docs/range-ends.json: the settings, the survey rows, a
fingerprint of the generated images and the PNG's SHA-256, which tests/test_range_figure.py checks against this
script, the shipped checkpoint and the file (each written atomically). ~1 minute on 2 CPU cores.
``--denoise-step T|none`` draws the same galaxies with another final denoising step
(``galaxy_explorer.diffusion.samplers.final_denoise``) or none, for comparison, into --out
(docs/range-ends-no-final-denoise.png: ``--denoise-step none --out docs/range-ends-no-final-denoise.png``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a file: import the package from this source tree
    sys.path.insert(0, str(REPO))

from galaxy_explorer.commands import arguments  # noqa: E402  (the package from this source tree)
from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP  # noqa: E402

REDSHIFTS = (0.02, 0.5, 1.0, 2.0, 3.0)
SEEDS = (7, 1, 2, 3, 4, 5)
SURVEY_PER_REDSHIFT = 3
SAMPLER, STEPS = "dpmpp2m", 20  # the app's (app_parts/serving/server.py DEFAULT_SAMPLER, DEFAULT_STEPS)
THREADS = 2
SCALE, CROP = 2, 8  # screen pixels per stamp pixel; stamp pixels left out at each edge (keeps the PNG < 400 KB)
DEFAULT_OUT = REPO / "docs" / "range-ends.png"
MAX_BYTES = 400 * 1024


def settings(denoise_step=DEFAULT_DENOISE_STEP) -> dict:
    """What the figure is drawn from, as recorded beside it (and checked by tests/test_range_figure.py)."""
    return {"redshifts": list(REDSHIFTS), "seeds": list(SEEDS), "survey_per_redshift": SURVEY_PER_REDSHIFT,
            "sampler": SAMPLER, "steps": STEPS, "denoise_step": denoise_step, "labels": "free",
            "scale": SCALE, "crop": CROP,
            "checkpoint": "shipped:diffusion-small-morph.safetensors", "survey": "synthetic:testing"}


def fingerprint(images: np.ndarray) -> list:
    """Per image, the i-band flux of the central 16 x 16 pixels (rounded): enough to notice a changed output."""
    return [round(float(image[2, 24:40, 24:40].sum()), 4) for image in images]


def survey_galaxies() -> tuple[np.ndarray, list, list]:
    """(Z, K, 5, H, W) survey images nearest each redshift, their rows and their redshifts."""
    from galaxy_explorer.data.survey import Survey, builtin_survey_path

    with Survey(builtin_survey_path("testing")) as survey:
        rows = [survey.nearest(z, SURVEY_PER_REDSHIFT) for z in REDSHIFTS]
        images = np.stack([survey.images(r) for r in rows])
        redshifts = [[round(float(survey.redshift[i]), 4) for i in r] for r in rows]
    return images, [[int(i) for i in r] for r in rows], redshifts


def generated_galaxies(denoise_step=DEFAULT_DENOISE_STEP) -> np.ndarray:
    """(Z, S, 5, H, W): each seed walked through REDSHIFTS, as the app draws a walk."""
    from galaxy_explorer.diffusion import Generator

    generator = Generator.load()
    walks = [generator.frames(seed, list(REDSHIFTS), sampler=SAMPLER, steps=STEPS, batch_size=len(REDSHIFTS),
                              denoise_step=denoise_step) for seed in SEEDS]
    return np.stack(walks, axis=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--denoise-step", type=arguments.denoise_step, default=DEFAULT_DENOISE_STEP, metavar="T|none",
                        help="the final denoising step (default: the app's, %(default)s; 'none': the sampler's own)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    import torch

    from galaxy_explorer.atomic import atomic_path
    from galaxy_explorer.evaluation.figures import range_grid
    from galaxy_explorer.instrument import BANDS
    from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT

    torch.set_num_threads(THREADS)
    survey, rows, survey_redshifts = survey_galaxies()
    generated = generated_galaxies(args.denoise_step)
    png = range_grid(generated, survey, REDSHIFTS, SEEDS, survey_redshifts, BANDS, scale=SCALE, crop=CROP)
    if len(png) > MAX_BYTES:
        raise SystemExit(f"{args.out}: the figure is {len(png) / 1024:.0f} KB, over the {MAX_BYTES // 1024} KB limit")
    variant = "" if args.denoise_step == DEFAULT_DENOISE_STEP else f" --denoise-step {args.denoise_step or 'none'}"
    where = "" if args.out == DEFAULT_OUT else f" --out {os.path.relpath(args.out, REPO)}"
    record = {**settings(args.denoise_step), "command": "python benchmarks/make_range_figure.py" + variant + where,
              "checkpoint_sha256": hashlib.sha256(DEFAULT_DIFFUSION_CHECKPOINT.read_bytes()).hexdigest(),
              "survey_rows": rows, "survey_redshifts": survey_redshifts,
              "fingerprint": {str(seed): fingerprint(generated[:, k]) for k, seed in enumerate(SEEDS)},
              "png_sha256": hashlib.sha256(png).hexdigest()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(png)
    with atomic_path(args.out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out} ({len(png) / 1024:.0f} KB) and {args.out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
