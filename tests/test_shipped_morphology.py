"""The shipped morphology-conditioned model (issue 13): its files, its evaluation, and the documents' quotes of both.

The tables for this model are written from ``assets/evaluation/morph-metrics.json`` (``galaxy-explorer evaluate`` on
it; quoted in docs/models.md), ``assets/evaluation/augment.json`` (``galaxy-explorer augment`` with it) and
``assets/evaluation/morph-label-guidance.json`` (both quoted in docs/experiments.md); retraining the model without
redoing them fails here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from galaxy_explorer.paths import ASSETS_DIR, MORPHOLOGY_DIFFUSION_CHECKPOINT, shipped_checkpoints

REPO_DIR = Path(__file__).resolve().parents[1]
MODELS_DOC = REPO_DIR / "docs" / "models.md"
EXPERIMENTS_DOC = REPO_DIR / "docs" / "experiments.md"
MAX_SHIPPED_BYTES = 16 * 2**20
MORPH_METRICS = ASSETS_DIR / "evaluation" / "morph-metrics.json"
AUGMENT_JSON = ASSETS_DIR / "evaluation" / "augment.json"
LABELS = ["true_bulge_fraction", "true_axis_ratio", "true_has_arms"]


def number(value, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def label_check_row(name: str, check: dict) -> str:
    """docs/models.md's row for one label check, from morph-metrics.json."""
    verdict = "skipped" if check.get("skipped") else ("yes" if check["passes"] else "**no**")
    return (f"| {name} | {number(check.get('statistic_survey'))} | {number(check.get('statistic_generated'))} | "
            f"{number(check.get('value_generated'))} | {number(check.get('value_real_vs_real'))} | "
            f"{check.get('real_vs_real_pass_rate', 0):.0%} | {verdict} |")


def mean_std(summary: dict) -> str:
    return f"{summary['mean']:.3f} ± {summary['std']:.3f}"


def augment_row(row: dict) -> str:
    """docs/experiments.md's row for one arm of the augmentation experiment, from augment.json."""
    return (f"| {row['arm']} | {row['extra_examples']} | {mean_std(row['completeness'])} | "
            f"{mean_std(row['purity'])} | {mean_std(row['f1'])} | {row['f1_verdict']} |")


def test_the_morphology_model_is_shipped_within_16_mib_and_offered_in_the_app():
    for file in (MORPHOLOGY_DIFFUSION_CHECKPOINT, MORPHOLOGY_DIFFUSION_CHECKPOINT.with_suffix(".json")):
        assert file.is_file(), f"{file} is not shipped"
        assert file.stat().st_size <= MAX_SHIPPED_BYTES
    assert shipped_checkpoints()["redshift + morphology"] == MORPHOLOGY_DIFFUSION_CHECKPOINT


def test_it_is_conditioned_on_redshift_and_three_labels_each_dropped_alone():
    from galaxy_explorer.diffusion import Generator

    generator = Generator.load(MORPHOLOGY_DIFFUSION_CHECKPOINT.name)  # by its name alone
    assert list(generator.condition_names) == ["redshift", *LABELS]
    assert generator.supports_guidance  # condition dropout: any label can be left free, and guided
    meta = json.loads(MORPHOLOGY_DIFFUSION_CHECKPOINT.with_suffix(".json").read_text())
    assert meta["conditions"]["dropout_probability"] == 0.15
    assert meta["data"]["source"] == "synthetic"


def test_its_evaluation_describes_it_and_checks_every_label():
    metrics = json.loads(MORPH_METRICS.read_text())
    shipped = json.loads(MORPHOLOGY_DIFFUSION_CHECKPOINT.with_suffix(".json").read_text())
    assert metrics["config"]["checkpoint"] == f"shipped:{MORPHOLOGY_DIFFUSION_CHECKPOINT.name}"
    assert metrics["checkpoint_metadata"]["diffusion"]["training"]["step"] == shipped["training"]["step"]
    checks = metrics["label_checks"]["checks"]
    assert {check["label"] for check in checks.values()} == set(LABELS)


def test_the_models_document_quotes_its_label_checks():
    models = MODELS_DOC.read_text()
    for name, check in json.loads(MORPH_METRICS.read_text())["label_checks"]["checks"].items():
        row = label_check_row(name, check)
        assert row in models, f"docs/models.md does not quote {row!r} from {MORPH_METRICS.name}"


def test_the_experiments_document_quotes_the_augmentation_table_made_with_the_shipped_model():
    experiments = EXPERIMENTS_DOC.read_text()
    result = json.loads(AUGMENT_JSON.read_text())
    assert result["config"]["checkpoint"] == f"shipped:{MORPHOLOGY_DIFFUSION_CHECKPOINT.name}"
    assert len(result["table"]) == 1 + 2 * len(result["config"]["factors"])  # baseline, generated and control arms
    for row in result["table"]:
        line = augment_row(row)
        assert line in experiments, f"docs/experiments.md does not quote {line!r} from {AUGMENT_JSON.name}"


def test_the_experiments_document_quotes_the_label_guidance_table_and_its_unguided_row_is_the_shipped_evaluation():
    import importlib.util

    spec = importlib.util.spec_from_file_location("label_guidance", REPO_DIR / "benchmarks" / "label_guidance.py")
    label_guidance = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(label_guidance)
    summary = json.loads(label_guidance.SUMMARY.read_text())
    shipped_training = json.loads(MORPHOLOGY_DIFFUSION_CHECKPOINT.with_suffix(".json").read_text())["training"]
    assert (summary["checkpoint_step"], summary["checkpoint_images_seen"]) == \
        (shipped_training["step"], shipped_training["images_seen"])
    unguided = summary["settings"][0]
    assert unguided["guided"] == []
    shipped = json.loads(MORPH_METRICS.read_text())["label_checks"]["checks"]
    for name, check in unguided["checks"].items():
        assert check["value_generated"] == shipped[name]["value_generated"]
    guided = {tuple(entry["guided"]) for entry in summary["settings"][1:]}
    assert guided == {tuple(LABELS), tuple(LABELS[:2])}
    experiments = EXPERIMENTS_DOC.read_text()
    for row in label_guidance.table_rows(summary):
        assert row in experiments, f"docs/experiments.md does not quote {row!r} from {label_guidance.SUMMARY.name}"


def test_the_label_guidance_benchmark_refuses_to_reuse_an_evaluation_of_an_earlier_model(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("label_guidance", REPO_DIR / "benchmarks" / "label_guidance.py")
    label_guidance = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(label_guidance)
    stale = tmp_path / "g2-all-labels"
    stale.mkdir()
    (stale / "metrics.json").write_text(json.dumps(
        {"checkpoint_metadata": {"diffusion": {"training": {"step": 1, "images_seen": 32}}}}))
    with pytest.raises(SystemExit, match=r"made with the model at step 1 \(32 images\).*fresh --out"):
        label_guidance.evaluate(stale, 2.0, label_guidance.ALL_LABELS)
