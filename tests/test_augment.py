"""``galaxy-explorer augment`` end to end on a tiny random checkpoint and a small mock survey; bad inputs named.

The tiny model's images are not galaxies: only the plumbing (splits, generation, classifiers, every number in the
report, the refusals) is checked here, not whether augmentation helps.
"""

import json

import numpy as np
import pytest

from galaxy_explorer.evaluation.augmentation import (AugmentConfig, AugmentationError, classification_scores, split_rows,
                                          summarize, verdict)
from galaxy_explorer.cli import main as cli_main
from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
from galaxy_explorer.synthetic import write_mock_survey
from tests.support.survey_files import write_galaxiesml_file

ARMS = "true_has_arms"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("augment")
    survey = write_mock_survey(folder / "mock.h5", 120, 11)
    armed = make_tiny_checkpoint(folder / "arms.safetensors", seed=0,
                                 condition_names=("redshift", ARMS, "true_bulge_fraction"), condition_dropout=0.1)
    plain = make_tiny_checkpoint(folder / "plain.safetensors", seed=1)
    return {"survey": survey, "armed": armed, "plain": plain, "folder": folder}


def quick_args(files, out, *extra):
    return ["augment", "--checkpoint", str(files["armed"]), "--data", str(files["survey"]), "--out", str(out),
            "--z-min", "0", "--n-train", "24", "--n-test", "40", "--seeds", "2", "--epochs", "1", "--steps", "2",
            "--sampler", "ddim", "--no-progress", *extra]


def test_augment_writes_every_number_of_every_arm(files, tmp_path, capsys):
    out = tmp_path / "report"
    assert cli_main(quick_args(files, out)) == 0
    result = json.loads((out / "augment.json").read_text())
    html = (out / "augment.html").read_text()
    arms = [row["arm"] for row in result["table"]]
    assert arms == ["real only", "+1x generated", "+1x real (control)", "+2x generated", "+2x real (control)",
                    "+4x generated", "+4x real (control)"]
    members = result["counts"]["train_members"]
    assert members >= 2 and result["counts"]["generated_pool"] == 4 * members
    for row in result["table"]:
        assert len(result["runs"][row["arm"]]) == 2  # one run per seed
        for metric in ("completeness", "purity", "f1"):
            assert set(row[metric]) == {"mean", "std", "n"} and f"{metric}_relative_change" in row
        assert row["arm"] in html
        if row["source"] == "generated":
            assert row["extra_examples"] == round(row["factor"] * members)
        if row["source"] == "real":
            assert row["extra_examples"] <= result["counts"]["reserve_members"]
    for run in result["runs"]["real only"]:
        assert 0 <= run["completeness"] <= 1 and 0 <= run["f1"] <= 1
    assert result["config"]["conditions_left_free"] == ["true_bulge_fraction"]
    assert isinstance(result["summary"]["augmentation_helped"], bool) and result["summary"]["statement"]
    assert "Ma et al." in html and "SYNTHETIC" in html
    assert "augment.json" in capsys.readouterr().out
    # The same run again needs --overwrite, refused before any work.
    assert cli_main(quick_args(files, out)) == 2
    assert "already holds augment.json; pass --overwrite" in capsys.readouterr().err


def test_a_checkpoint_not_conditioned_on_the_label_is_refused_by_name(files, tmp_path, capsys):
    args = quick_args(files, tmp_path / "out")
    args[args.index("--checkpoint") + 1] = str(files["plain"])
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "plain.safetensors" in err and "not conditioned on 'true_has_arms'" in err
    assert not (tmp_path / "out" / "augment.json").exists()


def test_a_survey_without_the_label_column_is_named(files, tmp_path, capsys):
    plain_survey = write_galaxiesml_file(tmp_path / "plain.hdf5", n=16)
    args = quick_args(files, tmp_path / "out")
    args[args.index("--data") + 1] = str(plain_survey)
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "plain.hdf5" in err and "no column 'true_has_arms'" in err


@pytest.mark.parametrize("extra, message", [
    (["--factors", "0"], "factor must be a number > 0"),
    (["--factors", "1", "1"], "repeats"),
    (["--n-train", "200"], "200 + --n-test 40 = 240 galaxies needed"),
    (["--z-min", "2", "--z-max", "1"], "--z-max"),
    (["--seeds", "0"], "--seeds"),
])
def test_bad_options_are_refused_naming_the_value(files, tmp_path, capsys, extra, message):
    assert cli_main(quick_args(files, tmp_path / "out", *extra)) == 2
    assert message in capsys.readouterr().err


def test_scores_summaries_and_verdicts():
    scores = classification_scores(np.array([1, 1, 0, 0, 1]), np.array([1, 0, 1, 0, 1]))
    assert scores == pytest.approx({"completeness": 2 / 3, "purity": 2 / 3, "f1": 2 / 3})
    none_found = classification_scores(np.array([1, 0]), np.array([0, 0]))
    assert np.isnan(none_found["purity"]) and none_found["f1"] == 0.0
    assert summarize([0.5, 0.7, float("nan")]) == pytest.approx({"mean": 0.6, "std": np.std([0.5, 0.7], ddof=1),
                                                                  "n": 2})
    assert verdict([0.5, 0.52, 0.48], [0.7, 0.72, 0.69]) == "helped"
    assert verdict([0.5, 0.52, 0.48], [0.3, 0.32, 0.29]) == "hurt"
    assert verdict([0.5, 0.6, 0.4], [0.52, 0.62, 0.41]) == "no clear change"
    split = split_rows(np.arange(10), 4, 3, seed=0)
    assert len(split.test) == 3 and len(split.train) == 4 and len(split.reserve) == 3
    assert len(set(split.test) | set(split.train) | set(split.reserve)) == 10
    with pytest.raises(AugmentationError, match="holds 10"):
        split_rows(np.arange(10), 8, 3, seed=0)
    with pytest.raises(AugmentationError, match="--epochs"):
        AugmentConfig(out="x", epochs=0).check()
