"""``galaxy-explorer evaluate`` end to end on a tiny diffusion checkpoint, a tiny redshift CNN and a small mock."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from galaxy_explorer.cli import main
from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
from galaxy_explorer.data.normalization import Normalization
from galaxy_explorer.measure.redshift_predictor import RedshiftCNN, RedshiftPredictor
from galaxy_explorer.data.survey import Survey
from galaxy_explorer.synthetic import write_mock_survey

FIGURES = ("fig-redshift-scatter", "fig-loss-vs-redshift", "fig-histograms", "fig-binned-means", "fig-distances",
           "fig-image-grid", "fig-size-redshift")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    data = write_mock_survey(folder / "mock_testing.hdf5", 48, seed=21)
    diffusion = make_tiny_checkpoint(folder / "tiny.safetensors", seed=0)
    with Survey(data) as survey:
        images = survey.images(np.arange(len(survey)))
    torch.manual_seed(0)
    redshift_cnn = RedshiftPredictor(RedshiftCNN(width=4), Normalization.fit(images)).save(folder / "rz.safetensors")
    return {"data": data, "diffusion": diffusion, "redshift_cnn": redshift_cnn, "folder": folder}


def evaluate(inputs, out, *extra):
    return main(["evaluate", "--checkpoint", str(inputs["diffusion"]), "--data", str(inputs["data"]),
                 "--redshift-checkpoint", str(inputs["redshift_cnn"]), "--out", str(out), "--steps", "2",
                 "--threads", "1", "--no-progress", *extra])


@pytest.fixture(scope="module")
def full_run(inputs):
    out = inputs["folder"] / "report-full"
    assert evaluate(inputs, out, "--n", "12", "--seed", "4", "--mode", "full") == 0
    return out


def test_writes_a_self_contained_report_with_every_figure(full_run):
    page = (full_run / "report.html").read_text()
    for figure_id in FIGURES:
        assert f'<figure id="{figure_id}"><img' in page, figure_id
        start = page.index(f'<figure id="{figure_id}"><img')
        assert "data:image/png;base64,iVBORw0KGgo" in page[start:start + 300]  # an embedded PNG
    assert "SYNTHETIC" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from outside


def test_json_holds_every_number_of_the_issue(full_run):
    metrics = json.loads((full_run / "metrics.json").read_text())
    assert metrics["n"] == 12 and metrics["synthetic_data"] is True
    for sample in ("real", "generated"):
        photoz = metrics["redshift_prediction"][sample]
        assert set(photoz["overall"]) >= {"bias", "sigma_nmad", "outlier_fraction", "mean_loss"}
        assert photoz["bins"][0]["z_low"] == 0.0 and photoz["bins"][1]["z_low"] == pytest.approx(0.2)
    for name in ("ellipticity", "semi_major_axis", "isophotal_area", "half_light_radius", "sersic_index"):
        entry = metrics["morphology"][name]
        assert set(entry["overall"]) >= {"ks_statistic", "wasserstein"}
        assert len(entry["bins"]) == len(metrics["redshift_bin_edges"]) - 1
        assert {"mean", "ci_low", "ci_high"} <= set(entry["binned_means"]["real"][0])
        assert len(entry["binned_means"]["generated"]) == len(entry["bins"])
    relation = metrics["size_redshift"]
    assert relation["real"] and relation["generated"] and "true_median" in relation["real"][0]
    quality = metrics["quality_checks"]
    assert set(quality["checks"]) == {"binned_means", "redshift_cnn", "sizes", "colours", "grain"}
    # The mock holds 2 galaxies at the ends of the redshift range: too few to judge, and said so.
    assert set(quality["skipped"]) == {"range_ends"} and "fewer than 20" in quality["skipped"]["range_ends"]
    for check in quality["checks"].values():
        # Every check shows what a perfect model scores (a second real half) beside the generated value.
        assert {"value_generated", "value_real_vs_real", "real_vs_real_pass_rate", "passes"} <= set(check)
    assert quality["calibration"]["reference_n"] == quality["calibration"]["other_real_n"] == 12
    # An untrained model does not pass.
    assert quality["all_pass"] is False


def test_diagnostics_measure_grain_and_colour_spread_against_both_survey_halves(full_run):
    diagnostics = json.loads((full_run / "metrics.json").read_text())["diagnostics"]
    noise = diagnostics["pixel_noise"]
    assert noise["band"] == "i" and noise["sky_sigma"] > 0 and len(noise["levels"]) == 4
    sky = noise["levels"][0]  # every set has sky pixels, so the sky level is always measured
    assert sky["real"] > 0 and sky["generated"] > 0 and sky["real_vs_real"] > 0
    assert sky["ratio"] == pytest.approx(sky["generated"] / sky["real"])
    assert noise["levels"][-1]["high"] is None  # the open top level (inf, written as JSON null)
    colours = diagnostics["colour_scatter"]
    assert set(colours["bins"]) == {"g-r", "r-i", "i-z", "z-y"} == set(colours["median_ratio"])
    assert all(bins == [] for bins in colours["bins"].values())  # 12 galaxies: no bin holds 30
    page = (full_run / "report.html").read_text()
    assert "Diagnostics (not checks)" in page and "Colour spread at fixed redshift" in page


def test_real_galaxies_are_the_chosen_rows_and_are_measured(full_run, inputs):
    metrics = json.loads((full_run / "metrics.json").read_text())
    rows, calibration_rows = metrics["config"]["rows"], metrics["config"]["calibration_rows"]
    assert len(rows) == 12 == len(set(rows)) == len(set(calibration_rows))
    assert not set(rows) & set(calibration_rows)  # the real-vs-real half is disjoint
    # Bright mock galaxies are detected; their measurements feed the statistics.
    assert metrics["detections"]["real"]["no_detection_fraction"] < 0.25
    assert metrics["morphology"]["ellipticity"]["real"]["n_valid"] >= 9


def test_same_seed_same_numbers(inputs, tmp_path):
    assert evaluate(inputs, tmp_path / "a", "--n", "6", "--mode", "fast") == 0
    assert evaluate(inputs, tmp_path / "b", "--n", "6", "--mode", "fast") == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    for key in ("redshift_prediction", "morphology", "quality_checks"):
        assert a[key] == b[key], key


def test_more_galaxies_than_the_file_holds_is_a_one_line_error(inputs, tmp_path, capsys):
    assert evaluate(inputs, tmp_path / "x", "--n", "500", "--mode", "fast") == 2
    assert "--n 500 needs 1000 galaxies" in capsys.readouterr().err
    assert not (tmp_path / "x" / "metrics.json").exists()


def test_a_guidance_sweep_reports_every_scale_and_can_record_the_chosen_one(inputs, tmp_path):
    import shutil

    from galaxy_explorer.diffusion.generator import Generator
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    guided = make_tiny_checkpoint(tmp_path / "guided.safetensors", seed=0, condition_dropout=0.1)
    copy = tmp_path / "untouched.safetensors"
    shutil.copy(guided, copy)
    code = main(["evaluate", "--checkpoint", str(guided), "--data", str(inputs["data"]), "--redshift-checkpoint",
                 str(inputs["redshift_cnn"]), "--out", str(tmp_path / "r"), "--steps", "2", "--threads", "1",
                 "--no-progress", "--n", "6", "--mode", "fast", "--guidance", "1", "2", "--write-guidance"])
    assert code == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    sweep = metrics["guidance"]["sweep"]
    assert [entry["guidance_scale"] for entry in sweep] == [1.0, 2.0]
    chosen = metrics["guidance"]["chosen_scale"]
    assert chosen in (1.0, 2.0)
    assert Generator.load(guided).default_guidance == chosen
    assert Generator.load(copy).default_guidance == 1.0


def test_a_missing_checkpoint_is_a_one_line_error(inputs, tmp_path, capsys):
    code = main(["evaluate", "--checkpoint", str(tmp_path / "none.safetensors"), "--data", str(inputs["data"]),
                 "--out", str(tmp_path / "y"), "--n", "4", "--no-progress"])
    assert code == 2
    assert "none.safetensors" in capsys.readouterr().err


def test_labels_free_generates_from_the_redshift_alone_and_runs_no_label_checks(inputs, tmp_path, monkeypatch):
    """A morphology model judged as a redshift-only one: each further condition left free (its null embedding)."""
    from galaxy_explorer.diffusion.generator import Generator

    model = make_tiny_checkpoint(tmp_path / "morph.safetensors", seed=0, condition_dropout=0.1,
                                 condition_names=("redshift", "true_bulge_fraction"))
    asked = []
    population = Generator.population

    def spy(self, *args, **kwargs):
        asked.append(sorted(name for name in kwargs if name.startswith("true_")))
        return population(self, *args, **kwargs)

    monkeypatch.setattr(Generator, "population", spy)
    argv = ["evaluate", "--checkpoint", str(model), "--data", str(inputs["data"]), "--redshift-checkpoint",
            str(inputs["redshift_cnn"]), "--steps", "2", "--threads", "1", "--no-progress", "--n", "6",
            "--mode", "fast"]
    assert main([*argv, "--out", str(tmp_path / "given")]) == 0
    assert asked and all(names == ["true_bulge_fraction"] for names in asked)  # by default: the survey's labels
    asked.clear()
    assert main([*argv, "--out", str(tmp_path / "free"), "--labels-free"]) == 0
    assert asked and all(names == [] for names in asked)
    metrics = json.loads((tmp_path / "free" / "metrics.json").read_text())
    assert metrics["config"]["labels_free"] is True
    assert "label_checks" not in metrics


def test_labels_free_needs_a_model_trained_with_condition_dropout(inputs, tmp_path, capsys):
    model = make_tiny_checkpoint(tmp_path / "fixed.safetensors", seed=0,
                                 condition_names=("redshift", "true_bulge_fraction"))
    code = main(["evaluate", "--checkpoint", str(model), "--data", str(inputs["data"]), "--redshift-checkpoint",
                 str(inputs["redshift_cnn"]), "--out", str(tmp_path / "x"), "--steps", "2", "--n", "4",
                 "--no-progress", "--labels-free"])
    assert code == 2
    assert "cannot be left free" in capsys.readouterr().err


def test_guide_names_the_conditions_the_guidance_pushes_towards(inputs, tmp_path, monkeypatch, capsys):
    from galaxy_explorer.diffusion.generator import Generator

    model = make_tiny_checkpoint(tmp_path / "morph.safetensors", seed=0, condition_dropout=0.1,
                                 condition_names=("redshift", "true_bulge_fraction"))
    asked = []
    population = Generator.population

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("guided"))
        return population(self, *args, **kwargs)

    monkeypatch.setattr(Generator, "population", spy)
    argv = ["evaluate", "--checkpoint", str(model), "--data", str(inputs["data"]), "--redshift-checkpoint",
            str(inputs["redshift_cnn"]), "--steps", "2", "--threads", "1", "--no-progress", "--n", "6",
            "--mode", "fast", "--guidance", "2"]
    assert main([*argv, "--out", str(tmp_path / "labels"), "--guide", "true_bulge_fraction",
                 "--write-guidance"]) == 0
    assert asked == [("true_bulge_fraction",)] * 2  # the N galaxies, then those of the range's ends
    metrics = json.loads((tmp_path / "labels" / "metrics.json").read_text())
    assert metrics["guidance"]["guided_conditions"] == ["true_bulge_fraction"]
    recorded = Generator.load(model)  # the choice travels with the checkpoint, for the app and the CLI
    assert recorded.default_guidance == 2.0 and recorded.default_guided == ("true_bulge_fraction",)

    assert main([*argv, "--out", str(tmp_path / "bad"), "--guide", "true_axis_ratio"]) == 2
    error = capsys.readouterr().err
    assert "true_axis_ratio" in error and "redshift" in error
    assert not (tmp_path / "bad" / "metrics.json").exists()


def test_the_report_compares_the_built_in_survey_with_real_galaxies(full_run):
    """On the built-in (synthetic) survey the report carries the shipped real-galaxy comparison, said to be one of
    the survey and not of the model."""
    metrics = json.loads((full_run / "metrics.json").read_text())
    real = metrics["real_galaxies"]
    assert real["source"].startswith("stored")
    assert real["comparisons"]["matched"]["n_real"] > 0
    page = (full_run / "report.html").read_text()
    assert "<h2>Synthetic survey against real galaxies</h2>" in page
    assert "not of the model evaluated above" in page


def test_real_galaxies_off_leaves_the_section_out(inputs, tmp_path):
    out = tmp_path / "report"
    assert evaluate(inputs, out, "--n", "4", "--mode", "fast", "--real-galaxies", "off") == 0
    assert "real_galaxies" not in json.loads((out / "metrics.json").read_text())
    assert "Synthetic survey against real galaxies" not in (out / "report.html").read_text()


def test_the_ends_of_the_range_take_every_survey_galaxy_there_and_two_generated_at_each(inputs, tmp_path,
                                                                                       monkeypatch):
    from galaxy_explorer.diffusion.generator import Generator
    from galaxy_explorer.evaluation import range_ends

    monkeypatch.setattr(range_ends, "MIN_PER_SIDE", 1)  # the small mock has 2 end galaxies, both at z > 2.5
    seeds = []
    population = Generator.population

    def spy(self, asked_seeds, *args, **kwargs):
        seeds.append(list(asked_seeds))
        return population(self, asked_seeds, *args, **kwargs)

    monkeypatch.setattr(Generator, "population", spy)
    assert evaluate(inputs, tmp_path / "ends", "--n", "6", "--mode", "fast", "--seed", "3") == 0
    metrics = json.loads((tmp_path / "ends" / "metrics.json").read_text())
    with Survey(inputs["data"]) as survey:
        expected = range_ends.end_rows(survey.redshift).tolist()
    assert metrics["config"]["range_end_rows"] == expected and len(expected) == 2
    ends = metrics["quality_checks"]["checks"]["range_ends"]
    assert [(row["n_survey"], row["n_generated"]) for row in ends["bins"]] == [(0, 0), (2, 4)]
    assert {"value_generated", "value_real_vs_real", "real_vs_real_pass_rate", "passes", "power"} <= set(ends)
    assert seeds == [[3 + i for i in range(6)], [3 + range_ends.SEED_OFFSET + j for j in range(4)]]
    assert "Ends of the redshift range" in (tmp_path / "ends" / "report.html").read_text()


def test_a_final_denoising_step_and_leaving_out_the_range_ends_are_options_of_the_evaluation(inputs, tmp_path, monkeypatch):
    from galaxy_explorer.diffusion.generator import Generator
    from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP

    asked = []
    population = Generator.population

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("denoise_step"))
        return population(self, *args, **kwargs)

    monkeypatch.setattr(Generator, "population", spy)
    assert evaluate(inputs, tmp_path / "default", "--n", "4", "--mode", "fast") == 0
    assert evaluate(inputs, tmp_path / "plain", "--n", "4", "--mode", "fast", "--denoise-step", "none",
                    "--no-range-ends") == 0
    assert evaluate(inputs, tmp_path / "denoised", "--n", "4", "--mode", "fast", "--denoise-step", "5",
                    "--no-range-ends") == 0
    # the N galaxies and those of the range's ends at the generator's default, then the N galaxies alone
    assert asked == [DEFAULT_DENOISE_STEP, DEFAULT_DENOISE_STEP, None, 5]
    assert json.loads((tmp_path / "plain" / "metrics.json").read_text())["config"]["denoise_step"] is None
    metrics = json.loads((tmp_path / "denoised" / "metrics.json").read_text())
    assert metrics["config"]["denoise_step"] == 5 and metrics["config"]["range_end_rows"] == []
    assert metrics["quality_checks"]["skipped"] == {"range_ends": "left out (--no-range-ends)"}
