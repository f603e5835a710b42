"""The one FITS writer: every FITS file the package writes (``sample``'s images, ``export``'s cubes) goes through here.

A file is described, not assembled: a primary ``FitsImage`` and extensions (``FitsImage`` or ``FitsTable``), each
with its header cards as ``{name: value}`` or ``{name: (value, comment)}`` in the order they are to appear. Pixels
are stored as float32 (survey flux needs no more, and every reader expects it); a table's column formats follow
its arrays' dtypes. This module imports nothing from the rest of the package, so ``diffusion`` and ``output`` can
both use it without an import cycle. It writes to the path it is given: callers write through
``galaxy_explorer.atomic.atomic_path`` so that an interrupted write leaves nothing under the final name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

# A string value longer than this gets no comment: it continues over CONTINUE cards (FITS long-string convention),
# and astropy would cut a comment that no longer fits on the card.
MAX_COMMENTED_STRING = 40


@dataclass(frozen=True)
class FitsImage:
    """An image HDU: ``data`` (None for a header-only primary HDU), its cards, COMMENT lines, and EXTNAME."""

    data: np.ndarray | None = None
    cards: Mapping[str, Any] = field(default_factory=dict)
    comments: Sequence[str] = ()
    name: str | None = None


@dataclass(frozen=True)
class FitsTable:
    """A binary-table HDU named ``name``: equal-length 1-D columns, in order."""

    name: str
    columns: Mapping[str, np.ndarray]


def card(value: Any, comment: str) -> Any:
    """``(value, comment)``, or the value alone when it is a string too long to share its card with a comment."""
    return value if isinstance(value, str) and len(value) > MAX_COMMENTED_STRING else (value, comment)


def _image_hdu(image: FitsImage, primary: bool):
    from astropy.io import fits

    data = None if image.data is None else np.asarray(image.data, dtype=np.float32)
    hdu = fits.PrimaryHDU(data) if primary else fits.ImageHDU(data, name=image.name)
    for key, value in image.cards.items():
        hdu.header[key] = value
    for line in image.comments:
        hdu.header["COMMENT"] = line
    return hdu


def _table_hdu(table: FitsTable):
    from astropy.io import fits

    names = list(table.columns)
    records = np.rec.fromarrays([np.asarray(table.columns[name]) for name in names], names=names)
    return fits.BinTableHDU.from_columns(records, name=table.name)


def write_fits_file(path: str | os.PathLike, primary: FitsImage,
                    extensions: Sequence[FitsImage | FitsTable] = ()) -> None:
    """Write ``primary`` and ``extensions`` to ``path`` (replacing it; pass an ``atomic_path`` temporary)."""
    from astropy.io import fits

    hdus = [_image_hdu(primary, primary=True)]
    hdus += [_table_hdu(hdu) if isinstance(hdu, FitsTable) else _image_hdu(hdu, primary=False) for hdu in extensions]
    fits.HDUList(hdus).writeto(path, overwrite=True)
