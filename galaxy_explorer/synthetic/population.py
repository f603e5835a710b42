"""What galaxies the synthetic survey contains: redshifts, populations, luminosities, sizes, shapes, colours.

Every draw uses one seeded CPU ``torch.Generator`` in a fixed order, so a seed fixes the whole catalogue on any
device. Each ingredient names its source; numbers were chosen to give GalaxiesML-like samples, not fitted.
This is a toy universe with known truth, not a substitute for real data.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from galaxy_explorer.instrument import BANDS, PIXEL_SCALE_ARCSEC, ZERO_POINT_AB
from galaxy_explorer.synthetic.tables import SED_TEMPLATES, Tables, interpolate, mix_k_corrections

QUIESCENT, STAR_FORMING = 0, 1

REDSHIFT_MIN, REDSHIFT_MAX = 0.02, 4.0
FRACTION_BELOW_1P5 = 0.93
"""GalaxiesML's spectroscopic sample has ~93% of galaxies at z < 1.5 (Do et al. 2024)."""

SELECTION_I_MAG = 24.0
"""Faint limit in observed i: spectroscopic redshifts for HSC come mostly from surveys brighter than this."""

# Luminosity functions in rest-frame r (AB), Schechter (1976) form, per population. Values follow the GAMA red/blue
# split (Loveday et al. 2012, MNRAS 420, 1239; Baldry et al. 2012), converted to h = 0.674. M* brightens with
# redshift by EVOLUTION_Q magnitudes per doubling of (1+z) (passive fading for red galaxies; Loveday et al. 2012
# measure Q ~ 0.7-1.0 per unit z to z ~ 0.5, flattening beyond).
SCHECHTER_M_STAR = {QUIESCENT: -21.2, STAR_FORMING: -20.9}
SCHECHTER_ALPHA = {QUIESCENT: -0.5, STAR_FORMING: -1.3}
EVOLUTION_Q = {QUIESCENT: 0.8, STAR_FORMING: 1.0}
LUMINOSITY_RANGE = (-3.0, 3.0)  # M - M*: spectroscopic targets are rarely more than 3 mag below M*

# Rest-frame r mass-to-light ratios (solar units), typical of red and blue galaxies (Bell et al. 2003, ApJS 149, 289).
MASS_TO_LIGHT_R = {QUIESCENT: 3.0, STAR_FORMING: 1.2}
SUN_ABSOLUTE_MAG_R = 4.65  # AB, Willmer 2018

# van der Wel et al. 2014 (ApJ 788, 28), semi-major-axis r_e: log10 r_e/kpc = log A + slope (log M - 10.7),
# A ∝ (1+z)^-beta, with A given at z = 0.25, and log-normal scatter sigma (dex).
SIZE_LOG_A_Z025 = {QUIESCENT: 0.60, STAR_FORMING: 0.86}
SIZE_MASS_SLOPE = {QUIESCENT: 0.75, STAR_FORMING: 0.22}
SIZE_EVOLUTION_BETA = {QUIESCENT: 1.48, STAR_FORMING: 0.75}
SIZE_SCATTER_DEX = {QUIESCENT: 0.11, STAR_FORMING: 0.17}
MAX_R_E_ARCSEC = 10.0  # stamp-limited: the 64-pixel cutout is 10.75" across

NEIGHBOUR_SLOTS = 2
NEIGHBOUR_PROBABILITIES = (0.65, 0.25, 0.10)  # none, one, two faint neighbours in the stamp
MAX_CLUMPS = 5


# ---------------------------------------------------------------------------------------------- redshift
@functools.cache
def redshift_distribution() -> tuple[np.ndarray, np.ndarray]:
    """(grid, CDF) of the survey's redshift distribution.

    A Smail et al. (1994) bulk, p ∝ z² exp(-(z/0.4)^1.5) (mean z ≈ 0.6), plus an exponential tail
    p ∝ exp(-(z-1)/1.2) on 1 < z < 4 whose weight is solved for so that exactly FRACTION_BELOW_1P5 of galaxies
    lie below z = 1.5, as in GalaxiesML.
    """
    z = np.linspace(REDSHIFT_MIN, REDSHIFT_MAX, 4001)
    bulk = z**2 * np.exp(-((z / 0.4) ** 1.5))
    tail = np.where(z > 1.0, np.exp(-(z - 1.0) / 1.2), 0.0)

    def cdf(p):
        c = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(z))])
        return c / c[-1]

    bulk_cdf, tail_cdf = cdf(bulk), cdf(tail)
    below_bulk, below_tail = np.interp(1.5, z, bulk_cdf), np.interp(1.5, z, tail_cdf)
    tail_weight = (below_bulk - FRACTION_BELOW_1P5) / (below_bulk - below_tail)
    return z, (1 - tail_weight) * bulk_cdf + tail_weight * tail_cdf


