"""Write the synthetic survey as a GalaxiesML-schema HDF5 file (plus ``true_*`` truth columns).

The file holds the same root datasets as GalaxiesML (Do et al. 2024), so ``galaxy_explorer.data.survey.Survey`` and any
other GalaxiesML reader reads it unchanged. The catalogue columns are DERIVED FROM TRUTH, not measured on the
images (measuring 20,000 stamps with Source Extractor-like code would take minutes; ``galaxy_explorer.measure.morphology``
measures images when that is what you want):

* ``specz_redshift``: the true redshift; ``specz_redshift_err``: a nominal 1e-4 (1+z).
* ``{band}_cmodel_mag``: the galaxy's true total AB magnitude (noise-free, neighbours excluded).
* Per band, from the semi-major half-light radius R of the galaxy's components weighted by the rest-frame r
  bulge fraction, and the axis ratio q, approximating the PSF-convolved galaxy as an elliptical Gaussian of the same half-light radius
  (sigma = R / 1.1774) convolved with a Gaussian of the band's PSF FWHM:
  ``_major_axis`` / ``_minor_axis`` = rms sizes a, b along the axes in pixels (Source Extractor A_IMAGE/B_IMAGE),
  ``_ellipticity`` = 1 - b/a, ``_half_light_radius`` = 1.1774 sqrt(a b) in pixels,
  ``_isophotal_area`` = pixels above 1.5 sky sigma of that Gaussian, ``_pos_angle`` = true position angle in degrees
  counter-clockwise from +x (Source Extractor THETA_IMAGE convention), ``_sersic_index`` = the spheroid's n, or
  1 + 3 B/T (band light) for disc galaxies, ``_petro_rad`` = the intrinsic Petrosian radius (eta = 0.2) along the
  major axis, in pixels, of the dominant Sérsic component.
* ``object_id``: seed-tagged running number; ``ra``/``dec``: uniform in a 1 deg² patch (synthetic, not real sky).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import h5py
import numpy as np
import scipy.optimize
import scipy.special as special
import torch

from galaxy_explorer.instrument import BANDS, PIXEL_SCALE_ARCSEC, PSF_FWHM_ARCSEC, ZERO_POINT_AB
from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.synthetic.observation import SKY_NOISE_SIGMA
from galaxy_explorer.synthetic.synthetic_survey import SyntheticSurvey

GAUSSIAN_HALF_LIGHT = math.sqrt(2.0 * math.log(2.0))  # hlr / sigma of a 2-D Gaussian
GENERATOR_NAME = "galaxy_explorer.synthetic"
GENERATOR_VERSION = 2  # bump when the physics or the schema changes (invalidates cached built-in surveys)
WRITE_BATCH = 512


@functools.cache
def _petrosian_table() -> tuple[np.ndarray, np.ndarray]:
    """Petrosian radius (eta = I(R) / <I>(<R) = 0.2) over r_e for untruncated Sérsic profiles, n = 0.5..6."""
    indices = np.linspace(0.5, 6.0, 56)
    ratios = []
    for n in indices:
        b = special.gammaincinv(2 * n, 0.5)

        def eta(x, n=n, b=b):
            enclosed = special.gammainc(2 * n, b * x ** (1 / n)) * special.gamma(2 * n)
            return x**2 * b ** (2 * n) * np.exp(-b * x ** (1 / n)) / (2 * n * enclosed) - 0.2

        ratios.append(scipy.optimize.brentq(eta, 0.05, 50.0))
    return indices, np.array(ratios)


def petrosian_radius_ratio(n) -> np.ndarray:
    indices, ratios = _petrosian_table()
    return np.interp(np.asarray(n, dtype=np.float64), indices, ratios)


def derived_catalogue(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """GalaxiesML-named columns derived from a batch's truth (see module docstring)."""
    columns: dict[str, np.ndarray] = {}
    z = batch["specz_redshift"].astype(np.float64)
    columns["specz_redshift_err"] = (1e-4 * (1 + z)).astype(np.float32)
    disc_n, share = 1.0, batch["true_bulge_fraction"]
    is_disc = batch["true_population"] == 1
    bulge_radius = batch["true_bulge_r_e_arcsec"] / PIXEL_SCALE_ARCSEC
    main_radius = batch["true_r_e_arcsec"] / PIXEL_SCALE_ARCSEC
    # light-weighted (rest-frame r bulge fraction) semi-major half-light radius
    radius = np.where(is_disc, share * bulge_radius + (1 - share) * main_radius, main_radius)
    for band in BANDS:
        q = batch["true_axis_ratio"]
        psf_sigma = PSF_FWHM_ARCSEC[band] / PIXEL_SCALE_ARCSEC / (2 * GAUSSIAN_HALF_LIGHT)
        sigma = radius / GAUSSIAN_HALF_LIGHT
        a = np.sqrt(sigma**2 + psf_sigma**2)
        bb = np.sqrt((q * sigma) ** 2 + psf_sigma**2)
        flux = 10 ** (-0.4 * (batch[f"true_{band}_mag"] - ZERO_POINT_AB))
        peak = flux / (2 * np.pi * a * bb)
        threshold = 1.5 * SKY_NOISE_SIGMA[band]
        rho2 = 2 * np.log(np.maximum(peak / threshold, 1.0))
        n_eff = np.where(is_disc, disc_n + 3 * share, batch["true_sersic_n"])
        columns[f"{band}_cmodel_mag"] = batch[f"true_{band}_mag"].astype(np.float32)
        columns[f"{band}_ellipticity"] = (1 - bb / a).astype(np.float32)
        columns[f"{band}_half_light_radius"] = (GAUSSIAN_HALF_LIGHT * np.sqrt(a * bb)).astype(np.float32)
        columns[f"{band}_isophotal_area"] = (np.pi * a * bb * rho2).astype(np.float32)
        columns[f"{band}_major_axis"] = a.astype(np.float32)
        columns[f"{band}_minor_axis"] = bb.astype(np.float32)
        columns[f"{band}_sersic_index"] = n_eff.astype(np.float32)
        columns[f"{band}_pos_angle"] = np.degrees(batch["true_position_angle"]).astype(np.float32)
        dominant_n = np.where(is_disc, disc_n, batch["true_sersic_n"])
        columns[f"{band}_petro_rad"] = (petrosian_radius_ratio(dominant_n) * main_radius).astype(np.float32)
    return columns


