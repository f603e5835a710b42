"""The world coordinates of an exported FITS cube: HSC's pixel scale on a simple celestial tangent plane.

A generated galaxy has no place on the sky, so the reference point (CRVAL) is arbitrary and the header says so;
what the WCS carries that matters is the scale (0.168″ per pixel, as the survey the model learned from) and the
orientation (north up, east left, as HSC coadds). The cube's other axes are indices, described as linear axes:
axis 3 the band (in the order of the header's BANDS card), axis 4 the frame (its redshift in the REDSHIFT table).
"""

from __future__ import annotations

from galaxy_explorer.instrument import PIXEL_SCALE_ARCSEC

# Arbitrary: on the equator, where RA---TAN is least distorted; stated as arbitrary in the header.
REFERENCE_RA_DEG, REFERENCE_DEC_DEG = 180.0, 0.0


def celestial_cards(height: int, width: int, pixel_scale_arcsec: float = PIXEL_SCALE_ARCSEC) -> dict:
    """FITS cards (name -> (value, comment)) for axes 1-2 of a ``height`` × ``width`` image: TAN projection,
    reference pixel at the image centre (FITS pixels count from 1), north up and east left."""
    scale_deg = pixel_scale_arcsec / 3600.0
    return {
        "PIXSCALE": (pixel_scale_arcsec, "pixel scale [arcsec/pixel], HSC coadd"),
        "WCSAXES": (4, "RA, Dec, band index, frame index"),
        "CTYPE1": ("RA---TAN", "gnomonic projection"),
        "CTYPE2": ("DEC--TAN", "gnomonic projection"),
        "CUNIT1": ("deg", ""),
        "CUNIT2": ("deg", ""),
        "CRPIX1": ((width + 1) / 2.0, "reference pixel: the image centre"),
        "CRPIX2": ((height + 1) / 2.0, "reference pixel: the image centre"),
        "CRVAL1": (REFERENCE_RA_DEG, "ARBITRARY: a model sample has no sky position"),
        "CRVAL2": (REFERENCE_DEC_DEG, "ARBITRARY: a model sample has no sky position"),
        "CDELT1": (-scale_deg, "deg/pixel (east to the left)"),
        "CDELT2": (scale_deg, "deg/pixel"),
        "RADESYS": ("ICRS", ""),
    }


def index_axis_cards(axis: int, name: str, comment: str) -> dict:
    """Cards describing cube axis ``axis`` as a plain index 0, 1, 2, … (FITS pixel 1 is index 0)."""
    return {f"CTYPE{axis}": (name, comment), f"CRPIX{axis}": (1.0, ""), f"CRVAL{axis}": (0.0, ""),
            f"CDELT{axis}": (1.0, "")}


def cube_wcs_cards(height: int, width: int) -> dict:
    """All WCS cards of a (frames, bands, height, width) cube."""
    return {**celestial_cards(height, width),
            **index_axis_cards(3, "BAND", "band index, order in BANDS"),
            **index_axis_cards(4, "FRAME", "frame index, redshift in HDU REDSHIFT")}


WCS_COMMENT = ("CRVAL1/CRVAL2 are arbitrary (a model sample has no sky position); only the pixel scale and "
               "orientation of the celestial WCS are meaningful.")
