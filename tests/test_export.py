"""Export of a seed's walk through redshift: GIF, MP4 (H.264, yuv420p, faststart) and FITS cube."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from astropy.io import fits

from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.output.export import (
    MAX_FRAMES,
    MAX_SIZE,
    ExportError,
    ExportRequest,
    even_size,
    export_format,
    export_walk,
    redshift_grid,
    render_frames,
    snap_to_redshift_range,
    validate_request,
    write_export,
)


def blob_frames(n: int, size: int = 64) -> np.ndarray:
    """n (5,size,size) stamps of a Gaussian blob that shrinks and dims frame by frame, in survey flux units."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    frames = []
    for k in range(n):
        width = 6.0 - 4.0 * k / max(n - 1, 1)
        profile = np.exp(-0.5 * (x**2 + y**2) / width**2)
        frames.append(profile[None] * np.array([0.4, 0.7, 1.0, 1.1, 1.2])[:, None, None] * (3.0 - k / n))
    return np.asarray(frames, dtype=np.float32)


class FakeGenerator:
    """Stands in for diffusion.Generator: records calls, returns blobs."""

    checkpoint_path = Path("fake.safetensors")
    condition_ranges = {"redshift": (0.0, 4.0)}

    def __init__(self):
        self.calls = []

    def frames(self, seed, redshifts, sampler="dpmpp2m", steps=20, batch_size=8, progress=None, **conditions):
        self.calls.append((seed, list(redshifts), sampler, steps, conditions))
        return blob_frames(len(redshifts))


# -- formats and bounds ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kind", [("a.gif", "gif"), ("b.MP4", "mp4"), ("c.fits", "fits"), ("d.fit", "fits")])
def test_format_comes_from_the_file_name(name, kind):
    assert export_format(name) == kind


def test_unknown_format_is_an_error_naming_the_file():
    with pytest.raises(ExportError, match=r"walk\.avi.*\.gif, \.mp4, \.fits"):
        export_format("walk.avi")
    assert issubclass(ExportError, GalaxyExplorerError)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"frames": 1}, r"frames=1 is out of bounds: choose 2 to 600"),
        ({"frames": MAX_FRAMES + 1}, rf"frames={MAX_FRAMES + 1} is out of bounds"),
        ({"size": 32}, r"size=32 is out of bounds: choose 64 to 1024"),
        ({"size": MAX_SIZE + 2}, rf"size={MAX_SIZE + 2} is out of bounds"),
        ({"fps": 0}, r"fps=0 is out of bounds"),
        ({"z_stop": 0.0}, r"a walk needs two different redshifts"),
        ({"z_stop": 5.0}, r"z_stop=5.0 is outside the checkpoint's training redshift range \[0, 4\]"),
        ({"band": "u"}, r"band='u' is not one of"),
    ],
)
def test_requests_out_of_bounds_are_refused_with_the_bound(change, message):
    request = ExportRequest(**{"out": Path("x.gif"), "seed": 1, "z_start": 0.0, "z_stop": 3.0, **change})
    with pytest.raises(ExportError, match=message):
        validate_request(request, redshift_range=(0.0, 4.0))


def test_a_walk_end_just_outside_the_training_range_is_moved_onto_it_with_a_note():
    value, note = snap_to_redshift_range("z_start", 0.0, (0.02, 4.0))
    assert value == 0.02 and "z_start=0 is just outside" in note and "using 0.02" in note
    assert snap_to_redshift_range("z_stop", 4.03, (0.02, 4.0))[0] == 4.0
    assert snap_to_redshift_range("z_stop", 3.0, (0.02, 4.0)) == (3.0, None)
    # Far outside stays as given, so validate_request refuses it by name.
    assert snap_to_redshift_range("z_stop", 5.0, (0.02, 4.0)) == (5.0, None)


def test_redshift_grid_includes_both_ends_and_can_walk_backwards():
    np.testing.assert_allclose(redshift_grid(0, 3, 4), [0, 1, 2, 3])
    np.testing.assert_allclose(redshift_grid(2, 1, 3), [2, 1.5, 1])


def test_sizes_are_rounded_up_to_even_for_yuv420p():
    assert even_size(101) == 102 and even_size(100) == 100
    assert render_frames(blob_frames(2), [0.1, 0.2], 101, label=False).shape == (2, 102, 102, 3)


# -- frames --------------------------------------------------------------------------------------------------------
def test_the_redshift_label_is_burned_into_the_top_left_only():
    images = blob_frames(2)
    plain = render_frames(images, [0.5, 1.5], 256, label=False)
    labelled = render_frames(images, [0.5, 1.5], 256, label=True)
    corner = (slice(0, 40), slice(0, 120))
    assert np.abs(labelled[0][corner].astype(int) - plain[0][corner]).sum() > 1000
    # Away from the label the frames are untouched.
    np.testing.assert_array_equal(labelled[:, 128:, :], plain[:, 128:, :])
    # Different redshifts give different text.
    assert not np.array_equal(labelled[0][corner], labelled[1][corner])


def test_a_caption_per_frame_replaces_the_redshift_and_must_match_the_frames():
    images = blob_frames(2)
    default = render_frames(images, [0.5, 0.5], 256)
    captioned = render_frames(images, [0.5, 0.5], 256, captions=["true_axis_ratio = 0.20\nz = 0.50",
                                                                 "true_axis_ratio = 0.90\nz = 0.50"])
    corner = (slice(0, 80), slice(0, 256))
    assert not np.array_equal(captioned[0][corner], default[0][corner])
    assert not np.array_equal(captioned[0][corner], captioned[1][corner])  # the moving label's value is shown
    with pytest.raises(GalaxyExplorerError, match="2 frames but 1 captions"):
        render_frames(images, [0.5, 0.5], 256, captions=["only one"])


