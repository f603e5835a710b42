"""Training the diffusion model: the loss falls, runs are resumable exactly, data come from the synthetic survey
or a GalaxiesML file, and torchrun's several processes train one model."""

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from galaxy_explorer.cli import main as cli_main
from galaxy_explorer.diffusion import Generator
from galaxy_explorer.diffusion.schedule import make_schedule
from galaxy_explorer.diffusion.testing import toy_stamps
from galaxy_explorer.diffusion.unet import ConditionalUNet, preset_config
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.data.normalization import Normalization
from tests.support.survey_files import write_galaxiesml_file
from galaxy_explorer.training.diffusion import (
    TrainConfig, TrainingError, diffusion_loss, ema_decay_at, learning_rate, train)

REPO = Path(__file__).resolve().parents[1]


def quick_config(out_dir, **overrides):
    settings = dict(out_dir=out_dir, preset="tiny", steps=4, batch_size=2, checkpoint_every=2, sample_every=0,
                    log_every=2, normalization_sample=16, progress_bar=False)
    settings.update(overrides)
    return TrainConfig(**settings)


def test_a_few_steps_on_a_small_batch_lower_the_loss():
    images = toy_stamps(8, seed=1)
    normalization = Normalization.fit(images)
    clean = torch.from_numpy(normalization.to_model(images))
    conditions = torch.linspace(0.2, 3.0, 8)[:, None]
    torch.manual_seed(0)
    model = ConditionalUNet(preset_config("tiny"))
    schedule = make_schedule()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def held_out_loss():  # the same timesteps and noise every time
        with torch.no_grad():
            return float(diffusion_loss(model, schedule, "v", clean, conditions, torch.Generator().manual_seed(123),
                                        redshift_noise=0.0, condition_dropout=0.0, huber_delta=1.0))

    before = held_out_loss()
    for step in range(20):
        loss = diffusion_loss(model, schedule, "v", clean, conditions, torch.Generator().manual_seed(step),
                              redshift_noise=0.01, condition_dropout=0.0, huber_delta=1.0)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    assert held_out_loss() < 0.85 * before


def test_learning_rate_warms_up_and_ema_starts_fast():
    assert learning_rate(0, 1e-3, 100) == pytest.approx(1e-5)
    assert learning_rate(99, 1e-3, 100) == learning_rate(5000, 1e-3, 100) == 1e-3
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(10**6, 0.999) == 0.999


def test_training_on_the_synthetic_survey_writes_a_usable_checkpoint(tmp_path):
    result = train(quick_config(tmp_path / "run", sample_every=4))
    assert result.step == 4 and result.images_seen == 8
    run = tmp_path / "run"
    for name in ("model.safetensors", "model.json", "training_state.safetensors", "training_state.json",
                 "samples/step_0000004.png", "train_log.jsonl"):
        assert (run / name).exists(), name
    description = json.loads((run / "model.json").read_text())
    assert description["training"]["step"] == 4 and description["training"]["images_seen"] == 8
    assert description["data"]["source"] == "synthetic" and "SYNTHETIC" in description["data"]["description"]
    assert description["conditions"]["training_ranges"]["redshift"] == [0.02, 4.0]
    assert description["weights"] == "ema"
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log if "loss" in entry] == [2, 4]
    assert all(entry["images_per_second"] > 0 for entry in log if "loss" in entry)
    frames = Generator.load(result.checkpoint).frames(0, [0.5, 2.0], steps=3)
    assert frames.shape == (2, 5, 64, 64) and np.isfinite(frames).all()


def test_an_interrupted_run_resumes_to_exactly_the_same_state(tmp_path):
    train(quick_config(tmp_path / "straight", steps=6, checkpoint_every=3))
    train(quick_config(tmp_path / "interrupted", steps=3, checkpoint_every=3))
    resumed = train(quick_config(tmp_path / "interrupted", steps=6, checkpoint_every=3, resume=True))
    assert resumed.step == 6 and resumed.images_seen == 12
    straight = load_file(tmp_path / "straight" / "training_state.safetensors")
    again = load_file(tmp_path / "interrupted" / "training_state.safetensors")
    assert straight.keys() == again.keys()
    assert any(name.startswith("optimizer.") for name in straight)
    for name in straight:  # raw weights, EMA weights and optimizer moments, bit for bit
        assert torch.equal(straight[name], again[name]), name
    assert (tmp_path / "straight" / "model.safetensors").read_bytes() == \
        (tmp_path / "interrupted" / "model.safetensors").read_bytes()


def test_a_run_directory_is_never_overwritten_by_accident(tmp_path):
    train(quick_config(tmp_path / "run", steps=2))
    with pytest.raises(TrainingError, match="--resume"):
        train(quick_config(tmp_path / "run", steps=4))
    with pytest.raises(TrainingError, match="preset"):
        train(quick_config(tmp_path / "run", steps=4, preset="small", resume=True))
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(quick_config(tmp_path / "empty", resume=True))


