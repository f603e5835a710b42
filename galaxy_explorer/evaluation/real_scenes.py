"""The survey reader on real HSC pixels: real g,r,i,z,y scenes cut (or padded) into GalaxiesML stamps, written in the
GalaxiesML schema, read back through ``Survey``, normalised, and measured by the morphology pipeline.

What is checked, per scene (``check_scenes``):

* layout and band order: the stamps read back from the file equal what was written, band by band (per-band flux
  sums and their ratios), and the reader reports g,r,i,z,y; since the FITS scenes carry no filter keywords, the
  band order is also tested physically: HSC's depth falls from g to y, so the per-band sky noise must rise in
  the same order as the coadd's variance plane says;
* the sky-noise estimate: the pipeline's (sigma-clipped outer frame, ``morphology.background_and_noise``) and the
  normalisation's (MAD of the frame, ``Normalization.fit``) against sqrt(median variance plane) where the scene has
  one, and against the spread of the pixels the coadd's own mask calls sky (not DETECTED);
* detections: the pipeline's detections (sep, its threshold and noise) against the scene's own catalogue, and the
  central galaxy's detection signal-to-noise computed with the variance plane;
* the shipped model's normalisation on real pixels: how wide the real sky is in model units, against the
  synthetic survey's sky the model was trained on.

GalaxiesML cut-outs are centred on their galaxy, so each scene's stamp is centred on its brightest source in i; the
scenes are smaller than 64 pixels, so the rest is filled by mirroring the scene at its edges (``numpy.pad``
'reflect'): zeros would make the frame's noise zero, and drawn noise would make the noise check circular.
Mirroring keeps only real pixels (and mirrors sources near an edge, which the central-source choice ignores).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage, stats

from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.data.normalization import Normalization
from galaxy_explorer.data.survey import Survey
from galaxy_explorer.evaluation.real_data import Scene
from galaxy_explorer.instrument import BANDS, STAMP_SIZE
from galaxy_explorer.measure import morphology
from galaxy_explorer.synthetic.observation import SKY_NOISE_SIGMA

NOISE_FACTOR_LIMIT = 1.5
"""A sky-noise estimate passes when it is within this factor of sqrt(median variance plane). Crowded blend scenes
put galaxy light into the frame the estimate reads, so it runs high; a wrong band or unit would be off by 2-5x."""
DETECTED_MASK_BIT = 32
"""HSC pipeline mask plane DETECTED (bit 5): pixels inside a detection footprint."""
CATALOGUE_MATCH_PIXELS = 2.0
CENTRE_TOLERANCE_PIXELS = 2.0


def brightest_source(scene: Scene, band: str = "i", border: int = 3) -> tuple[int, int]:
    """(row, column) of the brightest smoothed pixel of ``band``, ``border`` pixels away from the scene's edges."""
    image = scene.images[BANDS.index(band)]
    smooth = ndimage.gaussian_filter(image - np.median(image), 1.5)
    inner = np.full(smooth.shape, -np.inf)
    inner[border:-border, border:-border] = smooth[border:-border, border:-border]
    row, column = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(row), int(column)


def mirror_cut(cube: np.ndarray, centre: tuple[int, int], size: int = STAMP_SIZE) -> tuple[np.ndarray, tuple[int, int]]:
    """A (bands, size, size) window of ``cube`` with pixel ``centre`` at (size//2, size//2), cut from the cube where
    it reaches and mirrored at its edges elsewhere; also the window position of cube pixel (0, 0) as (row, column)."""
    _, height, width = cube.shape
    top, left = centre[0] - size // 2, centre[1] - size // 2
    pads = [(0, 0), (max(0, -top), max(0, top + size - height)), (max(0, -left), max(0, left + size - width))]
    padded = np.pad(cube, pads, mode="reflect")
    row0, column0 = top + pads[1][0], left + pads[2][0]
    return padded[:, row0:row0 + size, column0:column0 + size], (-top, -left)


def scene_stamp(scene: Scene, centre: tuple[int, int], size: int = STAMP_SIZE) -> tuple[np.ndarray, tuple[int, int]]:
    """The scene as a GalaxiesML stamp: (5, size, size) float32 centred on scene pixel ``centre`` (``mirror_cut``)."""
    stamp, origin = mirror_cut(scene.images, centre, size)
    return stamp.astype(np.float32), origin


