"""Look-up tables the synthetic survey interpolates in torch: cosmological distances and SED K-corrections.

Both are computed once per process (``functools.cache``) in float64 numpy and handed to torch, so the renderer
itself never calls astropy or reads files inside its loop.
"""

from __future__ import annotations

import csv
import functools

import numpy as np
import torch

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.paths import SED_TABLE

SED_TABLE_PATH = SED_TABLE
SED_TEMPLATES = ("E", "Sbc", "Scd", "Im")
"""Coleman, Wu & Weedman (1980) templates, reddest to bluest; see ``train/build_sed_colours.py``."""

REDSHIFT_TABLE_MAX = 4.5


class SyntheticSurveyError(GalaxyExplorerError):
    """The synthetic survey's shipped tables are missing or malformed."""


def interpolation_weights(x: torch.Tensor, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid index (upper neighbour) and weight for piecewise-linear interpolation on increasing ``xp``; clamps."""
    index = torch.searchsorted(xp, x.contiguous()).clamp(1, xp.numel() - 1)
    x0, x1 = xp[index - 1], xp[index]
    return index, ((x - x0) / (x1 - x0)).clamp(0.0, 1.0)


def interpolate(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Like ``numpy.interp`` (values outside the grid take the end values)."""
    index, weight = interpolation_weights(x, xp)
    return fp[index - 1] + weight * (fp[index] - fp[index - 1])


@functools.cache
def distance_table() -> dict[str, np.ndarray]:
    """Planck 2018 (astropy ``Planck18``) distances on a redshift grid.

    ``kpc_per_arcsec``: proper transverse scale, from the angular-diameter distance D_A.
    ``distance_modulus``: 5 log10(D_L / 10 pc), with D_L = (1+z)² D_A, so fluxes from D_L and sizes from D_A
    together give Tolman's (1+z)^4 surface-brightness dimming.
    """
    from astropy.cosmology import Planck18

    redshift = np.concatenate([np.geomspace(1e-4, 0.05, 80, endpoint=False), np.linspace(0.05, REDSHIFT_TABLE_MAX, 600)])
    kpc_per_arcsec = Planck18.kpc_proper_per_arcmin(redshift).value / 60.0
    distance_modulus = Planck18.distmod(redshift).value
    return {"redshift": redshift, "kpc_per_arcsec": kpc_per_arcsec, "distance_modulus": distance_modulus}


@functools.cache
def sed_table() -> dict[str, np.ndarray]:
    """K-corrections K[template, redshift, band] (AB mag) from ``assets/sed_colours.csv``."""
    if not SED_TABLE_PATH.exists():
        raise SyntheticSurveyError(f"{SED_TABLE_PATH}: SED colour table not found (build it with train/build_sed_colours.py)")
    per_template: dict[str, list[tuple[float, list[float]]]] = {t: [] for t in SED_TEMPLATES}
    with open(SED_TABLE_PATH, newline="") as handle:
        rows = csv.reader(line for line in handle if not line.startswith("#"))
        header = next(rows)
        expected = ["template", "redshift"] + [f"k_{b}" for b in BANDS]
        if header != expected:
            raise SyntheticSurveyError(f"{SED_TABLE_PATH}: header {header} is not the expected {expected}")
        for row in rows:
            if row[0] not in per_template:
                raise SyntheticSurveyError(f"{SED_TABLE_PATH}: unknown template {row[0]!r}")
            per_template[row[0]].append((float(row[1]), [float(v) for v in row[2:]]))
    grids = [np.array([z for z, _ in per_template[t]]) for t in SED_TEMPLATES]
    if any(len(g) < 2 or not np.array_equal(g, grids[0]) for g in grids):
        raise SyntheticSurveyError(f"{SED_TABLE_PATH}: every template needs the same redshift grid")
    k = np.stack([np.array([v for _, v in per_template[t]]) for t in SED_TEMPLATES])  # (template, z, band)
    return {"redshift": grids[0], "k_correction": k}


class Tables:
    """The tables as torch tensors on one device (float32 except where noted)."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        distances = distance_table()
        seds = sed_table()
        as_tensor = functools.partial(torch.as_tensor, dtype=torch.float32, device=self.device)
        self.distance_redshift = as_tensor(distances["redshift"])
        self.kpc_per_arcsec_grid = as_tensor(distances["kpc_per_arcsec"])
        self.distance_modulus_grid = as_tensor(distances["distance_modulus"])
        self.sed_redshift = as_tensor(seds["redshift"])
        # (template, band, z) so the redshift grid is the last axis for ``interpolate``.
        self.k_grid = as_tensor(seds["k_correction"]).permute(0, 2, 1).contiguous()

    def kpc_per_arcsec(self, redshift: torch.Tensor) -> torch.Tensor:
        return interpolate(redshift, self.distance_redshift, self.kpc_per_arcsec_grid)

    def distance_modulus(self, redshift: torch.Tensor) -> torch.Tensor:
        return interpolate(redshift, self.distance_redshift, self.distance_modulus_grid)

    def k_corrections(self, redshift: torch.Tensor) -> torch.Tensor:
        """K-corrections (n, template, band) at each galaxy's redshift."""
        index, weight = interpolation_weights(redshift, self.sed_redshift)
        lower, upper = self.k_grid[..., index - 1], self.k_grid[..., index]  # (template, band, n)
        return (lower + weight * (upper - lower)).permute(2, 0, 1)


def mix_k_corrections(k_templates: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """K-correction of a flux mixture of templates.

    ``weights`` (…, template) are fractions of rest-frame r luminosity (summing to 1); each template's observed
    flux per unit rest-r luminosity is 10**(-0.4 K), so the mixture's K is -2.5 log10 Σ w 10**(-0.4 K).
    ``k_templates`` is (…, template, band); returns (…, band).
    """
    flux = torch.einsum("...t,...tb->...b", weights, torch.pow(10.0, -0.4 * k_templates))
    return -2.5 * torch.log10(flux.clamp_min(1e-30))