def draw_redshift(n: int, generator: torch.Generator) -> torch.Tensor:
    grid, cdf = (torch.as_tensor(a, dtype=torch.float32) for a in redshift_distribution())
    return interpolate(torch.rand(n, generator=generator), cdf, grid)


# ---------------------------------------------------------------------------------------------- populations
def intrinsic_quiescent_fraction(redshift: torch.Tensor) -> torch.Tensor:
    """Quiescent fraction of luminous galaxies before selection, falling with z (Muzzin et al. 2013, ApJ 777, 18:
    ~40% near z ~ 0.3 to ~10% by z ~ 2.5 for M* > 10^10.5)."""
    return 0.05 + 0.40 * torch.exp(-redshift / 1.1)


@functools.cache
def schechter_cdf(population: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, CDF) of the Schechter function in x = M - M* over LUMINOSITY_RANGE: dN/dx ∝ 10^(-0.4(α+1)x) e^(-10^(-0.4x))."""
    x = np.linspace(*LUMINOSITY_RANGE, 1201)
    luminosity = 10.0 ** (-0.4 * x)
    density = luminosity ** (SCHECHTER_ALPHA[population] + 1.0) * np.exp(-luminosity)
    cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(x))])
    return x, cdf / cdf[-1]


def characteristic_magnitude(population: int, redshift: torch.Tensor) -> torch.Tensor:
    return SCHECHTER_M_STAR[population] - EVOLUTION_Q[population] * torch.log2(1.0 + redshift)


def selected_fraction(population: int, faint_limit_x: torch.Tensor) -> torch.Tensor:
    """Fraction of the luminosity function brighter than the selection limit (x = M_lim - M*)."""
    x, cdf = (torch.as_tensor(a, dtype=torch.float32) for a in schechter_cdf(population))
    return interpolate(faint_limit_x, x, cdf)


def draw_from_schechter(population: int, faint_limit_x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw of x = M - M* restricted to x <= faint_limit_x (at least 0.25 mag of range kept)."""
    x, cdf = (torch.as_tensor(a, dtype=torch.float32) for a in schechter_cdf(population))
    limit = faint_limit_x.clamp(LUMINOSITY_RANGE[0] + 0.25, LUMINOSITY_RANGE[1])
    return interpolate(u * interpolate(limit, x, cdf), cdf, x)


# ---------------------------------------------------------------------------------------------- colours
def disc_template_weights(sed_type: torch.Tensor) -> torch.Tensor:
    """Weights over (E, Sbc, Scd, Im) for a continuous disc type 0 = Sbc, 1 = Scd, 2 = Im (linear in between)."""
    t = sed_type.clamp(0.0, 2.0)
    weights = torch.zeros(t.shape + (len(SED_TEMPLATES),))
    lower = t.floor().clamp(max=1.0).long()
    frac = t - lower
    weights.scatter_(-1, (lower + 1)[:, None], (1 - frac)[:, None])
    weights.scatter_add_(-1, (lower + 2)[:, None], frac[:, None])
    return weights


def mean_disc_type(redshift: torch.Tensor) -> torch.Tensor:
    """Star-forming discs get bluer with z (younger stellar populations; e.g. specific SFR rising as (1+z)^~2.5,
    Speagle et al. 2014): mean type from Sbc-Scd at z = 0 towards Scd-Im at z ~ 3."""
    return 0.6 + 0.9 * redshift / (1.0 + redshift)


def template_weights(index: int, n: int) -> torch.Tensor:
    weights = torch.zeros(n, len(SED_TEMPLATES))
    weights[:, index] = 1.0
    return weights


