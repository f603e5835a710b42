"""One source for options: the flags of ``galaxy-explorer train`` and ``train/gpu_run.py`` come from ``TrainConfig``,
those of ``galaxy-explorer evaluate`` and gpu_run's evaluation from ``EvaluationConfig``; a new option is one field."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from galaxy_explorer.cli import build_parser, main
from galaxy_explorer.commands import evaluate as evaluate_command
from galaxy_explorer.commands import train as train_command
from galaxy_explorer.commands.config_arguments import ConfigArguments
from galaxy_explorer.diffusion.prediction import PREDICTIONS
from galaxy_explorer.diffusion.samplers import SAMPLERS
from galaxy_explorer.diffusion.schedule import SCHEDULE_KINDS
from galaxy_explorer.diffusion.unet import PRESETS
from galaxy_explorer.evaluation.config import EvaluationConfig
from galaxy_explorer.instrument import BANDS
from galaxy_explorer.measure.morphology import MODES
from galaxy_explorer.options import option, options_of
from galaxy_explorer.training.config import LOSS_WEIGHTINGS, TrainConfig
from tests.support.scripts import load_script

REPO = Path(__file__).resolve().parents[1]
CHOICES = {"preset": tuple(PRESETS), "prediction": PREDICTIONS, "schedule": SCHEDULE_KINDS,
           "loss_weighting": LOSS_WEIGHTINGS}
EVALUATION_CHOICES = {"sampler": SAMPLERS, "mode": MODES, "detection_band": BANDS}


@pytest.fixture(scope="module")
def gpu_run():
    return load_script("train/gpu_run.py", "gpu_run_options")


def command_parser(name: str) -> argparse.ArgumentParser:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[name]


def flag_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def field_flag(config_class, name: str) -> str:
    return options_of(config_class)[name].flag or "--" + name.replace("_", "-")


# ---------------------------------------------------------------------------------------------- every field a flag
def test_every_training_option_is_a_flag_of_train_and_of_gpu_run_with_the_constants_as_choices(gpu_run):
    declared = options_of(TrainConfig)
    assert {"preset", "labels_free_dropout", "conditions", "bf16"} <= set(declared)
    train_flags, gpu_flags = flag_actions(command_parser("train")), flag_actions(gpu_run.build_parser())
    for name in declared:
        flag = field_flag(TrainConfig, name)
        assert flag in train_flags, flag
        # gpu_run takes every one except those it decides itself, each with its reason.
        assert (flag in gpu_flags) != (name in gpu_run.DECIDED_TRAINING) or name == "out_dir", flag
        for actions in (train_flags, gpu_flags):
            if flag in actions and name in CHOICES:
                assert tuple(actions[flag].choices) == tuple(CHOICES[name]), flag
    assert set(gpu_run.DECIDED_TRAINING) <= set(declared)
    assert all(reason for reason in gpu_run.DECIDED_TRAINING.values())
    # --out is gpu_run's output folder, not the run directory TrainConfig's --out names (decided: a scratch one).
    assert "out_dir" in gpu_run.DECIDED_TRAINING


def test_every_evaluation_option_is_a_flag_of_evaluate_and_of_gpu_run(gpu_run):
    declared = options_of(EvaluationConfig)
    evaluate_flags, gpu_flags = flag_actions(command_parser("evaluate")), flag_actions(gpu_run.build_parser())
    gpu_names = gpu_run.evaluation_arguments()
    for name in declared:
        assert field_flag(EvaluationConfig, name) in evaluate_flags, name
        if name not in gpu_run.DECIDED_EVALUATION:
            assert gpu_names.flag(name) in gpu_flags, name
        if name in EVALUATION_CHOICES:
            assert tuple(evaluate_flags[field_flag(EvaluationConfig, name)].choices) == tuple(EVALUATION_CHOICES[name])
    assert set(gpu_run.DECIDED_EVALUATION) <= set(declared)
    # The same settings under the names gpu_run has always given them.
    assert {gpu_names.flag(name) for name in ("data", "steps", "batch_size", "guidance_scales")} == \
        {"--eval-data", "--eval-steps", "--eval-batch-size", "--guidance"}


# ---------------------------------------------------------------------------------------------- a new option is one field
@dataclasses.dataclass
class ExtendedTrainConfig(TrainConfig):
    warmup_shape: str = option("linear", choices=("linear", "cosine"), help="shape of the warm-up (default: "
                                                                            "%(default)s)")


@dataclasses.dataclass
class ExtendedEvaluationConfig(EvaluationConfig):
    grain_check: bool = option(False, help="also judge the grain")


def test_a_new_training_field_is_a_flag_of_both_command_lines_and_reaches_the_config(gpu_run, monkeypatch,
                                                                                      tmp_path):
    import galaxy_explorer.training.config as config_module
    import torch

    monkeypatch.setattr(config_module, "TrainConfig", ExtendedTrainConfig)
    args = command_parser("train").parse_args(["--out", str(tmp_path / "run"), "--warmup-shape", "cosine"])
    config = train_command.config_from_args(args)
    assert isinstance(config, ExtendedTrainConfig) and config.warmup_shape == "cosine"
    assert train_command.config_from_args(command_parser("train").parse_args(
        ["--out", str(tmp_path / "run")])).warmup_shape == "linear"

    args = gpu_run.parse_arguments(["--out", str(tmp_path / "out"), "--device", "cpu", "--warmup-shape", "cosine"])
    config = gpu_run.train_config(args, "tiny", 8, 60.0, tmp_path / "scratch", torch.device("cpu"))
    assert config.warmup_shape == "cosine"
    unset = gpu_run.parse_arguments(["--out", str(tmp_path / "out"), "--device", "cpu"])
    assert unset.warmup_shape is None  # unset: the config's own default
    assert gpu_run.train_config(unset, "tiny", 8, 60.0, tmp_path / "s", torch.device("cpu")).warmup_shape == "linear"
    with pytest.raises(SystemExit):
        gpu_run.parse_arguments(["--out", str(tmp_path / "out"), "--warmup-shape", "square"])


def test_a_new_evaluation_field_is_a_flag_of_both_command_lines_and_reaches_the_config(gpu_run, monkeypatch,
                                                                                        tmp_path):
    import galaxy_explorer.evaluation as evaluation
    import galaxy_explorer.evaluation.config as config_module

    monkeypatch.setattr(config_module, "EvaluationConfig", ExtendedEvaluationConfig)
    monkeypatch.setattr(evaluation, "EvaluationConfig", ExtendedEvaluationConfig)
    args = command_parser("evaluate").parse_args(["--out", str(tmp_path), "--grain-check"])
    assert evaluate_command.config_from_args(args).grain_check is True

    seen = []
    monkeypatch.setattr(evaluation, "run_evaluation", lambda config: seen.append(config) or fake_metrics())
    gpu_run.run_evaluation_phase(gpu_run.parse_arguments(["--out", str(tmp_path), "--grain-check"]), tmp_path, 4,
                                 [1.0], "cpu")
    assert isinstance(seen[0], ExtendedEvaluationConfig) and seen[0].grain_check is True


def fake_metrics() -> dict:
    return {"guidance": {"sweep": [{"guidance_scale": 1.0, "seconds": 2.0}], "chosen_scale": 1.0},
            "timings": {"measure_real_s": 1.0}, "quality_checks": {"checks": {"sizes": {"passes": True}}}}


# ---------------------------------------------------------------------------------------------- the flags users type
TRAIN_COMMAND_LINES = [
    ([], {}),
    (["--preset", "tiny", "--steps", "5", "--batch-size", "4", "--lr", "3e-4", "--warmup-steps", "10",
      "--weight-decay", "0", "--ema-decay", "0.99", "--prediction", "eps", "--schedule", "cosine",
      "--redshift-noise", "0.02", "--condition-dropout", "0.15", "--labels-free-dropout", "0.3",
      "--loss-weighting", "min-snr", "--min-snr-gamma", "20", "--flat-redshift-fraction", "0.5",
      "--max-minutes", "3", "--condition", "true_bulge_fraction", "--condition", "true_has_arms",
      "--data", "synthetic", "--seed", "7", "--device", "cpu", "--threads", "2", "--checkpoint-every", "100",
      "--sample-every", "0", "--log-every", "5", "--normalization-sample", "64", "--no-bf16", "--overwrite"],
     dict(preset="tiny", steps=5, batch_size=4, lr=3e-4, warmup_steps=10, weight_decay=0.0, ema_decay=0.99,
          prediction="eps", schedule="cosine", redshift_noise=0.02, condition_dropout=0.15, labels_free_dropout=0.3,
          loss_weighting="min-snr", min_snr_gamma=20.0, flat_redshift_fraction=0.5, max_minutes=3.0,
          conditions=("redshift", "true_bulge_fraction", "true_has_arms"), data="synthetic", seed=7, device="cpu",
          threads=2, checkpoint_every=100, sample_every=0, log_every=5, normalization_sample=64, bf16=False,
          overwrite=True)),
    (["--resume"], dict(resume=True)),
    (["--init-from", "start.safetensors", "--condition", "true_axis_ratio"],
     dict(init_from="start.safetensors", conditions=("redshift", "true_axis_ratio"))),
]


@pytest.mark.parametrize("flags, expected", TRAIN_COMMAND_LINES, ids=["defaults", "every-flag", "resume", "init-from"])
def test_train_flags_parse_to_the_same_config_as_before(flags, expected, tmp_path):
    args = command_parser("train").parse_args(["--out", str(tmp_path / "run"), *flags])
    config = train_command.config_from_args(args)
    assert config.to_dict() == TrainConfig(out_dir=tmp_path / "run", **expected).to_dict()


EVALUATE_COMMAND_LINES = [
    ([], {}),
    (["--checkpoint", "m.safetensors", "--data", "t.hdf5", "--n", "40", "--seed", "3", "--sampler", "ddim",
      "--steps", "4", "--redshift-checkpoint", "rz.safetensors", "--mode", "fast", "--workers", "2",
      "--detection-band", "r", "--device", "cuda", "--threads", "1", "--batch-size", "16", "--guidance", "1", "2",
      "--write-guidance", "--labels-free", "--guide", "redshift", "--guide", "true_has_arms", "--no-progress"],
     dict(checkpoint="m.safetensors", data="t.hdf5", n=40, seed=3, sampler="ddim", steps=4,
          redshift_checkpoint="rz.safetensors", mode="fast", workers=2, detection_band="r", device="cuda", threads=1,
          batch_size=16, guidance_scales=(1.0, 2.0), write_guidance=True, labels_free=True,
          guided=("redshift", "true_has_arms"), progress=False)),
]


@pytest.mark.parametrize("flags, expected", EVALUATE_COMMAND_LINES, ids=["defaults", "every-flag"])
def test_evaluate_flags_parse_to_the_same_config_as_before(flags, expected):
    args = command_parser("evaluate").parse_args(["--out", "report", *flags])
    assert evaluate_command.config_from_args(args) == EvaluationConfig(out="report", **expected)


GPU_RUN_COMMAND_LINES = [
    ([], {}, dict(workers=4, mode="full", sampler="dpmpp2m", steps=20, data=None, batch_size=None,
                  labels_free=False)),
    (["--lr", "3e-4", "--ema-decay", "0.998", "--condition-dropout", "0.15", "--labels-free-dropout", "0.3",
      "--loss-weighting", "min-snr", "--min-snr-gamma", "20", "--flat-redshift-fraction", "0.5",
      "--condition", "true_bulge_fraction", "--condition", "true_has_arms", "--seed", "5", "--threads", "1",
      "--eval-data", "t.hdf5", "--n", "40", "--mode", "fast", "--sampler", "ddim", "--eval-steps", "4",
      "--eval-batch-size", "16", "--workers", "2", "--labels-free"],
     dict(lr=3e-4, ema_decay=0.998, condition_dropout=0.15, labels_free_dropout=0.3, loss_weighting="min-snr",
          min_snr_gamma=20.0, flat_redshift_fraction=0.5, seed=5, threads=1,
          conditions=("redshift", "true_bulge_fraction", "true_has_arms")),
     dict(data="t.hdf5", mode="fast", sampler="ddim", steps=4, batch_size=16, workers=2, labels_free=True, seed=5,
          threads=1)),
]


@pytest.mark.parametrize("flags, training, evaluation", GPU_RUN_COMMAND_LINES, ids=["defaults", "recipe"])
def test_gpu_run_flags_parse_to_the_same_configs_as_before(flags, training, evaluation, gpu_run, monkeypatch,
                                                           tmp_path):
    import galaxy_explorer.evaluation as evaluation_package
    import torch

    monkeypatch.setattr(gpu_run.os, "cpu_count", lambda: 4)
    args = gpu_run.parse_arguments(["--out", str(tmp_path), "--device", "cpu", *flags])
    config = gpu_run.train_config(args, "tiny", 8, 60.0, tmp_path / "run", torch.device("cpu"))
    decided = dict(out_dir=tmp_path / "run", preset="tiny", steps=10 ** 6, batch_size=8, max_minutes=1.0,
                   device="cpu", checkpoint_every=2000, sample_every=10 ** 9, log_every=10, progress_bar=False,
                   normalization_sample=256)
    assert config.to_dict() == TrainConfig(**decided, **training).to_dict()

    seen = []
    monkeypatch.setattr(evaluation_package, "run_evaluation", lambda config: seen.append(config) or fake_metrics())
    gpu_run.run_evaluation_phase(args, tmp_path, 12, [1.0], "cpu")
    expected = EvaluationConfig(out=str(tmp_path), checkpoint=str(tmp_path / "model.safetensors"), n=12,
                                progress=False, **{"seed": 0, "threads": None, **evaluation})
    assert seen[0] == expected


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("flags, message", [
    (["--labels-free-dropout", "0.3", "--condition-dropout", "0.1"],
     "labels-free dropout needs conditions beyond redshift (--condition COLUMN)"),
    (["--condition-dropout", "1.5"], "condition dropout must be in [0, 1), got 1.5"),
    (["--seed", "-1"], "argument --seed: expected an integer from 0 to 2**63-1, got -1"),
    (["--loss-weighting", "l2"], "argument --loss-weighting: invalid choice: 'l2'"),
])
def test_bad_training_values_are_one_line_errors_naming_the_setting_in_both_command_lines(flags, message, gpu_run,
                                                                                          tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "run"), *flags]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        gpu_run.parse_arguments(["--out", str(tmp_path / "out"), *flags])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()


def test_a_misspelt_field_name_is_refused_when_the_arguments_are_declared():
    with pytest.raises(ValueError, match="TrainConfig declares no option labels_free_dropuot"):
        ConfigArguments(TrainConfig, exclude=("labels_free_dropuot",))


AUGMENT_COMMAND_LINES = [
    ([], {}),
    (["--checkpoint", "m.safetensors", "--data", "s.hdf5", "--label", "true_bulge_fraction", "--class-min", "0.7",
      "--z-min", "0.5", "--z-max", "2", "--n-train", "24", "--n-test", "40", "--factors", "1", "3", "--seeds", "2",
      "--epochs", "1", "--seed", "9", "--sampler", "ddim", "--steps", "2", "--guidance", "1.5", "--device", "cuda",
      "--batch-size", "4", "--no-progress"],
     dict(checkpoint="m.safetensors", data="s.hdf5", label="true_bulge_fraction", class_min=0.7, z_min=0.5,
          z_max=2.0, n_train=24, n_test=40, factors=(1.0, 3.0), seeds=2, epochs=1, seed=9, sampler="ddim", steps=2,
          guidance=1.5, device="cuda", batch_size=4, progress=False)),
]


@pytest.mark.parametrize("flags, expected", AUGMENT_COMMAND_LINES, ids=["defaults", "every-flag"])
def test_augment_flags_parse_to_the_same_config_as_before(flags, expected):
    from galaxy_explorer.commands import augment as augment_command
    from galaxy_explorer.evaluation.augmentation import AugmentConfig

    args = command_parser("augment").parse_args(["--out", "report", *flags])
    assert augment_command.config_from_args(args) == AugmentConfig(out="report", **expected)
    # Before the options came from the config, the command's default factors were these floats.
    assert AugmentConfig(out="report").factors == (1.0, 2.0, 4.0)


@pytest.mark.parametrize("flags, expected", [
    ([], {}),
    (["--out", "rz.safetensors", "--data", "train.hdf5", "--validation-data", "val.hdf5", "--steps", "10",
      "--batch-size", "8", "--learning-rate", "1e-3", "--weight-decay", "0", "--width", "4", "--seed", "3",
      "--threads", "2", "--max-minutes", "1.5", "--validation-size", "32", "--validation-every", "5",
      "--normalization-sample", "16", "--fp32", "--no-progress"],
     dict(out="rz.safetensors", data="train.hdf5", validation_data="val.hdf5", steps=10, batch_size=8,
          learning_rate=1e-3, weight_decay=0.0, width=4, seed=3, threads=2, max_minutes=1.5, validation_size=32,
          validation_every=5, normalization_sample=16, half_precision=False, progress=False)),
], ids=["defaults", "every-flag"])
def test_redshift_cnn_flags_parse_to_the_same_config_as_before(flags, expected):
    from galaxy_explorer.training.redshift_cnn import RedshiftTrainingConfig

    script = load_script("train/train_redshift_cnn.py")
    config = script.config_from_args(script.build_parser().parse_args(flags))
    assert config == RedshiftTrainingConfig(**expected)
    assert isinstance(config.learning_rate, float) and isinstance(config.max_minutes, (float, type(None)))
