"""Small GalaxiesML-schema HDF5 files for tests, including each malformed case the survey reader must handle.

    from tests.support.survey_files import write_galaxiesml_file
    path = write_galaxiesml_file(tmp_path / "tiny.hdf5", n=32, seed=0)
    broken = write_galaxiesml_file(tmp_path / "bad.hdf5", defect="nan_pixels")

Images are ``galaxy_explorer.diffusion.testing.toy_stamps`` (the one test-stamp maker: round Gaussian sources on
Gaussian sky noise of sigma 0.05; use ``galaxy_explorer.synthetic`` for physically detailed galaxies), laid out
exactly like GalaxiesML: root datasets, no attributes, the ``image`` dataset (N, 5, H, W) float32,
``specz_redshift``, ``object_id``, ``ra``, ``dec`` and the per-band catalogue columns. ``extra_columns`` adds more
1-D columns, as real files have.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.diffusion.testing import toy_stamps

MORPHOLOGY_SUFFIXES = ("ellipticity", "half_light_radius", "isophotal_area", "major_axis", "minor_axis",
                       "sersic_index", "pos_angle", "petro_rad")

DEFECTS = (
    "not_hdf5",               # a text file with an .hdf5 name
    "truncated",              # a valid file cut to half its size
    "missing_image",          # no 'image' dataset
    "missing_redshift",       # no 'specz_redshift' dataset
    "image_rank",             # 'image' is (N, H, W)
    "band_count",             # 'image' is (N, 3, H, W)
    "length_mismatch",        # 'specz_redshift' has N - 1 values
    "object_id_mismatch",     # 'object_id' has N + 1 values
    "nonfinite_redshift",     # rows 0 and 2: NaN and +inf redshift (readable; rows skipped)
    "negative_redshift",      # row 1: redshift -0.5 (readable; row skipped)
    "all_redshifts_invalid",  # every redshift NaN
    "nan_pixels",             # rows 1 and 3 have NaN / inf pixels (readable; caught when read)
    "negative_outliers",      # a few huge negative pixels, as GalaxiesML has (valid)
    "image_is_group",         # 'image' is an HDF5 group, not a dataset
)
"""Every defect ``write_galaxiesml_file`` can produce."""


def write_galaxiesml_file(path: str | os.PathLike, n: int = 16, *, image_size: int = 64, seed: int = 0,
                          redshift: np.ndarray | None = None, extra_columns: dict[str, np.ndarray] | None = None,
                          defect: str | None = None) -> Path:
    """Write a small GalaxiesML-schema file (optionally with one ``defect`` from ``DEFECTS``); returns the path.

    ``redshift`` defaults to n values spread over 0.05-3.5 in shuffled order (so sorting matters).
    """
    if defect is not None and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; expected one of {', '.join(DEFECTS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if defect == "not_hdf5":
        path.write_text("object_id,specz_redshift\n1,0.5\n")
        return path
    rng = np.random.default_rng(seed)
    if redshift is None:
        redshift = rng.permutation(np.linspace(0.05, 3.5, n))
    redshift = np.asarray(redshift, dtype=np.float64)
    if redshift.shape != (n,):
        raise ValueError(f"redshift must have shape ({n},), got {redshift.shape}")
    images, redshift = _with_defect(toy_stamps(n, seed=seed, size=image_size), redshift, defect)
    columns = catalogue_columns(n, rng, defect) | (extra_columns or {})

    with h5py.File(path, "w") as out:
        if defect == "image_is_group":
            out.create_group("image")
        elif defect != "missing_image":
            out.create_dataset("image", data=images)
        if defect != "missing_redshift":
            out.create_dataset("specz_redshift", data=redshift[:-1] if defect == "length_mismatch" else redshift)
        for name, values in columns.items():
            out.create_dataset(name, data=np.asarray(values))
    if defect == "truncated":
        size = path.stat().st_size
        with open(path, "r+b") as handle:
            handle.truncate(size // 2)
    return path


def _with_defect(images: np.ndarray, redshift: np.ndarray, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The images and redshifts with ``defect`` applied to them (copies where changed)."""
    redshift = redshift.copy()
    if defect == "band_count":
        images = np.ascontiguousarray(images[:, :3])
    if defect == "image_rank":
        images = images[:, 0]
    if defect == "nonfinite_redshift":
        redshift[0], redshift[2] = np.nan, np.inf
    if defect == "negative_redshift":
        redshift[1] = -0.5
    if defect == "all_redshifts_invalid":
        redshift[:] = np.nan
    if defect == "nan_pixels":
        images[1, 2, 10, 10] = np.nan
        images[3, 0, 5, 7] = np.inf
    if defect == "negative_outliers":
        images[0, 1, 0, 0] = -25241.3  # the extreme value in GalaxiesML's training file
        images[2, 3, 40, 12] = -9000.0
    return images, redshift


def catalogue_columns(n: int, rng: np.random.Generator, defect: str | None = None) -> dict[str, np.ndarray]:
    """GalaxiesML's other 1-D columns: ids, positions, cmodel magnitudes and per-band morphology."""
    columns: dict[str, np.ndarray] = {
        "object_id": np.arange(n + (1 if defect == "object_id_mismatch" else 0), dtype=np.int64) + 36407037631488000,
        "ra": rng.uniform(30.0, 40.0, n),
        "dec": rng.uniform(-6.0, -3.0, n),
        "specz_redshift_err": np.full(n, 2e-4),
    }
    for band in BANDS:
        columns[f"{band}_cmodel_mag"] = rng.uniform(18.0, 24.0, n).astype(np.float32)
        for suffix in MORPHOLOGY_SUFFIXES:
            columns[f"{band}_{suffix}"] = rng.uniform(0.1, 10.0, n).astype(np.float32)
    return columns
