"""Morphology of the central galaxy in 5-band cutouts: one pipeline for real and generated images.

Real and generated galaxies are compared only through numbers measured here, so both pass through exactly the
same steps (this is where the public code of Lizarraga et al. 2024 differs: it measured the *first* detected
source, derived a "Sérsic index" from the ellipticity alone, and used different software for real and generated
stamps):

1. background level and noise from sigma-clipped pixels of the outer frame of the detection band (default i);
2. detection, segmentation and deblending with sep (Source Extractor's algorithm), 1.5 sigma, 5 pixels;
3. the *central* source: the segment under the stamp centre, else the segment nearest to it (flagged);
4. ``fast``: Source Extractor-style shape from the segment's second moments (ellipticity 1 - b/a, semi-axes,
   position angle), isophotal area (pixels of the segment) and the circular half-light radius (sep.flux_radius,
   neighbours masked). These are *observed* quantities, as in a catalogue: the PSF rounds and enlarges small
   galaxies. Two cheap intrinsic estimates correct for it: ``ellipticity_psf_corrected`` subtracts the PSF's
   second moment (truncated at the isophotal radius) from the galaxy's, since second moments add under
   convolution; ``half_light_radius_psf_corrected`` shrinks the observed half-light radius by the same
   moment correction of the circularised size, ((a²-s²)(b²-s²)/(a²b²))^(1/4). Both are good to ~5% for
   resolved discs and are NaN / 0 for sources the PSF leaves unresolved (b² <= s²). (Subtracting the PSF's
   half-light radius in quadrature instead overestimates the built-in survey's sizes by ~30%: it ignores
   that the PSF broadens the minor axis far more than the major one.)
5. ``full`` adds statmorph (Rodriguez-Gomez et al. 2019) run with a Moffat PSF: a PSF-convolved Sérsic fit
   (index, semi-major half-light radius, ellipticity) and the non-parametric Gini, M20, concentration and
   asymmetry.

Units: pixels, pixels squared and radians (position angle counter-clockwise from the +x / column axis, in
(-pi/2, pi/2]). Fluxes are in survey units; the result does not depend on the flux scale.
A stamp without a central detection gives NaN in every column and a nonzero ``flag``; nothing raises.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import warnings
from typing import Any, NamedTuple

import numpy as np

from galaxy_explorer.instrument import BANDS, PIXEL_SCALE_ARCSEC, PSF_FWHM_ARCSEC
from galaxy_explorer.errors import GalaxyExplorerError

MORPHOLOGY_COLUMNS = (
    "ellipticity",
    "semi_major_axis",
    "semi_minor_axis",
    "position_angle",
    "isophotal_area",
    "half_light_radius",
    "sersic_index",
)
"""The columns every caller can rely on (pixels / pixels² / radians); ``sersic_index`` is NaN in fast mode."""

EXTRA_COLUMNS = (
    "x_centroid",
    "y_centroid",
    "isophotal_flux",
    "ellipticity_psf_corrected",
    "half_light_radius_psf_corrected",
)
"""Also measured in fast mode: barycentre (pixels, x = column), the segment's flux in the detection band, and
cheap PSF-corrected (intrinsic) estimates of the ellipticity and the half-light radius (module docstring, 4.)."""

FULL_COLUMNS = (
    "sersic_half_light_radius",
    "sersic_ellipticity",
    "gini",
    "m20",
    "concentration",
    "asymmetry",
)
"""Only measured in full mode (NaN in fast mode); ``sersic_half_light_radius`` is along the major axis, pixels."""

ALL_COLUMNS = MORPHOLOGY_COLUMNS + EXTRA_COLUMNS + FULL_COLUMNS
MODES = ("fast", "full")

# Flag bits (``flag`` column). Only NO_DETECTION blanks the measurements; the others are warnings.
NO_DETECTION = 1  # no source under or near the stamp centre (or a blank / non-finite stamp)
OFF_CENTRE = 2  # nothing under the centre pixel; the nearest source within a quarter stamp was measured
BLENDED = 4  # the central source was deblended from a neighbour
TOUCHES_EDGE = 8  # the central segment reaches the stamp border: sizes are lower limits
BAD_PIXELS = 16  # non-finite or extreme negative pixels (GalaxiesML has some) were masked
SERSIC_FIT_FAILED = 32  # full mode: the Sérsic fit did not converge; sersic_* are NaN
NONPARAMETRIC_UNRELIABLE = 64  # full mode: statmorph flagged Gini/M20/C/A as unreliable (values kept)
FLAG_NAMES = {
    NO_DETECTION: "no_detection",
    OFF_CENTRE: "off_centre",
    BLENDED: "blended",
    TOUCHES_EDGE: "touches_edge",
    BAD_PIXELS: "bad_pixels",
    SERSIC_FIT_FAILED: "sersic_fit_failed",
    NONPARAMETRIC_UNRELIABLE: "nonparametric_unreliable",
}

DETECT_THRESHOLD_SIGMA = 1.5  # Source Extractor's customary DETECT_THRESH
DETECT_MIN_AREA = 5  # pixels
DEBLEND_NTHRESH = 32
DEBLEND_CONT = 0.005
BACKGROUND_FRAME_PIXELS = 8  # sky statistics from the stamp's outer 8-pixel frame (1.3" on HSC)
BAD_PIXEL_SIGMA = 10.0  # pixels this far *below* the background are artefacts, not sky

HSC_MEDIAN_PSF_FWHM_ARCSEC = PSF_FWHM_ARCSEC
"""Median seeing of the HSC-SSP PDR2 Wide layer (Aihara et al. 2019): the full-mode PSF when none is given."""
MOFFAT_BETA = 2.5
STATMORPH_FAILED_VALUE = -99.0


class MorphologyError(GalaxyExplorerError, ValueError):
    """The images or options given to :func:`measure` are malformed (not a per-stamp measurement failure)."""


def flag_names(flag: int) -> list[str]:
    """Human-readable names of the bits set in one ``flag`` value."""
    return [name for bit, name in FLAG_NAMES.items() if int(flag) & bit]


# ----------------------------------------------------------------------------------------------- small maths
def background_and_noise(data: np.ndarray, clip_sigma: float = 3.0,
                         frame_pixels: int = BACKGROUND_FRAME_PIXELS) -> tuple[float, float]:
    """Sky level and per-pixel noise of one band: sigma-clipped median and standard deviation of the stamp's
    outer ``frame_pixels``-wide frame (the whole stamp if it is too small for one).

    The frame, not the whole stamp: the faint wings of a de Vaucouleurs galaxy cover most of the stamp and would
    raise the median, and subtracting them shrinks the fitted r_e and Sérsic index (by ~15% and ~1 on the built-in
    survey). Neighbours and the galaxy's own light only add positive flux, so 3-sigma clipping around the median,
    repeated until no pixel changes side (``astropy.stats.sigma_clipped_stats``), removes what reaches the frame.
    Returns NaNs for a stamp with fewer than 16 finite pixels and rms 0 for a constant (blank) stamp.
    """
    from astropy.stats import sigma_clipped_stats

    data = np.asarray(data)
    if frame_pixels > 0 and min(data.shape) >= 3 * frame_pixels:
        inner = np.zeros(data.shape, dtype=bool)
        inner[frame_pixels:-frame_pixels, frame_pixels:-frame_pixels] = True
        data = data[~inner]
    values = data[np.isfinite(data)].astype(np.float64, copy=False)
    if values.size < 16:
        return float("nan"), float("nan")
    _, level, rms = sigma_clipped_stats(values, sigma=clip_sigma, maxiters=None, cenfunc="median", stdfunc="std")
    return float(level), float(rms)


def moffat_alpha(fwhm_pixels: float, beta: float) -> float:
    """The Moffat core radius (astropy's ``gamma``) of a profile with this FWHM: FWHM = 2 alpha sqrt(2^(1/beta) - 1)."""
    return float(fwhm_pixels / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0)))


