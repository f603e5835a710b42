"""``galaxy-explorer augment``: does adding generated galaxies of a rare class help a classifier? HTML + JSON."""

from __future__ import annotations

import argparse
import math

from galaxy_explorer.commands import arguments
from galaxy_explorer.commands import print_notes

OUTPUT_FILES = ("augment.json", "augment.html")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "augment",
        help="the augmentation experiment of Ma et al. 2025: a classifier of a rare class trained on survey "
             "galaxies alone, with generated ones, and with extra real ones",
        description="Train a small CNN to find a class (LABEL >= CLASS_MIN, in a redshift window) on survey "
                    "galaxies alone, then with k = f x P generated members of the class (P: the members in the "
                    "training set) and, as a control, with k extra real members; report completeness, purity and "
                    "F1 on held-out survey galaxies over several seeds (mean ± std) in DIR/augment.html and "
                    "DIR/augment.json. The checkpoint must be conditioned on LABEL.",
    )
    p.add_argument("--checkpoint", default=None,
                   help="diffusion checkpoint conditioned on --label (default: the shipped assets/diffusion-small-morph)")
    p.add_argument("--data", default=None,
                   help="GalaxiesML-schema file with the label column (default: the built-in synthetic survey's "
                        "training split)")
    p.add_argument("--label", default="true_has_arms", help="label column defining the class (default "
                                                              "true_has_arms)")
    p.add_argument("--class-min", type=arguments.finite_float, default=0.5,
                   help="a galaxy is in the class when label >= this (default 0.5)")
    p.add_argument("--z-min", type=arguments.non_negative_float, default=1.0,
                   help="redshift window, lower edge (default 1: arms are rare there)")
    p.add_argument("--z-max", type=arguments.non_negative_float, default=math.inf,
                   help="redshift window, upper edge (default: none)")
    p.add_argument("--n-train", type=arguments.positive_int, default=400,
                   help="real training galaxies in the window (default 400: leaves enough real members for the 4x control)")
    p.add_argument("--n-test", type=arguments.positive_int, default=800,
                   help="held-out real test galaxies in the window (default 800)")
    p.add_argument("--factors", type=arguments.non_negative_float, nargs="+", default=[1.0, 2.0, 4.0], metavar="F",
                   help="extra examples as multiples of the class's training count (default 1 2 4)")
    p.add_argument("--seeds", type=arguments.positive_int, default=5, help="classifier seeds (default 5)")
    p.add_argument("--epochs", type=arguments.positive_int, default=12, help="classifier epochs (default 12)")
    p.add_argument("--seed", type=arguments.seed, default=0,
                   help="splits the data and seeds the generated galaxies (0 to 2**63-1)")
    p.add_argument("--sampler", default="dpmpp2m", choices=("ddpm", "ddim", "dpmpp2m"),
                   help="ddpm, ddim or dpmpp2m (default)")
    p.add_argument("--steps", type=arguments.positive_int, default=20, help="sampler steps (default 20)")
    arguments.add_guidance_argument(p)
    p.add_argument("--device", default="cpu", help="torch device for generation (default cpu)")
    p.add_argument("--batch-size", type=arguments.positive_int, default=None,
                   help="galaxies generated per network call (default: 256 on CUDA, 8 on CPU)")
    p.add_argument("--out", required=True, help="output folder for augment.html and augment.json")
    arguments.add_overwrite_argument(p, "augment.html and augment.json in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from galaxy_explorer.evaluation.augmentation import AugmentConfig, run_augmentation
    from galaxy_explorer.output_path import check_output_folder

    config = AugmentConfig(
        out=args.out, checkpoint=args.checkpoint, data=args.data, label=args.label, class_min=args.class_min,
        z_min=args.z_min, z_max=args.z_max, n_train=args.n_train, n_test=args.n_test,
        factors=tuple(args.factors), seeds=args.seeds, seed=args.seed, epochs=args.epochs, sampler=args.sampler,
        steps=args.steps, guidance=args.guidance, device=args.device, batch_size=args.batch_size,
        progress=not args.no_progress)
    config.check()
    print_notes("augment", check_output_folder(args.out, OUTPUT_FILES, overwrite=args.overwrite))
    result = run_augmentation(config)
    print(f"wrote {args.out}/augment.html and {args.out}/augment.json ({result['class']}, "
          f"{result['counts']['train_members']} class members in {result['counts']['train']} training galaxies)")
    for row in result["table"]:
        print(f"  {row['arm']:<24} F1 {_number(row['f1']['mean'])} ± {_number(row['f1']['std'])}  completeness "
              f"{_number(row['completeness']['mean'])}  purity {_number(row['purity']['mean'])}")
    print(result["summary"]["statement"])
    return 0


def _number(value) -> str:
    return "–" if value is None else f"{value:.3f}"