def write_scene_survey(path: str | os.PathLike, stamps: np.ndarray, names: list[str]) -> Path:
    """Write stamps (n, 5, H, W) as a GalaxiesML-schema HDF5 file (atomically).

    The scenes have no redshift, but the schema requires ``specz_redshift``: 0 is written and the file says so
    (attribute ``redshift_note``, column ``redshift_known`` = 0), so nothing downstream can take it for a measurement.
    """
    stamps = np.asarray(stamps, dtype=np.float32)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        out.attrs["description"] = "real HSC coadd scenes cut into GalaxiesML stamps (galaxy_explorer scene check)"
        out.attrs["bands"] = ",".join(BANDS)
        out.attrs["redshift_note"] = "specz_redshift is 0 for every row: these scenes have no redshift"
        out.create_dataset("image", data=stamps)
        out.create_dataset("specz_redshift", data=np.zeros(len(stamps)))
        out.create_dataset("redshift_known", data=np.zeros(len(stamps), dtype=np.int8))
        out.create_dataset("object_id", data=np.arange(len(stamps), dtype=np.int64))
        out.create_dataset("scene_name", data=np.array(names, dtype="S32"))
    return Path(path)


def frame_noise(stamp: np.ndarray) -> dict[str, list[float]]:
    """Per-band sky noise of one (5, H, W) stamp as the pipeline (clipped frame) and the normalisation (frame MAD)
    estimate it."""
    pipeline = [morphology.background_and_noise(band)[1] for band in stamp]
    normalization = Normalization.fit(stamp[None]).softening
    return {"pipeline": [float(v) for v in pipeline], "normalization": [float(v) for v in normalization]}


def variance_reference(scene: Scene) -> dict[str, list[float]] | None:
    """sqrt(median variance plane) per band, and the spread (1.4826 MAD) of pixels the mask calls sky."""
    if scene.variance is None:
        return None
    reference = {"sqrt_median_variance": [float(np.sqrt(np.median(v))) for v in scene.variance]}
    if scene.mask is not None:
        spreads = []
        for image, mask in zip(scene.images, scene.mask):
            sky = image[(mask & DETECTED_MASK_BIT) == 0]
            spreads.append(float(stats.median_abs_deviation(sky, scale="normal")) if sky.size >= 16 else float("nan"))
        reference["undetected_pixel_spread"] = spreads
    return reference


def stamp_detections(band_image: np.ndarray, error: np.ndarray | None = None) -> np.ndarray:
    """(k, 2) x, y of every source the morphology pipeline's detection step finds in one band: its background,
    threshold, minimum area and deblending, and its noise estimate unless a per-pixel ``error`` is given."""
    import sep

    level, rms = morphology.background_and_noise(band_image)
    data = np.ascontiguousarray(band_image - level, dtype=np.float32)
    error = rms if error is None else np.ascontiguousarray(error, dtype=np.float32)
    objects = sep.extract(data, morphology.DETECT_THRESHOLD_SIGMA, err=error, minarea=morphology.DETECT_MIN_AREA,
                          deblend_nthresh=morphology.DEBLEND_NTHRESH, deblend_cont=morphology.DEBLEND_CONT)
    return np.stack([objects["x"], objects["y"]], axis=1) if len(objects) else np.zeros((0, 2))


def catalogue_recovery(detections: np.ndarray, sources: np.ndarray, radius: float = CATALOGUE_MATCH_PIXELS) -> float:
    """Share of catalogue sources with a detection within ``radius`` pixels."""
    if sources is None or len(sources) == 0:
        return float("nan")
    if len(detections) == 0:
        return 0.0
    distance = np.hypot(*(sources[:, None, :] - detections[None, :, :]).transpose(2, 0, 1))
    return float((distance.min(axis=1) <= radius).mean())


def _scene_sources_in_stamp(scene: Scene, origin: tuple[int, int], size: int) -> np.ndarray | None:
    """The scene catalogue's x, y moved into stamp pixels (sources outside the stamp dropped)."""
    if scene.sources is None:
        return None
    moved = scene.sources + np.array([origin[1], origin[0]], dtype=np.float64)
    inside = (moved >= 0).all(axis=1) & (moved <= size - 1).all(axis=1)
    return moved[inside]


