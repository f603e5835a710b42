"""The checkpoints shipped in assets/ are what the app and the CLI load by default, they travel inside the package,
the evaluation JSON beside them describes exactly that diffusion checkpoint, and their output is pinned.

The golden numbers below pin the shipped diffusion model's output (seed 7, z = 0.5 and 2, DPM-Solver++ 20 steps),
so that a numerical change anywhere on the path (network, schedule, sampler, normalization) cannot silently
invalidate metrics.json and the README. After shipping a retrained checkpoint, rewrite them with

    python tests/test_shipped_assets.py --update-golden
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from galaxy_explorer.diffusion import Generator
from galaxy_explorer.paths import (ASSETS_DIR, DEFAULT_DIFFUSION_CHECKPOINT, DEFAULT_REDSHIFT_CHECKPOINT,
                                   REDSHIFT_ONLY_DIFFUSION_CHECKPOINT)

REPO_DIR = Path(__file__).resolve().parents[1]
MAX_SHIPPED_BYTES = 16 * 2**20
EVALUATION_JSON = ASSETS_DIR / "evaluation" / "metrics.json"

GOLDEN_REDSHIFTS = (0.5, 2.0)
# (band, row, column): the stamp centre in every band, a pixel off centre, two in the sky.
GOLDEN_PIXELS = ((0, 32, 32), (1, 32, 32), (2, 32, 32), (3, 32, 32), (4, 32, 32), (2, 28, 36), (2, 2, 2), (4, 50, 12))
# Survey flux: threads and CPUs change these by ~1e-6; a change to the model or the sampler by far more.
GOLDEN_TOLERANCE = 1e-3
# --- golden: written by `python tests/test_shipped_assets.py --update-golden`; do not edit by hand ---
GOLDEN = {
    "checkpoint_sha256": "c84991facfc90e1f9d11b995eaebc94794ad878ff809db56a9dfec27b0283ce9",
    "pixels": [
        [0.214978, 0.49741, 1.114099, 1.107516, 1.719386, 0.079336, 0.02491, -0.510066],
        [0.242793, 0.270526, 0.437656, 0.403701, 0.841225, -0.019686, 0.024688, -0.504646],
    ],
    "i_band_centre_sum": [54.4652, 19.3367],
}
# --- end golden ---


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def golden_measurements() -> dict:
    """What GOLDEN records, measured now with the shipped checkpoint."""
    frames = Generator.load().frames(seed=7, redshifts=list(GOLDEN_REDSHIFTS), sampler="dpmpp2m", steps=20)
    return {
        "checkpoint_sha256": sha256(DEFAULT_DIFFUSION_CHECKPOINT),
        "pixels": [[round(float(frame[b, y, x]), 6) for b, y, x in GOLDEN_PIXELS] for frame in frames],
        "i_band_centre_sum": [round(float(frame[2, 24:40, 24:40].sum()), 4) for frame in frames],
    }


def test_the_shipped_model_draws_the_golden_pixels():
    measured = golden_measurements()
    if measured["checkpoint_sha256"] != GOLDEN["checkpoint_sha256"]:
        pytest.fail(f"{DEFAULT_DIFFUSION_CHECKPOINT.name} is not the checkpoint the golden numbers were made with: "
                    "if a retrained model was shipped on purpose, run "
                    "'python tests/test_shipped_assets.py --update-golden' (and re-run the evaluation)")
    for name in ("pixels", "i_band_centre_sum"):
        np.testing.assert_allclose(measured[name], GOLDEN[name], rtol=GOLDEN_TOLERANCE, atol=GOLDEN_TOLERANCE,
                                   err_msg=f"same checkpoint, different output ({name}): a numerical change "
                                           "invalidates assets/evaluation/metrics.json and the README's figures")


def test_generator_draws_x_t_through_initial_noise(monkeypatch, tmp_path):
    import galaxy_explorer.diffusion.generator as module

    calls = []
    original = module.initial_noise

    def recording(seed, shape, *args, **kwargs):
        calls.append((seed, tuple(shape)))
        return original(seed, shape, *args, **kwargs)

    monkeypatch.setattr(module, "initial_noise", recording)
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    generator = Generator.load(make_tiny_checkpoint(tmp_path / "tiny.safetensors"))
    generator.frames(seed=11, redshifts=[0.5, 1.0], steps=2, batch_size=1)
    assert calls == [(11, (1, 5, 64, 64))] * 2  # once per batch, the same x_T for every redshift


@pytest.mark.parametrize("path", [DEFAULT_DIFFUSION_CHECKPOINT, REDSHIFT_ONLY_DIFFUSION_CHECKPOINT,
                                  DEFAULT_REDSHIFT_CHECKPOINT])
def test_each_shipped_checkpoint_and_its_json_exist_and_fit_in_16_mib(path):
    for file in (path, path.with_suffix(".json")):
        assert file.is_file(), f"{file} is not shipped"
        assert file.stat().st_size <= MAX_SHIPPED_BYTES


def test_shipped_assets_are_package_data_found_through_importlib_resources():
    root = resources.files("galaxy_explorer.assets")
    for name in ("diffusion-small-morph.safetensors", "diffusion-small.safetensors", "redshift-cnn.safetensors",
                 "sed_colours.csv"):
        assert (root / name).is_file(), name
    assert Path(str(root)) == ASSETS_DIR
    assert DEFAULT_DIFFUSION_CHECKPOINT == ASSETS_DIR / "diffusion-small-morph.safetensors"


def test_the_wheel_lists_every_package_and_every_asset():
    """pyproject.toml lists the packages by hand (a mapped folder defeats packages.find): a new subpackage or a new
    kind of asset must be added there, or the wheel silently lacks it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(init.parent.relative_to(REPO_DIR).parts)
             for init in (REPO_DIR / "galaxy_explorer").rglob("__init__.py")}
    assert found | {"galaxy_explorer.assets"} == set(setuptools["packages"])
    assert setuptools["package-dir"] == {"galaxy_explorer.assets": "assets"}
    patterns = setuptools["package-data"]["galaxy_explorer.assets"]
    assets = [path for path in (REPO_DIR / "assets").rglob("*") if path.is_file() and "__pycache__" not in path.parts
              and path.suffix != ".py"]
    unshipped = [str(path.relative_to(REPO_DIR / "assets")) for path in assets
                 if not any(path.relative_to(REPO_DIR / "assets").match(pattern) for pattern in patterns)]
    assert assets and not unshipped, f"not in the wheel's package-data: {unshipped}"


