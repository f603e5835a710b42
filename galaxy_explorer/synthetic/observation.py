"""How the synthetic survey is observed: the PSF and sky noise that follow from the instrument's numbers
(``galaxy_explorer.instrument``: pixel scale, seeing, depth, flux units).

GalaxiesML's own pixel units are not documented; that is why the models work in a fitted normalisation
(``galaxy_explorer.data.normalization``) rather than in raw flux.
"""

from __future__ import annotations

import math

from galaxy_explorer.instrument import BANDS, DEPTH_5SIGMA_POINT_SOURCE, MOFFAT_BETA, PIXEL_SCALE_ARCSEC, PSF_FWHM_ARCSEC, ZERO_POINT_AB



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
