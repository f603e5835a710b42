"""``galaxy-explorer augment``: does adding generated galaxies of a rare class help a classifier? HTML + JSON."""

from __future__ import annotations

import argparse

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
    augment_arguments().add_to(p)
    arguments.add_guidance_argument(p)
    arguments.add_overwrite_argument(p, "augment.html and augment.json in --out")
    p.set_defaults(func=run)


def augment_arguments():
    """The options of ``AugmentConfig``, as this command takes them: all of them."""
    from galaxy_explorer.commands.config_arguments import ConfigArguments
    from galaxy_explorer.evaluation.augmentation import AugmentConfig

    return ConfigArguments(AugmentConfig)


def config_from_args(args: argparse.Namespace):
    from galaxy_explorer.evaluation.augmentation import AugmentConfig

    return AugmentConfig(**augment_arguments().kwargs(args), guidance=args.guidance)


def run(args: argparse.Namespace) -> int:
    from galaxy_explorer.evaluation.augmentation import run_augmentation
    from galaxy_explorer.output_path import check_output_folder

    config = config_from_args(args)
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