def _noise_check(noise: dict, reference: dict | None) -> dict:
    """Ratios of the estimates to the variance plane; the verdict is on the pipeline's estimate (the noise its
    detection uses); the band-order check is the rank agreement of the per-band noise with the variance plane's."""
    check = {"pipeline_over_synthetic_sky": [n / SKY_NOISE_SIGMA[b] for n, b in zip(noise["pipeline"], BANDS)]}
    if reference is None:
        check.update(variance_plane=False, within_factor=None, band_order_matches_variance=None)
        return check
    expected = np.array(reference["sqrt_median_variance"])
    ratios = {name: (np.array(values) / expected).tolist() for name, values in noise.items()}
    worst = {name: float(max(max(r), 1.0 / min(r))) for name, r in ratios.items()}
    check.update(
        variance_plane=True, ratio_to_variance=ratios, worst_factor=worst,
        within_factor=bool(worst["pipeline"] <= NOISE_FACTOR_LIMIT),
        band_order_matches_variance=bool(stats.spearmanr(noise["pipeline"], expected).statistic > 0.99),
    )
    if "undetected_pixel_spread" in reference:
        check["undetected_spread_over_variance"] = (np.array(reference["undetected_pixel_spread"]) / expected).tolist()
    return check


def _model_space(stamp: np.ndarray, noise: list[float], normalization: Normalization | None) -> dict | None:
    """How the shipped model's normalisation sees this stamp: sky width in model units, real against synthetic."""
    if normalization is None:
        return None
    model = normalization.to_model(stamp)
    unclipped = model > normalization.clip_min if normalization.clip_min is not None else np.ones_like(model, bool)
    back = normalization.to_flux(model)
    sky_real = [n / s / k for n, s, k in zip(noise, normalization.softening, normalization.scale)]
    sky_synthetic = [SKY_NOISE_SIGMA[b] / s / k for b, s, k in zip(BANDS, normalization.softening, normalization.scale)]
    return {"sky_sigma_model_units": sky_real, "synthetic_sky_sigma_model_units": sky_synthetic,
            "clipped_fraction": float(1.0 - unclipped.mean()), "max_model_value": float(model.max()),
            "round_trip_max_relative_error": float(np.max(np.abs(back[unclipped] - stamp[unclipped])
                                                          / (np.abs(stamp[unclipped]) + 1e-12)))}


def _survey_round_trip(stamps: np.ndarray, names: list[str], work_dir: Path) -> tuple[np.ndarray, dict]:
    """Write the stamps in the GalaxiesML layout, read them back with ``Survey``; the images and what was checked."""
    path = write_scene_survey(Path(work_dir) / "hsc-scenes.hdf5", stamps, names)
    with Survey(path) as survey:
        back = survey.images(np.arange(len(survey)))
        bands = tuple(survey.bands)
    written_sums, read_sums = stamps.sum(axis=(2, 3)), back.sum(axis=(2, 3))
    return back, {
        "bands_read": list(bands), "bands_as_written": bands == BANDS,
        "images_identical": bool(np.array_equal(back, stamps)),
        "band_flux_ratio_preserved": bool(np.allclose(read_sums / read_sums[:, 2:3],
                                                      written_sums / written_sums[:, 2:3])),
        "shape": list(back.shape),
    }


def _central_check(stamp: np.ndarray, reference: dict | None) -> dict:
    """The morphology pipeline's central source: flags, offset from the stamp centre, shape, and its detection
    signal-to-noise with the variance plane's noise (isophotal flux over sqrt(area x median variance))."""
    central = morphology.measure(stamp[None], mode="fast")
    centre = (stamp.shape[-1] - 1) / 2.0
    x, y, flag = float(central["x_centroid"][0]), float(central["y_centroid"][0]), int(central["flag"][0])
    offset = float(np.hypot(x - centre, y - centre))
    result = {"flag": flag, "flag_names": morphology.flag_names(flag), "x": x, "y": y, "offset_pixels": offset,
              "semi_major_axis": float(central["semi_major_axis"][0]),
              "semi_minor_axis": float(central["semi_minor_axis"][0]),
              "position_angle": float(central["position_angle"][0]),
              "detected": bool(flag & morphology.NO_DETECTION == 0 and offset <= CENTRE_TOLERANCE_PIXELS)}
    if reference is not None and np.isfinite(central["isophotal_flux"][0]):
        variance_i = reference["sqrt_median_variance"][BANDS.index("i")] ** 2
        snr = central["isophotal_flux"][0] / np.sqrt(central["isophotal_area"][0] * variance_i)
        result["snr_from_variance_plane"] = float(snr)
    return result