def moffat_second_moment(fwhm_pixels: float, radius: float, beta: float = MOFFAT_BETA) -> float:
    """Per-axis second moment (pixels²) of a pixel-integrated Moffat PSF, counting light within ``radius`` only.

    Second moments add under convolution, so subtracting this from a galaxy's isophotal moments undoes most of
    the PSF's rounding; truncating at the isophotal radius mimics the finite segment the moments come from.
    With u = r²/alpha²: sum(r² P) / sum(P) over the disc, in closed form, plus 1/12 for the pixel response.
    """
    alpha = moffat_alpha(fwhm_pixels, beta)
    upper = radius**2 / alpha**2
    light = (1.0 - (1.0 + upper) ** (1.0 - beta)) / (beta - 1.0)
    u_weighted = (1.0 - (1.0 + upper) ** (2.0 - beta)) / (beta - 2.0) - light
    if light <= 0:
        return 1.0 / 12.0
    return float(0.5 * alpha**2 * u_weighted / light + 1.0 / 12.0)


def moffat_psf(fwhm_pixels: float, beta: float = MOFFAT_BETA, size: int = 25, oversample: int = 5) -> np.ndarray:
    """A normalised, pixel-integrated circular Moffat PSF image (odd ``size``), for the PSF-aware Sérsic fit:
    astropy's ``Moffat2D`` averaged over ``oversample``² points per pixel."""
    from astropy.convolution import discretize_model
    from astropy.modeling.functional_models import Moffat2D

    centre = size // 2
    profile = Moffat2D(amplitude=1.0, x_0=centre, y_0=centre, gamma=moffat_alpha(fwhm_pixels, beta), alpha=beta)
    psf = discretize_model(profile, (0, size), (0, size), mode="oversample", factor=oversample)
    return psf / psf.sum()