# ---------------------------------------------------------------------------------------------- the catalogue
# The steps below draw from one generator; draw_catalogue calls them in a fixed order, and each draws its numbers in
# the order written, so a seed fixes the catalogue. Reordering any draw changes every galaxy after it.
class _Draws:
    """Uniform and normal draws from the catalogue's one CPU generator."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator)

    def randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator)


def _pick(is_sf: torch.Tensor, table: dict) -> torch.Tensor:
    """Per galaxy, the star-forming or the quiescent entry of a per-population table."""
    return torch.where(is_sf, table[STAR_FORMING], table[QUIESCENT])


def _draw_population(draw: _Draws, z: torch.Tensor, distance_modulus: torch.Tensor,
                     k_templates: torch.Tensor) -> torch.Tensor:
    """Quiescent or star-forming: the intrinsic mix times the fraction of each luminosity function bright enough
    to be selected. One draw."""
    i_band = BANDS.index("i")
    reference_k_i = {
        QUIESCENT: k_templates[:, 0, i_band],
        STAR_FORMING: mix_k_corrections(k_templates, disc_template_weights(mean_disc_type(z)))[:, i_band],
    }
    visible = {
        pop: selected_fraction(pop, SELECTION_I_MAG - distance_modulus - reference_k_i[pop] - characteristic_magnitude(pop, z))
        for pop in (QUIESCENT, STAR_FORMING)
    }
    quiescent_weight = intrinsic_quiescent_fraction(z) * visible[QUIESCENT]
    star_forming_weight = (1 - intrinsic_quiescent_fraction(z)) * visible[STAR_FORMING]
    p_star_forming = star_forming_weight / (quiescent_weight + star_forming_weight).clamp_min(1e-12)
    return (draw.rand(len(z)) < p_star_forming).long()


def _draw_structure(draw: _Draws, z: torch.Tensor, is_sf: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rest-frame r light fractions. Quiescent: one Sérsic spheroid. Star-forming: exponential disc plus a small
    bulge (B/T mostly < 0.2, Gadotti 2009), part of the disc light in spiral arms and/or star-forming clumps."""
    n = len(z)
    bulge_fraction = torch.where(is_sf, 0.4 * draw.rand(n) ** 1.5, torch.ones(n))
    # Clumpy discs become common at high z (Guo et al. 2015, ApJ 800, 39: ~15% at z ~ 0.5 to ~55% at z ~ 3);
    # grand-design arms are mostly a z < 1.5 phenomenon (Elmegreen & Elmegreen 2014; Margalef-Bentabol et al. 2022).
    p_clumps = 0.05 + 0.6 * z**2 / (z**2 + 1.0)
    p_arms = 0.6 * torch.exp(-z / 2.0)
    has_clumps = is_sf & (draw.rand(n) < p_clumps)
    has_arms = is_sf & (draw.rand(n) < p_arms)
    arm_fraction = torch.where(has_arms, 0.15 + 0.2 * draw.rand(n), torch.zeros(n))
    clump_fraction = torch.where(has_clumps, 0.1 + 0.2 * draw.rand(n), torch.zeros(n))
    return {
        "bulge_fraction": bulge_fraction, "has_clumps": has_clumps, "has_arms": has_arms,
        "arm_fraction": arm_fraction, "clump_fraction": clump_fraction,
        "substructure_fraction": (arm_fraction + clump_fraction).clamp(max=0.45),
        "disc_type": (mean_disc_type(z) + 0.45 * draw.randn(n)).clamp(0.0, 2.0),
        # A little Sbc light in spheroids gives a realistic red-sequence width.
        "spheroid_red_mix": 0.15 * draw.rand(n),
    }


