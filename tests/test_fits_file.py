"""The one FITS writer (``output.fits_file``): what ``sample`` and ``export`` files both rely on."""

from __future__ import annotations

import warnings

import numpy as np
from astropy.io import fits

from galaxy_explorer.output.fits_file import FitsImage, FitsTable, card, write_fits_file


def test_cards_comments_pixels_and_tables_are_written_as_described(tmp_path):
    long_path = "/a/folder/deep/enough/that/the/name/needs/continue/cards/model.safetensors"
    primary = FitsImage(np.arange(8, dtype=np.float64).reshape(2, 4), {"SEED": (7, "noise seed"), "CREATOR": "me"},
                        comments=["first line", "second line"])
    extensions = [FitsImage(np.ones((2, 2)), {"CHECKPT": card(long_path, "checkpoint")}, name="SAMPLE1"),
                  FitsTable("REDSHIFT", {"frame": np.arange(3, dtype=np.int32), "redshift": np.array([0.1, 0.5, 2.0])})]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cut comment or value would warn
        write_fits_file(tmp_path / "a.fits", primary, extensions)
    with fits.open(tmp_path / "a.fits") as hdus:
        assert hdus[0].data.dtype == np.dtype(">f4") and hdus[0].data.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
        assert list(hdus[0].header).index("SEED") < list(hdus[0].header).index("CREATOR")  # in the order given
        assert hdus[0].header.comments["SEED"] == "noise seed"
        assert list(hdus[0].header["COMMENT"]) == ["first line", "second line"]
        assert hdus["SAMPLE1"].header["CHECKPT"] == long_path  # whole, over CONTINUE cards
        table = hdus["REDSHIFT"]
        assert [table.header["TFORM1"], table.header["TFORM2"]] == ["J", "D"]
        np.testing.assert_array_equal(table.data["redshift"], [0.1, 0.5, 2.0])


def test_a_short_string_keeps_its_comment_and_a_long_one_goes_without():
    assert card("tiny.safetensors", "checkpoint") == ("tiny.safetensors", "checkpoint")
    assert card("x" * 41, "checkpoint") == "x" * 41
    assert card(3, "steps") == (3, "steps")