def _inside(points: np.ndarray, origin: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """The x, y points that fall on the scene's own pixels of a stamp (not on its mirrored margins)."""
    height, width = shape[-2:]
    x, y = points[:, 0] - origin[1], points[:, 1] - origin[0]
    return points[(x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)]


def _detection_check(scene: Scene, stamp: np.ndarray, centre: tuple[int, int], origin: tuple[int, int]) -> dict:
    """The pipeline's i-band detections on the scene's own pixels against the scene's catalogue, with the
    pipeline's noise estimate and with the coadd's variance plane giving the noise."""
    i_band = BANDS.index("i")
    detections = stamp_detections(stamp[i_band])
    sources = _scene_sources_in_stamp(scene, origin, stamp.shape[-1])
    in_scene = _inside(detections, origin, scene.images.shape)
    result = {"detections": detections.tolist(), "detections_in_scene": int(len(in_scene)),
              "catalogue_sources": None if sources is None else sources.tolist(),
              "catalogue_recovered_fraction": catalogue_recovery(in_scene, sources)}
    if scene.variance is not None:
        variance, _ = mirror_cut(scene.variance, centre, stamp.shape[-1])
        with_variance = stamp_detections(stamp[i_band], error=np.sqrt(variance[i_band]))
        with_variance_in_scene = _inside(with_variance, origin, scene.images.shape)
        result.update(detections_with_variance_plane=with_variance.tolist(),
                      detections_in_scene_with_variance_plane=int(len(with_variance_in_scene)),
                      catalogue_recovered_fraction_with_variance_plane=catalogue_recovery(with_variance_in_scene,
                                                                                         sources))
    return result


def _scene_result(scene: Scene, stamp: np.ndarray, centre: tuple[int, int], origin: tuple[int, int],
                  normalization: Normalization | None) -> dict:
    """Noise, detection and normalisation checks of one scene's stamp (as read back from the survey file)."""
    noise = frame_noise(stamp)
    reference = variance_reference(scene)
    return {
        "name": scene.name, "scene_shape": list(scene.images.shape), "centre_row_column": list(centre),
        "stamp_origin_row_column": list(origin), "noise": noise, "variance": reference,
        "noise_check": _noise_check(noise, reference), "central": _central_check(stamp, reference),
        **_detection_check(scene, stamp, centre, origin),
        "model_space": _model_space(stamp, noise["pipeline"], normalization),
    }


def check_scenes(scenes: list[Scene], work_dir: str | os.PathLike,
                 normalization: Normalization | None = None) -> dict:
    """Every check of the module docstring on ``scenes``; JSON-ready. ``normalization``: the shipped model's."""
    centres = [brightest_source(scene) for scene in scenes]
    cut = [scene_stamp(scene, centre) for scene, centre in zip(scenes, centres)]
    stamps = np.stack([stamp for stamp, _ in cut])
    back, round_trip = _survey_round_trip(stamps, [scene.name for scene in scenes], Path(work_dir))
    results = [_scene_result(scene, stamp, centre, origin, normalization)
               for scene, stamp, centre, (_, origin) in zip(scenes, back, centres, cut)]
    with_variance = [r for r in results if r["noise_check"]["variance_plane"]]
    return {
        "round_trip": round_trip, "scenes": results, "noise_factor_limit": NOISE_FACTOR_LIMIT,
        "all_central_detected": all(r["central"]["detected"] for r in results),
        "noise_within_factor": all(r["noise_check"]["within_factor"] for r in with_variance) if with_variance else None,
        "band_order_matches_variance": (all(r["noise_check"]["band_order_matches_variance"] for r in with_variance)
                                        if with_variance else None),
        "stamps": back,  # (n, 5, 64, 64) as read back, for figures; not JSON (``scene_summary`` drops it)
    }


def scene_summary(check: dict) -> dict:
    """``check_scenes``'s result without the image arrays (what goes into JSON)."""
    return {key: value for key, value in check.items() if key != "stamps"}