def test_shipped_json_records_no_paths_of_the_machine_that_made_it():
    absolute = re.compile(r'(?:^|[\s"\'(=])(/(?:home|root|work|tmp|Users|mnt|var)/|[A-Za-z]:\\)')
    for path in sorted(ASSETS_DIR.rglob("*.json")) + sorted(ASSETS_DIR.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        match = absolute.search(text)
        assert match is None, f"{path.name} records an absolute path: …{text[match.start():match.start() + 80]}…"
    config = json.loads(EVALUATION_JSON.read_text())["config"]
    assert config["checkpoint"] == f"shipped:{DEFAULT_DIFFUSION_CHECKPOINT.name}"
    assert config["redshift_checkpoint"] == "shipped:redshift-cnn.safetensors"
    assert config["data"] == "synthetic:testing"


def test_the_redshift_cnn_names_validation_data_that_galaxy_explorer_mock_makes():
    from galaxy_explorer.data.survey import BUILTIN_SPLITS
    from galaxy_explorer.synthetic.mock_file import GENERATOR_VERSION

    record = json.loads(DEFAULT_REDSHIFT_CHECKPOINT.with_suffix(".json").read_text())
    rows, seed = BUILTIN_SPLITS["validation"]
    validation = record["data"]["validation"]
    assert f"`galaxy-explorer mock --n {rows} --seed {seed}`" in validation
    assert f"synthetic generator v{GENERATOR_VERSION}," in validation  # the generator this code has
    assert record["validation_metrics"]["overall"]["n"] == record["training"]["validation_size"]


def test_the_shipped_diffusion_model_is_the_small_preset_trained_on_the_synthetic_survey():
    metadata = json.loads(DEFAULT_DIFFUSION_CHECKPOINT.with_suffix(".json").read_text())
    assert metadata["preset"] == "small"
    assert metadata["data"]["source"] == "synthetic"
    assert metadata["training"]["step"] > 0


def test_the_shipped_diffusion_model_loads_by_default_and_draws_finite_galaxies_over_its_redshift_range():
    generator = Generator.load()
    assert generator.checkpoint_path == DEFAULT_DIFFUSION_CHECKPOINT
    assert generator.condition_names[0] == "redshift"
    low, high = generator.condition_ranges["redshift"]
    frames = generator.frames(seed=7, redshifts=[low, high], steps=4)
    assert frames.shape == (2, 5, 64, 64)
    assert np.isfinite(frames).all()
    # A galaxy sits at the stamp centre: the centre is brighter than the stamp's outskirts in the i band.
    centre = frames[:, 2, 28:36, 28:36].mean(axis=(1, 2))
    outskirts = np.concatenate([frames[:, 2, :8, :].reshape(2, -1), frames[:, 2, -8:, :].reshape(2, -1)], axis=1)
    assert (centre > outskirts.mean(axis=1)).all()


CHECK_LABELS = {"binned_means": "binned means", "redshift_cnn": "redshift CNN", "sizes": "sizes",
                "colours": "colours", "grain": "grain", "range_ends": "ends of the range"}


def test_the_shipped_evaluation_describes_the_shipped_diffusion_checkpoint():
    metrics = json.loads(EVALUATION_JSON.read_text())
    shipped = json.loads(DEFAULT_DIFFUSION_CHECKPOINT.with_suffix(".json").read_text())
    evaluated = metrics["checkpoint_metadata"]["diffusion"]["training"]
    # The quality checks judge the model as the app first shows it: every label beyond redshift left free.
    if len(shipped["conditions"]["names"]) > 1:
        assert metrics["config"]["labels_free"] is True
    assert evaluated["step"] == shipped["training"]["step"]
    assert evaluated["images_seen"] == shipped["training"]["images_seen"]
    # The scale the evaluation chose is the one the checkpoint samples with by default.
    assert metrics["guidance"]["chosen_scale"] == Generator.load().default_guidance
    checks = metrics["quality_checks"]["checks"]
    assert set(checks) == set(CHECK_LABELS)
    for name, check in checks.items():
        assert isinstance(check["passes"], bool)
        assert check["real_vs_real_pass_rate"] >= 0.95, f"{name}: a perfect model would fail it too often"


def test_the_readme_quotes_the_shipped_evaluation_numbers():
    """The README's quality table is written from metrics.json; a retrained model must not leave it stale."""
    readme = (REPO_DIR / "README.md").read_text()
    metrics = json.loads(EVALUATION_JSON.read_text())
    for name, check in metrics["quality_checks"]["checks"].items():
        row = (f"| {CHECK_LABELS[name]} | {check['value_generated']:.2f} | {check['value_real_vs_real']:.2f} | "
               f"{check['real_vs_real_pass_rate']:.0%} | {'yes' if check['passes'] else '**no**'} |")
        assert row in readme, f"README.md does not quote {row!r} from {EVALUATION_JSON.name}"
    training = json.loads(DEFAULT_DIFFUSION_CHECKPOINT.with_suffix(".json").read_text())["training"]
    assert f"{training['step']:,} steps" in readme and f"{training['images_seen']:,} images in all" in readme


def test_the_readme_quotes_the_grain_and_the_ends_of_the_range_from_the_shipped_evaluation():
    """Beside the table, the README gives what the grain and end-of-range values are made of: the grain ratio at
    each brightness and, at each end, the counts, the median size ratio and concentrations, and the power."""
    readme = " ".join((REPO_DIR / "README.md").read_text().split())  # sentences wrap across lines
    checks = json.loads(EVALUATION_JSON.read_text())["quality_checks"]["checks"]
    for level in checks["grain"]["overall"]:
        quoted = (f"{level['ratio']:.2f}× at {level['low']:g}–{level['high']:g} sky σ (real vs real "
                  f"{level['real_vs_real']:.2f})")
        assert quoted in readme, f"README.md does not quote {quoted!r}"
    ends = checks["range_ends"]
    for k, row in enumerate(ends["bins"]):
        size, concentration = row["size"], row["concentration"]
        quoted = (f"{row['n_survey']} survey and {row['n_generated']} generated galaxies: median size "
                  f"{1 + size['generated']:.2f}× the survey's, concentration {concentration['generated_median']:.2f} "
                  f"against {concentration['survey_median']:.2f}; detects a size ratio above "
                  f"{ends['power']['size']['ratio_above'][k]:.2f}")
        assert quoted in readme, f"README.md does not quote {quoted!r}"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("GALAXY_EXPLORER_WHEEL_CHECKED") == "1",
                    reason=".ci/run checks the wheel in a step of its own")