def _central_label(segmentation: np.ndarray, objects: np.ndarray) -> tuple[int, int]:
    """Label (1-based) of the central source and the flag bits its choice implies; 0 when there is none."""
    height, width = segmentation.shape
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    # For an even stamp the centre falls between four pixels: take the segment covering most of them.
    rows = slice(int(np.floor(cy)), int(np.ceil(cy)) + 1)
    cols = slice(int(np.floor(cx)), int(np.ceil(cx)) + 1)
    under_centre = segmentation[rows, cols].ravel()
    under_centre = under_centre[under_centre > 0]
    if under_centre.size:
        labels, counts = np.unique(under_centre, return_counts=True)
        return int(labels[np.argmax(counts)]), 0
    if len(objects) == 0:
        return 0, NO_DETECTION
    distance = np.hypot(objects["x"] - cx, objects["y"] - cy)
    nearest = int(np.argmin(distance))
    if distance[nearest] > min(height, width) / 4.0:
        return 0, NO_DETECTION
    return nearest + 1, OFF_CENTRE


def _empty_row(flag: int) -> dict[str, float]:
    row = {name: float("nan") for name in ALL_COLUMNS}
    row["flag"] = flag
    return row


# ----------------------------------------------------------------------------------------------- one stamp
class _Detection(NamedTuple):
    """What detection found in one stamp: the background-subtracted image (bad pixels zeroed), the bad-pixel mask,
    the noise, sep's catalogue and segmentation map, the central source's label (0: none) and the flag so far."""

    subtracted: np.ndarray
    bad: np.ndarray
    rms: float
    objects: np.ndarray
    segmentation: np.ndarray
    label: int
    flag: int


