"""The GalaxiesML-schema reader: lazy access, redshift queries, training batches, and every kind of bad input."""

from __future__ import annotations

import hashlib
import threading
import warnings

import h5py
import numpy as np
import pytest

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.cli import main as cli_main
from galaxy_explorer.diffusion.testing import toy_stamps
from galaxy_explorer.errors import GalaxyExplorerError, SurveyError
from galaxy_explorer.data.survey import Survey, SurveyWarning
from tests.support.survey_files import DEFECTS, write_galaxiesml_file


@pytest.fixture()
def tiny(tmp_path):
    return write_galaxiesml_file(tmp_path / "tiny.hdf5", n=40, seed=3)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- reading
def test_reads_schema_and_discovers_columns_at_run_time(tmp_path):
    extra = {"my_new_column": np.arange(12, dtype=np.float32), "photoz_best": np.linspace(0, 1, 12)}
    path = write_galaxiesml_file(tmp_path / "extra.hdf5", n=12, extra_columns=extra)
    with Survey(path) as survey:
        assert survey.n_rows == len(survey) == 12
        assert survey.bands == BANDS
        assert survey.image_shape == (5, 64, 64)
        assert survey.redshift.dtype == np.float64 and survey.object_id.dtype == np.int64
        for name in ("my_new_column", "photoz_best", "i_half_light_radius", "g_cmodel_mag", "ra", "dec"):
            assert name in survey.columns
        assert "image" not in survey.columns
        np.testing.assert_array_equal(survey.column("my_new_column", [3, 1]), [3.0, 1.0])
        with pytest.raises(SurveyError, match="no column 'nope'"):
            survey.column("nope")


def test_images_come_back_in_the_requested_order_with_exact_values(tiny):
    with h5py.File(tiny, "r") as raw:
        expected = raw["image"][[2, 5, 7]]
    with Survey(tiny) as survey:
        got = survey.images([7, 2, 5, 7])
    assert got.dtype == np.float32 and got.shape == (4, 5, 64, 64)
    np.testing.assert_array_equal(got[0], expected[2])
    np.testing.assert_array_equal(got[1], expected[0])
    np.testing.assert_array_equal(got[3], expected[2])


def test_an_empty_selection_gives_no_images_not_an_error(tiny):
    with Survey(tiny) as survey:
        got = survey.images(np.array([], dtype=int))
    assert got.shape == (0, 5, 64, 64)


def test_out_of_range_rows_are_refused_with_the_row_named(tiny):
    with Survey(tiny) as survey, pytest.raises(SurveyError, match="row 40 is out of range"):
        survey.images([0, 40])


def test_nearest_matches_a_brute_force_search(tiny):
    with Survey(tiny) as survey:
        for target in (-1.0, 0.0, 0.37, 1.5, 2.2, 10.0):
            for k in (1, 5, 40):
                got = survey.nearest(target, k)
                distance = np.abs(survey.redshift - target)
                assert len(got) == k
                assert np.all(np.diff(distance[got]) >= 0), "closest first"
                assert distance[got].max() <= np.sort(distance)[k - 1] + 1e-12
        assert len(survey.nearest(0.5, 1000)) == survey.n_rows


def test_in_window_returns_every_row_with_z_min_le_z_lt_z_max(tiny):
    with Survey(tiny) as survey:
        rows = survey.in_window(0.5, 1.5)
        expected = np.flatnonzero((survey.redshift >= 0.5) & (survey.redshift < 1.5))
        np.testing.assert_array_equal(rows, expected)
        assert survey.in_window(5.0, 6.0).size == 0


def test_iter_batches_is_one_shuffled_seeded_epoch(tiny):
    with Survey(tiny) as survey:
        epoch = list(survey.iter_batches(8, seed=1, columns=("g_cmodel_mag",)))
        again = list(survey.iter_batches(8, seed=1, columns=("g_cmodel_mag",)))
        other = list(survey.iter_batches(8, seed=2))
        redshifts = np.concatenate([b["specz_redshift"] for b in epoch])
        assert sorted(redshifts) == sorted(survey.redshift)  # every row exactly once
        assert not np.array_equal(redshifts, survey.redshift)  # shuffled
        np.testing.assert_array_equal(redshifts, np.concatenate([b["specz_redshift"] for b in again]))
        assert not np.array_equal(redshifts, np.concatenate([b["specz_redshift"] for b in other]))
        first = epoch[0]
        assert set(first) == {"image", "specz_redshift", "g_cmodel_mag"}
        assert first["image"].shape == (8, 5, 64, 64) and first["image"].dtype == np.float32
        # image, redshift and column stay aligned
        row = survey.nearest(first["specz_redshift"][0], 1)[0]
        np.testing.assert_array_equal(first["image"][0], survey.images([row])[0])
        assert first["g_cmodel_mag"][0] == survey.column("g_cmodel_mag", [row])[0]
        ordered = np.concatenate([b["specz_redshift"] for b in survey.iter_batches(16, seed=0, shuffle=False)])
        np.testing.assert_array_equal(ordered, survey.redshift)


def test_a_huge_image_dataset_is_opened_without_reading_it(tmp_path):
    """A GalaxiesML-sized logical dataset (200,000 x 5 x 64 x 64 float32 = 16 GB, never allocated on disk)."""
    path = tmp_path / "huge.hdf5"
    n = 200_000
    with h5py.File(path, "w") as out:
        out.create_dataset("image", shape=(n, 5, 64, 64), dtype="float32", chunks=(1, 5, 64, 64))
        out.create_dataset("specz_redshift", data=np.linspace(0.01, 4.0, n))
        out["image"][123] = toy_stamps(1)[0]
    assert path.stat().st_size < 50_000_000
    with Survey(path) as survey:
        assert survey.n_rows == n
        row = survey.nearest(survey.redshift[123], 1)[0]
        assert row == 123
        assert survey.images([row]).std() > 0


