"""Label checks (issue 13): a label that acts on the images passes, one that does not fails, and every check
carries its real-vs-real calibration."""

import numpy as np
import pytest

from galaxy_explorer.evaluation import labels
from galaxy_explorer.evaluation.labels import LabelSample, label_checks

CONDITIONED = ("true_bulge_fraction", "true_axis_ratio", "true_has_arms")


def survey_like(n: int, seed: int, *, acts: bool = True) -> LabelSample:
    """Galaxies whose measured Sérsic index, concentration and ellipticity follow their labels (``acts``) or
    ignore them, and an 'arm classifier' that finds 70% of armed galaxies (or 20%, not following the label)."""
    rng = np.random.default_rng(seed)
    bulge = rng.uniform(0, 1, n)
    axis = rng.uniform(0.2, 1.0, n)
    arms = (rng.uniform(size=n) < 0.3).astype(float)
    if not acts:  # measurements of some other galaxy: the labels do not act
        bulge_used, axis_used, arms_used = rng.uniform(0, 1, n), rng.uniform(0.2, 1.0, n), np.zeros(n)
    else:
        bulge_used, axis_used, arms_used = bulge, axis, arms
    sersic = 1 + 3 * bulge_used + rng.normal(0, 0.6, n)
    concentration = 2.5 + 1.5 * bulge_used + rng.normal(0, 0.4, n)
    ellipticity = 1 - np.clip(axis_used + rng.normal(0, 0.08, n), 0.05, 1)
    found = rng.uniform(size=n) < np.where(arms_used > 0, 0.7, 0.05)
    return LabelSample(redshift=rng.uniform(0.05, 0.95, n),
                       labels={"true_bulge_fraction": bulge, "true_axis_ratio": axis, "true_has_arms": arms},
                       measured={"sersic_index": sersic, "concentration": concentration, "ellipticity": ellipticity},
                       arm_probability=found.astype(float))


def test_a_model_whose_labels_act_passes_every_check():
    result = label_checks(survey_like(400, 1), survey_like(400, 2), survey_like(400, 3), conditioned=CONDITIONED,
                          resplits=60)
    assert set(result["checks"]) == set(labels.CHECKS) and not result["skipped"]
    assert result["all_pass"]
    for check in result["checks"].values():
        assert check["passes"] and check["real_vs_real_passes"]
        assert 0.8 <= check["real_vs_real_pass_rate"] <= 1.0  # the calibration is measured on fresh splits
        assert np.isfinite(check["value_real_vs_real"]) and np.isfinite(check["threshold"])
    axis = result["checks"]["axis_ratio"]
    assert axis["statistic_survey"] > 0.8 and axis["threshold"] <= labels.RATIO_TARGET
    assert len(result["checks"]["bulge_fraction_vs_sersic_index"]["binned_medians"]) == 4
    assert "false_positive_rate" in result["checks"]["arms_detected"]


def test_a_model_whose_labels_do_nothing_fails_every_check():
    result = label_checks(survey_like(400, 1), survey_like(400, 2, acts=False), survey_like(400, 3),
                          conditioned=CONDITIONED, resplits=60)
    assert not result["all_pass"]
    for name, check in result["checks"].items():
        assert not check["passes"], name
        assert check["real_vs_real_passes"], name  # the survey's own second half still passes: the check is fair
    assert result["checks"]["axis_ratio"]["value_generated"] < 0.3
    assert result["checks"]["arms_detected"]["value_generated"] > 0.5


def test_checks_are_skipped_with_a_reason():
    reference, other = survey_like(200, 1), survey_like(200, 3)
    fast = LabelSample(reference.redshift, reference.labels, {"ellipticity": reference.measured["ellipticity"]},
                       None)
    result = label_checks(fast, fast, LabelSample(other.redshift, other.labels,
                                                  {"ellipticity": other.measured["ellipticity"]}, None),
                          conditioned=("true_axis_ratio",), resplits=20)
    assert list(result["checks"]) == ["axis_ratio"]
    assert "not conditioned on true_bulge_fraction" in result["skipped"]["bulge_fraction_vs_sersic_index"]
    assert "not conditioned" in result["skipped"]["arms_detected"]
    with_bulge = label_checks(fast, fast, fast, conditioned=("true_bulge_fraction",), resplits=5)
    assert "--mode full" in with_bulge["skipped"]["bulge_fraction_vs_concentration"]


