"""Build ``assets/sed_colours.csv``: K-corrections of galaxy SED templates in g,r,i,z,y versus redshift.

The built-in synthetic survey (``galaxy_explorer.synthetic``) reads only the table this script writes; GalSim
is needed here (a dev dependency), never at run time.

Sources
-------
* SED templates: Coleman, Wu & Weedman (1980) E, Sbc, Scd and Im templates, extended below 1400 Å and beyond
  10000 Å by Bolzonella, Miralles & Pelló (2000), as shipped in GalSim's ``share/SEDs/CWW_*_ext.sed``.
* Bandpasses: LSST g,r,i,z,y total throughputs at airmass 1.2 (GalSim ``share/bandpasses/LSST_*.dat``), used as
  stand-ins for the HSC filters, which are close in g,r,i,z and somewhat bluer in y.
* Intergalactic absorption: Madau (1995, ApJ 441, 18) effective optical depth of the Lyman series (Ly-alpha to
  Ly-delta, eq. 12 coefficients) and the Lyman continuum (footnote 3 approximation). Without it, g-band fluxes
  of z > 3 galaxies would be far too bright (no Lyman-break "dropouts").

Definition
----------
For a template with rest-frame specific luminosity L_nu, the apparent AB magnitude in observed band X is

    m_X(z) = M_R + DM(z) + K_X(z),

where M_R is the absolute AB magnitude in the rest-frame reference band R (LSST r), DM = 5 log10(D_L / 10 pc)
and

    K_X(z) = -2.5 log10[(1+z) <L_nu((1+z) nu)>_X] + 2.5 log10[<L_nu(nu)>_R],

with <f>_X = ∫ f T_X dnu/nu / ∫ T_X dnu/nu (Hogg et al. 2002, "The K correction", eq. 8). The (1+z) factor is
the bandwidth compression; together with D_L = (1+z)^2 D_A it gives the (1+z)^4 surface-brightness dimming.
Colours follow as differences, e.g. g - r = K_g - K_r.

Usage: ``python train/build_sed_colours.py [--out assets/sed_colours.csv]``
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np

TEMPLATES = ("E", "Sbc", "Scd", "Im")
BANDS = ("g", "r", "i", "z", "y")
REFERENCE_BAND = "r"
REDSHIFT_GRID = np.round(np.arange(0.0, 4.0 + 1e-9, 0.02), 4)

LYMAN_SERIES_ANGSTROM = (1215.67, 1025.72, 972.54, 949.74)
LYMAN_SERIES_COEFFICIENT = (3.6e-3, 1.7e-3, 1.2e-3, 9.3e-4)  # Madau 1995 eq. 12 / table 2
LYMAN_LIMIT_ANGSTROM = 911.75


def read_two_columns(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(path, comments="#")
    return data[:, 0].astype(np.float64), data[:, 1].astype(np.float64)


def madau_igm_transmission(observed_angstrom: np.ndarray, redshift: float) -> np.ndarray:
    """exp(-tau_eff) of the intergalactic medium towards a source at ``redshift`` (Madau 1995)."""
    lam = np.asarray(observed_angstrom, dtype=np.float64)
    tau = np.zeros_like(lam)
    if redshift <= 0:
        return np.ones_like(lam)
    for line, coefficient in zip(LYMAN_SERIES_ANGSTROM, LYMAN_SERIES_COEFFICIENT):
        # absorbed where a line emitted blueward of the source's line lands at the observed wavelength
        absorbed = lam < line * (1.0 + redshift)
        tau[absorbed] += coefficient * (lam[absorbed] / line) ** 3.46
    # Lyman-continuum (photoelectric) absorption by intervening systems, Madau 1995 footnote 3.
    x_c = lam / LYMAN_LIMIT_ANGSTROM
    x_em = 1.0 + redshift
    continuum = x_c < x_em
    xc = x_c[continuum]
    tau[continuum] += (
        0.25 * xc**3 * (x_em**0.46 - xc**0.46)
        + 9.4 * xc**1.5 * (x_em**0.18 - xc**0.18)
        - 0.7 * xc**3 * (xc**-1.32 - x_em**-1.32)
        - 0.023 * (x_em**1.68 - xc**1.68)
    )
    return np.exp(-np.clip(tau, 0.0, None))


def band_average_fnu(wave_angstrom, throughput, fnu_of_wave) -> float:
    """<f_nu>_X = ∫ f_nu T dlambda/lambda / ∫ T dlambda/lambda (photon-counting AB convention)."""
    weight = throughput / wave_angstrom
    return float(np.trapezoid(fnu_of_wave * weight, wave_angstrom) / np.trapezoid(weight, wave_angstrom))


def k_corrections(sed_wave, sed_flambda, bandpasses) -> dict[str, np.ndarray]:
    """K_X(z) on REDSHIFT_GRID for one template (see module docstring)."""
    # L_nu ∝ L_lambda lambda^2; the constant cancels between observed and reference bands.
    def rest_lnu(rest_wave):
        return np.interp(rest_wave, sed_wave, sed_flambda, left=0.0, right=0.0) * rest_wave**2

    ref_wave, ref_throughput = bandpasses[REFERENCE_BAND]
    reference = band_average_fnu(ref_wave, ref_throughput, rest_lnu(ref_wave))
    table = {band: np.empty(REDSHIFT_GRID.size) for band in BANDS}
    for j, redshift in enumerate(REDSHIFT_GRID):
        for band in BANDS:
            wave, throughput = bandpasses[band]
            observed = (1.0 + redshift) * rest_lnu(wave / (1.0 + redshift)) * madau_igm_transmission(wave, redshift)
            mean = band_average_fnu(wave, throughput, observed)
            table[band][j] = -2.5 * np.log10(max(mean, 1e-300)) + 2.5 * np.log10(reference)
    return table


def main(argv: list[str] | None = None) -> int:
    import galsim  # dev dependency: used only to locate the shipped template and bandpass files

    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=repo / "assets" / "sed_colours.csv")
    args = parser.parse_args(argv)

    share = Path(galsim.meta_data.share_dir)
    bandpasses = {}
    for band in BANDS:
        wave_nm, throughput = read_two_columns(share / "bandpasses" / f"LSST_{band}.dat")
        dense = np.linspace(wave_nm.min(), wave_nm.max(), 4000)
        bandpasses[band] = (dense * 10.0, np.interp(dense, wave_nm, throughput))

    rows = []
    for template in TEMPLATES:
        wave, flambda = read_two_columns(share / "SEDs" / f"CWW_{template}_ext.sed")
        table = k_corrections(wave, flambda, bandpasses)
        for j, redshift in enumerate(REDSHIFT_GRID):
            rows.append([template, f"{redshift:.2f}"] + [f"{table[b][j]:.5f}" for b in BANDS])

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.partial")
    with open(tmp, "w", newline="") as handle:
        handle.write("# K-corrections K_X(z) (AB mag) of CWW templates (GalSim share/SEDs, Bolzonella+2000 extension)\n")
        handle.write("# in LSST g,r,i,z,y (stand-ins for HSC) relative to rest-frame LSST r; Madau (1995) IGM applied.\n")
        handle.write("# m_X = M_r(rest) + DM(z) + K_X. Built by train/build_sed_colours.py.\n")
        writer = csv.writer(handle)
        writer.writerow(["template", "redshift"] + [f"k_{b}" for b in BANDS])
        writer.writerows(rows)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
