"""``write_mock_survey`` / ``galaxy-explorer mock``: a GalaxiesML-schema file with truth, reproducible and atomic."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.cli import main as cli_main
from galaxy_explorer.data.survey import Survey
from galaxy_explorer.synthetic import TRUTH_COLUMNS, write_mock_survey
from tests.support.survey_files import MORPHOLOGY_SUFFIXES, write_galaxiesml_file

GALAXIESML_COLUMNS = ("specz_redshift", "specz_redshift_err", "object_id", "ra", "dec") + tuple(
    f"{band}_{suffix}" for band in BANDS for suffix in ("cmodel_mag",) + MORPHOLOGY_SUFFIXES)


@pytest.fixture(scope="module")
def mock_path(tmp_path_factory):
    return write_mock_survey(tmp_path_factory.mktemp("mock") / "mock.hdf5", n=40, seed=5)


def test_mock_file_has_the_galaxiesml_schema_and_truth(mock_path):
    with h5py.File(mock_path, "r") as raw:
        assert raw["image"].shape == (40, 5, 64, 64) and raw["image"].dtype == np.float32
        for name in GALAXIESML_COLUMNS + TRUTH_COLUMNS:
            assert raw[name].shape == (40,), name
        assert raw.attrs["synthetic"]
        np.testing.assert_array_equal(raw["specz_redshift"][:], raw["true_redshift"][:])
        np.testing.assert_allclose(raw["i_cmodel_mag"][:], raw["true_i_mag"][:])
        assert len(set(raw["object_id"][:].tolist())) == 40
    with Survey(mock_path) as survey:  # read by the GalaxiesML reader unchanged
        assert survey.n_rows == 40 and survey.synthetic
        assert set(GALAXIESML_COLUMNS + TRUTH_COLUMNS) <= set(survey.columns)


def test_a_survey_is_synthetic_if_its_file_says_so_or_it_carries_truth_columns(mock_path, tmp_path):
    with Survey(mock_path) as mock:
        assert mock.synthetic and mock.is_synthetic
    real_like = write_galaxiesml_file(tmp_path / "real.hdf5", n=8)
    with Survey(real_like) as survey:
        assert not survey.is_synthetic
    truth = write_galaxiesml_file(tmp_path / "truth.hdf5", n=8, extra_columns={"true_sersic_index": np.ones(8)})
    with Survey(truth) as survey:  # no 'synthetic' attribute (e.g. a copy of a mock file), but simulated all the same
        assert not survey.synthetic and survey.is_synthetic


def test_derived_catalogue_columns_are_physically_consistent(mock_path):
    with Survey(mock_path) as survey:
        column = survey.column
        for band in BANDS:
            major, minor = column(f"{band}_major_axis"), column(f"{band}_minor_axis")
            assert np.all(major >= minor) and np.all(minor > 0)
            np.testing.assert_allclose(column(f"{band}_ellipticity"), 1 - minor / major, rtol=1e-5)
            assert np.all(np.abs(column(f"{band}_pos_angle")) <= 90)
        # observed (PSF-convolved) sizes exceed the intrinsic ones, and grow with them
        intrinsic = column("true_r_e_arcsec") / 0.168
        observed = column("i_half_light_radius")
        assert np.corrcoef(intrinsic, observed)[0, 1] > 0.8
        point_like = intrinsic < 1.0
        assert np.all(observed[point_like] > intrinsic[point_like])


def test_same_seed_gives_identical_file_contents(mock_path, tmp_path):
    again = write_mock_survey(tmp_path / "again.hdf5", n=40, seed=5)
    other = write_mock_survey(tmp_path / "other.hdf5", n=40, seed=6)
    with h5py.File(mock_path, "r") as a, h5py.File(again, "r") as b, h5py.File(other, "r") as c:
        assert set(a) == set(b)
        for name in a:
            np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)
        assert not np.array_equal(a["image"][:], c["image"][:])


def test_an_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "interrupted.hdf5"

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_mock_survey(target, n=600, seed=1, progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_mock_and_info_commands(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    assert cli_main(["mock", "--n", "12", "--seed", "1", "--out", str(out)]) == 0
    assert "12 SYNTHETIC galaxies" in capsys.readouterr().out
    assert cli_main(["info", str(out)]) == 0
    report = capsys.readouterr().out
    assert "SYNTHETIC" in report and "rows:        12 valid" in report and "true_r_e_kpc" in report
    assert cli_main(["mock", "--n", "0", "--seed", "1", "--out", str(tmp_path / "none.h5")]) == 2
    assert "--n must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "none.h5").exists()
