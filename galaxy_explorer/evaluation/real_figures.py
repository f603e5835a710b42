"""Figures of the real-data check (``real_galaxies``), as PNG bytes: the relations, real and synthetic stamps side by
side, and the real HSC scenes as the reader sees them. Colours follow the evaluation report: real black/grey,
synthetic orange."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # headless; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Ellipse, Rectangle  # noqa: E402

from galaxy_explorer.evaluation.figures import GENERATED_COLOUR, REAL_COLOUR  # noqa: E402
from galaxy_explorer.instrument import BANDS, PIXEL_SCALE_ARCSEC, STAMP_SIZE  # noqa: E402
from galaxy_explorer.output.composite import lupton_rgb  # noqa: E402
from galaxy_explorer.synthetic.observation import SKY_NOISE_SIGMA  # noqa: E402

CAPTIONS = {
    "real_relations": "Colours, i magnitude and half-light radius against redshift. Dots: real COSMOS galaxies "
                      "(filled: i < 24, open: 24 ≤ i < 26). Squares: real medians per bin with bootstrap errors "
                      "(filled: i < 24, open: i < 26); orange: synthetic galaxies drawn at the same redshifts "
                      "(solid: the built-in survey, i < 24; dashed: its population model drawn to i < 26).",
    "real_galaxies": "Real galaxies beside synthetic ones at the same redshift and i magnitude, i band. Top: the HST "
                     "F814W stamp (0.03\"/px); middle: the same galaxy convolved to the survey's PSF, resampled to "
                     "0.168\"/px with the survey's sky noise; bottom: the synthetic survey galaxy. 4\" boxes.",
    "real_scenes": "Real HSC scenes as the reader gets them: 64 × 64 stamps centred on the brightest source (dashed "
                   "box: the scene's own pixels; outside it the scene is mirrored). Red ellipse: the central source "
                   "the morphology pipeline measures (3 × its rms axes); cyan circles: the pipeline's i-band "
                   "detections; yellow crosses: the scene's own catalogue. Right: per-band sky noise estimates "
                   "against the coadd variance plane and the synthetic survey's sky.",
}
RELATION_PANELS = ("g-r", "r-i", "i-z", "z-y", "i", "size", "size_measured")
PANEL_LABELS = {"g-r": "g − r", "r-i": "r − i", "i-z": "i − z", "z-y": "z − y", "i": "i (AB mag)",
                "size": "flux_radius / truth r½ (arcsec)", "size_measured": "r½ on survey stamps (arcsec)"}
SCENE_NOISE_COLOURS = {"pipeline": "#1f77b4", "normalization": "#9467bd", "variance": "#333333",
                       "synthetic": GENERATED_COLOUR}


def _png(figure, dpi: int = 80) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _bin_positions(comparison: dict, name: str) -> np.ndarray:
    """Median real redshift of each bin (where its real galaxies are), not the bin centre (the last bin is wide)."""
    z = np.asarray(comparison["real_points"]["redshift"], dtype=np.float64)
    edges = comparison["edges"]
    return np.array([np.median(z[(z >= lo) & (z < hi)]) if ((z >= lo) & (z < hi)).any() else (lo + hi) / 2
                     for lo, hi in zip(edges[:-1], edges[1:])])


def _medians(rows: list, side: str) -> tuple[np.ndarray, np.ndarray]:
    value = np.array([np.nan if r[side]["median"] is None else r[side]["median"] for r in rows], dtype=np.float64)
    error = np.array([np.nan if r[side]["error"] is None else r[side]["error"] for r in rows], dtype=np.float64)
    return value, np.nan_to_num(error)


def _relation_panel(axis, comparisons: dict, name: str) -> None:
    layers = (("deep", True), ("matched", False)) if name != "size_measured" else (("measured", False),)
    for selection, open_marker in layers:
        comparison = comparisons[selection]
        points = comparison["real_points"]
        z, values = np.asarray(points["redshift"]), np.asarray(points[name], dtype=np.float64)
        axis.scatter(z, values, s=10, facecolors="none" if open_marker else REAL_COLOUR, edgecolors=REAL_COLOUR,
                     linewidths=0.6, alpha=0.35 if open_marker else 0.8)
        rows = comparison["relations"][name]
        x = _bin_positions(comparison, name)
        real, real_error = _medians(rows, "real")
        synthetic, synthetic_error = _medians(rows, "synthetic")
        axis.errorbar(x, real, yerr=real_error, fmt="s", ms=6, color=REAL_COLOUR, mfc="white" if open_marker else
                      REAL_COLOUR, capsize=2, zorder=5)
        axis.errorbar(x + 0.03, synthetic, yerr=synthetic_error, fmt="D-" if not open_marker else "D--", ms=5,
                      color=GENERATED_COLOUR, mfc="white" if open_marker else GENERATED_COLOUR, capsize=2, zorder=6)
    axis.set(xlabel="redshift", ylabel=PANEL_LABELS[name])
    if name == "i":
        axis.invert_yaxis()
    finite = np.concatenate([np.asarray(comparisons[s]["real_points"][name], dtype=np.float64) for s, _ in layers])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        low, high = np.percentile(finite, [1, 99])
        pad = 0.15 * (high - low)
        axis.set_ylim((high + pad, low - pad) if name == "i" else (low - pad, high + pad))


def relations_figure(result: dict) -> bytes:
    """Colours, i magnitude and sizes against redshift (caption: ``CAPTIONS['real_relations']``)."""
    figure, axes = plt.subplots(2, 4, figsize=(15, 7))
    for axis, name in zip(axes.ravel(), RELATION_PANELS):
        _relation_panel(axis, result["comparisons"], name)
    legend = axes.ravel()[-1]
    legend.axis("off")
    handles = [plt.Line2D([], [], marker="s", color=REAL_COLOUR, ls="", label="real, i < 24"),
               plt.Line2D([], [], marker="s", color=REAL_COLOUR, mfc="white", ls="", label="real, i < 26"),
               plt.Line2D([], [], marker="D", color=GENERATED_COLOUR, label="synthetic survey, i < 24"),
               plt.Line2D([], [], marker="D", color=GENERATED_COLOUR, mfc="white", ls="--",
                          label="population model, i < 26")]
    legend.legend(handles=handles, loc="center", frameon=False, title="medians ± bootstrap error")
    figure.tight_layout()
    return _png(figure)


def _stretch(image: np.ndarray, softening: float, top: float) -> np.ndarray:
    return np.arcsinh(np.clip(image, 0, None) / softening) / np.arcsinh(top / softening)


def stamps_figure(stamp_set, pairs: list[dict], box_arcsec: float = 4.0) -> bytes:
    """Real HST, real at HSC and synthetic at HSC stamps, one pair per column (``CAPTIONS['real_galaxies']``)."""
    figure, axes = plt.subplots(3, len(pairs), figsize=(1.7 * len(pairs), 5.6), squeeze=False)
    half = box_arcsec / 2
    crop = slice(STAMP_SIZE // 2 - int(half / PIXEL_SCALE_ARCSEC), STAMP_SIZE // 2 + int(half / PIXEL_SCALE_ARCSEC) + 1)
    sigma = SKY_NOISE_SIGMA["i"]
    for column, pair in enumerate(pairs):
        hst = stamp_set.hst_stamps[pair["real"]]
        scale = stamp_set.real.pixel_scale_arcsec[pair["real"]]
        extent = np.array([-0.5, hst.shape[1] - 0.5, -0.5, hst.shape[0] - 0.5]) * scale
        extent -= np.array([hst.shape[1] - 1, hst.shape[1] - 1, hst.shape[0] - 1, hst.shape[0] - 1]) * scale / 2
        noise = 1.4826 * np.median(np.abs(hst - np.median(hst)))
        axes[0, column].imshow(_stretch(hst, 2 * noise, np.percentile(hst, 99.8)), origin="lower", cmap="gray",
                               extent=extent, vmin=0, vmax=1)
        axes[0, column].set(xlim=(-half, half), ylim=(-half, half), facecolor="black",
                            title=f"z={pair['redshift']:.2f}\ni={pair['real_i']:.1f} | {pair['synthetic_i']:.1f}")
        real = stamp_set.real_hsc[pair["real"]][crop, crop]
        synthetic = stamp_set.synthetic_hsc[pair["synthetic"]][crop, crop]
        top = max(np.percentile(real, 99.5), np.percentile(synthetic, 99.5), 5 * sigma)
        for row, image in ((1, real), (2, synthetic)):
            axes[row, column].imshow(_stretch(image, sigma, top), origin="lower", cmap="gray", vmin=0, vmax=1,
                                     extent=(-half, half, -half, half))
    for row, label in enumerate(("real, HST", "real at HSC", "synthetic")):
        axes[row, 0].set_ylabel(label)
    for axis in axes.ravel():
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    return _png(figure)


def _scene_image(axis, scene: dict, stamp: np.ndarray) -> None:
    # Stretch in units of the scene's own i-band sky noise: the scenes differ in depth and (Cut_HSC) in units.
    stretch = max(10.0 * scene["noise"]["pipeline"][BANDS.index("i")], 1e-6)
    axis.imshow(lupton_rgb(stamp, stretch=stretch, Q=8.0), origin="lower")
    row0, column0 = scene["stamp_origin_row_column"]
    height, width = scene["scene_shape"][1:]
    axis.add_patch(Rectangle((column0 - 0.5, row0 - 0.5), width, height, fill=False, ec="white", ls="--", lw=0.8))
    for x, y in scene["detections"]:
        axis.add_patch(plt.Circle((x, y), 2.5, fill=False, ec="cyan", lw=0.8))
    for x, y in scene["catalogue_sources"] or []:
        axis.plot(x, y, "+", color="yellow", ms=7, mew=1.2)
    central = scene["central"]
    if central["x"] is not None:
        axis.add_patch(Ellipse((central["x"], central["y"]), 6 * central["semi_major_axis"],
                               6 * central["semi_minor_axis"], angle=np.degrees(central["position_angle"]),
                               fill=False, ec="red", lw=1.2))
    axis.set(xlim=(-0.5, STAMP_SIZE - 0.5), ylim=(-0.5, STAMP_SIZE - 0.5), xticks=[], yticks=[],
             title=f"{scene['name']} ({scene['scene_shape'][1]}×{scene['scene_shape'][2]} px)")


def _noise_bars(axis, scene: dict) -> None:
    series = {"pipeline": scene["noise"]["pipeline"], "normalization": scene["noise"]["normalization"],
              "synthetic": [SKY_NOISE_SIGMA[b] for b in BANDS]}
    if scene["variance"] is not None:
        series["variance"] = scene["variance"]["sqrt_median_variance"]
    labels = {"pipeline": "pipeline (clipped frame)", "normalization": "normalisation (frame MAD)",
              "variance": "√ median variance plane", "synthetic": "synthetic survey sky"}
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        axis.bar(np.arange(len(BANDS)) + (k - (len(series) - 1) / 2) * width, values, width,
                 color=SCENE_NOISE_COLOURS[name], label=labels[name])
    axis.set(xticks=range(len(BANDS)), xticklabels=BANDS, yscale="log", ylabel="sky σ (flux units, ZP 27)")
    axis.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2g"))
    axis.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.legend(fontsize=7, loc="upper left")


def scenes_figure(scenes: dict) -> bytes:
    """Each scene's stamp with detections, and its per-band noise estimates (``CAPTIONS['real_scenes']``)."""
    count = len(scenes["scenes"])
    figure, axes = plt.subplots(count, 2, figsize=(9, 3.4 * count), squeeze=False,
                                gridspec_kw={"width_ratios": [1, 1.4]})
    for k, scene in enumerate(scenes["scenes"]):
        _scene_image(axes[k, 0], scene, scenes["stamps"][k])
        _noise_bars(axes[k, 1], scene)
    figure.tight_layout()
    return _png(figure)


def all_figures(result: dict, stamp_set, scenes: dict) -> dict[str, tuple[str, bytes]]:
    """name -> (caption, PNG) for the three figures; ``scenes`` is ``check_scenes``'s result (with its stamps)."""
    return {
        "real_relations": (CAPTIONS["real_relations"], relations_figure(result)),
        "real_galaxies": (CAPTIONS["real_galaxies"],
                          stamps_figure(stamp_set, result["comparisons"]["measured"]["pairs"])),
        "real_scenes": (CAPTIONS["real_scenes"], scenes_figure(scenes)),
    }
