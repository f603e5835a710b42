"""Export one seed's walk through redshift as an animated GIF, an MP4 (H.264) or a FITS cube.

The same code serves the command line (``galaxy-explorer export``) and the app's download buttons:
``export_walk`` asks a generator for the frames, ``write_export`` turns frames already in hand into a file.
Every file is written through ``atomic_path``, so an interrupted export leaves nothing under the final name.

What the animation shows is the model's image for ONE fixed noise draw at each conditioning redshift; it is not
the history of one galaxy. The FITS header says so too.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.output.composite import band_image, lupton_rgb
from galaxy_explorer.output.fits_file import FitsImage, FitsTable, write_fits_file
from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP
from galaxy_explorer.diffusion.schedule import DEFAULT_TIMESTEP_SPACING
from galaxy_explorer.diffusion.frame_checks import require_finite_frames
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.diffusion.redshift_range import REDSHIFT_MARGIN

FORMATS = ("gif", "mp4", "fits")
MIN_FRAMES, MAX_FRAMES = 2, 600
MIN_SIZE, MAX_SIZE = 64, 1024
MIN_FPS, MAX_FPS = 1, 60
# Flux units of the survey images (HSC coadd convention, AB zero point 27), written into the FITS header.
FLUX_ZERO_POINT_AB = 27.0

Progress = Callable[[int, int], None]


class ExportError(GalaxyExplorerError, ValueError):
    """An export request is out of bounds (frames, size, fps, redshift range) or names an unknown format."""


@dataclass(frozen=True)
class ExportRequest:
    """Everything that decides what an exported walk looks like (the generator decides the pixels)."""

    out: Path
    seed: int
    z_start: float
    z_stop: float
    frames: int = 60
    fps: int = 12
    size: int = 512
    sampler: str = "dpmpp2m"
    steps: int = 20
    denoise_step: int | None = DEFAULT_DENOISE_STEP  # final denoising step after the sampler; None: none
    label: bool = True
    band: str | None = None  # None: i,r,g colour composite; else one of BANDS in grey
    conditions: dict[str, float] = field(default_factory=dict)
    guidance_scale: float | None = None  # None: the checkpoint's default
    overwrite: bool = True  # False: never replace an existing file at ``out``

    @property
    def format(self) -> str:
        return export_format(self.out)

    @property
    def redshifts(self) -> np.ndarray:
        return redshift_grid(self.z_start, self.z_stop, self.frames)


def export_format(path: str | Path) -> str:
    """'gif', 'mp4' or 'fits', from the file name; anything else is an ExportError naming the file."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix == "fit":
        suffix = "fits"
    if suffix not in FORMATS:
        raise ExportError(
            f"cannot export to {str(path)!r}: the file name must end in one of "
            + ", ".join(f".{f}" for f in FORMATS)
        )
    return suffix


def even_size(size: int) -> int:
    """Round a frame size up to an even number: H.264 in yuv420p (what browsers play) needs even sides."""
    return int(size) + (int(size) % 2)


def validate_request(request: ExportRequest, redshift_range: tuple[float, float] | None = None) -> None:
    """Raise ExportError naming the first value that is out of bounds, and the bound."""
    export_format(request.out)
    if not MIN_FRAMES <= request.frames <= MAX_FRAMES:
        raise ExportError(f"frames={request.frames} is out of bounds: choose {MIN_FRAMES} to {MAX_FRAMES} frames")
    if not MIN_SIZE <= request.size <= MAX_SIZE:
        raise ExportError(f"size={request.size} is out of bounds: choose {MIN_SIZE} to {MAX_SIZE} pixels")
    if not MIN_FPS <= request.fps <= MAX_FPS:
        raise ExportError(f"fps={request.fps} is out of bounds: choose {MIN_FPS} to {MAX_FPS} frames per second")
    if request.band is not None and request.band not in BANDS:
        raise ExportError(f"band={request.band!r} is not one of {BANDS} (or None for the colour composite)")
    for name, value in (("z_start", request.z_start), ("z_stop", request.z_stop)):
        if not np.isfinite(value):
            raise ExportError(f"{name}={value} is not a finite redshift")
    if request.z_start == request.z_stop:
        raise ExportError(f"z_start and z_stop are both {request.z_start}: a walk needs two different redshifts")
    if redshift_range is not None:
        low, high = redshift_range
        tolerance = 1e-6 * max(1.0, abs(high - low))
        for name, value in (("z_start", request.z_start), ("z_stop", request.z_stop)):
            if not low - tolerance <= value <= high + tolerance:
                raise ExportError(
                    f"{name}={value} is outside the checkpoint's training redshift range [{low:g}, {high:g}]"
                )


