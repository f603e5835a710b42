"""The checkpoints shipped in assets/ are what the app and the CLI load by default, and the evaluation JSON beside
them describes exactly that diffusion checkpoint."""
import json

import numpy as np
import pytest

from galaxy_explorer.diffusion import Generator
from galaxy_explorer.paths import ASSETS_DIR, DEFAULT_DIFFUSION_CHECKPOINT, DEFAULT_REDSHIFT_CHECKPOINT

MAX_SHIPPED_BYTES = 16 * 2**20
EVALUATION_JSON = ASSETS_DIR / "evaluation" / "metrics.json"


@pytest.mark.parametrize("path", [DEFAULT_DIFFUSION_CHECKPOINT, DEFAULT_REDSHIFT_CHECKPOINT])
def test_each_shipped_checkpoint_and_its_json_exist_and_fit_in_16_mib(path):
    for file in (path, path.with_suffix(".json")):
        assert file.is_file(), f"{file} is not shipped"
        assert file.stat().st_size <= MAX_SHIPPED_BYTES


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


def test_the_shipped_evaluation_describes_the_shipped_diffusion_checkpoint():
    metrics = json.loads(EVALUATION_JSON.read_text())
    shipped = json.loads(DEFAULT_DIFFUSION_CHECKPOINT.with_suffix(".json").read_text())
    evaluated = metrics["checkpoint_metadata"]["diffusion"]["training"]
    assert evaluated["step"] == shipped["training"]["step"]
    assert evaluated["images_seen"] == shipped["training"]["images_seen"]
    quality = metrics["quality_checks"]
    for check in ("binned_means_inside_real_95ci", "redshift_predictor_z_lt_2", "size_redshift"):
        assert isinstance(quality[check]["passes"], bool)


def test_the_readme_quotes_the_shipped_evaluation_numbers():
    """The README's quality table is written from metrics.json; a retrained model must not leave it stale."""
    readme = (ASSETS_DIR.parent / "README.md").read_text()
    quality = json.loads(EVALUATION_JSON.read_text())["quality_checks"]
    bins = quality["binned_means_inside_real_95ci"]
    redshift = quality["redshift_predictor_z_lt_2"]
    size = quality["size_redshift"]
    expected_cells = [
        f"{100 * bins['fraction']:.0f}% (",
        f"{redshift['abs_bias_generated']:.3f} (real: {redshift['abs_bias_real']:.4f})",
        f"{redshift['sigma_nmad_ratio']:.2f} ({redshift['sigma_nmad_generated']:.3f} / {redshift['sigma_nmad_real']:.3f})",
        f"{100 * size['max_relative_deviation_generated']:.0f}% (real survey images: "
        f"{100 * size['max_relative_deviation_real']:.0f}%)",
    ]
    for cell in expected_cells:
        assert cell in readme, f"README.md does not quote {cell!r} from {EVALUATION_JSON.name}"
    for name, per_metric in bins["per_metric"].items():
        assert f"{name.replace('_', ' ')} {per_metric['bins_inside']}/{per_metric['bins_counted']}" in readme
    training = json.loads(DEFAULT_DIFFUSION_CHECKPOINT.with_suffix(".json").read_text())["training"]
    assert f"{training['step']:,} steps × {training['batch_size']} images ({training['images_seen']:,} images)" in readme