def _detect(data: np.ndarray) -> _Detection | int:
    """Steps 1-3 of the module docstring: background, detection and the central source; a flag when it fails."""
    import sep

    level, rms = background_and_noise(data)
    if not np.isfinite(rms) or rms <= 0:
        return NO_DETECTION
    bad = ~np.isfinite(data) | (data < level - BAD_PIXEL_SIGMA * rms)
    flag = BAD_PIXELS if bad.any() else 0
    # sep wants native-endian, C-contiguous float arrays.
    subtracted = np.ascontiguousarray(np.where(bad, 0.0, data - level), dtype=np.float32)
    try:
        objects, segmentation = sep.extract(
            subtracted, DETECT_THRESHOLD_SIGMA, err=rms, mask=bad, minarea=DETECT_MIN_AREA,
            deblend_nthresh=DEBLEND_NTHRESH, deblend_cont=DEBLEND_CONT, segmentation_map=True,
        )
    except Exception:  # sep raises on pathological images (object/pixel-stack overflow): a failed detection
        return flag | NO_DETECTION
    label, choice_flag = _central_label(segmentation, objects)
    if label == 0:
        return flag | choice_flag | NO_DETECTION
    return _Detection(subtracted, bad, rms, objects, segmentation, label, flag | choice_flag)


def _psf_corrected(a: float, b: float, half_light: float, isophotal_area: float, psf_fwhm_pixels: float,
                   psf_beta: float) -> dict[str, float]:
    """The cheap intrinsic estimates of the module docstring (4.): the PSF's second moment taken off the source's."""
    if not (psf_fwhm_pixels > 0 and a > 0 and b > 0):
        return {}
    psf_moment = moffat_second_moment(psf_fwhm_pixels, float(np.sqrt(isophotal_area / np.pi)), psf_beta)
    if b * b > psf_moment:
        shrink = ((a * a - psf_moment) * (b * b - psf_moment) / (a * a * b * b)) ** 0.25
        return {"ellipticity_psf_corrected": float(1.0 - np.sqrt((b * b - psf_moment) / (a * a - psf_moment))),
                "half_light_radius_psf_corrected": float(half_light * shrink)}
    if np.isfinite(half_light):
        return {"half_light_radius_psf_corrected": 0.0}  # unresolved: smaller than the PSF can show
    return {}


def measure_stamp(
    band_image: np.ndarray, *, mode: str = "fast", psf_fwhm_pixels: float = 0.0, psf: np.ndarray | None = None,
    psf_beta: float = MOFFAT_BETA,
) -> dict[str, float]:
    """Measure the central source of one 2-D detection-band image. Never raises on odd data.

    ``psf_fwhm_pixels`` (a Moffat PSF) feeds the PSF-corrected columns (left NaN when 0); ``psf`` (a normalised
    PSF image) is needed in full mode.
    """
    import sep

    data = np.asarray(band_image, dtype=np.float64)
    found = _detect(data)
    if not isinstance(found, _Detection):
        return _empty_row(found)
    source = found.objects[found.label - 1]
    height, width = data.shape
    flag = found.flag
    if source["flag"] & sep.OBJ_MERGED:
        flag |= BLENDED
    if source["xmin"] <= 0 or source["ymin"] <= 0 or source["xmax"] >= width - 1 or source["ymax"] >= height - 1:
        flag |= TOUCHES_EDGE

    a, b = float(source["a"]), float(source["b"])
    x, y = float(source["x"]), float(source["y"])
    row = _empty_row(flag)
    row.update(
        ellipticity=1.0 - b / a if a > 0 else float("nan"),
        semi_major_axis=a,
        semi_minor_axis=b,
        position_angle=float(source["theta"]),
        isophotal_area=float(np.count_nonzero(found.segmentation == found.label)),
        x_centroid=x,
        y_centroid=y,
        isophotal_flux=float(source["flux"]),
    )
    row["half_light_radius"] = _half_light_radius(found.subtracted, found.segmentation, found.label, found.bad, x, y)
    row.update(_psf_corrected(a, b, row["half_light_radius"], row["isophotal_area"], psf_fwhm_pixels, psf_beta))
    if mode == "full":
        row.update(_full_measurements(found.subtracted, found.segmentation, found.label, found.bad, found.rms, psf))
    return row