def _component_k_corrections(structure: dict[str, torch.Tensor], k_templates: torch.Tensor):
    """Light fractions (n, [bulge, smooth disc, substructure]), each component's k-corrections (n, component,
    band) from its SED mix, and the whole galaxy's (n, band). No draws."""
    n = len(k_templates)
    bulge_fraction, substructure_fraction = structure["bulge_fraction"], structure["substructure_fraction"]
    red_mix = structure["spheroid_red_mix"][:, None]
    bulge_sed = template_weights(0, n) * (1 - red_mix) + template_weights(1, n) * red_mix
    disc_sed = disc_template_weights(structure["disc_type"])
    substructure_sed = template_weights(3, n)  # young stars: Im colours
    light = torch.stack([bulge_fraction, (1 - bulge_fraction) * (1 - substructure_fraction),
                         (1 - bulge_fraction) * substructure_fraction], dim=1)
    component_k = torch.stack([mix_k_corrections(k_templates, w) for w in (bulge_sed, disc_sed, substructure_sed)], 1)
    total_k = -2.5 * torch.log10((light[:, :, None] * torch.pow(10.0, -0.4 * component_k)).sum(1))
    return light, component_k, total_k


def _draw_luminosity(draw: _Draws, z, is_sf, distance_modulus, light, component_k, total_k) -> dict[str, torch.Tensor]:
    """Schechter draw of rest-frame r, truncated at the survey's i-band limit; apparent magnitudes and the flux
    of each component in each band. One draw."""
    i_band = BANDS.index("i")
    m_star = torch.where(is_sf, characteristic_magnitude(STAR_FORMING, z), characteristic_magnitude(QUIESCENT, z))
    faint_limit_x = SELECTION_I_MAG - distance_modulus - total_k[:, i_band] - m_star
    u = draw.rand(len(z))
    x = torch.where(is_sf, draw_from_schechter(STAR_FORMING, faint_limit_x, u), draw_from_schechter(QUIESCENT, faint_limit_x, u))
    absolute_mag_r = m_star + x
    return {
        "absolute_mag_r": absolute_mag_r,
        "magnitudes": absolute_mag_r[:, None] + distance_modulus[:, None] + total_k,  # (n, band)
        "component_flux": (light[:, :, None] * torch.pow(10.0, -0.4 * (absolute_mag_r[:, None, None] + distance_modulus[:, None, None]
                                                                       + component_k - ZERO_POINT_AB))),  # (n, comp, band)
    }


def _draw_size(draw: _Draws, z, is_sf, absolute_mag_r, kpc_per_arcsec) -> dict[str, torch.Tensor]:
    """Stellar mass from the evolution-corrected luminosity, then the size from van der Wel et al. 2014. One draw."""
    evolution = _pick(is_sf, EVOLUTION_Q) * torch.log2(1 + z)
    log_mass = -0.4 * (absolute_mag_r + evolution - SUN_ABSOLUTE_MAG_R) + torch.log10(_pick(is_sf, MASS_TO_LIGHT_R))
    log_r_e = (_pick(is_sf, SIZE_LOG_A_Z025) + _pick(is_sf, SIZE_MASS_SLOPE) * (log_mass - 10.7)
               - _pick(is_sf, SIZE_EVOLUTION_BETA) * torch.log10((1 + z) / 1.25)
               + _pick(is_sf, SIZE_SCATTER_DEX) * draw.randn(len(z)))
    r_e_arcsec = (10.0**log_r_e / kpc_per_arcsec).clamp(max=MAX_R_E_ARCSEC)
    return {"log_stellar_mass": log_mass, "r_e_kpc": r_e_arcsec * kpc_per_arcsec, "r_e_arcsec": r_e_arcsec}


def _draw_shapes(draw: _Draws, is_sf: torch.Tensor, r_e_arcsec: torch.Tensor) -> dict[str, torch.Tensor]:
    """Axis ratios, orientation, Sérsic indices, the bulge's shape, and the sub-pixel centre.

    Spheroids: q ~ 0.7 ± 0.15 (Padilla & Strauss 2008). Discs: randomly inclined thick discs,
    q² = cos²i (1 - q0²) + q0² with intrinsic thickness q0 = 0.2 (Hubble 1926; Holmberg 1946).
    """
    n = len(is_sf)
    cos_inclination = draw.rand(n)
    disc_q = torch.sqrt(cos_inclination**2 * (1 - 0.2**2) + 0.2**2)
    spheroid_q = (0.72 + 0.15 * draw.randn(n)).clamp(0.3, 1.0)
    position_angle = (draw.rand(n) - 0.5) * math.pi  # radians, counter-clockwise from +x, in [-pi/2, pi/2)
    sersic_n = torch.where(is_sf, torch.ones(n), (4.0 + 0.7 * draw.randn(n)).clamp(2.5, 6.0))
    return {
        "sersic_n": sersic_n,
        "axis_ratio": torch.where(is_sf, disc_q, spheroid_q),
        "position_angle": position_angle,
        "bulge_n": torch.where(is_sf, 2.5 + 2.0 * draw.rand(n), sersic_n),
        "bulge_r_e_arcsec": torch.where(is_sf, r_e_arcsec * (0.15 + 0.2 * draw.rand(n)), r_e_arcsec),
        "bulge_axis_ratio": torch.where(is_sf, 0.6 + 0.4 * draw.rand(n), spheroid_q),
        "centre_offset": draw.rand(n, 2) - 0.5,  # pixels: cut-outs are centred to the nearest pixel
    }