def test_upscaling_keeps_the_models_pixels_nearest_neighbour():
    frame = render_frames(blob_frames(1), [0.0], 128, label=False)[0]
    np.testing.assert_array_equal(frame[0::2, 0::2], frame[1::2, 1::2])


def test_single_band_export_is_grey():
    frame = render_frames(blob_frames(1), [0.0], 64, label=False, band="i")[0]
    assert np.array_equal(frame[..., 0], frame[..., 1]) and np.array_equal(frame[..., 1], frame[..., 2])


# -- files ---------------------------------------------------------------------------------------------------------
def test_gif_reads_back_with_every_frame(tmp_path):
    out = write_export(tmp_path / "walk.gif", blob_frames(5), redshift_grid(0, 2, 5), fps=10, size=128)
    frames = iio.imread(out)
    assert frames.shape == (5, 128, 128, 3)
    assert iio.immeta(out)["duration"] == pytest.approx(100, abs=10)  # ms per frame at 10 fps
    assert not np.array_equal(frames[0], frames[-1])


def test_mp4_is_h264_yuv420p_with_the_index_first(tmp_path):
    out = write_export(tmp_path / "walk.mp4", blob_frames(6), redshift_grid(0, 2, 6), fps=12, size=130)
    import imageio

    with imageio.get_reader(out, format="FFMPEG") as reader:
        meta = reader.get_meta_data()
        frames = [frame for frame in reader]
    assert meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")
    assert meta["size"] == (130, 130)
    assert meta["fps"] == pytest.approx(12)
    assert len(frames) == 6
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "+faststart puts the index before the media data"


def test_an_encoder_that_fails_is_an_export_error_naming_the_file(tmp_path):
    from galaxy_explorer.output.export import finished_mp4, write_mp4

    frames = render_frames(blob_frames(2), [0.0, 1.0], 64)
    out = tmp_path / "no-such-folder" / "walk.mp4"  # ffmpeg cannot open it, after taking both frames
    with pytest.raises(ExportError, match=r"no-such-folder/walk\.mp4: ffmpeg exited without finishing the video"):
        write_mp4(out, frames, 12)
    # What a dying encoder leaves (no index or no media) is told from a finished video.
    good = write_export(tmp_path / "walk.mp4", blob_frames(2), [0.0, 1.0], size=64)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[:200])
    assert finished_mp4(good) and not finished_mp4(cut) and not finished_mp4(tmp_path / "missing.mp4")


def test_fits_cube_holds_the_flux_and_a_redshift_table(tmp_path):
    images = blob_frames(4)
    redshifts = redshift_grid(0.5, 2.0, 4)
    out = write_export(tmp_path / "walk.fits", images, redshifts, header={"SEED": (9, "noise seed")},
                       conditions={"bulge_fraction": 0.3})
    with fits.open(out) as hdus:
        np.testing.assert_array_equal(hdus[0].data, images)
        assert hdus[0].data.shape == (4, 5, 64, 64)
        assert hdus[0].header["SEED"] == 9
        assert hdus[0].header["BANDS"] == "g,r,i,z,y"
        assert "not the history of one galaxy" in str(hdus[0].header["COMMENT"])
        table = hdus["REDSHIFT"].data
        np.testing.assert_allclose(table["redshift"], redshifts)
        np.testing.assert_array_equal(table["frame"], np.arange(4))
        np.testing.assert_allclose(table["bulge_fraction"], 0.3)


@pytest.mark.parametrize("suffix", ["gif", "mp4", "fits"])
def test_an_interrupted_export_leaves_no_file_and_keeps_an_old_one(tmp_path, monkeypatch, suffix):
    import galaxy_explorer.output.export as export

    out = tmp_path / f"walk.{suffix}"
    out.write_bytes(b"previous export")

    def interrupted(path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(export, {"gif": "write_gif", "mp4": "write_mp4", "fits": "write_fits"}[suffix], interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_export(out, blob_frames(2), [0.0, 1.0])
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"walk.{suffix}"]


def test_export_walk_asks_the_generator_for_the_grid_and_reports_progress(tmp_path):
    generator = FakeGenerator()
    seen = []
    request = ExportRequest(out=tmp_path / "w.fits", seed=7, z_start=0.0, z_stop=3.0, frames=10, sampler="ddim",
                            steps=5, conditions={"bulge_fraction": 0.5})
    out = export_walk(generator, request, progress=lambda done, total: seen.append((done, total)))
    asked = [z for call in generator.calls for z in call[1]]
    np.testing.assert_allclose(asked, np.linspace(0, 3, 10))
    assert {call[0] for call in generator.calls} == {7}
    assert {(call[2], call[3]) for call in generator.calls} == {("ddim", 5)}
    # guidance None: the checkpoint's own; the final denoising step is the generator's default
    assert generator.calls[0][4] == {"bulge_fraction": 0.5, "guidance_scale": None,
                                     "denoise_step": DEFAULT_DENOISE_STEP}
    assert seen[-1] == (10, 10) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    with fits.open(out) as hdus:
        assert hdus[0].header["SEED"] == 7 and hdus[0].header["SAMPLER"] == "ddim"


def test_export_walk_checks_bounds_before_generating(tmp_path):
    generator = FakeGenerator()
    request = ExportRequest(out=tmp_path / "w.gif", seed=1, z_start=0.0, z_stop=3.0, frames=MAX_FRAMES + 1)
    with pytest.raises(ExportError, match="frames"):
        export_walk(generator, request)
    assert generator.calls == []
    assert list(tmp_path.iterdir()) == []