def _half_light_radius(subtracted, segmentation, label, bad, x, y) -> float:
    """Circular radius holding half the flux found within the largest circle that fits in the stamp.

    Neighbouring segments are masked (``seg_id`` > 0 masks other objects, keeps sky pixels) so a companion
    does not inflate the size. Normalising by the flux within the stamp, not by a Kron aperture, keeps small and
    exponential galaxies unbiased; for very extended de Vaucouleurs profiles the stamp truncates the growth curve.
    """
    import sep

    height, width = subtracted.shape
    radius_max = max(3.0, min(x + 0.5, y + 0.5, width - 0.5 - x, height - 0.5 - y))
    try:
        radius, radius_flag = sep.flux_radius(
            subtracted, np.array([x]), np.array([y]), np.array([radius_max]), 0.5,
            mask=bad, segmap=segmentation.astype(np.int32), seg_id=np.array([label], dtype=np.int32), subpix=5,
        )
    except Exception:
        return float("nan")
    value = float(np.atleast_1d(radius)[0])
    return value if np.isfinite(value) and 0 < value < radius_max else float("nan")


def _full_measurements(subtracted, segmentation, label, bad, rms, psf) -> dict[str, float]:
    """statmorph on the central source: a PSF-convolved Sérsic fit plus Gini, M20, concentration, asymmetry."""
    import statmorph

    out: dict[str, float] = {}
    flag = 0
    neighbours = (segmentation > 0) & (segmentation != label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statmorph warns per stamp; its flags carry the information
            morph = statmorph.SourceMorphology(
                subtracted.astype(np.float64), segmentation.astype(np.int64), label,
                mask=bad | neighbours,
                weightmap=np.full(subtracted.shape, rms, dtype=np.float64),  # background-limited noise
                psf=psf, skybox_size=16,
            )
    except Exception:
        return {"flag_full": SERSIC_FIT_FAILED | NONPARAMETRIC_UNRELIABLE}
    if morph.flag_sersic == 0 and np.isfinite(morph.sersic_n) and morph.sersic_n != STATMORPH_FAILED_VALUE:
        out["sersic_index"] = float(morph.sersic_n)
        out["sersic_half_light_radius"] = float(morph.sersic_rhalf)
        out["sersic_ellipticity"] = float(morph.sersic_ellip)
    else:
        flag |= SERSIC_FIT_FAILED
    if morph.flag >= 2:  # statmorph: 0 good, 1 suspect, 2 bad, 4 catastrophic
        flag |= NONPARAMETRIC_UNRELIABLE
    for name, value in (("gini", morph.gini), ("m20", morph.m20), ("concentration", morph.concentration),
                        ("asymmetry", morph.asymmetry)):
        # statmorph reports a quantity it could not compute as -99, never NaN.
        out[name] = float(value) if np.isfinite(value) and value != STATMORPH_FAILED_VALUE else float("nan")
    return out | {"flag_full": flag}


def _measure_chunk(detection_images: np.ndarray, mode: str, psf_fwhm_pixels: float,
                   psf_beta: float = MOFFAT_BETA) -> list[dict[str, float]]:
    psf = moffat_psf(psf_fwhm_pixels, psf_beta) if mode == "full" else None
    rows = []
    for stamp in detection_images:
        row = measure_stamp(stamp, mode=mode, psf_fwhm_pixels=psf_fwhm_pixels, psf=psf, psf_beta=psf_beta)
        extra = int(row.pop("flag_full", 0))
        row["flag"] = int(row["flag"]) | extra
        rows.append(row)
    return rows


def _measure_all(detection: np.ndarray, mode: str, psf_fwhm_pixels: float, psf_beta: float, workers: int,
                 progress: Any) -> list[dict[str, float]]:
    """Rows for every stamp, in order: in chunks here, or spread over ``workers`` processes."""
    total = len(detection)
    rows: list[dict[str, float]] = []
    if workers == 1 or total < 2:
        chunk = max(1, min(64, total))
        for start in range(0, total, chunk):
            rows.extend(_measure_chunk(detection[start:start + chunk], mode, psf_fwhm_pixels, psf_beta))
            if progress is not None:
                progress(len(rows), total)
        return rows
    # Spawned (not forked) workers: the caller may have torch thread pools alive, which fork can deadlock.
    chunk = max(1, int(np.ceil(total / (workers * 4))))
    pieces = [detection[start:start + chunk] for start in range(0, total, chunk)]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for result in pool.map(_measure_chunk, pieces, [mode] * len(pieces), [psf_fwhm_pixels] * len(pieces),
                                 [psf_beta] * len(pieces)):
            rows.extend(result)
            if progress is not None:
                progress(len(rows), total)
    return rows


def _checked_images(images, bands: tuple[str, ...]) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] != len(bands) or min(images.shape[2:]) < 8:
        raise MorphologyError(f"images must be shaped (n, {len(bands)}, H, W) with H, W >= 8; got {images.shape}")
    return images