def test_a_quantity_left_unmeasured_by_fast_morphology_is_skipped_not_failed():
    reference = survey_like(200, 1)
    unmeasured = {**reference.measured, "sersic_index": np.full(200, np.nan), "concentration": np.full(200, np.nan)}
    fast = LabelSample(reference.redshift, reference.labels, unmeasured, reference.arm_probability)
    result = label_checks(fast, fast, fast, conditioned=CONDITIONED, resplits=5)
    assert "--mode full" in result["skipped"]["bulge_fraction_vs_sersic_index"]
    assert "--mode full" in result["skipped"]["bulge_fraction_vs_concentration"]
    assert set(result["checks"]) == {"axis_ratio", "arms_detected"}


@pytest.mark.parametrize("reference, compared, expected", [(0.5, 0.45, 0.9), (0.0, 0.4, None), (-0.2, 0.1, None)])
def test_ratio_comparison_needs_a_positive_survey_relation(reference, compared, expected):
    value = labels.comparison("axis_ratio", reference, compared)
    assert (np.isnan(value) if expected is None else value == pytest.approx(expected))


def test_the_threshold_widens_only_where_the_noise_demands():
    tight = np.full(100, 0.99)
    assert labels.calibrated_threshold("axis_ratio", tight) == labels.RATIO_TARGET
    noisy = np.linspace(0.3, 1.7, 100)
    assert labels.calibrated_threshold("axis_ratio", noisy) < 0.4
    assert labels.calibrated_threshold("arms_detected", np.full(50, 0.01)) == labels.ARM_RATE_TARGET
    assert labels.calibrated_threshold("arms_detected", np.linspace(0, 0.3, 100)) > 0.25


def test_only_galaxies_below_z_1_count():
    sample = survey_like(300, 4)
    high = LabelSample(sample.redshift + 1.0, sample.labels, sample.measured, sample.arm_probability)
    assert np.isnan(labels.axis_ratio_correlation(high))
    assert np.isfinite(labels.axis_ratio_correlation(sample))


def test_evaluate_runs_the_label_checks_for_a_morphology_conditioned_model(tmp_path):
    """The hook in ``run_evaluation``: checks for the conditioned labels, the arm classifier trained on other survey
    galaxies, the report section. (Tiny random model: the verdicts mean nothing here.)"""
    import json

    import torch

    from galaxy_explorer.cli import main
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
    from galaxy_explorer.data.normalization import Normalization
    from galaxy_explorer.measure.redshift_predictor import RedshiftCNN, RedshiftPredictor
    from galaxy_explorer.data.survey import Survey
    from galaxy_explorer.synthetic import write_mock_survey

    data = write_mock_survey(tmp_path / "mock.hdf5", 160, seed=21)
    checkpoint = make_tiny_checkpoint(tmp_path / "morph.safetensors", condition_dropout=0.1,
                                      condition_names=("redshift", "true_axis_ratio", "true_has_arms"))
    with Survey(data) as survey:
        images = survey.images(np.arange(32))
    torch.manual_seed(0)
    cnn = RedshiftPredictor(RedshiftCNN(width=4), Normalization.fit(images)).save(tmp_path / "rz.safetensors")
    out = tmp_path / "report"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(data), "--redshift-checkpoint", str(cnn),
                 "--out", str(out), "--steps", "2", "--n", "12", "--mode", "fast", "--threads", "1",
                 "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    checks = metrics["label_checks"]
    assert set(checks["checks"]) == {"axis_ratio", "arms_detected"}
    assert "not conditioned on true_bulge_fraction" in checks["skipped"]["bulge_fraction_vs_sersic_index"]
    for check in checks["checks"].values():
        assert {"value_generated", "value_real_vs_real", "threshold", "real_vs_real_pass_rate"} <= set(check)
    assert checks["arm_classifier"]["trained"] and checks["arm_classifier"]["training_galaxies"] >= 100
    assert "<h2>Morphology labels (z < 1)</h2>" in (out / "report.html").read_text()