def write_mock_survey(path: str | os.PathLike, n: int, seed: int, *, device: str | torch.device = "cpu",
                      progress=None, overwrite: bool = True) -> Path:
    """Render ``n`` synthetic galaxies with ``seed`` into a GalaxiesML-schema HDF5 file at ``path`` (atomically).

    Same seed and n -> identical dataset contents. ``progress(done, total)`` is called after each batch.
    ``seed`` is an integer from 0 to 2**63 - 1. ``overwrite=False`` never replaces an existing file at ``path``.
    """
    n, seed = int(n), int(seed)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0 <= seed < 2 ** 63:
        raise ValueError(f"seed must be an integer from 0 to 2**63-1, got {seed}")
    path = Path(path)
    survey = SyntheticSurvey(seed, device=device)
    rng = np.random.default_rng(seed)
    with atomic_path(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as out:
            out.attrs["description"] = ("SYNTHETIC survey from galaxy_explorer.synthetic (not real galaxies); "
                                        "GalaxiesML schema plus true_* columns")
            out.attrs["synthetic"] = True
            out.attrs["generator"] = GENERATOR_NAME
            out.attrs["generator_version"] = GENERATOR_VERSION
            out.attrs["seed"] = seed
            out.attrs["bands"] = ",".join(BANDS)
            out.attrs["pixel_scale_arcsec"] = PIXEL_SCALE_ARCSEC
            out.attrs["zero_point_ab"] = ZERO_POINT_AB
            images = out.create_dataset("image", shape=(n, len(BANDS), 64, 64), dtype="float32",
                                        chunks=(1, len(BANDS), 64, 64))
            datasets: dict[str, h5py.Dataset] = {}
            for start in range(0, n, WRITE_BATCH):
                count = min(WRITE_BATCH, n - start)
                batch = {k: v.cpu().numpy() for k, v in survey.sample(count).items()}
                images[start:start + count] = batch.pop("image")
                columns = {
                    "object_id": (np.int64(seed % (1 << 20)) << 40) + np.arange(start, start + count, dtype=np.int64),
                    "ra": rng.uniform(150.0, 151.0, count),
                    "dec": np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(1.5)), np.sin(np.radians(2.5)), count))),
                    "specz_redshift": batch["specz_redshift"],
                    **derived_catalogue(batch),
                    **{k: v for k, v in batch.items() if k.startswith("true_")},
                }
                for name, values in columns.items():
                    if name not in datasets:
                        datasets[name] = out.create_dataset(name, shape=(n,), dtype=values.dtype)
                    datasets[name][start:start + count] = values
                if progress is not None:
                    progress(start + count, n)
    return path
