"""Bad input and faults, as a new user meets them, against every command.

Each case builds its bad file or value in a fresh folder and runs ``galaxy-explorer`` in-process. It must end with
the expected exit status and a one-line message naming the offending option, file, key or value, write nothing,
and leave every file that existed before the run byte for byte as it was. The kill -9 tests at the end run the
command in a subprocess: training resumes bit-identically, and no partial file or encoder process survives.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
from safetensors.torch import load_file

from galaxy_explorer.data.checkpoint import load_checkpoint, save_checkpoint
from galaxy_explorer.cli import main
from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
from tests.support.survey_files import write_galaxiesml_file

REPO = Path(__file__).resolve().parents[1]
CASE_TIME_LIMIT_S = 60  # a case that runs longer has hung (the issue found a training loop that never ended)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Inputs every case may read (and must not change): a tiny checkpoint, one whose output overflows."""
    folder = tmp_path_factory.mktemp("shared")
    tiny = make_tiny_checkpoint(folder / "tiny.safetensors", seed=1)
    overflowing = make_tiny_checkpoint(folder / "overflow.safetensors", seed=1)
    tensors, metadata = load_checkpoint(overflowing)
    tensors["output_conv.weight"] = tensors["output_conv.weight"] * 1e30  # finite weights, infinite output
    save_checkpoint(overflowing, tensors, metadata)
    return {"folder": folder, "tiny": tiny, "overflow": overflowing}


def survey(path: Path, n: int = 8, *, image_dtype=None, redshift=None, nan_pixels: bool = False) -> Path:
    """A small GalaxiesML-schema file, with its images or redshifts replaced when asked."""
    write_galaxiesml_file(path, n=n, seed=3)
    with h5py.File(path, "r+") as handle:
        if image_dtype is not None or nan_pixels:
            images = handle["image"][:]
            del handle["image"]
            images = np.full_like(images, np.nan) if nan_pixels else images.astype(image_dtype)
            handle.create_dataset("image", data=images)
        if redshift is not None:
            del handle["specz_redshift"]
            handle.create_dataset("specz_redshift", data=redshift)
    return path


def read_only_folder(tmp: Path) -> Path:
    """A folder nothing can be written in (root ignores permissions, so then a read-only file system)."""
    if os.geteuid() == 0:
        return Path("/proc")
    folder = tmp / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def file_hashes(*folders: Path) -> dict[Path, str]:
    return {path: hashlib.sha256(path.read_bytes()).hexdigest()
            for folder in folders for path in sorted(folder.rglob("*")) if path.is_file()}


def partial_files(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if ".partial" in p.name]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# ------------------------------------------------------------------------------------------------ the table
@dataclass
class Case:
    """``build(tmp, shared)`` makes the bad input and returns ``(argv, text the error must contain)``."""

    name: str
    build: Callable[[Path, dict], tuple[list[str], str]]
    status: int = 2


def tiny_train(out: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "tiny", "--steps", "2", "--batch-size", "2", "--normalization-sample", "16",
            "--sample-every", "0", "--threads", "1", "--out", str(out), *extra]


def sample_cmd(shared, out, *extra) -> list[str]:
    return ["sample", "--checkpoint", str(shared["tiny"]), "--seed", "3", "--z", "0.5", "--steps", "2",
            "--out", str(out), *extra]


def export_cmd(shared, out, *extra) -> list[str]:
    return ["export", "--checkpoint", str(shared["tiny"]), "--seed", "3", "--frames", "3", "--steps", "2",
            "--size", "64", "--out", str(out), *extra]


def evaluate_cmd(shared, tmp, out, *extra) -> list[str]:
    return ["evaluate", "--checkpoint", str(shared["tiny"]), "--data", str(survey(tmp / "test.hdf5")),
            "--n", "2", "--steps", "2", "--mode", "fast", "--no-progress", "--out", str(out), *extra]