# ---------------------------------------------------------------------------------------------- bad input
REFUSED = {
    "not_hdf5": "not a readable HDF5 file",
    "truncated": "not a readable HDF5 file",
    "missing_image": "'image' is missing",
    "missing_redshift": "'specz_redshift' is missing",
    "image_rank": "'image' has shape",
    "band_count": "'image' has 3 bands",
    "length_mismatch": "'specz_redshift' has shape",
    "object_id_mismatch": "'object_id' has shape",
    "all_redshifts_invalid": "no usable rows",
    "image_is_group": "'image' is a group",
}


READABLE = {"nonfinite_redshift", "negative_redshift", "nan_pixels", "negative_outliers"}


def test_every_defect_the_test_writer_makes_has_a_decided_outcome():
    assert set(DEFECTS) == set(REFUSED) | READABLE


@pytest.mark.parametrize("defect", sorted(REFUSED))
def test_malformed_files_are_refused_naming_file_and_key(tmp_path, defect):
    path = write_galaxiesml_file(tmp_path / f"{defect}.hdf5", n=8, defect=defect)
    before = digest(path)
    with pytest.raises(SurveyError) as info:
        Survey(path)
    assert str(path) in str(info.value)
    assert REFUSED[defect] in str(info.value)
    assert isinstance(info.value, GalaxyExplorerError)
    assert digest(path) == before, "the input file must not be modified"


@pytest.mark.parametrize("defect, skipped", [("nonfinite_redshift", 2), ("negative_redshift", 1)])
def test_rows_with_bad_redshifts_are_skipped_with_a_counted_warning(tmp_path, defect, skipped):
    path = write_galaxiesml_file(tmp_path / "z.hdf5", n=8, defect=defect)
    with pytest.warns(SurveyWarning, match=f"skipped {skipped} of 8 rows"):
        survey = Survey(path)
    with survey:
        assert survey.n_rows == 8 - skipped
        assert np.all(np.isfinite(survey.redshift)) and np.all(survey.redshift >= 0)
        with h5py.File(path, "r") as raw:  # row i of the survey is the i-th valid file row
            np.testing.assert_array_equal(survey.images([0])[0], raw["image"][survey.file_rows[0]])
            np.testing.assert_array_equal(survey.object_id, raw["object_id"][survey.file_rows])


def test_nan_pixels_are_refused_on_read_and_skipped_in_training_batches(tmp_path):
    path = write_galaxiesml_file(tmp_path / "nan.hdf5", n=8, defect="nan_pixels")
    with Survey(path) as survey:
        survey.images([0, 2])  # clean rows read fine
        with pytest.raises(SurveyError, match=r"NaN/inf pixels in file row\(s\) 1, 3"):
            survey.images([0, 1, 3])
        with pytest.warns(SurveyWarning, match="skipped 2 rows with NaN/inf pixels"):
            batches = list(survey.iter_batches(4, seed=0))
        assert sum(len(b["image"]) for b in batches) == 6
        assert all(np.isfinite(b["image"]).all() for b in batches)
        np.testing.assert_array_equal(survey.find_bad_pixel_rows(chunk_rows=3), [1, 3])


def test_large_negative_outliers_are_valid_data(tmp_path):
    path = write_galaxiesml_file(tmp_path / "outliers.hdf5", n=8, defect="negative_outliers")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Survey(path) as survey:
            assert survey.images([0]).min() == pytest.approx(-25241.3)


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(SurveyError, match="not found"):
        Survey(tmp_path / "absent.hdf5")
    with pytest.raises(SurveyError, match="is a directory"):
        Survey(tmp_path)


# ---------------------------------------------------------------------------------------------- CLI
def test_info_describes_a_file(tiny, capsys):
    assert cli_main(["info", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "rows:        40 valid of 40" in out
    assert "bands:       g,r,i,z,y" in out
    assert "(5, 64, 64)" in out
    assert "i_half_light_radius" in out
    assert "redshift:    0.0500 .. 3.5000" in out


def test_info_on_a_bad_file_exits_2_with_one_line(tmp_path, capsys):
    path = write_galaxiesml_file(tmp_path / "broken.hdf5", n=8, defect="band_count")
    assert cli_main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and "'image'" in err


# ---------------------------------------------------------------------------------------------- built-in survey
def test_builtin_survey_is_written_once_even_with_concurrent_callers(tmp_path, monkeypatch):
    from galaxy_explorer.data import survey as survey_module
    from galaxy_explorer.synthetic import mock_file

    monkeypatch.setenv("GALAXY_EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(survey_module.BUILTIN_SPLITS, "testing", (24, 303))
    writes = []
    real_writer = mock_file.write_mock_survey

    def counting_writer(*args, **kwargs):
        writes.append(args)
        return real_writer(*args, **kwargs)

    monkeypatch.setattr(mock_file, "write_mock_survey", counting_writer)
    results = []
    threads = [threading.Thread(target=lambda: results.append(survey_module.builtin_survey_path("testing")))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(writes) == 1
    assert len(set(results)) == 1
    path = results[0]
    assert path.parent == tmp_path / "cache"
    assert not [p for p in path.parent.iterdir() if "partial" in p.name]
    with Survey(path) as survey:
        assert survey.n_rows == 24 and survey.synthetic
    assert survey_module.builtin_survey_path("testing") == path and len(writes) == 1
    with pytest.raises(SurveyError, match="unknown built-in survey split 'train'"):
        survey_module.builtin_survey_path("train")
