"""Read the real galaxies kept beside the repository (``<repo>/../shared/realdata``), read-only, never unpickling.

Observed data, not simulated (their README lists sources and licences; none of it is copied into the project):

* COSMOS: 100 HST/ACS F814W galaxy stamps at 0.03"/px with their PSFs (GalSim ``RealGalaxy`` layout, one HDU per
  stamp) and two catalogue tables joined on ``IDENT``: the F814W magnitude, pixel scale and noise of each stamp,
  and ``ZPHOT`` (COSMOS photometric redshift), HSC g,r,i,z,y magnitudes and ``flux_radius`` (Source Extractor
  FLUX_RADIUS, circular half-light radius in HST pixels).
* HSC: four g,r,i,z,y coadd scenes at 0.168"/px (two FITS cubes with a FITS PSF cube, two ``.npz`` with PSFs and a
  detection catalogue; ``hsc_cosmos_35.npz`` also has variance and mask planes). Their pixels are HSC coadd flux
  (AB zero point 27), the unit of the synthetic survey too.

``find_realdata()`` returns the folder or None (callers skip with a reason); a folder that is there but broken
raises ``RealDataError`` naming the file and key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.instrument import BANDS

REALDATA_ENV = "GALAXY_EXPLORER_REALDATA"
"""Environment variable naming the real-data folder; default ``<repository>/../shared/realdata``."""

STAMP_CATALOGUE = "real_galaxy_catalog_26_extension_example.fits"
FIT_CATALOGUE = "real_galaxy_catalog_26_extension_example_fits.fits"
STAMP_FILE = "real_galaxy_images_extension.fits"
STAMP_PSF_FILE = "real_galaxy_PSF_images_extension.fits"
FITS_SCENES = ("Cut_HSC.fits", "Cut_HSC1.fits")
FITS_SCENE_PSF = "PSF_HSC.fits"
NPZ_SCENES = ("hsc_cosmos.npz", "hsc_cosmos_35.npz")
REQUIRED_FILES = (STAMP_CATALOGUE, FIT_CATALOGUE, STAMP_FILE, STAMP_PSF_FILE, *FITS_SCENES, FITS_SCENE_PSF, *NPZ_SCENES)


class RealDataError(GalaxyExplorerError, ValueError):
    """A real-data file is missing or not what it should be; the message names the file and key."""


def default_realdata_dir() -> Path:
    """``$GALAXY_EXPLORER_REALDATA``, else ``shared/realdata`` beside the repository checkout (as CI lays it out)."""
    override = os.environ.get(REALDATA_ENV)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "realdata"


def find_realdata(directory: str | os.PathLike | None = None) -> Path | None:
    """The real-data folder if it exists (``directory`` or the default), else None."""
    path = Path(directory) if directory is not None else default_realdata_dir()
    return path if path.is_dir() else None


def missing_files(directory: str | os.PathLike) -> list[str]:
    """Names of the expected real-data files that ``directory`` lacks."""
    return [name for name in REQUIRED_FILES if not (Path(directory) / name).is_file()]


def _table(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise RealDataError(f"{path}: real-data catalogue not found")
    with fits.open(path, memmap=False) as hdus:
        if len(hdus) < 2 or not isinstance(hdus[1], fits.BinTableHDU):
            raise RealDataError(f"{path}: expected a binary table in HDU 1")
        data = hdus[1].data
        absent = [name for name in columns if name not in data.columns.names]
        if absent:
            raise RealDataError(f"{path}: columns {absent} are missing; found {data.columns.names}")
        return {name: np.array(data[name]) for name in columns}


@dataclass(frozen=True)
class CosmosCatalogue:
    """The COSMOS galaxies, one row each, both tables joined on ``ident``."""

    ident: np.ndarray
    redshift: np.ndarray  # ZPHOT
    magnitudes: dict[str, np.ndarray]  # HSC band -> AB magnitude (catalogue)
    flux_radius_arcsec: np.ndarray  # FLUX_RADIUS x PIXEL_SCALE: circular half-light radius on the HST image
    f814w_mag: np.ndarray
    stamp_flux: np.ndarray  # F814W catalogue flux in the stamps' units: 10**(-0.4 (f814w_mag - 25.937))
    stamp_hdu: np.ndarray
    psf_hdu: np.ndarray
    pixel_scale_arcsec: np.ndarray

    def __len__(self) -> int:
        return int(self.ident.size)

    def select(self, rows: np.ndarray) -> "CosmosCatalogue":
        pick = lambda a: np.asarray(a)[rows]  # noqa: E731
        return CosmosCatalogue(pick(self.ident), pick(self.redshift), {b: pick(m) for b, m in self.magnitudes.items()},
                               pick(self.flux_radius_arcsec), pick(self.f814w_mag), pick(self.stamp_flux),
                               pick(self.stamp_hdu), pick(self.psf_hdu), pick(self.pixel_scale_arcsec))


def load_cosmos_catalogue(directory: str | os.PathLike) -> CosmosCatalogue:
    """Both COSMOS tables of ``directory``, checked to list the same galaxies in the same order."""
    directory = Path(directory)
    stamps = _table(directory / STAMP_CATALOGUE, ("IDENT", "MAG", "GAL_HDU", "PSF_HDU", "PIXEL_SCALE", "stamp_flux"))
    fitted = _table(directory / FIT_CATALOGUE, ("IDENT", "flux_radius", "ZPHOT") + tuple(f"HSC_{b}" for b in BANDS))
    if not np.array_equal(stamps["IDENT"], fitted["IDENT"]):
        raise RealDataError(f"{directory / FIT_CATALOGUE}: column 'IDENT' does not list the galaxies of "
                            f"{STAMP_CATALOGUE} in the same order")
    scale = stamps["PIXEL_SCALE"].astype(np.float64)
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise RealDataError(f"{directory / STAMP_CATALOGUE}: column 'PIXEL_SCALE' must be positive arcsec per pixel")
    return CosmosCatalogue(
        ident=stamps["IDENT"].astype(np.int64),
        redshift=fitted["ZPHOT"].astype(np.float64),
        magnitudes={b: fitted[f"HSC_{b}"].astype(np.float64) for b in BANDS},
        flux_radius_arcsec=fitted["flux_radius"].astype(np.float64) * scale,
        f814w_mag=stamps["MAG"].astype(np.float64),
        stamp_flux=stamps["stamp_flux"].astype(np.float64),
        stamp_hdu=stamps["GAL_HDU"].astype(np.int64),
        psf_hdu=stamps["PSF_HDU"].astype(np.int64),
        pixel_scale_arcsec=scale,
    )


def _image_hdus(path: Path, indices: np.ndarray) -> list[np.ndarray]:
    if not path.is_file():
        raise RealDataError(f"{path}: real-data image file not found")
    with fits.open(path, memmap=False) as hdus:
        out = []
        for index in indices:
            if not 0 <= int(index) < len(hdus) or hdus[int(index)].data is None or hdus[int(index)].data.ndim != 2:
                raise RealDataError(f"{path}: HDU {int(index)} is not a 2-D image (the file has {len(hdus)} HDUs)")
            out.append(np.array(hdus[int(index)].data, dtype=np.float64))  # native byte order, detached from file
    return out


def load_cosmos_stamps(directory: str | os.PathLike, catalogue: CosmosCatalogue) -> tuple[list, list]:
    """(galaxy stamps, PSF images) of the catalogue's rows: 2-D float64 arrays at the catalogue's pixel scale."""
    directory = Path(directory)
    return (_image_hdus(directory / STAMP_FILE, catalogue.stamp_hdu),
            _image_hdus(directory / STAMP_PSF_FILE, catalogue.psf_hdu))


@dataclass(frozen=True)
class Scene:
    """One real HSC g,r,i,z,y scene in coadd flux units (zero point 27); x = column, y = row."""

    name: str
    images: np.ndarray  # (5, H, W) float64
    psfs: np.ndarray | None  # (5, h, w), one normalised PSF image per band
    variance: np.ndarray | None = None  # (5, H, W), per-pixel variance from the coadd
    mask: np.ndarray | None = None  # (5, H, W) integer mask bits
    sources: np.ndarray | None = None  # (k, 2) x, y of the scene's own detection catalogue


def _check_cube(path: Path, key: str, array: np.ndarray) -> np.ndarray:
    if array.ndim != 3 or array.shape[0] != len(BANDS):
        raise RealDataError(f"{path}: {key!r} has shape {array.shape}; expected ({len(BANDS)}, H, W) in g,r,i,z,y")
    if array.dtype.kind not in "fiu":
        raise RealDataError(f"{path}: {key!r} has dtype {array.dtype}; expected numbers")
    return array


def _npz_scene(path: Path) -> Scene:
    with np.load(path, allow_pickle=False) as data:
        for key in ("images", "filters", "psfs"):
            if key not in data.files:
                raise RealDataError(f"{path}: key {key!r} is missing; found {data.files}")
        filters = tuple(str(f) for f in data["filters"])
        if filters != BANDS:
            raise RealDataError(f"{path}: 'filters' is {filters}; expected {BANDS}")
        get = lambda key: _check_cube(path, key, np.array(data[key])) if key in data.files else None  # noqa: E731
        sources = None
        if "catalog" in data.files and {"x", "y"} <= set(data["catalog"].dtype.names or ()):
            sources = np.stack([data["catalog"]["x"], data["catalog"]["y"]], axis=1).astype(np.float64)
        return Scene(path.stem, get("images").astype(np.float64), get("psfs").astype(np.float64),
                     None if get("variance") is None else get("variance").astype(np.float64), get("mask"), sources)


def _fits_cube(path: Path) -> np.ndarray:
    if not path.is_file():
        raise RealDataError(f"{path}: real-data scene not found")
    with fits.open(path, memmap=False) as hdus:
        return _check_cube(path, "primary HDU", np.array(hdus[0].data, dtype=np.float64))


def load_hsc_scenes(directory: str | os.PathLike) -> list[Scene]:
    """The four HSC scenes. The FITS cubes carry no filter keywords; their README states g,r,i,z,y order, which
    the scene check tests against the noise each band should have."""
    directory = Path(directory)
    psfs = _fits_cube(directory / FITS_SCENE_PSF)
    scenes = [Scene(Path(name).stem, _fits_cube(directory / name), psfs) for name in FITS_SCENES]
    for name in NPZ_SCENES:
        if not (directory / name).is_file():
            raise RealDataError(f"{directory / name}: real-data scene not found")
        scenes.append(_npz_scene(directory / name))
    return scenes
