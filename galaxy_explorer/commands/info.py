"""``galaxy-explorer info FILE``: what a GalaxiesML-schema survey file holds."""

from __future__ import annotations

import argparse
import warnings

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="rows, bands, image shape, redshift range and columns of a survey file",
        description="Describe a GalaxiesML-schema HDF5 survey file (real GalaxiesML or the built-in synthetic "
                    "survey). Exit status 2 with a one-line reason if the file cannot be read.",
    )
    p.add_argument("file", help="HDF5 file in the GalaxiesML schema ('builtin' = the built-in survey's testing split)")
    p.add_argument("--scan-pixels", action="store_true",
                   help="also read every image to count rows with NaN/inf pixels (slow on large files)")
    p.set_defaults(func=run)


def describe(survey, scan_pixels: bool = False) -> list[str]:
    """The report as lines (also used by tests)."""
    redshift = survey.redshift
    quantiles = np.quantile(redshift, [0.05, 0.25, 0.5, 0.75, 0.95])
    lines = [
        f"file:        {survey.path}",
        f"kind:        {'SYNTHETIC (galaxy_explorer built-in survey; not real galaxies)' if survey.synthetic else 'survey file'}",
        f"rows:        {survey.n_rows} valid of {survey.n_file_rows} in the file",
        f"bands:       {','.join(survey.bands)}",
        f"image shape: {survey.image_shape} per galaxy, dtype {survey.image_dtype}",
        f"redshift:    {redshift.min():.4f} .. {redshift.max():.4f}; quantiles 5/25/50/75/95%: "
        + " ".join(f"{q:.3f}" for q in quantiles),
        f"             fraction below z=1.5: {np.mean(redshift < 1.5):.3f}",
        f"columns ({len(survey.columns)}): {', '.join(survey.columns)}",
    ]
    if scan_pixels:
        bad = survey.find_bad_pixel_rows()
        lines.append(f"pixels:      {bad.size} rows with NaN/inf pixels")
    return lines


def run(args: argparse.Namespace) -> int:
    from galaxy_explorer.data.survey import Survey, builtin_survey_path

    path = builtin_survey_path("testing") if args.file == "builtin" else args.file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Survey(path) as survey:
            lines = describe(survey, scan_pixels=args.scan_pixels)
    for warning in caught:
        lines.append(f"warning:     {warning.message}")
    print("\n".join(lines))
    return 0