# The shipped survey starts at z = 0.02 (angular sizes diverge at z = 0), yet "from z = 0" is what people type.
# A walk end within this margin of the training range is moved onto it with a note; further out is refused.
# The rule and its margin are galaxy_explorer.diffusion.redshift_range's, shared by every command.
REDSHIFT_SNAP_MARGIN = REDSHIFT_MARGIN


def snap_to_redshift_range(name: str, value: float, redshift_range: tuple[float, float]) -> tuple[float, str | None]:
    """Move a walk end that lies just outside the training range onto it; return the value and a note (or None)."""
    low, high = redshift_range
    if not np.isfinite(value):
        return float(value), None  # validate_request names it
    snapped = min(max(float(value), low), high)
    if snapped == value or abs(snapped - value) > REDSHIFT_SNAP_MARGIN:
        return float(value), None
    return snapped, (f"{name}={value:g} is just outside the checkpoint's training redshift range "
                     f"[{low:g}, {high:g}]: using {snapped:g}")


def redshift_grid(z_start: float, z_stop: float, frames: int) -> np.ndarray:
    """Evenly spaced redshifts from z_start to z_stop inclusive (z_stop < z_start walks backwards)."""
    return np.linspace(float(z_start), float(z_stop), int(frames))


def rgb_frames(images: np.ndarray, band: str | None = None) -> np.ndarray:
    """(n,5,H,W) survey flux -> (n,H,W,3) uint8 with the app's fixed stretch (colour, or one band in grey)."""
    return lupton_rgb(images) if band is None else band_image(images, band)


def _font(size_px: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size_px)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def label_text(redshift: float) -> str:
    return f"z = {redshift:.2f}"


