"""Read survey files in the GalaxiesML schema (Do et al. 2024) lazily, and provide the built-in synthetic survey.

GalaxiesML files are flat HDF5: ``image`` (N, 5, H, W) float32 cut-outs in g,r,i,z,y, ``specz_redshift`` (N,),
``object_id`` (N,), and many further 1-D columns of length N (``ra``, ``dec``, ``{band}_cmodel_mag``, Source Extractor
morphology such as ``i_half_light_radius``...). ``Survey`` discovers columns at run time, so files with extra
columns (for instance the synthetic survey's ``true_*`` truth) need no code changes.

Only the 1-D columns are held in memory; images are read by row from disk (a GalaxiesML training file is
~17 GB). The file is opened read-only: nothing is ever written to an input file.

What happens to bad input (``SurveyError`` names the file and the key):

=====================================================  ==========================================================
not HDF5, truncated, unreadable                        refused (SurveyError)
``image`` or ``specz_redshift`` missing                refused
``image`` not (N, bands, H, W) or band count != 5      refused (the band count must match the ``bands`` attribute,
                                                       or g,r,i,z,y when there is none)
``image`` of integer dtype (uint8, int16, ...)         refused: survey flux is floating point; integers are a
                                                       display image or counts, and would be taken as flux
``specz_redshift`` not numbers (strings, ...)          refused, naming the dtype; ``object_id`` not integers too
``specz_redshift`` / ``object_id`` length != N         refused
non-finite or negative redshifts                       rows skipped, with one ``SurveyWarning`` giving the count;
                                                       refused if no row is left
NaN/inf pixels (found only when rows are read: a       ``images()`` refuses, naming the rows; ``iter_batches``
full scan of a 17 GB file at open would take minutes)   skips them with one counted ``SurveyWarning`` per epoch;
                                                       ``find_bad_pixel_rows()`` scans the whole file on request
large finite negative pixel values (GalaxiesML has)    kept; ``normalization`` is robust to them
row indices that are not integers (1.7, True)          refused, never truncated; a NaN redshift query refused
=====================================================  ==========================================================

Row ``i`` of a ``Survey`` is the i-th *valid* row of the file (``file_rows`` maps back).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.errors import SurveyError
from galaxy_explorer.paths import cache_dir

IMAGE_KEY = "image"
REDSHIFT_KEY = "specz_redshift"
OBJECT_ID_KEY = "object_id"


class SurveyWarning(UserWarning):
    """Rows of a survey file were skipped; the message says how many and why."""


class Survey:
    """Lazy h5py reader of a GalaxiesML-schema HDF5 file (see the module docstring for the rules on bad input)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise SurveyError(f"{self.path}: survey file not found")
        if self.path.is_dir():
            raise SurveyError(f"{self.path}: is a directory, expected an HDF5 survey file")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise SurveyError(f"{self.path}: not a readable HDF5 file (truncated or another format?): {exc}") from exc
        try:
            self._open()
        except BaseException:
            self._file.close()
            raise

    # ------------------------------------------------------------------ validation
    def _dataset(self, key: str) -> h5py.Dataset:
        if key not in self._file:
            raise SurveyError(f"{self.path}: required dataset {key!r} is missing (GalaxiesML schema)")
        node = self._file[key]
        if not isinstance(node, h5py.Dataset):
            raise SurveyError(f"{self.path}: {key!r} is a group, expected a dataset")
        return node

    def _read(self, key: str, selection=()) -> np.ndarray:
        try:
            return self._file[key][selection]
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise SurveyError(f"{self.path}: cannot read dataset {key!r} (file truncated or corrupt?): {exc}") from exc

    def _open(self) -> None:
        self.bands = _bands_attribute(self.path, self._file.attrs.get("bands"))
        image = self._dataset(IMAGE_KEY)
        _check_image_dataset(self.path, image, self.bands)
        self.image_dtype = image.dtype
        self._n_file_rows = int(image.shape[0])
        self.n_file_rows = self._n_file_rows
        self.image_shape = tuple(int(s) for s in image.shape[1:])

        _check_row_column(self.path, self._dataset(REDSHIFT_KEY), self._n_file_rows, "iuf",
                          "numbers (float64 redshifts)", "to match 'image'")
        redshift = np.asarray(self._read(REDSHIFT_KEY), dtype=np.float64)
        self.file_rows = _usable_rows(self.path, redshift)
        self.redshift = redshift[self.file_rows]
        self.n_rows = int(self.file_rows.size)

        if OBJECT_ID_KEY in self._file:
            _check_row_column(self.path, self._dataset(OBJECT_ID_KEY), self._n_file_rows, "iu", "integers")
            self.object_id = np.asarray(self._read(OBJECT_ID_KEY), dtype=np.int64)[self.file_rows]
        else:  # some GalaxiesML-like files lack it; the file row number is then the only stable identifier
            self.object_id = self.file_rows.copy()

        self.columns = tuple(sorted(
            key for key, node in self._file.items()
            if isinstance(node, h5py.Dataset) and key != IMAGE_KEY and node.ndim == 1 and node.shape[0] == self._n_file_rows
        ))
        self._column_cache: dict[str, np.ndarray] = {}
        # Sorted redshift index: nearest-z and window queries are binary searches, not scans.
        self._order_by_redshift = np.argsort(self.redshift, kind="stable")
        self._sorted_redshift = self.redshift[self._order_by_redshift]

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return self.n_rows

    def __enter__(self) -> "Survey":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()

    @property
    def synthetic(self) -> bool:
        """True for files written by the built-in synthetic survey (say so wherever results are shown)."""
        return bool(self._file.attrs.get("synthetic", False))

    @property
    def is_synthetic(self) -> bool:
        """Whether the galaxies are simulated: files the synthetic survey wrote (``synthetic`` attribute) or any file
        with truth columns (``true_*``), which no real catalogue has. Label results from such files SYNTHETIC."""
        return self.synthetic or any(str(name).startswith("true_") for name in self.columns)

    @property
    def attributes(self) -> dict:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self._file.attrs.items()}

    def _rows(self, indices) -> np.ndarray:
        indices = np.asarray(indices)
        if indices.dtype == bool:
            raise SurveyError(f"{self.path}: row indices must be integers, not a boolean mask")
        if indices.size and indices.dtype.kind not in "iu":
            raise SurveyError(f"{self.path}: row indices must be integers, got {indices.reshape(-1)[:3].tolist()} "
                              f"(dtype {indices.dtype})")
        indices = indices.astype(np.int64, copy=False).reshape(-1)
        if indices.size and (indices.min() < -self.n_rows or indices.max() >= self.n_rows):
            bad = indices[(indices < -self.n_rows) | (indices >= self.n_rows)][0]
            raise SurveyError(f"{self.path}: row {bad} is out of range (the survey has {self.n_rows} valid rows)")
        return self.file_rows[indices]

    def _read_image_rows(self, file_rows: np.ndarray) -> np.ndarray:
        """Images for file rows in any order; h5py wants increasing unique indices, so sort and scatter back."""
        unique, inverse = np.unique(file_rows, return_inverse=True)
        if unique.size == 0:
            return np.empty((0,) + self.image_shape, dtype=np.float32)
        if unique[-1] - unique[0] + 1 == unique.size:  # contiguous: one slice read
            block = self._read(IMAGE_KEY, np.s_[int(unique[0]):int(unique[-1]) + 1])
        else:
            block = self._read(IMAGE_KEY, unique)
        return np.asarray(block, dtype=np.float32)[inverse]

    def images(self, indices) -> np.ndarray:
        """Images (k, 5, H, W) float32 in survey flux units, in the order of ``indices`` (valid-row numbers).

        Raises ``SurveyError`` naming the rows if any requested image has NaN/inf pixels.
        """
        file_rows = self._rows(indices)
        images = self._read_image_rows(file_rows)
        finite = np.isfinite(images).all(axis=tuple(range(1, images.ndim)))  # (an empty selection has no -1 axis)
        if not finite.all():
            bad = file_rows[~finite]
            raise SurveyError(f"{self.path}: dataset 'image' has NaN/inf pixels in file row(s) "
                              f"{', '.join(map(str, bad[:5]))}{' ...' if bad.size > 5 else ''}")
        return images

    def column(self, name: str, indices=None) -> np.ndarray:
        """A 1-D column for all valid rows, or for ``indices`` (valid-row numbers) in that order."""
        if name not in self.columns:
            raise SurveyError(f"{self.path}: no column {name!r}; available: {', '.join(self.columns)}")
        if name not in self._column_cache:
            self._column_cache[name] = np.asarray(self._read(name))[self.file_rows]
        values = self._column_cache[name]
        if indices is None:
            return values.copy()
        self._rows(indices)  # integer and range checks with a clear message
        return values[np.asarray(indices, dtype=np.int64).reshape(-1)]

    def column_dtype(self, name: str) -> np.dtype:
        """The stored dtype of a 1-D column (a condition for training must be numbers)."""
        if name not in self.columns:
            raise SurveyError(f"{self.path}: no column {name!r}; available: {', '.join(self.columns)}")
        return self._file[name].dtype

    def _redshift_query(self, value, what: str, allow_infinite: bool = False) -> float:
        """A redshift to search for: a number, not NaN (a NaN would match arbitrary rows), finite unless allowed."""
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise SurveyError(f"{self.path}: {what} needs a redshift number, got {value!r}") from None
        if np.isnan(value) or (np.isinf(value) and not allow_infinite):
            raise SurveyError(f"{self.path}: {what} needs a finite redshift, got {value}")
        return value

    def nearest(self, redshift: float, k: int) -> np.ndarray:
        """Row indices of the ``k`` galaxies nearest in redshift, closest first (ties: lower redshift first)."""
        redshift = self._redshift_query(redshift, "nearest()")
        k = int(min(max(k, 0), self.n_rows))
        if k == 0:
            return np.empty(0, dtype=np.int64)
        position = int(np.searchsorted(self._sorted_redshift, redshift))
        lo, hi = max(position - k, 0), min(position + k, self.n_rows)
        candidates = np.arange(lo, hi)
        distance = np.abs(self._sorted_redshift[candidates] - redshift)
        chosen = candidates[np.argsort(distance, kind="stable")[:k]]
        return self._order_by_redshift[chosen].astype(np.int64)

    def in_window(self, z_min: float, z_max: float) -> np.ndarray:
        """Row indices with ``z_min <= redshift < z_max``, in increasing row order."""
        z_min, z_max = (self._redshift_query(z, "in_window()", allow_infinite=True) for z in (z_min, z_max))
        lo = np.searchsorted(self._sorted_redshift, z_min, side="left")
        hi = np.searchsorted(self._sorted_redshift, z_max, side="left")
        return np.sort(self._order_by_redshift[lo:hi]).astype(np.int64)

    def iter_batches(self, batch_size: int, *, seed: int, shuffle: bool = True,
                     columns: Sequence[str] = ()) -> Iterator[dict[str, np.ndarray]]:
        """One epoch of batches ``{'image', 'specz_redshift', *columns}`` (numpy).

        Reads contiguous blocks of ``batch_size`` file rows (fast on disk) in a seeded random block order, and
        shuffles rows within a pool of 8 blocks; every valid row appears once. Rows with NaN/inf pixels are dropped
        (one counted ``SurveyWarning`` at the end of the epoch), so a batch can be shorter than ``batch_size``.
        """
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for name in columns:
            if name not in self.columns:
                raise SurveyError(f"{self.path}: no column {name!r}; available: {', '.join(self.columns)}")
        rng = np.random.default_rng(seed)
        blocks = [np.arange(s, min(s + batch_size, self.n_rows)) for s in range(0, self.n_rows, batch_size)]
        order = rng.permutation(len(blocks)) if shuffle else np.arange(len(blocks))
        pool_blocks = 8 if shuffle else 1
        dropped = 0
        for first in range(0, len(order), pool_blocks):
            rows = np.concatenate([blocks[i] for i in order[first:first + pool_blocks]])
            images = self._read_image_rows(self.file_rows[rows])
            finite = np.isfinite(images).reshape(len(rows), -1).all(axis=1)
            dropped += int((~finite).sum())
            rows, images = rows[finite], images[finite]
            permutation = rng.permutation(rows.size) if shuffle else np.arange(rows.size)
            for start in range(0, rows.size, batch_size):
                take = permutation[start:start + batch_size]
                batch = {"image": images[take], "specz_redshift": self.redshift[rows[take]]}
                for name in columns:
                    batch[name] = self.column(name, rows[take])
                yield batch
        if dropped:
            warnings.warn(f"{self.path}: skipped {dropped} rows with NaN/inf pixels in 'image' this epoch",
                          SurveyWarning, stacklevel=2)

    def find_bad_pixel_rows(self, chunk_rows: int = 1024) -> np.ndarray:
        """Scan every image (in chunks, never the whole file at once); valid-row indices with NaN/inf pixels."""
        bad = []
        for start in range(0, self.n_rows, chunk_rows):
            rows = np.arange(start, min(start + chunk_rows, self.n_rows))
            images = self._read_image_rows(self.file_rows[rows])
            bad.append(rows[~np.isfinite(images).reshape(len(rows), -1).all(axis=1)])
        return np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)

    def __repr__(self) -> str:
        return f"Survey({str(self.path)!r}, n_rows={self.n_rows}, image_shape={self.image_shape})"


