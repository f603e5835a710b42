"""Guiding the morphology labels alone (issue 13): the label checks of the shipped morphology model with
classifier-free guidance on some labels only, the redshift kept in both passes.

    python benchmarks/label_guidance.py                  # ~4 min a setting on 2 cores; finished settings are reused
    python benchmarks/label_guidance.py --table-only     # docs/experiments.md's table from the summary

Each setting is ``galaxy-explorer evaluate --checkpoint diffusion-small-morph.safetensors --n 300 --mode full
--workers 2 --threads 2 --guidance W --guide ...`` (the same 300 test galaxies and seed as the shipped
``assets/evaluation/morph-metrics.json``, which gives the unguided row). The label checks of every setting go into
``assets/evaluation/morph-label-guidance.json``, from which docs/experiments.md's table is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_explorer.paths import ASSETS_DIR, MORPHOLOGY_DIFFUSION_CHECKPOINT  # noqa: E402

SUMMARY = ASSETS_DIR / "evaluation" / "morph-label-guidance.json"
UNGUIDED = ASSETS_DIR / "evaluation" / "morph-metrics.json"
BULGE_AXIS = ("true_bulge_fraction", "true_axis_ratio")
ALL_LABELS = (*BULGE_AXIS, "true_has_arms")
SETTINGS = {  # folder -> (guidance scale, guided conditions)
    "g2-all-labels": (2.0, ALL_LABELS),
    "g2-bulge-axis": (2.0, BULGE_AXIS),
    "g3-bulge-axis": (3.0, BULGE_AXIS),
}
CHECKS = ("bulge_fraction_vs_sersic_index", "bulge_fraction_vs_concentration", "axis_ratio", "arms_detected")


def evaluate(out: Path, scale: float, guided: tuple[str, ...]) -> dict:
    from galaxy_explorer.evaluation import EvaluationConfig, run_evaluation

    if (out / "metrics.json").exists():
        metrics = json.loads((out / "metrics.json").read_text())
        check_made_with_the_shipped_checkpoint(metrics, out / "metrics.json")
        return metrics
    return run_evaluation(EvaluationConfig(out=str(out), checkpoint=str(MORPHOLOGY_DIFFUSION_CHECKPOINT), n=300,
                                           mode="full", workers=2, threads=2, guidance_scales=(scale,),
                                           guided=guided, progress=False))


def check_made_with_the_shipped_checkpoint(metrics: dict, source: Path) -> None:
    """A finished setting is reused only if it judged the checkpoint shipped now: a folder left by an earlier model
    would otherwise put its numbers in the table under the new model's name."""
    shipped = json.loads(MORPHOLOGY_DIFFUSION_CHECKPOINT.with_suffix(".json").read_text())["training"]
    made = metrics.get("checkpoint_metadata", {}).get("diffusion", {}).get("training", {})
    if (made.get("step"), made.get("images_seen")) != (shipped["step"], shipped["images_seen"]):
        raise SystemExit(f"{source} was made with the model at step {made.get('step')} "
                         f"({made.get('images_seen')} images); {MORPHOLOGY_DIFFUSION_CHECKPOINT.name} is at step "
                         f"{shipped['step']} ({shipped['images_seen']} images). Give a fresh --out folder, or remove "
                         f"{source.parent} to evaluate that setting again.")


def summary_entry(metrics: dict, scale: float, guided: tuple[str, ...] | None) -> dict:
    checks = metrics["label_checks"]["checks"]
    return {"guidance_scale": scale, "guided": list(guided) if guided else [],
            "checks": {name: {key: checks[name].get(key) for key in
                              ("statistic_survey", "statistic_generated", "value_generated", "threshold", "passes")}
                       for name in CHECKS},
            "passed": sum(bool(checks[name]["passes"]) for name in CHECKS)}


def table_rows(summary: dict) -> list[str]:
    """The rows of docs/experiments.md's table: each setting's generated-against-survey value per check (the armed
    share for arms)."""
    rows = []
    for entry in summary["settings"]:
        checks = entry["checks"]
        cells = []
        for name in CHECKS:
            check = checks[name]
            value = check["statistic_generated"] if name == "arms_detected" else check["value_generated"]
            cells.append(f"{value:.2f}" + (" ✓" if check["passes"] else ""))
        words = [LABEL_WORDS[name] for name in entry["guided"]]
        who = "none" if not words else f"{entry['guidance_scale']:g} on " + \
            (", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else words[0])
        rows.append(f"| {who} | " + " | ".join(cells) + f" | {entry['passed']} / {len(CHECKS)} |")
    return rows


LABEL_WORDS = {"true_bulge_fraction": "bulge fraction", "true_axis_ratio": "axis ratio", "true_has_arms": "arms"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/eval/label-guidance"), help="the evaluations' folder")
    parser.add_argument("--table-only", action="store_true", help="print the table of the shipped summary")
    args = parser.parse_args(argv)
    if not args.table_only:
        unguided = json.loads(UNGUIDED.read_text())
        check_made_with_the_shipped_checkpoint(unguided, UNGUIDED)
        settings = [summary_entry(unguided, unguided["guidance"]["chosen_scale"], None)]
        for folder, (scale, guided) in SETTINGS.items():
            settings.append(summary_entry(evaluate(args.out / folder, scale, guided), scale, guided))
        training = unguided["checkpoint_metadata"]["diffusion"]["training"]
        summary = {"checkpoint": MORPHOLOGY_DIFFUSION_CHECKPOINT.name, "checkpoint_step": training["step"],
                   "checkpoint_images_seen": training["images_seen"], "n": 300, "mode": "full", "seed": 0,
                   "command": "python benchmarks/label_guidance.py", "settings": settings}
        SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    print("\n".join(table_rows(json.loads(SUMMARY.read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