def render_frames(
    images: np.ndarray,
    redshifts: Sequence[float],
    size: int,
    *,
    label: bool = True,
    band: str | None = None,
    captions: Sequence[str] | None = None,
) -> np.ndarray:
    """Frames for an animation: composite, upscale to size×size, and burn in the redshift if asked.

    ``captions``: the text to burn into each frame instead of its redshift (a walk along a label, at one redshift,
    says which label moves). Upscaling is nearest-neighbour, so the model's 64×64 pixels stay visible rather than
    invented detail.
    """
    from PIL import Image, ImageDraw

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != len(BANDS):
        raise ExportError(f"expected frames shaped (n, {len(BANDS)}, H, W), got {images.shape}")
    if len(redshifts) != len(images):
        raise ExportError(f"{len(images)} frames but {len(redshifts)} redshifts")
    if captions is not None and len(captions) != len(images):
        raise ExportError(f"{len(images)} frames but {len(captions)} captions")
    texts = list(captions) if captions is not None else [label_text(redshift) for redshift in redshifts]
    size = even_size(size)
    rgb = rgb_frames(images, band)
    font = _font(max(10, size // 14))
    margin = max(3, size // 40)
    out = np.empty((len(rgb), size, size, 3), dtype=np.uint8)
    for k, (frame, text) in enumerate(zip(rgb, texts)):
        picture = Image.fromarray(frame).resize((size, size), Image.NEAREST)
        if label:
            draw = ImageDraw.Draw(picture)
            # A dark outline keeps the white text readable over bright galaxy centres.
            draw.text(
                (margin, margin), text, fill=(255, 255, 255), font=font,
                stroke_width=max(1, size // 200), stroke_fill=(0, 0, 0),
            )
        out[k] = np.asarray(picture)
    return out


def write_gif(path: Path, frames: np.ndarray, fps: int) -> None:
    """Animated GIF that loops forever."""
    import imageio.v3 as iio

    iio.imwrite(path, frames, extension=".gif", plugin="pillow", duration=1000.0 / fps, loop=0)


# imageio-ffmpeg's quality 8 (of 10) is libx264 CRF 10, below the 17-18 usually taken as visually lossless, so the
# nearest-neighbour-upscaled model pixels keep their sharp edges.
MP4_QUALITY = 8


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """H.264 in yuv420p with the index at the front (+faststart): what browsers and slide software play.

    imageio-ffmpeg runs the encoder, fed frame by frame through a pipe. If this process dies, the pipe closes and
    ffmpeg finishes what it has and exits, into the temporary file that ``atomic_path`` names; the next export to
    the same name removes it.
    """
    import imageio_ffmpeg

    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ExportError(f"MP4 frames must have even sides for yuv420p, got {width}×{height}")
    # macro_block_size=2: yuv420p needs even sides only; the default (16) would rescale other sizes.
    writer = imageio_ffmpeg.write_frames(
        str(path), (int(width), int(height)), pix_fmt_in="rgb24", pix_fmt_out="yuv420p", fps=int(fps),
        codec="libx264", quality=MP4_QUALITY, macro_block_size=2, ffmpeg_log_level="error",
        output_params=["-movflags", "+faststart"])
    try:
        writer.send(None)  # starts ffmpeg
        for frame in frames:
            writer.send(np.ascontiguousarray(frame, dtype=np.uint8))
    except OSError as exc:  # ffmpeg could not start, or stopped reading frames
        raise ExportError(f"{path}: ffmpeg failed while encoding ({str(exc).splitlines()[0]}); "
                          "ffmpeg's own message is on standard error") from None
    finally:
        writer.close()  # waits for ffmpeg to finish the file
    if not finished_mp4(path):
        raise ExportError(f"{path}: ffmpeg exited without finishing the video (no index written); "
                          "ffmpeg's own message is on standard error")


def finished_mp4(path: Path) -> bool:
    """Whether ffmpeg finished ``path``: its top-level boxes hold the index (moov) and the media (mdat).

    imageio-ffmpeg does not report ffmpeg's exit status, and ffmpeg writes the index last of all (with +faststart
    it then moves it to the front), so a failed encoder leaves a file without one.
    """
    found = set()
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return {b"moov", b"mdat"} <= found
            size, kind = int.from_bytes(header[:4], "big"), header[4:]
            if size == 1:  # a 64-bit size follows the type
                size = int.from_bytes(handle.read(8), "big") - 8
            elif size == 0:  # the box runs to the end of the file
                return {b"moov", b"mdat"} <= found | {kind}
            found.add(kind)
            if size < 8:
                return False
            handle.seek(size - 8, os.SEEK_CUR)
    return False


def write_fits(
    path: Path,
    images: np.ndarray,
    redshifts: Sequence[float],
    *,
    header: dict | None = None,
    conditions: dict[str, float] | None = None,
) -> None:
    """FITS cube (frames × bands × H × W, survey flux) with HSC's pixel scale in a simple celestial WCS
    (``fits_wcs``), and a table HDU giving the redshift of each frame."""
    from galaxy_explorer.output.fits_wcs import WCS_COMMENT, cube_wcs_cards

    images = np.asarray(images, dtype=np.float32)
    cards = {
        "BUNIT": ("survey flux", f"HSC coadd units, AB zero point {FLUX_ZERO_POINT_AB:g}"),
        "ZP_AB": (FLUX_ZERO_POINT_AB, "AB magnitude zero point of the pixel values"),
        "BANDS": (",".join(BANDS), "order of axis 2 (NAXIS3)"),
        "NFRAMES": (len(images), "frame redshifts: HDU REDSHIFT"),
    }
    cards.update({key[:8].upper(): value for key, value in (header or {}).items()})
    cards.update(cube_wcs_cards(images.shape[-2], images.shape[-1]))
    comments = [WCS_COMMENT, "Model samples for ONE fixed noise seed at each conditioning redshift.",
                "This is not the history of one galaxy."]
    columns = {"frame": np.arange(len(images), dtype=np.int32), "redshift": np.asarray(redshifts, dtype=np.float64)}
    for name, value in (conditions or {}).items():  # a number for every frame, or one per frame (a label walk)
        columns[name] = np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), (len(images),)))
    write_fits_file(path, FitsImage(images, cards, comments), [FitsTable("REDSHIFT", columns)])


def write_export(
    out: str | Path,
    images: np.ndarray,
    redshifts: Sequence[float],
    *,
    fps: int = 12,
    size: int = 512,
    label: bool = True,
    band: str | None = None,
    header: dict | None = None,
    conditions: dict[str, float] | None = None,
    overwrite: bool = True,
    captions: Sequence[str] | None = None,
) -> Path:
    """Write frames already computed to ``out`` (format from the suffix), atomically.

    Frames with NaN or infinite pixels are refused (nothing is written); ``overwrite=False`` never replaces an
    existing ``out``.
    """
    out = Path(out)
    kind = export_format(out)
    require_finite_frames(images, redshifts, f"frames for {out}")
    with atomic_path(out, overwrite=overwrite) as tmp:
        if kind == "fits":
            write_fits(tmp, images, redshifts, header=header, conditions=conditions)
        else:
            frames = render_frames(images, redshifts, size, label=label, band=band, captions=captions)
            (write_gif if kind == "gif" else write_mp4)(tmp, frames, fps)
    return out


def denoise_card(denoise_step: int | None) -> tuple[int, str]:
    """The FITS card of the final denoising step (a header value cannot be None: -1 says there was none)."""
    return (-1 if denoise_step is None else int(denoise_step), "final denoising training step (-1: none)")


def walk_header(request: ExportRequest, checkpoint: str | Path) -> dict:
    """The FITS header cards saying how a walk was made; the command line and the app write the same ones."""
    return {
        "SEED": (request.seed, "noise seed (fixed x_T for every frame)"),
        "SAMPLER": (request.sampler, "diffusion sampler"),
        "STEPS": (request.steps, "sampler steps"),
        "DENOISE": denoise_card(request.denoise_step),
        "SPACING": (DEFAULT_TIMESTEP_SPACING, "timestep spacing: even in log-SNR from T-1"),
        "CHECKPT": (Path(str(checkpoint)).name, "model checkpoint"),
    }


def export_walk(generator, request: ExportRequest, progress: Progress | None = None) -> Path:
    """Generate the walk with ``generator`` (a diffusion Generator) and write it; returns the output path.

    ``progress(done, total)`` counts frames; generation is done a few frames at a time so the count moves.
    """
    ranges = getattr(generator, "condition_ranges", {}) or {}
    validate_request(request, ranges.get("redshift"))
    redshifts = request.redshifts
    chunk = 4
    parts = []
    for start in range(0, len(redshifts), chunk):
        part = redshifts[start : start + chunk]
        frames = generator.frames(
            request.seed, part, sampler=request.sampler, steps=request.steps, batch_size=len(part),
            denoise_step=request.denoise_step,
            guidance_scale=request.guidance_scale, **request.conditions,
        )
        parts.append(require_finite_frames(frames, part, getattr(generator, "checkpoint_path", "the generator")))
        if progress is not None:
            progress(start + len(part), len(redshifts))
    images = np.concatenate(parts, axis=0)
    header = walk_header(request, getattr(generator, "checkpoint_path", "unknown"))
    free = [name for name in getattr(generator, "condition_names", ("redshift",))[1:] if name not in request.conditions]
    if free:  # the same card as the app's export
        header["FREE"] = (",".join(free), "labels left free")
    return write_export(
        request.out, images, redshifts, fps=request.fps, size=request.size, label=request.label,
        band=request.band, header=header, conditions=request.conditions, overwrite=request.overwrite,
    )