# ---------------------------------------------------------------------------------------------- schema checks
def _bands_attribute(path: Path, raw) -> tuple[str, ...]:
    """The file's ``bands`` attribute (g,r,i,z,y when there is none); any other band list is refused."""
    if raw is None:
        return BANDS
    if isinstance(raw, bytes):
        raw = raw.decode()
    bands = tuple(b.strip() for b in raw.split(",")) if isinstance(raw, str) else tuple(
        (b.decode() if isinstance(b, bytes) else str(b)) for b in raw)
    if bands != BANDS:
        raise SurveyError(f"{path}: attribute 'bands' is {','.join(bands)}; expected {','.join(BANDS)}")
    return bands


def _check_image_dataset(path: Path, image: h5py.Dataset, bands: tuple[str, ...]) -> None:
    """``image`` must be (N, bands, H, W) floating-point survey flux."""
    if image.ndim != 4:
        raise SurveyError(f"{path}: dataset 'image' has shape {image.shape}; expected (N, {len(bands)}, H, W)")
    if image.shape[1] != len(bands):
        raise SurveyError(f"{path}: dataset 'image' has {image.shape[1]} bands (shape {image.shape}); "
                          f"expected {len(bands)} ({','.join(bands)})")
    if not np.issubdtype(image.dtype, np.floating):
        raise SurveyError(f"{path}: dataset 'image' has dtype {image.dtype}; expected floating-point survey "
                          "flux (float32, as in GalaxiesML); integer pixels are a display image or raw counts, "
                          "not flux")