def test_init_from_a_checkpoint_continues_its_weights_normalization_and_step_count(tmp_path):
    first = train(quick_config(tmp_path / "first", steps=4))
    before = json.loads((tmp_path / "first" / "model.json").read_text())
    # lr so small that two steps leave the weights where they were: what the run starts from is visible.
    more = train(quick_config(tmp_path / "more", steps=6, lr=1e-12, log_every=1, init_from=str(first.checkpoint)))
    assert more.step == 6 and more.images_seen == 12
    after = json.loads((tmp_path / "more" / "model.json").read_text())
    assert after["normalization"] == before["normalization"]
    assert after["conditions"]["training_ranges"] == before["conditions"]["training_ranges"]
    start, end = load_file(first.checkpoint), load_file(more.checkpoint)
    for name in start:
        torch.testing.assert_close(end[name], start[name], rtol=0, atol=1e-6)
    log = [json.loads(line) for line in (tmp_path / "more" / "train_log.jsonl").read_text().splitlines()]
    first_logged = next(entry for entry in log if "loss" in entry)
    assert first_logged["step"] == 5  # the step count goes on from the checkpoint's 4
    assert first_logged["lr"] == pytest.approx(learning_rate(0, 1e-12, 200))  # a fresh optimizer warms up again


def test_init_from_refuses_another_network_a_finished_count_and_resume(tmp_path):
    first = train(quick_config(tmp_path / "first", steps=4))
    with pytest.raises(TrainingError, match="model.json.*same network"):
        train(quick_config(tmp_path / "bigger", preset="small", steps=8, init_from=str(first.checkpoint)))
    with pytest.raises(TrainingError, match="already at step 4"):
        train(quick_config(tmp_path / "fewer", steps=4, init_from=str(first.checkpoint)))
    with pytest.raises(TrainingError, match="--init-from"):
        quick_config(tmp_path / "first", steps=8, resume=True, init_from=str(first.checkpoint))


def test_training_from_a_galaxiesml_file_with_a_further_condition(tmp_path):
    survey_file = write_galaxiesml_file(tmp_path / "survey.hdf5", n=24, seed=2,
                                        extra_columns={"mass": np.linspace(9.0, 11.5, 24)})
    result = train(quick_config(tmp_path / "run", data=str(survey_file), conditions=("redshift", "mass"),
                                condition_dropout=0.2, batch_size=4, steps=7))  # 6 batches an epoch: wraps round
    description = json.loads((tmp_path / "run" / "model.json").read_text())
    assert description["data"]["source"] == "file" and description["data"]["rows"] == 24
    assert description["conditions"]["names"] == ["redshift", "mass"]
    assert description["conditions"]["training_ranges"]["mass"] == [9.0, 11.5]
    generator = Generator.load(result.checkpoint)
    assert generator.frames(0, [1.0], steps=2, mass=10.0).shape == (1, 5, 64, 64)


def test_a_condition_the_data_lack_is_named(tmp_path):
    survey_file = write_galaxiesml_file(tmp_path / "survey.hdf5", n=8)
    with pytest.raises(GalaxyExplorerError, match="condition column 'metallicity' not found"):
        train(quick_config(tmp_path / "run", data=str(survey_file), conditions=("redshift", "metallicity")))


@pytest.mark.parametrize("overrides, message", [
    (dict(preset="huge"), "preset"), (dict(steps=0), "steps"), (dict(lr=-1.0), "learning rate"),
    (dict(conditions=("mass",)), "redshift"), (dict(condition_dropout=1.0), "dropout"),
])
def test_impossible_settings_are_refused(tmp_path, overrides, message):
    with pytest.raises(TrainingError, match=message):
        quick_config(tmp_path, **overrides)


def test_the_command_line_trains_through_the_same_function(tmp_path, capsys):
    status = cli_main(["train", "--preset", "tiny", "--steps", "2", "--batch-size", "2", "--out", str(tmp_path / "run"),
                       "--sample-every", "0", "--log-every", "1", "--normalization-sample", "16", "--threads", "1"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "step 2/2" in printed and "images/s" in printed and "loss" in printed
    assert cli_main(["train", "--preset", "tiny", "--steps", "2", "--out", str(tmp_path / "run")]) == 2


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_torchrun_with_two_cpu_processes_trains_one_model(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = ["torchrun", "--standalone", "--nproc_per_node", "2", str(REPO / "train" / "train_diffusion.py"),
               "--preset", "tiny", "--steps", "2", "--batch-size", "2", "--device", "cpu",
               "--out", str(tmp_path / "run"), "--sample-every", "0", "--normalization-sample", "16"]
    # Own process group, so a hang cannot leave worker processes behind.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=170)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert completed.returncode == 0, completed.stderr[-3000:]
    description = json.loads((tmp_path / "run" / "model.json").read_text())
    assert description["training"]["world_size"] == 2
    assert description["training"]["images_seen"] == 2 * 2 * 2  # steps x per-process batch x processes


def test_a_plain_cuda_request_trains_on_an_indexed_device(monkeypatch):
    # torch 2.11 refuses torch.cuda.set_device(torch.device("cuda")); the first GPU run stopped there.
    from galaxy_explorer.training import diffusion

    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: chosen.append(device))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    _, device = diffusion._distributed_setup("cuda")
    assert device == torch.device("cuda", 0) and chosen == [torch.device("cuda", 0)]
    _, device = diffusion._distributed_setup("cuda:1")
    assert device == torch.device("cuda", 1)