def _checked_psf_fwhm_pixels(detection_band: str, psf_fwhm_arcsec: float | None, psf_moffat_beta: float,
                             pixel_scale_arcsec: float) -> float:
    """The PSF's FWHM in pixels (HSC's median seeing in the detection band when none is given), after checking
    every PSF option."""
    fwhm_arcsec = HSC_MEDIAN_PSF_FWHM_ARCSEC.get(detection_band, 0.7) if psf_fwhm_arcsec is None else psf_fwhm_arcsec
    if not np.isfinite(fwhm_arcsec) or fwhm_arcsec <= 0:
        raise MorphologyError(f"psf_fwhm_arcsec must be a positive number, got {psf_fwhm_arcsec!r}")
    if not np.isfinite(pixel_scale_arcsec) or pixel_scale_arcsec <= 0:
        raise MorphologyError(f"pixel_scale_arcsec must be a positive number, got {pixel_scale_arcsec!r}")
    if not np.isfinite(psf_moffat_beta) or psf_moffat_beta <= 2.0:
        raise MorphologyError(f"psf_moffat_beta must be a number > 2 (finite second moment), got {psf_moffat_beta!r}")
    return float(fwhm_arcsec / pixel_scale_arcsec)


# ----------------------------------------------------------------------------------------------- public entry
def measure(
    images: np.ndarray,
    *,
    mode: str = "fast",
    detection_band: str = "i",
    workers: int = 1,
    bands: tuple[str, ...] = BANDS,
    psf_fwhm_arcsec: float | None = None,
    psf_moffat_beta: float = MOFFAT_BETA,
    pixel_scale_arcsec: float = PIXEL_SCALE_ARCSEC,
    progress: Any = None,
) -> dict[str, np.ndarray]:
    """Measure the central galaxy of each (5,H,W) cutout in survey flux units.

    Returns ``{column: (n,) array}`` for every name in :data:`ALL_COLUMNS` plus ``flag`` (int64; bits in
    :data:`FLAG_NAMES`). ``mode='full'`` also fits a Sérsic profile convolved with a Moffat PSF of FWHM
    ``psf_fwhm_arcsec`` and slope ``psf_moffat_beta`` (default FWHM: HSC median seeing in the detection band; it
    also sets the fast-mode ``*_psf_corrected`` columns) and runs in ``workers`` processes.
    ``progress(done, total)`` is called after each chunk when given.
    """
    if mode not in MODES:
        raise MorphologyError(f"mode {mode!r} is not one of {MODES}")
    if detection_band not in bands:
        raise MorphologyError(f"detection_band {detection_band!r} is not one of the image bands {bands}")
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise MorphologyError(f"workers must be a positive integer, got {workers!r}")
    detection = _checked_images(images, bands)[:, bands.index(detection_band)]
    psf_fwhm_pixels = _checked_psf_fwhm_pixels(detection_band, psf_fwhm_arcsec, psf_moffat_beta, pixel_scale_arcsec)
    rows = _measure_all(detection, mode, psf_fwhm_pixels, psf_moffat_beta, workers, progress)
    if not rows:
        return {name: np.zeros(0, dtype=np.float64) for name in ALL_COLUMNS} | {"flag": np.zeros(0, np.int64)}
    columns = {name: np.array([row[name] for row in rows], dtype=np.float64) for name in ALL_COLUMNS}
    columns["flag"] = np.array([int(row["flag"]) for row in rows], dtype=np.int64)
    return columns
