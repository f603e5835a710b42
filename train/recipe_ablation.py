"""The recipe ablation of issue 12: each recipe trains the same number of images from the same starting weights
with the same seed, then is scored with the same fast evaluation subset; prints the table in docs/experiments.md.

    git show e94926e:assets/diffusion-small.safetensors > start.safetensors     # the starting weights (step 6,400)
    git show e94926e:assets/diffusion-small.json > start.json
    python train/recipe_ablation.py --out runs --init-from start.safetensors --recipes 0-start A-control D-full
    python train/recipe_ablation.py --out runs --recipes 0-start A-control D-full --table-only
    python train/recipe_ablation.py --from-summary      # docs/experiments.md's table, from the summary

Recipes (flags on top of the common ones below):
  0-start     no training: the starting weights (the shipped model at step 6,400), scored the same way
  A-control   the shipped model's recipe: uniform loss weighting, no condition dropout, survey redshifts
  B-dropout   + condition dropout 0.15 (so classifier-free guidance can be swept)
  C-minsnr    + dropout 0.15 + min-SNR-5 loss weighting
  D-full      + dropout 0.15 + min-SNR-5 + half of each batch flat in redshift

Common: `small` preset, --init-from the shipped weights (step 6,400), 1,250 more steps x 32 images = 40,000 images,
lr 3e-4, EMA 0.998, seed 0, 1 torch thread a run (two runs share 2 cores). Scoring: `galaxy-explorer evaluate`
on the built-in test split, --n 1000 (1,000 generated against 1,000 real, another 1,000 real for the real-vs-real
calibration), --mode fast, DPM-Solver++ 20 steps, seed 0; recipes trained with dropout sweep guidance 1, 1.5, 2.
A run already at its final step is not trained again; an interrupted one resumes bit-identically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RECIPES = {
    "0-start": None,  # the starting weights themselves (step 6,400), scored the same way: no training
    "A-control": {},
    "B-dropout": {"condition_dropout": 0.15},
    "C-minsnr": {"condition_dropout": 0.15, "loss_weighting": "min-snr"},
    "D-full": {"condition_dropout": 0.15, "loss_weighting": "min-snr", "flat_redshift_fraction": 0.5},
}
START_STEP, EXTRA_STEPS, BATCH = 6400, 1250, 32
GUIDANCE_SWEEP = (1.0, 1.5, 2.0)
CHECKS = ("binned_means", "redshift_cnn", "sizes", "colours")
REPO = Path(__file__).resolve().parents[1]
SUMMARY = REPO / "assets" / "evaluation" / "ablation.json"  # what docs/experiments.md's table is printed from


def summarized(metrics: dict) -> dict:
    """The part of one recipe's metrics.json that the table reads: its guidance sweep and the real-vs-real row."""
    return {"guidance": {"chosen_scale": metrics["guidance"]["chosen_scale"],
                         "sweep": [{"guidance_scale": entry["guidance_scale"], "checks": entry["checks"],
                                    "failed_checks": entry["failed_checks"]} for entry in metrics["guidance"]["sweep"]]},
            "quality_checks": {"checks": {name: {"value_real_vs_real": check["value_real_vs_real"]}
                                          for name, check in metrics["quality_checks"]["checks"].items()}},
            "n": metrics.get("n"), "mode": metrics.get("mode")}


def train_recipe(out: Path, name: str, init_from: Path, threads: int) -> Path:
    from galaxy_explorer.training.diffusion import TrainConfig, train

    if RECIPES[name] is None:
        return init_from
    run_dir = out / f"ablation-{name}"
    model = run_dir / "model.safetensors"
    if model.exists() and json.loads(model.with_suffix(".json").read_text())["training"]["step"] >= \
            START_STEP + EXTRA_STEPS:
        return model
    resume = (run_dir / "training_state.safetensors").exists()
    config = TrainConfig(out_dir=run_dir, preset="small", steps=START_STEP + EXTRA_STEPS, batch_size=BATCH, lr=3e-4,
                         ema_decay=0.998, threads=threads, checkpoint_every=250, sample_every=0, log_every=50,
                         seed=0, resume=resume, init_from=None if resume else str(init_from), **RECIPES[name])
    return train(config).checkpoint