def existing_survey(tmp: Path) -> Path:
    """A user's GalaxiesML survey (64 rows): what `--out` destroyed before."""
    return survey(tmp / "galaxiesml.h5", n=64)


def folder(path: Path) -> Path:
    path.mkdir()
    return path


def written(path: Path, text: str = "a user's file") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def file_as_parent(tmp: Path, name: str) -> Path:
    blocker = tmp / "not-a-folder"
    blocker.write_text("a file where a folder is expected")
    return blocker / name


def model_folder(tmp: Path, shared) -> Path:
    """A finished run: model.safetensors + model.json, no training state."""
    run = tmp / "run"
    make_tiny_checkpoint(run / "model.safetensors", seed=1)
    return run


def mismatched_pair(tmp: Path, shared) -> Path:
    """Step-60 weights beside a step-40 JSON copy, as a crash between the two renames left them."""
    checkpoint = make_tiny_checkpoint(tmp / "model.safetensors", seed=1)
    document = json.loads(checkpoint.with_suffix(".json").read_text())
    document["training"]["step"] = 40
    checkpoint.with_suffix(".json").write_text(json.dumps(document))
    return checkpoint


CASES = [
    # --- info
    Case("info: missing file", lambda t, s: (["info", str(t / "nothere.hdf5")], "nothere.hdf5: survey file not found")),
    Case("info: a folder", lambda t, s: (["info", str(t)], "is a directory")),
    Case("info: not HDF5", lambda t, s: (["info", str(write_galaxiesml_file(t / "a.hdf5", defect="not_hdf5"))],
                                         "a.hdf5: not a readable HDF5 file")),
    Case("info: truncated", lambda t, s: (["info", str(write_galaxiesml_file(t / "cut.hdf5", n=64, defect="truncated"))],
                                          "cut.hdf5")),
    Case("info: no image dataset", lambda t, s: (
        ["info", str(write_galaxiesml_file(t / "a.hdf5", defect="missing_image"))], "'image' is missing")),
    Case("info: uint8 images", lambda t, s: (["info", str(survey(t / "a.hdf5", image_dtype=np.uint8))],
                                             "'image' has dtype uint8; expected floating-point")),
    Case("info: int16 images", lambda t, s: (["info", str(survey(t / "a.hdf5", image_dtype=np.int16))],
                                             "'image' has dtype int16")),
    Case("info: redshifts stored as strings", lambda t, s: (
        ["info", str(survey(t / "a.hdf5", redshift=np.array([b"0.5"] * 8)))], "'specz_redshift' has dtype |S3")),
    Case("info: every redshift NaN", lambda t, s: (
        ["info", str(write_galaxiesml_file(t / "a.hdf5", defect="all_redshifts_invalid"))], "no usable rows")),
    Case("info: three bands", lambda t, s: (["info", str(write_galaxiesml_file(t / "a.hdf5", defect="band_count"))],
                                            "3 bands")),
    # --- mock
    Case("mock: negative seed", lambda t, s: (["mock", "--n", "2", "--seed", "-1", "--out", str(t / "m.h5")],
                                              "argument --seed: expected an integer from 0 to 2**63-1, got -1")),
    Case("mock: seed 2**70", lambda t, s: (["mock", "--n", "2", "--seed", str(2**70), "--out", str(t / "m.h5")],
                                           f"got {2**70}")),
    Case("mock: no galaxies", lambda t, s: (["mock", "--n", "0", "--seed", "1", "--out", str(t / "m.h5")],
                                            "--n must be at least 1, got 0")),
    Case("mock: --out is an existing survey", lambda t, s: (
        ["mock", "--n", "1", "--seed", "1", "--out", str(existing_survey(t))],
        "galaxiesml.h5: already exists; pass --overwrite")),
    Case("mock: --out is a folder", lambda t, s: (["mock", "--n", "1", "--seed", "1", "--out", str(folder(t / "m.h5"))],
                                                  "m.h5: is a folder")),
    Case("mock: parent of --out is a file", lambda t, s: (
        ["mock", "--n", "1", "--seed", "1", "--out", str(file_as_parent(t, "m.h5"))], "not-a-folder is a file")),
    Case("mock: --out not HDF5", lambda t, s: (["mock", "--n", "1", "--seed", "1", "--out", str(t / "m.fits")],
                                               "m.fits: expected a file name ending in .hdf5 or .h5")),
    Case("mock: --threads 0", lambda t, s: (
        ["mock", "--n", "1", "--seed", "1", "--threads", "0", "--out", str(t / "m.h5")], "--threads")),
    Case("mock: read-only folder", lambda t, s: (
        ["mock", "--n", "1", "--seed", "1", "--out", str(read_only_folder(t) / "m.h5")], "cannot write in")),
    # --- sample
    Case("sample: z = -1", lambda t, s: (sample_cmd(s, t / "s.fits", "--z", "-1"),
                                         "--z=-1 is outside the checkpoint's training redshift range [0, 4]")),
    Case("sample: z = 1e30", lambda t, s: (sample_cmd(s, t / "s.fits", "--z", "1e30"), "--z=1e+30 is outside")),
    Case("sample: z = nan", lambda t, s: (sample_cmd(s, t / "s.fits", "--z", "nan"),
                                          "argument --z: expected a finite number, got nan")),
    Case("sample: --out is an existing survey", lambda t, s: (
        sample_cmd(s, existing_survey(t)), "galaxiesml.h5: already exists; pass --overwrite")),
    Case("sample: --out is a folder", lambda t, s: (sample_cmd(s, folder(t / "dir.fits")), "dir.fits: is a folder")),
    Case("sample: parent of --out is a file", lambda t, s: (sample_cmd(s, file_as_parent(t, "s.fits")),
                                                            "not-a-folder is a file")),
    Case("sample: read-only folder", lambda t, s: (sample_cmd(s, read_only_folder(t) / "s.fits"), "cannot write in")),
    Case("sample: unknown format", lambda t, s: (sample_cmd(s, t / "s.avi"), "unknown output format '.avi'")),
    Case("sample: overflowing weights", lambda t, s: (
        ["sample", "--checkpoint", str(s["overflow"]), "--z", "0.5", "--steps", "1", "--out", str(t / "s.fits")],
        "overflow.safetensors: 1 of 1 generated images have NaN or infinite pixels at z = 0.5")),
    Case("sample: negative guidance", lambda t, s: (sample_cmd(s, t / "s.fits", "--guidance", "-1"),
                                                    "expected a finite number >= 0, got -1")),
    Case("sample: guidance without dropout", lambda t, s: (sample_cmd(s, t / "s.fits", "--guidance", "2"),
                                                           "condition dropout")),
    Case("sample: zero steps", lambda t, s: (sample_cmd(s, t / "s.fits", "--steps", "0"), "argument --steps")),
    Case("sample: negative seed", lambda t, s: (sample_cmd(s, t / "s.fits", "--seed", "-5"), "argument --seed")),
    Case("sample: zero batch size", lambda t, s: (sample_cmd(s, t / "s.fits", "--batch-size", "0"),
                                                  "argument --batch-size")),
    Case("sample: unknown condition", lambda t, s: (sample_cmd(s, t / "s.fits", "--condition", "mass=1"),
                                                    "--condition 'mass' is not a condition")),
    Case("sample: weights and JSON from different steps", lambda t, s: (
        ["sample", "--checkpoint", str(mismatched_pair(t, s)), "--z", "1", "--out", str(t / "s.fits")],
        "model.json: disagrees with the description inside model.safetensors (key 'training')")),
    Case("sample: missing checkpoint", lambda t, s: (
        ["sample", "--checkpoint", str(t / "gone.safetensors"), "--z", "1", "--out", str(t / "s.fits")],
        "gone.safetensors: checkpoint weights not found")),
    Case("sample: pickle checkpoint", lambda t, s: (
        ["sample", "--checkpoint", str(t / "model.pt"), "--z", "1", "--out", str(t / "s.fits")], "pickle")),
    # --- export
    Case("export: z-start = -1", lambda t, s: (export_cmd(s, t / "w.gif", "--z-start", "-1"),
                                               "--z-start=-1 is outside the checkpoint's training redshift range")),
    Case("export: z-stop = 1e30", lambda t, s: (export_cmd(s, t / "w.gif", "--z-stop", "1e30"), "--z-stop=1e+30")),
    Case("export: --out exists", lambda t, s: (export_cmd(s, written(t / "w.gif", "GIF89a a talk's animation")),
                                               "w.gif: already exists; pass --overwrite")),
    Case("export: --out is a folder", lambda t, s: (export_cmd(s, folder(t / "d.mp4")), "d.mp4: is a folder")),
    Case("export: parent of --out is a file", lambda t, s: (export_cmd(s, file_as_parent(t, "w.fits")),
                                                            "not-a-folder is a file")),
    Case("export: one frame", lambda t, s: (export_cmd(s, t / "w.gif", "--frames", "1"), "frames=1 is out of bounds")),
    Case("export: unknown format", lambda t, s: (export_cmd(s, t / "w.avi"), "must end in one of .gif, .mp4, .fits")),
    Case("export: infinite guidance", lambda t, s: (export_cmd(s, t / "w.gif", "--guidance", "inf"),
                                                    "argument --guidance")),
    Case("export: overflowing weights", lambda t, s: (
        ["export", "--checkpoint", str(s["overflow"]), "--frames", "2", "--steps", "1", "--out", str(t / "w.gif")],
        "overflow.safetensors: 2 of 2 generated images have NaN or infinite pixels")),
    # --- evaluate
    Case("evaluate: detection band q", lambda t, s: (evaluate_cmd(s, t, t / "r", "--detection-band", "q"),
                                                     "argument --detection-band: invalid choice: 'q'")),
    Case("evaluate: --out is a file", lambda t, s: (evaluate_cmd(s, t, written(t / "r.txt")), "r.txt: is a file")),
    Case("evaluate: --out holds a report", lambda t, s: (
        evaluate_cmd(s, t, written(t / "r" / "report.html").parent), "already holds report.html; pass --overwrite")),
    Case("evaluate: parent of --out is a file", lambda t, s: (evaluate_cmd(s, t, file_as_parent(t, "r")),
                                                              "not-a-folder is a file")),
    Case("evaluate: one galaxy", lambda t, s: (evaluate_cmd(s, t, t / "r", "--n", "1"), "n must be an integer >= 2")),
    Case("evaluate: missing data", lambda t, s: (
        ["evaluate", "--checkpoint", str(s["tiny"]), "--data", str(t / "none.hdf5"), "--n", "2", "--mode", "fast",
         "--out", str(t / "r")], "none.hdf5: survey file not found")),
    # --- train
    Case("train: --out holds a finished model", lambda t, s: (
        tiny_train(model_folder(t, s)), "already holds a trained model (model.safetensors); pass --resume")),
    Case("train: --out is a file", lambda t, s: (tiny_train(written(t / "run")), "run: is a file")),
    Case("train: every pixel NaN", lambda t, s: (
        tiny_train(t / "run", "--data", str(survey(t / "nan.hdf5", nan_pixels=True))),
        "nan.hdf5: no batch of 2 images with finite pixels")),
    Case("train: every pixel NaN, --init-from", lambda t, s: (
        tiny_train(t / "run", "--steps", "4", "--data", str(survey(t / "nan.hdf5", nan_pixels=True)),
                   "--init-from", str(s["tiny"])), "nan.hdf5: no batch of 2 images with finite pixels")),
    Case("train: redshifts stored as strings", lambda t, s: (
        tiny_train(t / "run", "--data", str(survey(t / "s.hdf5", redshift=np.array([b"1.5"] * 8)))),
        "s.hdf5: dataset 'specz_redshift' has dtype")),
    Case("train: negative seed", lambda t, s: (tiny_train(t / "run", "--seed", "-1"), "argument --seed")),
    Case("train: --resume with --overwrite", lambda t, s: (
        tiny_train(model_folder(t, s), "--resume", "--overwrite"), "pass only one of them")),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_by_name_and_changes_nothing(case, shared, tmp_path, capsys):
    argv, expected = case.build(tmp_path, shared)
    before = file_hashes(tmp_path, shared["folder"])
    signal.alarm(CASE_TIME_LIMIT_S)  # a hang fails the test instead of the suite
    try:
        status = main(argv)
    finally:
        signal.alarm(0)
    error = capsys.readouterr().err
    assert status == case.status, error
    lines = error.strip().splitlines()
    assert expected in lines[-1], error  # the last line says what went wrong, naming it
    assert all(line.startswith(("galaxy-explorer", "usage")) for line in lines), error  # no traceback, no noise
    assert file_hashes(tmp_path, shared["folder"]) == before  # nothing written, nothing changed, nothing removed
    assert partial_files(tmp_path, shared["folder"]) == []


def test_there_are_enough_cases_and_every_command_has_some():
    assert len(CASES) >= 40
    commands = {case.name.split(":")[0] for case in CASES}
    assert commands == {"info", "mock", "train", "sample", "export", "evaluate"}


# ------------------------------------------------------------------------------------------------ the right result
def test_overwrite_replaces_only_when_asked(shared, tmp_path, capsys):
    target = existing_survey(tmp_path)
    assert main(["mock", "--n", "1", "--seed", "1", "--out", str(target), "--overwrite"]) == 0
    with h5py.File(target, "r") as handle:
        assert handle["image"].shape[0] == 1
    out = tmp_path / "s.fits"
    assert main(sample_cmd(shared, out)) == 0
    first = out.read_bytes()
    assert main(sample_cmd(shared, out, "--seed", "4")) == 2 and out.read_bytes() == first
    assert main(sample_cmd(shared, out, "--seed", "4", "--overwrite")) == 0 and out.read_bytes() != first


def test_a_redshift_just_outside_the_range_is_moved_onto_it_with_one_note(shared, tmp_path, capsys):
    from astropy.io import fits

    assert main(sample_cmd(shared, tmp_path / "s.fits", "--z", "-0.03")) == 0
    error = capsys.readouterr().err
    assert error.count("note") == 1 and "--z=-0.03 is just outside" in error and "using 0" in error
    with fits.open(tmp_path / "s.fits") as hdus:
        assert hdus[1].header["REDSHIFT"] == 0.0


def test_a_survey_refuses_a_nan_query_and_fractional_rows(tmp_path):
    from galaxy_explorer.errors import SurveyError
    from galaxy_explorer.data.survey import Survey

    with Survey(survey(tmp_path / "a.hdf5")) as data:
        with pytest.raises(SurveyError, match="a.hdf5: nearest.. needs a finite redshift, got nan"):
            data.nearest(float("nan"), 3)
        with pytest.raises(SurveyError, match=r"row indices must be integers, got \[1.7\]"):
            data.images([1.7])
        assert data.images(np.array([1])).shape == (1, 5, 64, 64)


def test_info_shows_the_image_dtype(tmp_path, capsys):
    assert main(["info", str(survey(tmp_path / "a.hdf5"))]) == 0
    assert "dtype float32" in capsys.readouterr().out


def test_an_unexpected_failure_is_one_line_and_debug_shows_the_traceback(shared, tmp_path, capsys, monkeypatch):
    import galaxy_explorer.output.sample_files as writers

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(writers, "write_fits", broken)
    assert main(sample_cmd(shared, tmp_path / "s.fits")) == 1
    error = capsys.readouterr().err
    assert "internal error: RuntimeError: something nobody expected" in error and "--debug" in error
    with pytest.raises(RuntimeError):
        main(["--debug", *sample_cmd(shared, tmp_path / "s.fits")])


# ------------------------------------------------------------------------------------------------ kill -9
def run_cli(*argv: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "galaxy_explorer.cli", *argv], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def saved_step(state: Path) -> int:
    """The step in a training state's header (read while the run writes it: the file is replaced atomically)."""
    from safetensors import SafetensorError, safe_open

    for _ in range(100):
        if not state.exists():
            return -1
        try:
            with safe_open(str(state), framework="pt") as handle:
                return json.loads(handle.metadata()["galaxy_explorer"])["step"]
        except (SafetensorError, RuntimeError, OSError, FileNotFoundError):
            # Replaced between safe_open's reads of the path (it opens it more than once, so under load it can
            # see the header of one save and the size of the next): read again.
            time.sleep(0.01)
    raise AssertionError(f"{state} could not be read in 100 tries")


def children_named(pid: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "comm").read_text()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and name in command:
            found.append(int(entry.name))
    return found


def is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie has exited; only its parent's reaping is left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_during_training_resumes_bit_identically_and_leaves_no_partial_file(tmp_path):
    settings = ["--preset", "tiny", "--batch-size", "2", "--normalization-sample", "16", "--sample-every", "0",
                "--checkpoint-every", "1", "--threads", "1"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    process = run_cli("train", *settings, "--steps", "1000", "--out", str(killed))
    state = killed / "training_state.safetensors"
    wait_for(lambda: saved_step(state) >= 3, 120, "three saved steps")
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Whatever the kill interrupted, a partial file from a dead process is what a crash mid-write leaves.
    stale = killed / f".training_state.pid{dead_pid()}.k9test.partial.safetensors"
    stale.write_bytes(b"half a checkpoint")

    total = str(saved_step(state) + 3)  # a few steps past wherever the kill landed
    assert main(["train", *settings, "--steps", total, "--out", str(killed), "--resume"]) == 0
    assert partial_files(killed) == []
    assert main(["train", *settings, "--steps", total, "--out", str(straight)]) == 0
    for name in ("model.safetensors", "training_state.safetensors"):
        expected, resumed = load_file(straight / name), load_file(killed / name)
        assert expected.keys() == resumed.keys()
        assert all(np.array_equal(expected[k].numpy(), resumed[k].numpy()) for k in expected), name
    assert (straight / "model.safetensors").read_bytes() == (killed / "model.safetensors").read_bytes()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_during_mp4_encoding_leaves_no_encoder_and_the_next_run_cleans_up(shared, tmp_path):
    """The encoder reads its frames from a pipe: when the command dies, the pipe closes and ffmpeg ends."""
    out = tmp_path / "walk.mp4"
    process = run_cli("export", "--checkpoint", str(shared["tiny"]), "--steps", "1", "--frames", "120",
                      "--size", "256", "--out", str(out))
    encoders: list[int] = []

    def encoding() -> bool:
        encoders[:] = children_named(process.pid, "ffmpeg")
        return bool(encoders)

    wait_for(encoding, 120, "ffmpeg to start")
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = time.monotonic()
    wait_for(lambda: all(is_gone(pid) for pid in encoders), 5, "the orphaned ffmpeg to die")
    print(f"ffmpeg gone {time.monotonic() - killed_at:.3f} s after its parent was killed")
    assert not out.exists() and len(partial_files(tmp_path)) == 1

    assert main(["export", "--checkpoint", str(shared["tiny"]), "--steps", "1", "--frames", "4", "--size", "64",
                 "--out", str(out)]) == 0
    assert out.stat().st_size > 0 and partial_files(tmp_path) == []
