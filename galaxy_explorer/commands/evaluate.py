"""``galaxy-explorer evaluate``: compare generated galaxies with a survey's test split; HTML report + JSON.

Its options are the fields of ``EvaluationConfig`` (``galaxy_explorer.evaluation.config``), with ``--overwrite``
and the ``--guide`` flag it shares with ``sample``."""

from __future__ import annotations

import argparse

from galaxy_explorer.commands import arguments
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
    evaluation_arguments().add_to(p)
    arguments.add_overwrite_argument(p, "report.html and metrics.json in --out")
    arguments.add_guide_argument(p)
    p.set_defaults(func=run)


def evaluation_arguments():
    """The options of ``EvaluationConfig``, as this command takes them: all of them."""
    from galaxy_explorer.commands.config_arguments import ConfigArguments
    from galaxy_explorer.evaluation.config import EvaluationConfig

    return ConfigArguments(EvaluationConfig)


def config_from_args(args: argparse.Namespace):
    from galaxy_explorer.evaluation.config import EvaluationConfig

    return EvaluationConfig(**evaluation_arguments().kwargs(args), guided=tuple(args.guide) if args.guide else None)


def run(args: argparse.Namespace) -> int:
    from galaxy_explorer.evaluation import run_evaluation
    from galaxy_explorer.output_path import check_output_folder

    print_notes("evaluate", check_output_folder(args.out, OUTPUT_FILES, overwrite=args.overwrite))

    metrics = run_evaluation(config_from_args(args))
    quality = metrics["quality_checks"]
    print(f"wrote {args.out}/report.html and {args.out}/metrics.json ({metrics['n']} galaxies, guidance "
          f"{metrics['guidance']['chosen_scale']:g})")
    for name, check in quality["checks"].items():
        print(f"  {name}: generated {check['value_generated']}, real vs real {check['value_real_vs_real']} "
              f"(a perfect model passes {check['real_vs_real_pass_rate']:.0%}): "
              f"{'pass' if check['passes'] else 'FAIL'}")
    return 0
