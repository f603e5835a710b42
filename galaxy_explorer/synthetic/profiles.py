"""Fourier transforms of the light profiles the renderer draws: Sérsic galaxies, Moffat PSF, square pixel.

The renderer works in Fourier space, as GalSim does for analytic profiles (Rowe et al. 2015, Astronomy &
Computing 10, 121): a profile's transform multiplied by the PSF's and the pixel's transforms and inverse-FFT'd
gives the pixel-integrated, PSF-convolved image exactly (up to aliasing), with no sub-pixel sampling of the Sérsic
cusp. Sérsic profiles have no closed-form transform, so their Hankel transforms are tabulated once per process on
a grid of Sérsic indices (0.5-6.0, step 0.1) and interpolated in log k.

Sérsic profiles are truncated (hard cut, like GalSim's ``trunc``) at ``truncation_radius(n)`` times the
untruncated effective radius: 4 for n <= 1 up to 8 for n >= 4 (the SDSS ``photo`` model fits cut exponential
discs near 4 r_e and de Vaucouleurs profiles near 8 r_e; Stoughton et al. 2002). "Half-light radius" everywhere
means that of the truncated profile, as in GalSim with ``flux_untruncated=False``.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.special as special

SERSIC_INDEX_MIN = 0.5
SERSIC_INDEX_MAX = 6.0
SERSIC_INDEX_STEP = 0.1
SERSIC_INDEX_GRID = np.round(np.arange(SERSIC_INDEX_MIN, SERSIC_INDEX_MAX + 1e-9, SERSIC_INDEX_STEP), 3)

KR_MIN = 1e-3  # below: transform is 1 to better than 1e-6
KR_MAX = 500.0  # above: set to 0 (PSF and pixel transforms are < 1e-6 there for every galaxy drawn)
KR_POINTS = 640

_QUADRATURE_ORDER = 8
_UNIFORM_PANEL_WIDTH = 0.004  # in units of r0: a quarter of the shortest J0 period at KR_MAX / 0.8


def sersic_b(n: np.ndarray | float) -> np.ndarray:
    """b_n such that the untruncated profile exp(-b_n (r/r0)^(1/n)) has half its light inside r0 (Ciotti 1991)."""
    return special.gammaincinv(2.0 * np.asarray(n, dtype=np.float64), 0.5)


def truncation_radius(n: np.ndarray | float) -> np.ndarray:
    """Truncation radius in units of the untruncated r0, rounded to the quadrature panel grid."""
    n = np.asarray(n, dtype=np.float64)
    radius = 4.0 + 4.0 * np.clip((n - 1.0) / 3.0, 0.0, 1.0)
    return np.round(radius / _UNIFORM_PANEL_WIDTH) * _UNIFORM_PANEL_WIDTH


def truncated_half_light_ratio(n: np.ndarray | float) -> np.ndarray:
    """Half-light radius of the truncated profile divided by the untruncated r0 (slightly below 1).

    The light inside x = r/r0 is ∝ P(2n, b x^(1/n)) (regularised lower incomplete gamma), so the truncated
    profile's half-light point solves P(2n, b x^(1/n)) = P(2n, b T^(1/n)) / 2.
    """
    n = np.asarray(n, dtype=np.float64)
    b = sersic_b(n)
    total = special.gammainc(2.0 * n, b * truncation_radius(n) ** (1.0 / n))
    return (special.gammaincinv(2.0 * n, 0.5 * total) / b) ** n


def _quadrature_nodes() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes/weights on [0, 8] in x = r/r0: geometric panels near the cusp, then uniform panels."""
    edges_inner = np.concatenate([[0.0], np.geomspace(1e-7, 0.02, 40)])
    edges_outer = np.arange(0.02, 8.0 + 1e-12, _UNIFORM_PANEL_WIDTH)[1:]
    edges = np.concatenate([edges_inner, edges_outer])
    unit_nodes, unit_weights = np.polynomial.legendre.leggauss(_QUADRATURE_ORDER)
    lo, hi = edges[:-1, None], edges[1:, None]
    nodes = (lo + hi) / 2 + (hi - lo) / 2 * unit_nodes[None, :]
    weights = (hi - lo) / 2 * unit_weights[None, :]
    return nodes.ravel(), weights.ravel()


@functools.cache
def sersic_fourier_table() -> dict[str, np.ndarray]:
    """Normalised Hankel transforms F_n(k r0) = 2π ∫ I_n(x) J0(k r0 x) x dx / flux, on SERSIC_INDEX_GRID.

    Returns ``kr`` (log grid), ``transform`` (n_index, kr) and ``half_light_ratio`` (n_index,): r0 = hlr / ratio.
    One J0 matrix serves every n (the truncation radii sit on panel edges), so this takes well under a second.
    """
    nodes, weights = _quadrature_nodes()
    n = SERSIC_INDEX_GRID[:, None]
    inside = nodes[None, :] <= truncation_radius(n) + 1e-12
    profile = np.exp(-sersic_b(n) * (nodes[None, :] ** (1.0 / n) - 1.0)) * inside
    radial_weights = profile * nodes[None, :] * weights[None, :]  # (n_index, node); 2π cancels in the ratio
    kr = np.geomspace(KR_MIN, KR_MAX, KR_POINTS)
    transform = np.empty((SERSIC_INDEX_GRID.size, kr.size))
    for start in range(0, kr.size, 64):  # chunks keep the J0 matrix small
        bessel = special.j0(kr[start:start + 64, None] * nodes[None, :])
        # einsum rather than BLAS matmul: on a busy 2-core machine threaded BLAS can be 10x slower for this size
        transform[:, start:start + 64] = np.einsum("nj,kj->nk", radial_weights, bessel)
    transform /= radial_weights.sum(axis=1, keepdims=True)
    return {"kr": kr, "transform": transform, "half_light_ratio": truncated_half_light_ratio(SERSIC_INDEX_GRID)}


def sersic_index_to_grid(n: np.ndarray | float) -> np.ndarray:
    """Index of the nearest tabulated Sérsic index (the renderer draws exactly the tabulated value)."""
    position = np.round((np.asarray(n, dtype=np.float64) - SERSIC_INDEX_MIN) / SERSIC_INDEX_STEP)
    return np.clip(position, 0, SERSIC_INDEX_GRID.size - 1).astype(np.int64)


def moffat_transform(k: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Fourier transform of a unit-flux, untruncated Moffat profile (1 + r²/alpha²)^(-beta).

    Hankel transform: (k alpha)^nu K_nu(k alpha) / (2^(nu-1) Γ(nu)) with nu = beta - 1, which tends to 1 as k -> 0.
    """
    nu = beta - 1.0
    u = np.maximum(np.asarray(k, dtype=np.float64) * alpha, 1e-12)
    return u**nu * special.kv(nu, u) / (2.0 ** (nu - 1.0) * special.gamma(nu))


def pixel_transform(kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """Transform of a unit square pixel (top hat): sinc(kx/2) sinc(ky/2), k in radians per pixel."""
    return np.sinc(kx / (2 * np.pi)) * np.sinc(ky / (2 * np.pi))
