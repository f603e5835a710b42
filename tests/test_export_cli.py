"""``galaxy-explorer export`` end to end with a tiny model."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from astropy.io import fits

from galaxy_explorer.cli import main


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def export(tiny_checkpoint, out, *extra):
    return main(["export", "--checkpoint", str(tiny_checkpoint), "--steps", "2", "--seed", "7",
                 "--z-start", "0", "--z-stop", "3", "--frames", "5", *map(str, extra), "--out", str(out)])


def test_gif_export_of_a_seed_walk(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "evolution.gif"
    assert export(tiny_checkpoint, out, "--size", 96) == 0
    assert iio.imread(out).shape == (5, 96, 96, 3)
    assert "wrote" in capsys.readouterr().out


def test_mp4_export_plays_in_browsers(tiny_checkpoint, tmp_path):
    import imageio

    out = tmp_path / "evolution.mp4"
    assert export(tiny_checkpoint, out, "--size", 64, "--fps", 5, "--no-label") == 0
    with imageio.get_reader(out, format="FFMPEG") as reader:
        meta = reader.get_meta_data()
        assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
        assert sum(1 for _ in reader) == 5


def test_fits_export_is_deterministic_and_matches_the_generator(tiny_checkpoint, tmp_path):
    from galaxy_explorer.diffusion import Generator

    first, second = tmp_path / "a.fits", tmp_path / "b.fits"
    assert export(tiny_checkpoint, first) == 0 and export(tiny_checkpoint, second) == 0
    with fits.open(first) as a, fits.open(second) as b:
        np.testing.assert_array_equal(a[0].data, b[0].data)
        np.testing.assert_allclose(a["REDSHIFT"].data["redshift"], np.linspace(0, 3, 5))
        assert a[0].header["SEED"] == 7 and a[0].header["STEPS"] == 2 and a[0].header["DENOISE"] == 10
        expected = Generator.load(tiny_checkpoint).frames(7, [0.75], steps=2, batch_size=1)[0]
        # The export generates frames in batches; batching changes float rounding only (~1e-4 of the flux).
        np.testing.assert_allclose(a[0].data[1], expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--frames", "100000"], "frames=100000 is out of bounds"),
        (["--size", "4096"], "size=4096 is out of bounds"),
        (["--z-stop", "9"], "outside the checkpoint's training redshift range"),
        (["--condition", "bulge_fraction=0.5"], "'bulge_fraction' is not a condition"),
    ],
)
def test_bad_requests_exit_with_status_2_and_a_message_and_write_nothing(tiny_checkpoint, tmp_path, capsys,
                                                                         extra, message):
    out = tmp_path / "walk.gif"
    assert export(tiny_checkpoint, out, *extra) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_missing_checkpoint_is_named(tmp_path, capsys):
    status = main(["export", "--checkpoint", str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "a.gif")])
    assert status == 2
    assert "none" in capsys.readouterr().err


def test_an_unknown_output_format_is_refused(tiny_checkpoint, tmp_path, capsys):
    assert export(tiny_checkpoint, tmp_path / "walk.avi") == 2
    assert ".gif, .mp4, .fits" in capsys.readouterr().err


@pytest.mark.parametrize("dropout, free", [(0.15, True), (0.0, False)], ids=["dropout-model", "no-dropout-model"])
def test_labels_not_given_are_left_free_when_the_model_can_leave_them_free(tmp_path, capsys, dropout, free):
    from galaxy_explorer.diffusion import Generator
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    checkpoint = make_tiny_checkpoint(tmp_path / "morph.safetensors", condition_names=("redshift", "bulge", "arms"),
                                      condition_dropout=dropout)
    out = tmp_path / "walk.fits"
    assert export(checkpoint, out, "--condition", "arms=1") == 0
    notes = capsys.readouterr().err
    with fits.open(out) as walk:
        generator = Generator.load(checkpoint)
        if free:  # as the app's "any" box: the model draws the bulge; the header and the table say so
            assert "condition bulge not given: left free" in notes
            assert walk[0].header["FREE"] == "bulge"
            assert "bulge" not in walk["REDSHIFT"].columns.names
            expected = generator.frames(7, [0.75], steps=2, batch_size=1, arms=1.0)[0]
        else:  # a model without dropout needs every label: the middle of its range, said in a note
            assert "using the middle of its training range" in notes
            assert "FREE" not in walk[0].header
            np.testing.assert_allclose(walk["REDSHIFT"].data["bulge"], 0.5)
            expected = generator.frames(7, [0.75], steps=2, batch_size=1, arms=1.0, bulge=0.5)[0]
        np.testing.assert_allclose(walk[0].data[1], expected, rtol=1e-3, atol=1e-3)