def _draw_arms_and_clumps(draw: _Draws, has_clumps: torch.Tensor, kpc_per_arcsec: torch.Tensor) -> dict[str, torch.Tensor]:
    """Spiral arms (logarithmic spirals, m = 2 or 3, pitch 12-30 deg; Kennicutt 1981) and clumps (kpc-sized;
    Guo et al. 2015), both placed in the disc plane."""
    n = len(has_clumps)
    arm_count = torch.where(draw.rand(n) < 0.7, 2, 3)
    arm_pitch = torch.deg2rad(12.0 + 18.0 * draw.rand(n))
    arm_phase = 2 * math.pi * draw.rand(n)
    clump_count = torch.where(has_clumps, 2 + (draw.rand(n) * 4).floor().long(), torch.zeros(n, dtype=torch.long))
    # Gamma(2): the light radii of an exponential disc, in units of its scale length.
    clump_radius = -torch.log(draw.rand(n, MAX_CLUMPS) * draw.rand(n, MAX_CLUMPS) + 1e-12)
    clump_angle = 2 * math.pi * draw.rand(n, MAX_CLUMPS)
    clump_sigma_kpc = 0.3 + 0.7 * draw.rand(n, MAX_CLUMPS)
    clump_weight = -torch.log(draw.rand(n, MAX_CLUMPS) + 1e-12) * (torch.arange(MAX_CLUMPS)[None, :] < clump_count[:, None])
    return {
        "arm_count": arm_count, "arm_pitch": arm_pitch, "arm_phase": arm_phase, "clump_count": clump_count,
        "clump_radius": clump_radius, "clump_angle": clump_angle,
        "clump_sigma_pixels": clump_sigma_kpc / kpc_per_arcsec[:, None] / PIXEL_SCALE_ARCSEC,
        "clump_weight": clump_weight,
    }


def _draw_neighbours(draw: _Draws, apparent_mag: torch.Tensor, tables: Tables) -> dict[str, torch.Tensor]:
    """Faint neighbours: 1-4 mag fainter than the primary in i, small, anywhere 10-26 px from the centre, with the
    colours of a random template at a random redshift from the same n(z)."""
    n, slots, i_band = len(apparent_mag), NEIGHBOUR_SLOTS, BANDS.index("i")
    thresholds = torch.tensor(np.cumsum(NEIGHBOUR_PROBABILITIES)[:-1], dtype=torch.float32)
    neighbour_count = (draw.rand(n)[:, None] > thresholds).sum(1)
    neighbour_present = torch.arange(slots)[None, :] < neighbour_count[:, None]
    neighbour_mag_i = (apparent_mag[:, i_band, None] + 1.0 + 3.0 * draw.rand(n, slots)).clamp(max=25.5)
    neighbour_k = tables.k_corrections(draw_redshift(n * slots, draw.generator)).reshape(n, slots, len(SED_TEMPLATES), len(BANDS))
    neighbour_template = (draw.rand(n, slots) * len(SED_TEMPLATES)).floor().long()
    neighbour_k = torch.take_along_dim(neighbour_k, neighbour_template[:, :, None, None], dim=2)[:, :, 0, :]
    neighbour_colour = neighbour_k - neighbour_k[:, :, i_band:i_band + 1]
    neighbour_flux = (torch.pow(10.0, -0.4 * (neighbour_mag_i[:, :, None] + neighbour_colour - ZERO_POINT_AB))
                      * neighbour_present[:, :, None])
    neighbour_r_e_arcsec = 0.35 * torch.exp(0.4 * draw.randn(n, slots))
    neighbour_n = torch.where(draw.rand(n, slots) < 0.7, 1.0, 4.0)
    neighbour_q = 0.3 + 0.7 * draw.rand(n, slots)
    neighbour_angle = (draw.rand(n, slots) - 0.5) * math.pi
    neighbour_distance = 10.0 + 16.0 * draw.rand(n, slots)
    neighbour_direction = 2 * math.pi * draw.rand(n, slots)
    return {
        "neighbour_count": neighbour_count,
        "neighbour_flux": neighbour_flux,
        "neighbour_r_e_arcsec": neighbour_r_e_arcsec,
        "neighbour_n": neighbour_n,
        "neighbour_axis_ratio": neighbour_q,
        "neighbour_position_angle": neighbour_angle,
        "neighbour_offset": torch.stack([neighbour_distance * torch.cos(neighbour_direction),
                                         neighbour_distance * torch.sin(neighbour_direction)], dim=-1),
    }


