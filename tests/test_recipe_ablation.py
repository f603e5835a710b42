"""The recipe ablation's table: one row per recipe and guidance scale, the chosen scale marked, failures marked,
and the real-vs-real row that says what a perfect model scores."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "train" / "recipe_ablation.py"


def load_script():
    spec = importlib.util.spec_from_file_location("recipe_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def metrics(values, scales, chosen):
    names = ("binned_means", "redshift_cnn", "sizes", "colours")
    sweep = [{"guidance_scale": scale, "failed_checks": sum(v > 1 for v in vals[1:]) + (vals[0] < 0.9),
              "checks": {n: {"value_generated": v, "passes": (v >= 0.9) if n == "binned_means" else v <= 1}
                         for n, v in zip(names, vals)}} for scale, vals in zip(scales, values)]
    real = {n: {"value_real_vs_real": 0.5} for n in names}
    return {"guidance": {"sweep": sweep, "chosen_scale": chosen}, "quality_checks": {"checks": real}}


def test_the_table_has_a_row_per_recipe_and_scale_and_the_perfect_model_row():
    ablation = load_script()
    rows = {"A-control": metrics([[0.5, 3.0, 1.2, 2.0]], [1.0], 1.0),
            "D-full": metrics([[0.95, 0.8, 0.9, 1.5], [0.92, 0.7, 0.8, 0.9]], [1.0, 2.5], 2.5)}
    lines = ablation.table(rows).splitlines()
    assert lines[2].startswith("| A-control | 1 | 0.50 ✗ | 3.00 ✗ | 1.20 ✗ | 2.00 ✗ | 0/4 |")
    assert lines[3] == "| D-full | 1 | 0.95 | 0.80 | 0.90 | 1.50 ✗ | 3/4 |"
    assert lines[4] == "| D-full | 2.5 (chosen) | 0.92 | 0.70 | 0.80 | 0.90 | 4/4 |"
    assert lines[5].startswith("| real vs real (a perfect model) | – | 0.50 | 0.50 | 0.50 | 0.50")


def test_the_experiments_document_quotes_the_shipped_ablation_table_with_all_five_recipes():
    import json

    ablation = load_script()
    summary = json.loads(ablation.SUMMARY.read_text())
    assert list(summary["recipes"]) == ["0-start", "A-control", "B-dropout", "C-minsnr", "D-full"]
    assert summary["images_per_recipe"] == 40_000
    experiments = (SCRIPT.parents[1] / "docs" / "experiments.md").read_text()
    for line in ablation.table(summary["recipes"]).splitlines():
        assert line in experiments, f"docs/experiments.md does not quote {line!r} from {ablation.SUMMARY.name}"
