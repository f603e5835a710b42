"""Synthetic survey against real galaxies: the built-in survey's colour, magnitude and size relations against 100 real
COSMOS galaxies, real HST stamps seen through the survey's instrument, and the reader on real HSC scenes.

Everything is measured in the same units and the same selection on both sides:

* Selection. The built-in survey holds galaxies with i < 24 (``population.SELECTION_I_MAG``); the real sample is
  F814W < 26. The comparison therefore uses the real galaxies with HSC i < 24 (25 of them) against the survey as
  shipped. A second comparison takes all real galaxies with i < 26 against the survey's population model with its
  selection moved to i < 26 (the same physics, drawn deeper; not the shipped survey).
* Redshift. Synthetic galaxies are drawn AT the real galaxies' redshifts (``DRAWS_PER_GALAXY`` per real galaxy,
  every other property drawn given z exactly as for the survey), so both sides of a redshift bin have the same
  redshift distribution and a difference is a difference at fixed z, not of n(z).
* Colours and magnitudes: real HSC catalogue magnitudes (total magnitudes of a deep catalogue) against the synthetic
  galaxies' true total magnitudes (``true_{band}_mag``: noise-free, neighbours excluded; the survey's
  ``{band}_cmodel_mag`` column), the closest synthetic quantity to a total (cmodel-like) catalogue magnitude.
* Sizes, twice. (1) Catalogue: real ``flux_radius`` (Source Extractor's circular half-light radius on the HST
  image, arcsec) against the radius of the circle holding half the light of the synthetic truth's bulge + disc
  (``circular_half_light_arcsec``), with the HST PSF's half-light radius added in quadrature (the HST PSF is
  small: 0.07"). (2) Measured: the real HST stamps convolved to the survey's PSF and resampled to
  0.168"/px, with the survey's sky noise, and the synthetic stamps, both through the same morphology pipeline
  (``half_light_radius``, sep's flux_radius, i band): the same quantity measured the same way.

Each bin gives medians with bootstrap errors; a synthetic median is "within the errors" when it differs from the
real one by at most ``TENSION_LIMIT`` combined standard errors.
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage, signal, special, stats

from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.data.checkpoint import load_metadata
from galaxy_explorer.data.normalization import Normalization
from galaxy_explorer.evaluation.real_data import (CosmosCatalogue, RealDataError, find_realdata, load_cosmos_catalogue,
                                                  load_cosmos_stamps, load_hsc_scenes, missing_files)
from galaxy_explorer.evaluation.real_scenes import check_scenes, scene_summary
from galaxy_explorer.evaluation.statistics import finite
from galaxy_explorer.json_output import json_safe
from galaxy_explorer.instrument import (BANDS, MOFFAT_BETA, PIXEL_SCALE_ARCSEC, PSF_FWHM_ARCSEC, STAMP_SIZE,
                                       ZERO_POINT_AB)
from galaxy_explorer.measure import morphology
from galaxy_explorer.measure.photometry import COLOURS
from galaxy_explorer.paths import ASSETS_DIR, DEFAULT_DIFFUSION_CHECKPOINT
from galaxy_explorer.synthetic import population
from galaxy_explorer.synthetic.observation import SKY_NOISE_SIGMA
from galaxy_explorer.synthetic.population import draw_catalogue
from galaxy_explorer.synthetic.synthetic_survey import SyntheticSurvey, truth_columns
from galaxy_explorer.synthetic.tables import Tables

SECTION_HEADING = "Synthetic survey against real galaxies"
RESULT_PATH = ASSETS_DIR / "evaluation" / "real-data.json"
DEFAULT_SEED = 20240606
MATCHED_I_LIMIT = population.SELECTION_I_MAG
DEEP_I_LIMIT = 26.0  # the real sample's limit: F814W < 26 (the catalogue's name; its MAG column stops at 25.98)
N_REDSHIFT_BINS = 4
DRAWS_PER_GALAXY = 400  # catalogue draws per real galaxy: synthetic errors ~20x smaller than real ones
STAMPS_PER_GALAXY = 40  # rendered and measured synthetic stamps per real galaxy (i < 24 only)
BOOTSTRAP_RESAMPLES = 2000
TENSION_LIMIT = 2.0
RELATIONS = COLOURS + ("i", "size")
RELATION_LABELS = {"g-r": "g − r", "r-i": "r − i", "i-z": "i − z", "z-y": "z − y", "i": "i magnitude",
                   "size": "half-light radius (arcsec)", "size_measured": "half-light radius at HSC (arcsec)"}
BULGE_AXIS_RATIO = 0.8  # mean of the U(0.6, 1) draw of disc galaxies' bulge axis ratios (population.py)
FINE_GRID = 161  # PSF grid on the HST pixels (0.03"): +-2.4", where a beta = 3 Moffat of 0.58" keeps 99.7% of its light


# ---------------------------------------------------------------------------------------------- statistics
def bootstrap_median(values, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict[str, float]:
    """Median, its bootstrap standard error and 16-84% interval; NaN where undefined (no values; error: < 2)."""
    values = finite(values)
    nan = float("nan")
    if values.size == 0:
        return {"n": 0, "median": nan, "error": nan, "ci_low": nan, "ci_high": nan}
    median = float(np.median(values))
    if values.size < 2:
        return {"n": 1, "median": median, "error": nan, "ci_low": nan, "ci_high": nan}
    rng = np.random.default_rng(seed)
    medians = np.median(values[rng.integers(0, values.size, size=(resamples, values.size))], axis=1)
    low, high = np.percentile(medians, [16, 84])
    return {"n": int(values.size), "median": median, "error": float(np.std(medians, ddof=1)),
            "ci_low": float(low), "ci_high": float(high)}


def equal_count_edges(redshift, n_bins: int = N_REDSHIFT_BINS) -> list[float]:
    """Redshift bin edges holding about equal numbers of ``redshift`` (rounded to 0.01; first 0, last above all)."""
    redshift = finite(redshift)
    inner = np.round(np.quantile(redshift, np.linspace(0, 1, n_bins + 1)[1:-1]), 2)
    top = np.ceil(redshift.max() * 100 + 1) / 100
    return [0.0] + sorted({float(edge) for edge in inner if 0 < edge < top}) + [float(top)]


def binned_medians_with_errors(values, redshift, edges, *, seed: int = 0,
                               resamples: int = BOOTSTRAP_RESAMPLES) -> list[dict[str, float]]:
    """Per half-open redshift bin [edges[k], edges[k+1]): z_low, z_high and ``bootstrap_median`` of the values."""
    values, redshift = np.asarray(values, dtype=np.float64), np.asarray(redshift, dtype=np.float64)
    rows = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (redshift >= low) & (redshift < high)
        rows.append({"z_low": float(low), "z_high": float(high),
                     **bootstrap_median(values[inside], resamples=resamples, seed=seed + k)})
    return rows


def compare_binned(real_bins: list[dict], synthetic_bins: list[dict],
                   tension_limit: float = TENSION_LIMIT) -> list[dict]:
    """Per bin: both medians, the difference (synthetic - real), its combined error, the tension (difference /
    error) and whether the synthetic median is within ``tension_limit`` errors (None when a side has no error)."""
    rows = []
    for real, synthetic in zip(real_bins, synthetic_bins):
        difference = synthetic["median"] - real["median"]
        sigma = float(np.hypot(real["error"], synthetic["error"]))
        usable = np.isfinite(difference) and np.isfinite(sigma) and sigma > 0
        tension = float(difference / sigma) if usable else float("nan")
        rows.append({"z_low": real["z_low"], "z_high": real["z_high"], "real": real, "synthetic": synthetic,
                     "difference": float(difference), "sigma": sigma, "tension": tension,
                     "within": bool(abs(tension) <= tension_limit) if usable else None})
    return rows


def compare_relation(real_values, real_redshift, synthetic_values, synthetic_redshift, edges, *,
                     seed: int = 0) -> tuple[list[dict], dict]:
    """``compare_binned`` per redshift bin, and over all the bins together (one bin from the first edge to the
    last: several bins each within the errors but all on one side can still add up to a difference)."""
    bins = compare_binned(binned_medians_with_errors(real_values, real_redshift, edges, seed=seed),
                          binned_medians_with_errors(synthetic_values, synthetic_redshift, edges, seed=seed + 5))
    whole = [edges[0], edges[-1]]
    overall = compare_binned(binned_medians_with_errors(real_values, real_redshift, whole, seed=seed + 7),
                             binned_medians_with_errors(synthetic_values, synthetic_redshift, whole, seed=seed + 8))
    return bins, overall[0]


# ---------------------------------------------------------------------------------------------- synthetic side
def synthetic_truth_at(redshift, *, per_galaxy: int, seed: int,
                       i_limit: float = MATCHED_I_LIMIT) -> dict[str, np.ndarray]:
    """Truth columns of ``per_galaxy`` synthetic galaxies at each of ``redshift``, drawn as the survey draws them,
    with the survey's i-band selection at ``i_limit`` (the shipped survey: ``MATCHED_I_LIMIT``).

    A limit other than the survey's is set by changing ``population.SELECTION_I_MAG`` for the duration of the draw
    (the population code reads it at call time); not thread-safe, for offline evaluation only.
    """
    z = torch.as_tensor(np.repeat(np.asarray(redshift, dtype=np.float64), per_galaxy), dtype=torch.float32)
    generator = torch.Generator().manual_seed(int(seed))
    shipped_limit = population.SELECTION_I_MAG
    population.SELECTION_I_MAG = float(i_limit)
    try:
        catalogue = draw_catalogue(int(z.numel()), generator, Tables("cpu"), redshift=z)
    finally:
        population.SELECTION_I_MAG = shipped_limit
    return {name: values.numpy().astype(np.float64) for name, values in truth_columns(catalogue).items()}


def _circle_light_fraction(radius, r_e, n, q, angles: int = 24) -> np.ndarray:
    """Share of an elliptical Sérsic profile's light (semi-major r_e, index n, axis ratio q) inside a circle of
    ``radius`` about its centre. With I = f(s), s² = x² + y²/q², the light inside a circle is
    (1 / 2 pi q) ∫ dθ P(radius g(θ)) / g(θ)², g² = cos²θ + sin²θ/q², P the Sérsic's circular growth
    curve."""
    theta = (np.arange(angles) + 0.5) * (np.pi / 2) / angles  # one quadrant holds all: the profile is symmetric
    g = np.sqrt(np.cos(theta) ** 2 + np.sin(theta) ** 2 / q[:, None] ** 2)
    b = special.gammaincinv(2 * n, 0.5)[:, None]
    growth = special.gammainc(2 * n[:, None], b * (radius[:, None] * g / r_e[:, None]) ** (1 / n[:, None]))
    return (growth / g**2).mean(axis=1) / q


def circular_half_light_arcsec(truth: dict[str, np.ndarray], iterations: int = 30) -> np.ndarray:
    """Radius of the circle about the centre holding half the light of the true bulge + disc (Source Extractor's
    FLUX_RADIUS on a noiseless, PSF-free image), by bisection; weights: the rest-frame r bulge fraction. Spiral
    arms and clumps are counted with the disc they are drawn in; the truth has no bulge axis ratio for discs, so
    their (small) bulges take ``BULGE_AXIS_RATIO``."""
    share = truth["true_bulge_fraction"]
    is_disc = truth["true_population"] == population.STAR_FORMING
    components = [(share, truth["true_bulge_r_e_arcsec"], truth["true_bulge_sersic_n"],
                   np.where(is_disc, BULGE_AXIS_RATIO, truth["true_axis_ratio"])),
                  (1.0 - share, truth["true_r_e_arcsec"], np.ones_like(share), truth["true_axis_ratio"])]
    low = np.zeros_like(share)
    high = 3.0 * np.maximum(truth["true_r_e_arcsec"], truth["true_bulge_r_e_arcsec"]) + 1e-3
    for _ in range(iterations):
        middle = (low + high) / 2
        light = sum(w * _circle_light_fraction(middle, r, n, q) for w, r, n, q in components)
        low, high = np.where(light < 0.5, middle, low), np.where(light < 0.5, high, middle)
    return (low + high) / 2


def psf_half_light_arcsec(psf: np.ndarray, pixel_scale: float) -> float:
    """Circular half-light radius of a PSF image about its peak (arcsec)."""
    rows, columns = np.indices(psf.shape)
    peak_row, peak_column = np.unravel_index(int(np.argmax(psf)), psf.shape)
    radius = np.hypot(rows - peak_row, columns - peak_column).ravel()
    order = np.argsort(radius)
    enclosed = np.cumsum(psf.ravel()[order]) / psf.sum()
    return float(radius[order][np.searchsorted(enclosed, 0.5)] * pixel_scale)


# ---------------------------------------------------------------------------------------------- the relations
def _relation_values(magnitudes: dict[str, np.ndarray], size: np.ndarray) -> dict[str, np.ndarray]:
    values = {name: magnitudes[name.split("-")[0]] - magnitudes[name.split("-")[1]] for name in COLOURS}
    return values | {"i": magnitudes["i"], "size": size}


def catalogue_relations(catalogue: CosmosCatalogue, i_limit: float, *, seed: int, hst_psf_half_light: float,
                        per_galaxy: int = DRAWS_PER_GALAXY) -> dict:
    """Colours, i magnitude and catalogue size against redshift, real (i < ``i_limit``) against synthetic drawn at
    the same redshifts with the same limit; bins hold equal numbers of real galaxies."""
    real = catalogue.select(np.flatnonzero(catalogue.magnitudes["i"] < i_limit))
    truth = synthetic_truth_at(real.redshift, per_galaxy=per_galaxy, seed=seed, i_limit=i_limit)
    synthetic_size = np.hypot(circular_half_light_arcsec(truth), hst_psf_half_light)
    real_values = _relation_values(real.magnitudes, real.flux_radius_arcsec)
    synthetic_values = _relation_values({b: truth[f"true_{b}_mag"] for b in BANDS}, synthetic_size)
    edges = equal_count_edges(real.redshift)
    relations, overall = {}, {}
    for k, name in enumerate(RELATIONS):
        relations[name], overall[name] = compare_relation(real_values[name], real.redshift, synthetic_values[name],
                                                          truth["true_redshift"], edges, seed=seed + 10 * k)
    populations = colour_populations(real_values["g-r"], real.redshift, truth, edges, seed=seed + 100)
    return {"i_limit": float(i_limit), "n_real": len(real), "n_synthetic": int(truth["true_redshift"].size),
            "edges": edges, "relations": relations, "overall": overall, "colour_populations": populations,
            "hst_psf_half_light_arcsec": hst_psf_half_light,
            "real_points": {"redshift": real.redshift.tolist(), **{k: v.tolist() for k, v in real_values.items()}}}


def colour_populations(real_colour, real_redshift, truth: dict[str, np.ndarray], edges, *, seed: int = 0) -> list[dict]:
    """Where a g - r difference comes from, per bin: the synthetic quiescent fraction; the g - r midway between the
    synthetic quiescent and star-forming medians; the share of real (Wilson 68% interval) and synthetic galaxies
    redder than that; and the median g - r of the galaxies bluer than it, real against synthetic."""
    colour = truth["true_g_mag"] - truth["true_r_mag"]
    quiescent = truth["true_population"] == population.QUIESCENT
    rows = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        synthetic = (truth["true_redshift"] >= low) & (truth["true_redshift"] < high)
        real = real_colour[(real_redshift >= low) & (real_redshift < high)]
        if not synthetic.any() or real.size == 0:
            continue
        threshold = float((np.median(colour[synthetic & quiescent]) + np.median(colour[synthetic & ~quiescent])) / 2
                          if (synthetic & quiescent).any() else np.inf)
        red = int((real > threshold).sum())
        interval = stats.binomtest(red, real.size).proportion_ci(confidence_level=0.68, method="wilson")
        bounds = {"z_low": low, "z_high": high}
        blue = compare_binned([bounds | bootstrap_median(real[real <= threshold], seed=seed + k)],
                              [bounds | bootstrap_median(colour[synthetic & (colour <= threshold)],
                                                         seed=seed + k + 50)])[0]
        rows.append({"z_low": float(low), "z_high": float(high), "threshold_g_minus_r": threshold,
                     "synthetic_quiescent_fraction": float(quiescent[synthetic].mean()),
                     "synthetic_red_fraction": float((colour[synthetic] > threshold).mean()),
                     "real_red": red, "real_n": int(real.size), "real_red_fraction": red / real.size,
                     "real_red_fraction_low": float(interval.low), "real_red_fraction_high": float(interval.high),
                     "blue_galaxies_g_minus_r": blue})
    return rows


# ---------------------------------------------------------------------------------------------- HST -> HSC
def hsc_psf_on_grid(band: str = "i", pixel_scale: float = 0.03, size: int = FINE_GRID) -> np.ndarray:
    """The survey's PSF in ``band`` (Moffat, ``PSF_FWHM_ARCSEC``, ``MOFFAT_BETA``) times its 0.168" pixel response,
    sampled on a finer grid of ``pixel_scale``: what one HSC pixel value sees of a sky brightness map there."""
    fwhm = PSF_FWHM_ARCSEC[band] / pixel_scale
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / MOFFAT_BETA) - 1.0))
    offset = np.arange(size) - (size - 1) / 2.0
    moffat = (1.0 + (offset[None, :] ** 2 + offset[:, None] ** 2) / alpha**2) ** (-MOFFAT_BETA)
    width = PIXEL_SCALE_ARCSEC / pixel_scale  # the HSC pixel in fine pixels (5.6 for HST): a box with partial edges
    taps = int(np.ceil(width)) + (1 - int(np.ceil(width)) % 2)
    box = np.ones(taps)
    box[[0, -1]] = 1.0 - (taps - width) / 2.0
    target = signal.fftconvolve(moffat, np.outer(box, box), mode="same")
    return target / target.sum()


def centred_psf(psf: np.ndarray, size: int = FINE_GRID) -> np.ndarray:
    """``psf`` on an odd ``size`` grid with its peak on the centre pixel, normalised to sum 1."""
    out = np.zeros((size, size))
    peak_row, peak_column = np.unravel_index(int(np.argmax(psf)), psf.shape)
    top, left = size // 2 - peak_row, size // 2 - peak_column
    rows = slice(max(0, -top), min(psf.shape[0], size - top))
    columns = slice(max(0, -left), min(psf.shape[1], size - left))
    out[rows.start + top:rows.stop + top, columns.start + left:columns.stop + left] = psf[rows, columns]
    return out / out.sum()


def matching_kernel(source_psf: np.ndarray, target_psf: np.ndarray) -> np.ndarray:
    """Kernel taking images with ``source_psf`` to ``target_psf`` (photutils' Fourier-ratio PSF matching)."""
    try:
        from photutils.psf_matching import make_kernel
    except ImportError:  # photutils < 3 names it differently
        from photutils.psf.matching import create_matching_kernel as make_kernel
    return make_kernel(source_psf, target_psf)


def degrade_to_hsc(stamp: np.ndarray, kernel: np.ndarray, pixel_scale: float, size: int = STAMP_SIZE) -> np.ndarray:
    """A high-resolution stamp seen by the survey: convolved with ``kernel`` (to the survey PSF with its pixel
    response) and sampled at the centres of a ``size`` x ``size`` HSC stamp whose pixel size//2 is the stamp's
    centre. Flux is kept (the result sums to the stamp's sum, less light outside the output stamp)."""
    ratio = PIXEL_SCALE_ARCSEC / pixel_scale
    reach = int(np.ceil((size / 2 + 1) * ratio)) + kernel.shape[0] // 2
    height, width = stamp.shape
    padded = np.pad(stamp, ((reach, reach), (reach, reach)))
    smooth = signal.fftconvolve(padded, kernel, mode="same")
    centre_row, centre_column = (height - 1) / 2.0 + reach, (width - 1) / 2.0 + reach
    offsets = (np.arange(size) - size // 2) * ratio
    rows, columns = np.meshgrid(centre_row + offsets, centre_column + offsets, indexing="ij")
    # The convolved map is smooth on the PSF scale (19 fine pixels), so linear interpolation is exact enough; its
    # values are per fine pixel, so an HSC pixel holds ratio² of them.
    return ndimage.map_coordinates(smooth, [rows, columns], order=1, mode="constant") * ratio**2


def real_galaxies_at_hsc(catalogue: CosmosCatalogue, stamps: list, psfs: list, *, band: str = "i",
                         seed: int = 0) -> np.ndarray:
    """(n, 64, 64) images of the real galaxies as the survey would record them in ``band``: F814W morphology
    matched to the survey PSF, scaled from the catalogue's F814W flux to the band's catalogue flux (so a stamp's
    noise and any neighbour scale with it), plus the survey's Gaussian sky noise."""
    rng = np.random.default_rng(seed)
    images = np.empty((len(catalogue), STAMP_SIZE, STAMP_SIZE))
    target = {}
    for k, (stamp, psf, scale) in enumerate(zip(stamps, psfs, catalogue.pixel_scale_arcsec)):
        if scale not in target:
            target[scale] = hsc_psf_on_grid(band, scale)
        kernel = matching_kernel(centred_psf(psf), target[scale])
        flux = 10.0 ** (-0.4 * (catalogue.magnitudes[band][k] - ZERO_POINT_AB))
        images[k] = degrade_to_hsc(stamp, kernel, scale) * flux / catalogue.stamp_flux[k]
    return images + rng.normal(0.0, SKY_NOISE_SIGMA[band], images.shape)


# ---------------------------------------------------------------------------------------------- measured sizes
@dataclass
class StampComparison:
    """Real galaxies (i < 24) and synthetic ones at their redshifts, all as i-band survey stamps, with the half-light
    radius the morphology pipeline measures on each (arcsec; NaN where it detects nothing). Synthetic galaxies come
    in blocks of ``per_galaxy``, block k at real galaxy k's redshift."""

    real: CosmosCatalogue
    hst_stamps: list
    real_hsc: np.ndarray
    synthetic_hsc: np.ndarray
    synthetic_redshift: np.ndarray
    synthetic_i_mag: np.ndarray
    real_size: np.ndarray
    synthetic_size: np.ndarray
    per_galaxy: int


def measured_half_light_arcsec(images: np.ndarray) -> np.ndarray:
    """Half-light radius (arcsec) the morphology pipeline measures on (n, H, W) i-band stamps; NaN: no detection."""
    measured = morphology.measure(np.asarray(images)[:, None], bands=("i",), detection_band="i")
    radius = measured["half_light_radius"] * PIXEL_SCALE_ARCSEC
    return np.where(measured["flag"] & morphology.NO_DETECTION, np.nan, radius)


def _render_synthetic_i(redshift: np.ndarray, seed: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """i-band stamps and true i magnitudes of synthetic survey galaxies drawn at the given redshifts."""
    survey = SyntheticSurvey(seed)
    images, magnitudes = [], []
    for start in range(0, redshift.size, chunk):
        z = torch.as_tensor(redshift[start:start + chunk], dtype=torch.float32)
        batch = survey.sample(int(z.numel()), redshift=z)
        images.append(batch["image"][:, BANDS.index("i")].numpy())
        magnitudes.append(batch["true_i_mag"].numpy())
    return np.concatenate(images), np.concatenate(magnitudes).astype(np.float64)


def stamp_comparison(catalogue: CosmosCatalogue, stamps: list, psfs: list, *, seed: int,
                     per_galaxy: int = STAMPS_PER_GALAXY, i_limit: float = MATCHED_I_LIMIT) -> StampComparison:
    """The real galaxies with i < ``i_limit`` seen by the survey, and synthetic survey galaxies at their redshifts."""
    rows = np.flatnonzero(catalogue.magnitudes["i"] < i_limit)
    real = catalogue.select(rows)
    hst_stamps, hst_psfs = [stamps[r] for r in rows], [psfs[r] for r in rows]
    real_hsc = real_galaxies_at_hsc(real, hst_stamps, hst_psfs, seed=seed)
    synthetic_redshift = np.repeat(real.redshift, per_galaxy)
    synthetic_hsc, synthetic_i_mag = _render_synthetic_i(synthetic_redshift, seed + 1)
    return StampComparison(real, hst_stamps, real_hsc, synthetic_hsc, synthetic_redshift, synthetic_i_mag,
                           measured_half_light_arcsec(real_hsc), measured_half_light_arcsec(synthetic_hsc), per_galaxy)


def measured_size_relation(stamps: StampComparison, *, seed: int) -> dict:
    """Measured half-light radius against redshift, real against synthetic, in equal-count bins of the real ones."""
    edges = equal_count_edges(stamps.real.redshift)
    bins, overall = compare_relation(stamps.real_size, stamps.real.redshift, stamps.synthetic_size,
                                     stamps.synthetic_redshift, edges, seed=seed)
    return {"i_limit": MATCHED_I_LIMIT, "n_real": len(stamps.real), "n_synthetic": int(stamps.synthetic_size.size),
            "edges": edges, "relations": {"size_measured": bins}, "overall": {"size_measured": overall},
            "detected_fraction": {"real": float(np.isfinite(stamps.real_size).mean()),
                                  "synthetic": float(np.isfinite(stamps.synthetic_size).mean())},
            "real_points": {"redshift": stamps.real.redshift.tolist(), "size_measured": stamps.real_size.tolist()}}


def matched_pairs(stamps: StampComparison, count: int = 8) -> list[dict]:
    """``count`` real galaxies spread over redshift, each with the synthetic galaxy at its redshift whose true i
    magnitude is nearest its catalogue i magnitude."""
    order = np.argsort(stamps.real.redshift)
    picks = order[np.unique(np.linspace(0, order.size - 1, min(count, order.size)).round().astype(int))]
    pairs = []
    for k in picks:
        block = np.arange(k * stamps.per_galaxy, (k + 1) * stamps.per_galaxy)
        nearest = block[np.argmin(np.abs(stamps.synthetic_i_mag[block] - stamps.real.magnitudes["i"][k]))]
        pairs.append({"real": int(k), "synthetic": int(nearest), "redshift": float(stamps.real.redshift[k]),
                      "real_i": float(stamps.real.magnitudes["i"][k]),
                      "synthetic_i": float(stamps.synthetic_i_mag[nearest]), "ident": int(stamps.real.ident[k])})
    return pairs


# ---------------------------------------------------------------------------------------------- the evaluation
@dataclass
class RealGalaxyEvaluation:
    """``result``: JSON-ready numbers (``write_result``); ``figures``: name -> (caption, PNG bytes), as the
    evaluation report's figures are."""

    result: dict
    figures: dict[str, tuple[str, bytes]]


def shipped_normalization():
    """The default shipped model's normalisation (None when this installation has no shipped model)."""
    if not DEFAULT_DIFFUSION_CHECKPOINT.exists():
        return None
    return Normalization.from_dict(load_metadata(DEFAULT_DIFFUSION_CHECKPOINT)["normalization"])


def summarize(comparisons: dict[str, dict]) -> dict:
    """Per comparison and relation: bins with a verdict, bins within the errors, the bins outside them, and the
    comparison over all redshifts together."""
    summary = {}
    for selection, comparison in comparisons.items():
        for name, rows in comparison["relations"].items():
            judged = [row for row in rows if row["within"] is not None]
            overall = comparison["overall"][name]
            summary.setdefault(selection, {})[name] = {
                "bins": len(judged), "within": sum(row["within"] for row in judged),
                "outside": [{"z_low": row["z_low"], "z_high": row["z_high"], "difference": row["difference"],
                             "tension": row["tension"]} for row in judged if not row["within"]],
                "all_redshifts": {"difference": overall["difference"], "tension": overall["tension"],
                                  "within": overall["within"]},
            }
    return summary


def _comparisons(directory: Path, seed: int) -> tuple[dict, StampComparison]:
    catalogue = load_cosmos_catalogue(directory)
    stamps, psfs = load_cosmos_stamps(directory, catalogue)
    hst_psf = float(np.median([psf_half_light_arcsec(p, s) for p, s in zip(psfs, catalogue.pixel_scale_arcsec)]))
    stamp_set = stamp_comparison(catalogue, stamps, psfs, seed=seed + 2)
    comparisons = {
        "matched": catalogue_relations(catalogue, MATCHED_I_LIMIT, seed=seed, hst_psf_half_light=hst_psf),
        "measured": measured_size_relation(stamp_set, seed=seed + 3),
        "deep": catalogue_relations(catalogue, DEEP_I_LIMIT, seed=seed + 1, hst_psf_half_light=hst_psf),
    }
    comparisons["measured"]["pairs"] = matched_pairs(stamp_set)
    return comparisons, stamp_set


def evaluate_real_galaxies(realdata_dir: str | os.PathLike | None = None, *, seed: int = DEFAULT_SEED,
                           with_figures: bool = True) -> RealGalaxyEvaluation | None:
    """The whole real-data check (about 30 s on two cores): the relations, measured sizes and scene checks as
    JSON-ready numbers, and the figures. None when the real-data folder is absent (``find_realdata``)."""
    directory = find_realdata(realdata_dir)
    if directory is None:
        return None
    missing = missing_files(directory)
    if missing:
        raise RealDataError(f"{directory}: real-data files missing: {', '.join(missing)}")
    comparisons, stamp_set = _comparisons(directory, seed)
    with tempfile.TemporaryDirectory(prefix="galaxy-explorer-scenes-") as work:
        scenes = check_scenes(load_hsc_scenes(directory), work, shipped_normalization())
    result = {
        "description": "Synthetic survey against real COSMOS galaxies and HSC scenes (galaxy_explorer.evaluation."
                       "real_galaxies); medians with bootstrap standard errors",
        "seed": int(seed), "tension_limit": TENSION_LIMIT, "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
        "comparisons": comparisons, "summary": summarize(comparisons), "scenes": scene_summary(scenes),
    }
    figures = {}
    if with_figures:  # matplotlib only when figures are asked for
        from galaxy_explorer.evaluation import real_figures
        figures = real_figures.all_figures(result, stamp_set, scenes)
    return RealGalaxyEvaluation(json_safe(result), figures)


def write_result(path: str | os.PathLike, result: dict) -> Path:
    """Write the result as strict JSON (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(json_safe(result), indent=1, allow_nan=False) + "\n")
    return Path(path)


def load_result(path: str | os.PathLike = RESULT_PATH) -> dict | None:
    """The stored result (``benchmarks/real_data_check.py`` writes it), or None when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------- report section
FIGURE_FILES = {"real_relations": "real-relations.png", "real_galaxies": "real-galaxies.png",
                "real_scenes": "real-scenes.png"}
"""Figure name -> file name in docs/ (``benchmarks/real_data_check.py`` writes them)."""
SELECTION_TITLES = {
    "matched": "Same selection as the built-in survey (i < 24), catalogue quantities",
    "measured": "Sizes measured on survey stamps (i < 24): real HST stamps at HSC resolution against synthetic stamps",
    "deep": "All real galaxies (i < 26) against the survey's population model drawn to i < 26 (not the shipped survey)",
}


def load_figures(folder: str | os.PathLike) -> dict[str, tuple[str, bytes]]:
    """The figures ``benchmarks/real_data_check.py`` wrote into ``folder`` (docs/), as (caption, PNG bytes)."""
    from galaxy_explorer.evaluation.real_figures import CAPTIONS  # real_figures loads matplotlib: only when asked

    folder = Path(folder)
    return {name: (CAPTIONS[name], (folder / file).read_bytes()) for name, file in FIGURE_FILES.items()
            if (folder / file).is_file()}


def stored_figures_dir() -> Path | None:
    """docs/ of a repository checkout, where ``benchmarks/real_data_check.py`` puts the figures (a wheel has none)."""
    folder = Path(__file__).resolve().parents[2] / "docs"
    return folder if folder.is_dir() else None


def for_report(source: str, realdata_dir: str | os.PathLike | None = None
               ) -> tuple[dict | None, dict[str, tuple[str, bytes]]]:
    """The real-galaxy comparison for the evaluation report: ``source`` 'stored' (the shipped result, and its
    figures where docs/ is at hand), 'recompute' (from the real data; an error naming the folder when it is
    absent) or 'off'. Returns (result with its 'source', figures); (None, {}) for 'off' or nothing stored."""
    if source == "off":
        return None, {}
    if source == "recompute":
        evaluation = evaluate_real_galaxies(realdata_dir)
        if evaluation is None:
            from galaxy_explorer.evaluation.real_data import default_realdata_dir
            raise RealDataError(f"real data not found at {realdata_dir or default_realdata_dir()}: set "
                                "GALAXY_EXPLORER_REALDATA, or use --real-galaxies stored")
        return {**evaluation.result, "source": "recomputed"}, evaluation.figures
    stored = load_result()
    if stored is None:
        return None, {}
    folder = stored_figures_dir()
    figures = load_figures(folder) if folder is not None else {}
    return {**stored, "source": f"stored: {RESULT_PATH.name} (python benchmarks/real_data_check.py)"}, figures


def _pm(stat: dict, digits: int = 2) -> str:
    if stat.get("median") is None:
        return "–"
    error = stat.get("error")
    return f"{stat['median']:.{digits}f} ± {error:.{digits}f}" if error is not None else f"{stat['median']:.{digits}f}"


def _verdict(within) -> str:
    if within is None:
        return "–"
    return '<span class="pass">within</span>' if within else '<span class="fail">outside</span>'


def _relation_table(comparison: dict) -> str:
    header = ["relation", "z bin", "real n", "real median", "synthetic n", "synthetic median",
              "Δ (synthetic − real)", "Δ / σ", f"within {TENSION_LIMIT:g} σ"]
    rows = []
    for name, bins in comparison["relations"].items():
        overall = comparison.get("overall", {}).get(name)
        for row in bins + ([overall] if overall else []):
            tension = "–" if row["tension"] is None else f"{row['tension']:+.2f}"
            difference = "–" if row["difference"] is None else f"{row['difference']:+.2f}"
            label = "all" if row is overall else f"{row['z_low']:.2f}–{row['z_high']:.2f}"
            rows.append([html.escape(RELATION_LABELS.get(name, name)), label, str(row["real"]["n"]), _pm(row["real"]),
                         str(row["synthetic"]["n"]), _pm(row["synthetic"], 3), difference, tension,
                         _verdict(row["within"])])
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _population_table(comparison: dict) -> str:
    header = ["z bin", "synthetic quiescent share", "real redder than the split (68% interval)",
              "g − r split", "g − r of the bluer galaxies: real", "synthetic", "Δ / σ"]
    rows = []
    for row in comparison.get("colour_populations", []):
        blue = row["blue_galaxies_g_minus_r"]
        rows.append([f"{row['z_low']:.2f}–{row['z_high']:.2f}", f"{row['synthetic_quiescent_fraction']:.2f}",
                     f"{row['real_red']}/{row['real_n']} ({row['real_red_fraction_low']:.2f}–"
                     f"{row['real_red_fraction_high']:.2f})", f"{row['threshold_g_minus_r']:.2f}",
                     _pm(blue["real"]), _pm(blue["synthetic"], 3),
                     "–" if blue["tension"] is None else f"{blue['tension']:+.2f}"])
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _ratios(values) -> str:
    return " / ".join("–" if v is None else f"{v:.2f}" for v in values) if values else "–"


def _scenes_table(scenes: dict) -> str:
    header = ["scene", "pixels", "central source (offset, flags)", "pipeline noise / √var (g/r/i/z/y)",
              "normalisation noise / √var", "pipeline noise / synthetic sky", "i-band sky σ in model units: real, "
              "synthetic", "detections in scene (catalogue recovered)"]
    rows = []
    for scene in scenes["scenes"]:
        check, central, model = scene["noise_check"], scene["central"], scene.get("model_space")
        ratios = check.get("ratio_to_variance") or {}
        sky = (f"{model['sky_sigma_model_units'][2]:.3f}, {model['synthetic_sky_sigma_model_units'][2]:.3f}"
               if model else "–")
        recovered = scene["catalogue_recovered_fraction"]
        detections = f"{scene['detections_in_scene']}" + ("" if recovered is None else f" ({recovered:.0%})")
        rows.append([html.escape(scene["name"]), "×".join(map(str, scene["scene_shape"])),
                     f"{'yes' if central['detected'] else 'no'}, {central['offset_pixels']:.1f} px, "
                     f"{html.escape(', '.join(central['flag_names']) or 'none')}",
                     _ratios(ratios.get("pipeline")), _ratios(ratios.get("normalization")),
                     _ratios(check["pipeline_over_synthetic_sky"]), sky, detections])
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _summary_sentence(result: dict) -> str:
    """One line per comparison: bins within the errors, and the relations with bins outside."""
    items = []
    for selection, relations in result["summary"].items():
        within = sum(r["within"] for r in relations.values())
        bins = sum(r["bins"] for r in relations.values())
        off = [f"{RELATION_LABELS.get(name, name)} at z {b['z_low']:.2f}–{b['z_high']:.2f} ({b['tension']:+.2f} σ)"
               for name, r in relations.items() for b in r["outside"]]
        off_overall = [f"{RELATION_LABELS.get(name, name)} ({r['all_redshifts']['tension']:+.2f} σ)"
                       for name, r in relations.items() if r["all_redshifts"]["within"] is False]
        items.append(f"<li>{html.escape(SELECTION_TITLES[selection])}: {within} of {bins} bins within "
                     f"{TENSION_LIMIT:g} σ" + (f"; outside: {html.escape('; '.join(off))}" if off else "")
                     + (f"; over all redshifts together, outside: {html.escape('; '.join(off_overall))}"
                        if off_overall else "") + "</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _yes_no(value) -> str:
    return "–" if value is None else ("yes" if value else "no")


def _figure_html(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def real_galaxies_section_html(result: dict, figures: dict[str, tuple[str, bytes]] | None = None) -> str:
    """The evaluation report's section "Synthetic survey against real galaxies" as an HTML fragment: what was
    compared, the verdict per comparison, tables with medians and bootstrap errors, the scene checks, and the
    ``figures`` (name -> (caption, PNG bytes); ``load_figures`` reads the stored ones) embedded as base64."""
    figures = figures or {}
    comparisons = result["comparisons"]
    matched = comparisons["matched"]
    parts = [
        f"<h2>{SECTION_HEADING}</h2>",
        "<p>" + html.escape(
            f"{matched['n_real']} real COSMOS galaxies with HSC i < {matched['i_limit']:g} (HST F814W stamps, "
            "COSMOS photometric redshifts, HSC catalogue magnitudes) against synthetic galaxies drawn at the same "
            "redshifts with the built-in survey's selection. Medians per redshift bin (bins hold equal numbers of "
            "real galaxies) with bootstrap standard errors; 'within' means the synthetic median lies within "
            f"{TENSION_LIMIT:g} combined errors of the real one. Colours and magnitudes: synthetic true total "
            "magnitudes against the catalogue's. Sizes: the catalogue's flux_radius against the synthetic truth's "
            "circular half-light radius, and the same pipeline's half-light radius on survey stamps.") + "</p>",
        _summary_sentence(result),
    ]
    if result.get("source"):
        parts.append("<p class='note'>" + html.escape(f"Source: {result['source']}. The comparison is of the "
                                                     "built-in survey, not of the model evaluated above.") + "</p>")
    if "real_relations" in figures:
        parts.append(_figure_html(*figures["real_relations"]))
    for selection in ("matched", "measured", "deep"):
        parts += [f"<h3>{html.escape(SELECTION_TITLES[selection])}</h3>", _relation_table(comparisons[selection])]
        if comparisons[selection].get("colour_populations"):
            parts += ["<p>Where the g − r difference comes from: red (quiescent-like) galaxies and the colours of "
                      "the bluer ones.</p>", _population_table(comparisons[selection])]
    if "real_galaxies" in figures:
        parts.append(_figure_html(*figures["real_galaxies"]))
    scenes = result["scenes"]
    parts += ["<h3>The reader on real HSC scenes</h3>",
              "<p>" + html.escape(
                  "Real HSC g,r,i,z,y scenes cut (mirrored at their edges) into 64 × 64 stamps centred on their "
                  "brightest source, written in the GalaxiesML layout and read back through Survey: bands read "
                  f"{','.join(scenes['round_trip']['bands_read'])}, images identical: "
                  f"{_yes_no(scenes['round_trip']['images_identical'])}, central source detected in every "
                  f"scene: {_yes_no(scenes['all_central_detected'])}, sky noise within "
                  f"{scenes['noise_factor_limit']:g}x of the variance plane: "
                  f"{_yes_no(scenes['noise_within_factor'])}, band order matches the "
                  f"variance plane: {_yes_no(scenes['band_order_matches_variance'])}.")
              + "</p>", _scenes_table(scenes)]
    if "real_scenes" in figures:
        parts.append(_figure_html(*figures["real_scenes"]))
    return "\n".join(parts)