def _check_row_column(path: Path, column: h5py.Dataset, n_rows: int, kinds: str, expected: str,
                      shape_note: str = "") -> None:
    """A per-row column must be 1-D with one value per image, of a dtype kind in ``kinds``."""
    key = column.name.lstrip("/")
    if column.ndim != 1 or column.shape[0] != n_rows:
        raise SurveyError(f"{path}: dataset {key!r} has shape {column.shape}; expected ({n_rows},)"
                          + (f" {shape_note}" if shape_note else ""))
    if column.dtype.kind not in kinds:
        raise SurveyError(f"{path}: dataset {key!r} has dtype {column.dtype}; expected {expected}")


def _usable_rows(path: Path, redshift: np.ndarray) -> np.ndarray:
    """File rows with a finite, non-negative redshift; one SurveyWarning counts the others, none left is an error."""
    valid = np.isfinite(redshift) & (redshift >= 0)
    skipped = int((~valid).sum())
    if skipped == len(redshift):
        raise SurveyError(f"{path}: no usable rows: every value of 'specz_redshift' is non-finite or negative")
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} of {len(redshift)} rows with non-finite or negative "
                      f"'specz_redshift'", SurveyWarning, stacklevel=4)
    return np.flatnonzero(valid).astype(np.int64)


# ---------------------------------------------------------------------------------------------- built-in survey
BUILTIN_SPLITS = {"training": (16000, 101), "validation": (4000, 202), "testing": (4000, 303)}
"""split -> (rows, seed) of the built-in synthetic survey."""


def builtin_survey_path(split: str = "testing") -> Path:
    """Path of the built-in SYNTHETIC survey's ``split`` ('training' | 'validation' | 'testing').

    Written once into ``paths.cache_dir()`` with a fixed seed per split (so every machine gets the same galaxies)
    and reused afterwards. A file lock makes concurrent callers wait for one writer; the file itself appears
    atomically, so no reader ever sees a partial file. The name carries the generator version, so a physics change
    makes a fresh file instead of reusing a stale one.
    """
    from galaxy_explorer.synthetic.mock_file import GENERATOR_VERSION, write_mock_survey

    if split not in BUILTIN_SPLITS:
        raise SurveyError(f"unknown built-in survey split {split!r}; expected one of {', '.join(BUILTIN_SPLITS)}")
    rows, seed = BUILTIN_SPLITS[split]
    path = cache_dir() / f"builtin-synthetic-v{GENERATOR_VERSION}-{split}.hdf5"
    if path.exists():
        return path
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not path.exists():  # another process may have written it while we waited
                write_mock_survey(path, rows, seed)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path