def test_the_built_wheel_gives_a_working_cli_and_app_outside_the_checkout(tmp_path):
    """~50 s: build the wheel, install it in a fresh venv, run `galaxy-explorer sample` and start the app there."""
    from tests.support.check_wheel import check_wheel

    check_wheel(tmp_path)


def update_golden() -> None:
    """Rewrite the GOLDEN block of this file from the shipped checkpoint's output now."""
    this = Path(__file__)
    text = this.read_text()
    start = text.index("GOLDEN = {\n")
    end = text.index("# --- end golden ---")
    measured = golden_measurements()
    block = "GOLDEN = {\n" + f'    "checkpoint_sha256": "{measured["checkpoint_sha256"]}",\n' + '    "pixels": [\n'
    block += "".join(f"        {row},\n" for row in measured["pixels"]) + "    ],\n"
    block += f'    "i_band_centre_sum": {measured["i_band_centre_sum"]},\n' + "}\n"
    this.write_text(text[:start] + block + text[end:])
    print(f"golden numbers of {this.name} rewritten for {DEFAULT_DIFFUSION_CHECKPOINT.name}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update-golden"]:
        sys.exit("usage: python tests/test_shipped_assets.py --update-golden")
    update_golden()


def test_a_shipped_checkpoints_file_name_alone_names_it_from_any_folder(tmp_path, monkeypatch):
    from galaxy_explorer.paths import shipped_or_given

    monkeypatch.chdir(tmp_path)
    assert shipped_or_given("diffusion-small.safetensors") == REDSHIFT_ONLY_DIFFUSION_CHECKPOINT
    assert shipped_or_given("diffusion-small-morph.safetensors") == DEFAULT_DIFFUSION_CHECKPOINT
    (tmp_path / "diffusion-small.safetensors").write_bytes(b"")  # a file of that name here is the user's own
    assert shipped_or_given("diffusion-small.safetensors") == Path("diffusion-small.safetensors")
    assert shipped_or_given("elsewhere/diffusion-small.safetensors") == Path("elsewhere/diffusion-small.safetensors")
