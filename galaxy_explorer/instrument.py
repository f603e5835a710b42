"""The instrument every part of Galaxy Explorer assumes: HSC's bands, pixels, stamps, PSF and flux units.

One place for these numbers, so that the synthetic survey that renders galaxies, the app that draws scale bars and the
FITS writer that states world coordinates cannot disagree. Flux units: every pixel value is a flux on the AB magnitude
scale with zero point 27, i.e. a source of total magnitude m has pixel values summing to 10**(-0.4 * (m - 27)). This is
the HSC coadd convention (Bosch et al. 2018; Aihara et al. 2018), so one unit is 3631 Jy * 10**(-0.4 * 27) ≈ 57.5 nJy.
"""

from __future__ import annotations

BANDS = ("g", "r", "i", "z", "y")
"""HSC broad bands in the order GalaxiesML stores them along the image channel axis."""

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