def score_recipe(out: Path, name: str, model: Path, n: int, threads: int) -> dict:
    from galaxy_explorer.evaluation import EvaluationConfig, run_evaluation

    report = out / "eval" / f"ablation-{name}"
    if (report / "metrics.json").exists():
        return json.loads((report / "metrics.json").read_text())
    sweep = GUIDANCE_SWEEP if (RECIPES[name] or {}).get("condition_dropout") else None
    return run_evaluation(EvaluationConfig(out=str(report), checkpoint=str(model), n=n, mode="fast", seed=0,
                                           threads=threads, guidance_scales=sweep, progress=False))


def table(rows: dict[str, dict]) -> str:
    """Markdown: one row per (recipe, guidance scale); each check's generated value and pass."""
    header = ("| recipe | guidance | binned means (≥ 0.9) | redshift CNN (≤ 1) | sizes (≤ 1) | colours (≤ 1) "
              "| checks passed |\n|---|---|---|---|---|---|---|")
    lines = [header]
    for name, metrics in rows.items():
        for entry in metrics["guidance"]["sweep"]:
            cells = [f"{entry['checks'][c]['value_generated']:.2f}" + ("" if entry["checks"][c]["passes"] else " ✗")
                     for c in CHECKS]
            chosen = " (chosen)" if entry["guidance_scale"] == metrics["guidance"]["chosen_scale"] and \
                len(metrics["guidance"]["sweep"]) > 1 else ""
            lines.append(f"| {name} | {entry['guidance_scale']:g}{chosen} | " + " | ".join(cells) +
                         f" | {len(CHECKS) - entry['failed_checks']}/{len(CHECKS)} |")
    first = next(iter(rows.values()))["quality_checks"]["checks"]
    real = [f"{first[c]['value_real_vs_real']:.2f}" for c in CHECKS]
    lines.append("| real vs real (a perfect model) | – | " + " | ".join(real) + " | – |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs"), help="folder of the runs and their reports")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--init-from", type=Path, default=None,
                        help="the starting weights: the model shipped before this ablation, at step 6,400 (git show "
                             "e94926e:assets/diffusion-small.safetensors, and its .json beside it)")
    parser.add_argument("--n", type=int, default=1000, help="galaxies in the fast evaluation subset")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for each training and evaluation")
    parser.add_argument("--table-only", action="store_true", help="only print the table of finished runs")
    parser.add_argument("--write-summary", action="store_true",
                        help=f"write the recipes tabulated into {SUMMARY.relative_to(REPO)} "
                             "(what docs/experiments.md quotes)")
    parser.add_argument("--from-summary", action="store_true",
                        help=f"print the table from {SUMMARY.relative_to(REPO)} instead of the runs")
    args = parser.parse_args(argv)
    if args.from_summary:
        print(table(json.loads(SUMMARY.read_text())["recipes"]))
        return 0
    if not args.table_only:
        from galaxy_explorer.data.checkpoint import load_metadata

        if args.init_from is None:
            parser.error("--init-from is needed to train or score (only --table-only works without it)")
        step = load_metadata(args.init_from).get("training", {}).get("step")
        if step != START_STEP:
            parser.error(f"--init-from {args.init_from} is at step {step}; the ablation starts from step {START_STEP}")
    rows = {}
    for name in args.recipes:
        model = args.out / f"ablation-{name}" / "model.safetensors"
        if not args.table_only:
            model = train_recipe(args.out, name, args.init_from, args.threads)
            rows[name] = score_recipe(args.out, name, model, args.n, args.threads)
        elif (args.out / "eval" / f"ablation-{name}" / "metrics.json").exists():
            rows[name] = json.loads((args.out / "eval" / f"ablation-{name}" / "metrics.json").read_text())
    if not rows:
        print("no finished recipe to tabulate", file=sys.stderr)
        return 1
    if args.write_summary:
        SUMMARY.write_text(json.dumps({"command": "python train/recipe_ablation.py", "images_per_recipe":
                                       EXTRA_STEPS * BATCH, "recipes": {name: summarized(metrics)
                                                                        for name, metrics in rows.items()}},
                                      indent=1) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
