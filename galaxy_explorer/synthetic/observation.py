"""How the synthetic survey is observed: HSC-Wide pixel scale, PSF, depth and flux units.

Flux units: every pixel value is a flux on the AB magnitude scale with zero point 27, i.e. a source of total
magnitude m has pixel values summing to 10**(-0.4 * (m - 27)). This is the HSC coadd convention
(Bosch et al. 2018; Aihara et al. 2018), so one unit is 3631 Jy * 10**(-0.4 * 27) ≈ 57.5 nJy.
GalaxiesML's own pixel units are not documented; that is why the models work in a fitted normalisation
(``galaxy_explorer.normalization``) rather than in raw flux.
"""

from __future__ import annotations

import math

from .. import BANDS

PIXEL_SCALE_ARCSEC = 0.168
"""HSC coadd pixel scale (Aihara et al. 2018, PASJ 70, S4)."""

STAMP_SIZE = 64
"""GalaxiesML cutouts are 64 x 64 pixels (10.75 arcsec on a side)."""

ZERO_POINT_AB = 27.0
"""AB magnitude of a source whose pixel values sum to 1 (HSC coadd convention)."""

PSF_FWHM_ARCSEC = {"g": 0.77, "r": 0.76, "i": 0.58, "z": 0.68, "y": 0.68}
"""Median seeing of HSC-SSP Wide per band, PDR2 (Aihara et al. 2019, PASJ 71, 114, table 2)."""

MOFFAT_BETA = 3.0
"""Moffat (1969) slope. Ground-based PSF cores with wings are fitted with beta ~ 2.5-4 (Trujillo et al. 2001)."""

DEPTH_5SIGMA_POINT_SOURCE = {"g": 26.6, "r": 26.2, "i": 26.2, "z": 25.3, "y": 24.5}
"""HSC-SSP Wide 5-sigma point-source limiting AB magnitudes, PDR2 (Aihara et al. 2019, table 2)."""


def moffat_alpha_pixels(band: str) -> float:
    """Moffat core radius alpha in pixels: FWHM = 2 alpha sqrt(2**(1/beta) - 1)."""
    fwhm_pixels = PSF_FWHM_ARCSEC[band] / PIXEL_SCALE_ARCSEC
    return fwhm_pixels / (2.0 * math.sqrt(2.0 ** (1.0 / MOFFAT_BETA) - 1.0))


def psf_effective_pixels(band: str) -> float:
    """Noise-equivalent area 1 / ∫ PSF² of the Moffat PSF, in pixels.

    For a normalised Moffat profile ∫ P² dA = (beta - 1)² / (pi alpha² (2 beta - 1)); PSF-fitted photometry of a
    point source on white sky noise sigma has flux error sigma * sqrt(N_eff).
    """
    alpha = moffat_alpha_pixels(band)
    beta = MOFFAT_BETA
    return math.pi * alpha**2 * (2.0 * beta - 1.0) / (beta - 1.0) ** 2


def sky_noise_sigma(band: str) -> float:
    """Per-pixel sky noise (survey flux units) giving HSC-Wide 5-sigma point-source depth in ``band``."""
    flux_5sigma = 10.0 ** (-0.4 * (DEPTH_5SIGMA_POINT_SOURCE[band] - ZERO_POINT_AB))
    return flux_5sigma / (5.0 * math.sqrt(psf_effective_pixels(band)))


SKY_NOISE_SIGMA = {band: sky_noise_sigma(band) for band in BANDS}
"""Per-pixel Gaussian sky noise per band (survey flux units)."""
