"""``galaxy-explorer sample``: FITS, GalaxiesML-schema HDF5 or PNG; the same command gives the same pixels."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
from astropy.io import fits

from galaxy_explorer.cli import main
from galaxy_explorer.diffusion import Generator
from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP
from galaxy_explorer.diffusion.testing import make_tiny_checkpoint
from galaxy_explorer.data.survey import Survey


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", seed=2)


def sample(checkpoint, out, *extra):
    return main(["sample", "--checkpoint", str(checkpoint), "--seed", "4", "--z", "0.5", "1.5", "--steps", "3",
                 "--out", str(out), *extra])


def test_fits_output_has_one_image_hdu_per_redshift_with_its_provenance(checkpoint, tmp_path):
    assert sample(checkpoint, tmp_path / "walk.fits") == 0
    with fits.open(tmp_path / "walk.fits") as hdus:
        assert len(hdus) == 3 and hdus[0].header["NSAMPLES"] == 2
        assert "not observed galaxies" in str(hdus[0].header["COMMENT"])
        for hdu, redshift in zip(hdus[1:], (0.5, 1.5)):
            assert hdu.data.shape == (5, 64, 64) and hdu.data.dtype == np.dtype(">f4")
            assert hdu.header["REDSHIFT"] == redshift and hdu.header["SEED"] == 4
            assert hdu.header["SAMPLER"] == "dpmpp2m" and hdu.header["STEPS"] == 3
            assert hdu.header["CHECKPT"].endswith("tiny.safetensors") and hdu.header["BANDS"] == "g,r,i,z,y"
            assert hdu.header["DENOISE"] == DEFAULT_DENOISE_STEP  # the final denoising step, the generator's
        expected = Generator.load(checkpoint).frames(4, [0.5, 1.5], steps=3)
        assert np.array_equal(np.stack([hdus[1].data, hdus[2].data]), expected)


def test_the_final_denoising_step_can_be_left_out_and_the_file_says_so(checkpoint, tmp_path):
    assert sample(checkpoint, tmp_path / "plain.fits", "--denoise-step", "none") == 0
    assert sample(checkpoint, tmp_path / "plain.hdf5", "--denoise-step", "none") == 0
    with fits.open(tmp_path / "plain.fits") as hdus:
        assert hdus[1].header["DENOISE"] == -1
        expected = Generator.load(checkpoint).frames(4, [0.5, 1.5], steps=3, denoise_step=None)
        assert np.array_equal(np.stack([hdus[1].data, hdus[2].data]), expected)
    with h5py.File(tmp_path / "plain.hdf5", "r") as handle:
        assert handle.attrs["denoise_step"] == -1


@pytest.mark.parametrize("bad", ["-1", "ten", "2.5"])
def test_a_denoising_step_that_is_not_a_step_or_none_is_refused_while_parsing(checkpoint, tmp_path, capsys, bad):
    assert sample(checkpoint, tmp_path / "bad.fits", "--denoise-step", bad) == 2
    assert f"expected a training step (an integer >= 0) or 'none', got {bad!r}" in capsys.readouterr().err
    assert not (tmp_path / "bad.fits").exists()


def test_the_same_command_in_two_processes_writes_identical_pixels(checkpoint, tmp_path):
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.fits"
        subprocess.run([sys.executable, "-m", "galaxy_explorer.cli", "sample", "--checkpoint", str(checkpoint),
                        "--seed", "9", "--z", "0.3", "2.2", "--steps", "4", "--sampler", "ddpm", "--out", str(out)],
                       check=True, capture_output=True)
        with fits.open(out) as hdus:
            outputs.append(b"".join(hdu.data.tobytes() for hdu in hdus[1:]))
    assert outputs[0] == outputs[1]


def test_hdf5_output_is_a_galaxiesml_survey_file(checkpoint, tmp_path):
    assert sample(checkpoint, tmp_path / "generated.hdf5") == 0
    with Survey(tmp_path / "generated.hdf5") as survey:
        assert survey.n_rows == 2 and survey.image_shape == (5, 64, 64)
        np.testing.assert_array_equal(np.sort(survey.redshift), [0.5, 1.5])
        assert (survey.object_id < 0).all()  # never confused with HSC object ids


def test_png_output_is_a_colour_grid(checkpoint, tmp_path):
    import imageio.v3 as iio

    assert sample(checkpoint, tmp_path / "grid.png") == 0
    picture = iio.imread(tmp_path / "grid.png")
    assert picture.ndim == 3 and picture.shape[2] in (3, 4) and picture.shape[1] > 128


@pytest.mark.parametrize("extra, message", [
    (["--condition", "mass"], "NAME=NUMBER"),
    (["--condition", "mass=1"], "'mass'"),
    (["--steps", "0"], "steps"),
])
def test_bad_arguments_exit_with_status_2_and_a_one_line_error(checkpoint, tmp_path, capsys, extra, message):
    assert sample(checkpoint, tmp_path / "x.fits", *extra) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "x.fits").exists()


def test_an_unknown_output_format_is_refused_before_sampling(checkpoint, tmp_path, capsys):
    assert sample(checkpoint, tmp_path / "walk.gif") == 2
    assert "'.gif'" in capsys.readouterr().err


def test_guide_names_the_guided_conditions_and_the_file_records_them(tmp_path, capsys):
    morph = make_tiny_checkpoint(tmp_path / "morph.safetensors", seed=2, condition_dropout=0.1,
                                 condition_names=("redshift", "true_axis_ratio"))
    argv = ["sample", "--checkpoint", str(morph), "--seed", "4", "--z", "0.5", "--steps", "3",
            "--condition", "true_axis_ratio=0.3", "--guidance", "2"]
    assert main([*argv, "--out", str(tmp_path / "labels.fits"), "--guide", "true_axis_ratio"]) == 0
    assert main([*argv, "--out", str(tmp_path / "all.fits")]) == 0
    with fits.open(tmp_path / "labels.fits") as labels, fits.open(tmp_path / "all.fits") as every:
        assert labels[0].header["GUIDED"] == "true_axis_ratio"
        assert every[0].header["GUIDED"] == "redshift,true_axis_ratio"
        assert not np.array_equal(labels[1].data, every[1].data)
    assert main([*argv, "--out", str(tmp_path / "x.fits"), "--guide", "true_bulge_fraction"]) == 2
    error = capsys.readouterr().err
    assert "true_bulge_fraction" in error and error.count("\n") == 1
    assert not (tmp_path / "x.fits").exists()


def test_labels_not_given_are_drawn_by_the_model_and_the_file_says_which(tmp_path, capsys):
    import warnings

    import h5py

    names = ("redshift", "true_bulge_fraction", "true_axis_ratio", "true_has_arms")
    morph = make_tiny_checkpoint(tmp_path / "morph.safetensors", seed=2, condition_dropout=0.1, condition_names=names)
    argv = ["sample", "--checkpoint", str(morph), "--seed", "4", "--z", "0.5", "--steps", "3",
            "--condition", "true_axis_ratio=0.3"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # long label lists must not truncate a FITS card (astropy warns then)
        assert main([*argv, "--out", str(tmp_path / "s.fits")]) == 0
    assert main([*argv, "--out", str(tmp_path / "s.hdf5")]) == 0
    assert "warning" not in capsys.readouterr().err
    with fits.open(tmp_path / "s.fits") as samples:
        assert samples[1].header["FREE"] == "true_bulge_fraction,true_has_arms"
        assert samples[1].header["GUIDED"] == ",".join(names)
    with h5py.File(tmp_path / "s.hdf5", "r") as handle:
        assert handle.attrs["free_conditions"] == "true_bulge_fraction,true_has_arms"
