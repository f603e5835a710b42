"""The CNN redshift predictor: checkpoint round trip, refusal of wrong files, and that training learns."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from galaxy_explorer.data.checkpoint import load_metadata, save_checkpoint
from galaxy_explorer.errors import CheckpointError
from galaxy_explorer.data.normalization import Normalization
from galaxy_explorer.paths import DEFAULT_REDSHIFT_CHECKPOINT
from galaxy_explorer.measure.photoz_metrics import photoz_metrics
from galaxy_explorer.measure.redshift_predictor import RedshiftCNN, RedshiftPredictor
from galaxy_explorer.data.survey import Survey
from galaxy_explorer.synthetic import write_mock_survey
from galaxy_explorer.training.redshift_cnn import RedshiftTrainingConfig, RedshiftTrainingError, train


@pytest.fixture(scope="module")
def mock_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("redshift")
    training = write_mock_survey(folder / "mock_training.hdf5", 384, seed=11)
    validation = write_mock_survey(folder / "mock_validation.hdf5", 160, seed=12)
    return training, validation


@pytest.fixture(scope="module")
def validation_sample(mock_files):
    with Survey(mock_files[1]) as survey:
        rows = np.arange(len(survey))
        return survey.images(rows), survey.redshift[rows]


def tiny_predictor(images, seed=0) -> RedshiftPredictor:
    torch.manual_seed(seed)
    return RedshiftPredictor(RedshiftCNN(width=4), Normalization.fit(images))


def test_predictions_are_non_negative_redshifts_one_per_image(validation_sample):
    images, _ = validation_sample
    predicted = tiny_predictor(images).predict(images[:10], batch_size=4)
    assert predicted.shape == (10,) and predicted.dtype == np.float64
    assert (predicted >= 0).all() and np.isfinite(predicted).all()


def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path, validation_sample):
    images, _ = validation_sample
    predictor = tiny_predictor(images)
    expected = predictor.predict(images[:8])
    predictor.save(tmp_path / "rz.safetensors", {"note": "test"}, half_precision=False)
    loaded = RedshiftPredictor.load(tmp_path / "rz.safetensors")
    np.testing.assert_allclose(loaded.predict(images[:8]), expected, rtol=1e-6, atol=1e-7)
    assert loaded.metadata["note"] == "test" and loaded.metadata["kind"] == "redshift-cnn"
    # fp16 weights (the shipping format) change predictions only slightly.
    predictor.save(tmp_path / "rz16.safetensors")
    half = RedshiftPredictor.load(tmp_path / "rz16.safetensors").predict(images[:8])
    np.testing.assert_allclose(half, expected, atol=0.02 * (1 + expected.max()))


def test_non_finite_pixels_do_not_poison_predictions(validation_sample):
    images, _ = validation_sample
    damaged = images[:2].copy()
    damaged[:, :, 0, 0] = np.nan
    assert np.isfinite(tiny_predictor(images).predict(damaged)).all()


def test_loading_a_checkpoint_of_another_kind_names_the_key(tmp_path):
    save_checkpoint(tmp_path / "other.safetensors", {"w": torch.zeros(2)}, {"kind": "diffusion"})
    with pytest.raises(CheckpointError, match="'kind'"):
        RedshiftPredictor.load(tmp_path / "other.safetensors")


def test_loading_a_checkpoint_with_a_missing_tensor_names_it(tmp_path, validation_sample):
    images, _ = validation_sample
    tiny_predictor(images).save(tmp_path / "rz.safetensors")
    metadata = load_metadata(tmp_path / "rz.safetensors")
    from safetensors.torch import load_file
    tensors = load_file(str(tmp_path / "rz.safetensors"))
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_checkpoint(tmp_path / "broken.safetensors", tensors,
                    {k: v for k, v in metadata.items() if k not in ("format", "format_version")})
    with pytest.raises(CheckpointError, match=dropped.replace(".", r"\.")):
        RedshiftPredictor.load(tmp_path / "broken.safetensors")


def test_training_on_a_survey_file_learns_and_records_its_validation_metrics(tmp_path, mock_files,
                                                                             validation_sample):
    training, _ = mock_files
    out = tmp_path / "trained.safetensors"
    config = RedshiftTrainingConfig(out=str(out), data=str(training), steps=60, batch_size=32, width=4,
                                    validation_every=20, validation_size=160, normalization_sample=64,
                                    half_precision=False, progress=False)
    summary = train(config, log=lambda message: None)
    history = load_metadata(out)["history"]
    assert [h["step"] for h in history] == [20, 40, 60]
    assert history[-1]["mean_loss"] < history[0]["mean_loss"]
    # The recorded validation metrics are those of the saved weights (validation file found beside the data).
    images, redshift = validation_sample
    recomputed = photoz_metrics(RedshiftPredictor.load(out).predict(images), redshift)["overall"]
    recorded = json.loads(out.with_suffix(".json").read_text())["validation_metrics"]["overall"]
    assert recorded["sigma_nmad"] == pytest.approx(recomputed["sigma_nmad"], rel=1e-5)
    assert recorded["bias"] == pytest.approx(recomputed["bias"], rel=1e-5, abs=1e-7)
    assert summary["training"]["steps_done"] == 60
    assert load_metadata(out)["data"]["synthetic"] is False


def test_training_without_validation_data_says_what_to_pass(tmp_path, mock_files):
    lonely = tmp_path / "galaxies.hdf5"
    lonely.write_bytes(mock_files[0].read_bytes())
    with pytest.raises(RedshiftTrainingError, match="validation_data"):
        train(RedshiftTrainingConfig(out=str(tmp_path / "x.safetensors"), data=str(lonely), steps=1,
                                     progress=False), log=lambda message: None)


def test_bad_training_numbers_are_refused():
    with pytest.raises(RedshiftTrainingError, match="steps"):
        RedshiftTrainingConfig(steps=0).check()
    with pytest.raises(RedshiftTrainingError, match="learning_rate"):
        RedshiftTrainingConfig(learning_rate=-1.0).check()


@pytest.mark.skipif(not DEFAULT_REDSHIFT_CHECKPOINT.exists(), reason="shipped redshift CNN not present")
def test_the_shipped_predictor_recovers_synthetic_redshifts(validation_sample):
    images, redshift = validation_sample
    predictor = RedshiftPredictor.load()
    assert predictor.metadata["data"]["synthetic"] is True
    metrics = photoz_metrics(predictor.predict(images), redshift)["overall"]
    assert metrics["sigma_nmad"] < 0.05, metrics  # 0.033 when shipped; 0.027 on its 1000-galaxy validation set
    assert abs(metrics["bias"]) < 0.02, metrics
    assert metrics["outlier_fraction"] < 0.06, metrics


def test_learning_rate_warms_up_then_decays_to_its_floor_even_when_time_runs_out_first():
    from galaxy_explorer.training.redshift_cnn import learning_rate_at, training_progress

    assert learning_rate_at(0.0, 1.0) < 0.05
    assert learning_rate_at(0.05, 1.0) == pytest.approx(1.0)
    assert learning_rate_at(0.5, 1.0) < learning_rate_at(0.3, 1.0)
    assert learning_rate_at(1.0, 1.0) == pytest.approx(0.01)
    # Half the steps but the whole time budget used: the run is done.
    assert training_progress(50, 100, elapsed_seconds=600.0, max_minutes=10.0) == pytest.approx(1.0)
    assert training_progress(50, 100, elapsed_seconds=60.0, max_minutes=10.0) == pytest.approx(0.5)
    assert training_progress(50, 100, elapsed_seconds=1e6, max_minutes=None) == pytest.approx(0.5)
