"""train/gpu_run.py: the one-call GPU run, proven on the CPU (tiny preset, tiny budget, tiny evaluation)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "train" / "gpu_run.py"
PHASES = ("batch timing", "training", "generation", "morphology", "evaluation")


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*arguments, env=None, timeout=170):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, arguments)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=timeout)


@pytest.mark.slow
def test_cpu_dry_run_trains_evaluates_and_writes_at_most_8_small_files(tmp_path):
    from galaxy_explorer.synthetic import write_mock_survey

    data = write_mock_survey(tmp_path / "mock_testing.hdf5", 40, seed=21)
    out = tmp_path / "out"
    env = {**os.environ, "GALAXY_EXPLORER_CACHE": str(tmp_path / "cache"), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    # No condition dropout, so no guidance sweep (the CPU dry run in docs/training.md sweeps two scales); two worker
    # processes, which start this script as their __main__ module. A step ceiling ends training early whatever the
    # machine's load, so the evaluation always has its share of the 2-minute budget (a loaded CI machine once left
    # it none with a 1.1-minute budget and no ceiling).
    # The GPU command's pool, symmetry turns and speed switches, at a dry run's scale: the switches are timed and
    # kept or not, compile and bf16 are left out on a CPU, and the run trains from a pool of rendered stamps.
    result = run_script("--out", out, "--preset", "tiny", "--device", "cpu", "--threads", "1", "--workers", "2",
                        "--total-minutes", "2", "--steps", "30", "--timing-seconds", "2", "--batch-sizes", "2", "4",
                        "--pool-size", "64", "--pool-reuse", "8", "--pool-background", "--augment", "rot90",
                        "--channels-last", "--fused-adamw", "--compile", "reduce-overhead",
                        "--eval-data", data, "--n", "8", "--mode", "fast", "--eval-steps", "4", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    files = {p.name: p.stat().st_size for p in out.iterdir()}
    grids = [name for name in files if name.startswith("samples_step_") and name.endswith(".png")]
    assert len(grids) == 1
    assert {"model.safetensors", "model.json", "train_log.jsonl", "metrics.json", "report.html", "summary.json",
            "gpu_run.log"} <= set(files)
    assert len(files) <= 8 and max(files.values()) <= 16 * 2 ** 20

    for phase in PHASES:  # one summary line per phase, each with its images/s
        assert re.search(rf"^{phase}\s*: [\d,]+\.\d images/s", result.stdout, re.MULTILINE), phase
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total_seconds"] <= summary["budget_seconds"]
    assert summary["batch_timing"]["chosen"]["batch_size"] in (2, 4)
    assert summary["training"]["steps"] >= 1 and summary["training"]["images_per_second"] > 0
    chosen = summary["batch_timing"]["chosen"]
    for part in ("render_images_per_second", "pool_images_per_second", "step_images_per_second"):
        assert chosen[part] > chosen["images_per_second"], part  # each part alone beats the whole step
    timed = {entry["switch"]: entry for entry in summary["batch_timing"]["switch_timing"]}
    assert {None, "bf16", "channels_last", "fused_adamw", "compile"} == set(timed)
    assert "CUDA only" in timed["compile"]["note"] and summary["training"]["switches"]["compile"] == "none"
    assert summary["training"]["pool"]["reuse"] == 8.0 and summary["training"]["augment"] == "rot90"
    start = json.loads((out / "train_log.jsonl").read_text().splitlines()[0])
    assert start["pool"]["size"] == 64 and start["pool"]["background"] is True
    assert re.search(r"^batch timing\s*: .*training step alone [\d,]+, pool draws alone [\d,]+, rendering alone",
                     result.stdout, re.MULTILINE)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == summary["evaluation"]["n"] >= 2
    assert [entry["guidance_scale"] for entry in metrics["guidance"]["sweep"]] == [1.0]
    assert json.loads((out / "model.json").read_text())["preset"] == "tiny"
    assert "== (e) evaluation" in (out / "gpu_run.log").read_text()


def test_refuses_an_output_folder_that_holds_files(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    result = run_script("--out", tmp_path, "--device", "cpu", timeout=60)
    assert result.returncode == 2 and "must be an empty folder" in result.stderr


def test_output_limits_are_checked(tmp_path):
    gpu_run = load_script()
    for k in range(8):
        (tmp_path / f"f{k}").write_bytes(b"x")
    assert len(gpu_run.check_out(tmp_path)) == 8
    (tmp_path / "big").write_bytes(b"\0" * (16 * 2 ** 20 + 1))
    with pytest.raises(gpu_run.RunError, match=r"9 files.*|big is 16\.0 MiB"):
        gpu_run.check_out(tmp_path)


def test_the_evaluation_shrinks_to_fit_the_budget_or_the_run_refuses():
    gpu_run = load_script()
    args = gpu_run.parse_arguments(["--out", "unused", "--n", "1000", "--total-minutes", "9"])
    probes = {"forward_images_per_second": 2000.0, "stamp_seconds": 0.03, "pool_start_seconds": 1.0,
              "cpu_slowness": 1.0}
    scales = (1.0, 1.5, 2.0, 3.0)
    assert gpu_run.evaluation_seconds(500, scales, probes, 20) < gpu_run.evaluation_seconds(1000, scales, probes, 20)
    assert gpu_run.fit_n(args, 10_000.0, scales, probes, 60.0) == 1000
    n = gpu_run.fit_n(args, 300.0, scales, probes, 120.0)
    assert 10 <= n < 1000 and gpu_run.evaluation_seconds(n, scales, probes, 20) <= 180.0
    with pytest.raises(gpu_run.RunError, match="cannot hold training and an evaluation"):
        gpu_run.fit_n(args, 30.0, scales, probes, 25.0)


def test_the_batch_size_is_the_fastest_per_image_preferring_smaller_ones_within_5_percent():
    gpu_run = load_script()
    results = [{"batch_size": 64, "images_per_second": 900.0}, {"batch_size": 128, "images_per_second": 1000.0},
               {"batch_size": 256, "images_per_second": 1030.0}, {"batch_size": 512, "images_per_second": 700.0}]
    assert gpu_run.choose_batch_size(results)["batch_size"] == 128


def test_init_from_sets_the_preset_the_timing_network_and_the_step_ceiling(tmp_path):
    import torch

    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    gpu_run = load_script()
    checkpoint = make_tiny_checkpoint(tmp_path / "tiny.safetensors", seed=0)
    args = gpu_run.parse_arguments(["--out", str(tmp_path / "out"), "--init-from", str(checkpoint), "--device", "cpu",
                                    "--condition-dropout", "0.1", "--loss-weighting", "min-snr", "--min-snr-gamma", "20",
                                    "--lr", "3e-4", "--condition", "true_bulge_fraction",
                                    "--labels-free-dropout", "0.25"])
    preset, start = gpu_run.preset_and_start(args)
    assert preset == "tiny"
    network, schedule, normalization, prediction = gpu_run.timing_model(args, preset, torch.device("cpu"))
    timing = gpu_run.time_batch_size(args, network, schedule, normalization, prediction, 2, 0.0, torch.device("cpu"))
    assert timing["batch_size"] == 2 and timing["images_per_second"] > 0
    assert timing["images_per_second"] < min(timing["step_images_per_second"], timing["render_images_per_second"])
    config = gpu_run.train_config(args, preset, 64, 120.0, tmp_path / "run", torch.device("cpu"))
    assert (config.preset, config.batch_size, config.max_minutes, config.lr) == ("tiny", 64, 2.0, 3e-4)
    assert config.steps > start and config.condition_dropout == 0.1 and config.loss_weighting == "min-snr"
    assert config.min_snr_gamma == 20.0 and config.labels_free_dropout == 0.25
    assert config.init_from == str(checkpoint.resolve())


def test_condition_adds_morphology_labels_after_redshift_to_the_training_run(tmp_path):
    import torch

    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    gpu_run = load_script()
    checkpoint = make_tiny_checkpoint(tmp_path / "tiny.safetensors", seed=0)
    args = gpu_run.parse_arguments(["--out", str(tmp_path / "out"), "--init-from", str(checkpoint), "--device", "cpu",
                                    "--condition", "true_bulge_fraction", "--condition", "true_axis_ratio",
                                    "--condition-dropout", "0.15"])
    preset, _ = gpu_run.preset_and_start(args)
    config = gpu_run.train_config(args, preset, 64, 120.0, tmp_path / "run", torch.device("cpu"))
    assert config.conditions == ("redshift", "true_bulge_fraction", "true_axis_ratio")
    # Without --condition the run stays redshift-only.
    plain = gpu_run.parse_arguments(["--out", str(tmp_path / "out2"), "--init-from", str(checkpoint), "--device", "cpu"])
    assert gpu_run.train_config(plain, preset, 64, 120.0, tmp_path / "run2", torch.device("cpu")).conditions == ("redshift",)


@pytest.mark.parametrize("start_conditions", [("redshift",), ("redshift", "true_bulge_fraction", "true_has_arms")],
                         ids=["from-a-redshift-checkpoint", "from-a-morphology-checkpoint"])
def test_the_batch_timing_trains_with_every_condition_of_the_run(tmp_path, start_conditions):
    # The first GPU call with --condition failed here: the timing steps fed redshift alone to a three-label network.
    import torch

    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    gpu_run = load_script()
    checkpoint = make_tiny_checkpoint(tmp_path / "tiny.safetensors", seed=0, condition_names=start_conditions,
                                      condition_dropout=0.15)
    args = gpu_run.parse_arguments(["--out", str(tmp_path / "out"), "--init-from", str(checkpoint), "--device", "cpu",
                                    "--condition", "true_bulge_fraction", "--condition", "true_has_arms",
                                    "--condition-dropout", "0.15"])
    network, schedule, normalization, prediction = gpu_run.timing_model(args, "tiny", torch.device("cpu"))
    assert network.config.condition_names == ("redshift", "true_bulge_fraction", "true_has_arms")
    timing = gpu_run.time_batch_size(args, network, schedule, normalization, prediction, 2, 0.0, torch.device("cpu"))
    assert timing["images_per_second"] > 0
    assert gpu_run.time_sampling_forward(network, torch.device("cpu"), 2, seconds=0.0) > 0


@pytest.mark.parametrize("flags, labels_free", [([], False), (["--labels-free"], True)])
def test_labels_free_judges_a_morphology_model_as_the_default_is_judged(tmp_path, monkeypatch, flags, labels_free):
    import galaxy_explorer.evaluation as evaluation

    gpu_run = load_script()
    seen = []

    def fake_evaluation(config):
        seen.append(config)
        return {"guidance": {"sweep": [{"guidance_scale": 1.0, "seconds": 2.0}], "chosen_scale": 1.0},
                "timings": {"measure_real_s": 1.0}, "quality_checks": {"checks": {"sizes": {"passes": True}}}}

    monkeypatch.setattr(evaluation, "run_evaluation", fake_evaluation)
    args = gpu_run.parse_arguments(["--out", str(tmp_path), "--device", "cpu", *flags])
    gpu_run.run_evaluation_phase(args, tmp_path, 4, [1.0], "cpu")
    assert seen[0].labels_free is labels_free


def test_a_preset_over_the_limit_as_float32_comes_back_as_float16_and_one_over_it_either_way_is_refused(tmp_path):
    from galaxy_explorer.diffusion.unet import ConditionalUNet, preset_config

    gpu_run = load_script()
    args = gpu_run.parse_arguments(["--out", str(tmp_path), "--device", "cpu"])
    assert gpu_run.weights_dtype_for(args, ConditionalUNet(preset_config("small"))) == "float32"
    assert gpu_run.weights_dtype_for(args, ConditionalUNet(preset_config("medium"))) == "float16"
    with pytest.raises(gpu_run.RunError, match="even as float16"):
        gpu_run.weights_dtype_for(args, ConditionalUNet(preset_config("base")))


def documented_gpu_command() -> list[str]:
    """The arguments of train/gpu_run.py in docs/training.md's one-line GPU command."""
    text = (REPO / "docs" / "training.md").read_text()
    line = next(line for line in text.splitlines() if line.startswith("python3 -m pip install"))
    return line.split("python3 train/gpu_run.py", 1)[1].split()


def test_the_documented_gpu_command_trains_from_a_pool_with_turns_and_every_speed_switch(tmp_path):
    gpu_run = load_script()
    arguments = [str(tmp_path / "out") if a == "$OUT" else a for a in documented_gpu_command()]
    args = gpu_run.parse_arguments(arguments)
    config = gpu_run.recipe(args, batch_size=args.batch_sizes[0])
    plan = config.pool_plan()
    assert plan is not None and plan.reuse <= 8 and config.pool_background
    assert plan.size * 5 * 64 * 64 * 2 < 8 * 2 ** 30  # fp16 stamps: a few GiB of the GPU's memory
    assert config.augment == "rot90"  # exact for the built-in survey; mirrors are not (its arms wind one way)
    assert (config.bf16, config.channels_last, config.fused_adamw, config.compile) == (True, True, True,
                                                                                      "reduce-overhead")
    # The CPU dry run is the same line with its scale appended (argparse keeps the last of a repeated flag).
    dry = gpu_run.parse_arguments(arguments + ["--preset", "tiny", "--device", "cpu", "--pool-size", "1024"])
    assert gpu_run.recipe(dry, batch_size=8).pool_plan().size <= 1024
