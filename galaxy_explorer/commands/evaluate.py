"""``galaxy-explorer evaluate``: compare generated galaxies with a survey's test split; HTML report + JSON."""

from __future__ import annotations

import argparse

from galaxy_explorer.instrument import BANDS

from galaxy_explorer.commands import arguments
from galaxy_explorer.measure.morphology import MODES
from galaxy_explorer.commands import print_notes

# What the command writes into --out; an existing one is replaced only with --overwrite.
OUTPUT_FILES = ("report.html", "metrics.json")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="generate galaxies at the test split's redshifts and compare them with the real ones",
        description="Generate N galaxies conditioned on the redshifts of N real test galaxies, measure both with "
                    "the same morphology pipeline and redshift CNN, and write DIR/report.html and DIR/metrics.json.",
    )
    p.add_argument("--checkpoint", default=None,
                   help="diffusion checkpoint (.safetensors; default: the shipped assets/diffusion-small-morph)")
    p.add_argument("--data", default=None,
                   help="GalaxiesML-schema test file (default: the built-in synthetic survey's testing split)")
    p.add_argument("--n", type=int, default=500, help="galaxies to generate and compare (default 500)")
    p.add_argument("--out", required=True, help="output folder for report.html and metrics.json")
    p.add_argument("--seed", type=arguments.seed, default=0,
                   help="picks the test galaxies; galaxy i is generated from seed+i (0 to 2**63-1)")
    p.add_argument("--sampler", default="dpmpp2m", choices=("ddpm", "ddim", "dpmpp2m"),
                   help="ddpm, ddim or dpmpp2m (default)")
    p.add_argument("--steps", type=arguments.positive_int, default=20, help="sampler steps (default 20)")
    p.add_argument("--redshift-checkpoint", default=None,
                   help="redshift CNN checkpoint (default: the shipped assets/redshift-cnn)")
    p.add_argument("--mode", choices=MODES, default="full",
                   help="morphology: full (Sérsic fit, Gini/M20/C/A; ~0.2-0.4 s a stamp) or fast (~1-4 ms)")
    p.add_argument("--workers", type=arguments.positive_int, default=1, help="processes for full-mode morphology")
    p.add_argument("--detection-band", choices=BANDS, default="i", help="band used for detection and shapes (default i)")
    p.add_argument("--device", default="cpu", help="torch device for generation and the CNN (default cpu)")
    p.add_argument("--threads", type=arguments.positive_int, default=None,
                   help="torch CPU threads (default: torch's choice)")
    p.add_argument("--batch-size", type=arguments.positive_int, default=None,
                   help="galaxies generated per network call (default: 256 on CUDA, 8 on CPU); the images do not "
                        "depend on it beyond float rounding")
    arguments.add_overwrite_argument(p, "report.html and metrics.json in --out")
    p.add_argument("--guidance", type=float, nargs="+", default=None, metavar="G",
                   help="classifier-free guidance scale (default: the checkpoint's); several values run a sweep "
                        "and the report shows the scale that passes most checks, e.g. --guidance 1 1.5 2 3")
    p.add_argument("--write-guidance", action="store_true",
                   help="record the chosen guidance scale in the checkpoint as its default (rewrites the checkpoint "
                        "file in one atomic rename; the CLI and the app then sample with it)")
    p.add_argument("--labels-free", action="store_true",
                   help="generate from the test galaxies' redshifts alone, every further condition of the model left "
                        "free (a model trained with condition dropout): the quality checks of a morphology model "
                        "used as a redshift-only one; the label checks are then not run")
    arguments.add_guide_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from galaxy_explorer.evaluation import EvaluationConfig, run_evaluation
    from galaxy_explorer.output_path import check_output_folder

    print_notes("evaluate", check_output_folder(args.out, OUTPUT_FILES, overwrite=args.overwrite))

    config = EvaluationConfig(
        out=args.out, checkpoint=args.checkpoint, data=args.data, n=args.n, seed=args.seed, sampler=args.sampler,
        steps=args.steps, redshift_checkpoint=args.redshift_checkpoint, mode=args.mode, workers=args.workers,
        detection_band=args.detection_band, device=args.device, threads=args.threads,
        progress=not args.no_progress, guidance_scales=tuple(args.guidance) if args.guidance else None,
        write_guidance=args.write_guidance, batch_size=args.batch_size, labels_free=args.labels_free,
        guided=tuple(args.guide) if args.guide else None,
    )
    metrics = run_evaluation(config)
    quality = metrics["quality_checks"]
    print(f"wrote {args.out}/report.html and {args.out}/metrics.json ({metrics['n']} galaxies, guidance "
          f"{metrics['guidance']['chosen_scale']:g})")
    for name, check in quality["checks"].items():
        print(f"  {name}: generated {check['value_generated']}, real vs real {check['value_real_vs_real']} "
              f"(a perfect model passes {check['real_vs_real_pass_rate']:.0%}): "
              f"{'pass' if check['passes'] else 'FAIL'}")
    return 0