# The keys of a catalogue, in the order draw_catalogue returns them (not the order of the draws).
CATALOGUE_KEYS = (
    "redshift", "population", "absolute_mag_r", "log_stellar_mass", "magnitudes", "component_flux", "r_e_kpc",
    "r_e_arcsec", "sersic_n", "axis_ratio", "position_angle", "bulge_fraction", "bulge_n", "bulge_r_e_arcsec",
    "bulge_axis_ratio", "disc_type", "has_arms", "has_clumps", "arm_fraction", "clump_fraction", "arm_count",
    "arm_pitch", "arm_phase", "clump_count", "clump_radius", "clump_angle", "clump_sigma_pixels", "clump_weight",
    "centre_offset", "neighbour_count", "neighbour_flux", "neighbour_r_e_arcsec", "neighbour_n",
    "neighbour_axis_ratio", "neighbour_position_angle", "neighbour_offset",
)


def draw_catalogue(n: int, generator: torch.Generator, tables: Tables, redshift: torch.Tensor | None = None) -> dict:
    """Draw the intrinsic and observed parameters of ``n`` galaxies (CPU float32 tensors, keys ``CATALOGUE_KEYS``;
    ``magnitudes`` and ``component_flux`` per band, ``component_flux`` per [bulge, smooth disc, substructure]).

    ``redshift`` fixes the redshifts instead of drawing them (used to compute the survey's true trends at fixed z).
    Draw order is fixed, so the same generator state gives the same catalogue.
    """
    draw = _Draws(generator)
    z = draw_redshift(n, generator) if redshift is None else torch.as_tensor(redshift, dtype=torch.float32).reshape(n)
    z = z.clamp(1e-3, REDSHIFT_MAX)
    distance_modulus = tables.distance_modulus(z)
    k_templates = tables.k_corrections(z)  # (n, template, band)
    kpc_per_arcsec = tables.kpc_per_arcsec(z)

    population = _draw_population(draw, z, distance_modulus, k_templates)
    is_sf = population == STAR_FORMING
    structure = _draw_structure(draw, z, is_sf)
    light, component_k, total_k = _component_k_corrections(structure, k_templates)
    luminosity = _draw_luminosity(draw, z, is_sf, distance_modulus, light, component_k, total_k)
    size = _draw_size(draw, z, is_sf, luminosity["absolute_mag_r"], kpc_per_arcsec)
    shapes = _draw_shapes(draw, is_sf, size["r_e_arcsec"])
    arms_and_clumps = _draw_arms_and_clumps(draw, structure["has_clumps"], kpc_per_arcsec)
    neighbours = _draw_neighbours(draw, luminosity["magnitudes"], tables)

    catalogue = {"redshift": z, "population": population, **structure, **luminosity, **size, **shapes,
                 **arms_and_clumps, **neighbours}
    catalogue["disc_type"] = torch.where(is_sf, structure["disc_type"], torch.full((n,), float("nan")))
    return {key: catalogue[key] for key in CATALOGUE_KEYS}
