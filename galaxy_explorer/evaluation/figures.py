"""Figures of the evaluation report, each returned as PNG bytes (the report embeds them, so it is one file).

Colours are fixed across figures: real galaxies black/grey, generated galaxies orange.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # headless; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from galaxy_explorer.output.composite import lupton_rgb  # noqa: E402

REAL_COLOUR = "#333333"
GENERATED_COLOUR = "#e66100"
TRUTH_COLOUR = "#1a7f37"


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _no_data(axis, text="no measurements"):
    axis.text(0.5, 0.5, text, ha="center", va="center", transform=axis.transAxes, color="0.5")


def _bin_centres(bins):
    return np.array([(b["z_low"] + b["z_high"]) / 2 for b in bins])


def redshift_scatter(real_true, real_predicted, generated_condition, generated_predicted) -> bytes:
    """Predicted vs spectroscopic (real) and vs conditioning (generated) redshift, with the 1:1 and |dz|=0.15 lines."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharex=True, sharey=True)
    top = float(np.nanmax(np.concatenate([real_true, real_predicted, generated_condition, generated_predicted,
                                          [0.5]])))
    grid = np.linspace(0, top * 1.05, 50)
    panels = [(axes[0], real_true, real_predicted, REAL_COLOUR, "real galaxies", "spectroscopic redshift"),
              (axes[1], generated_condition, generated_predicted, GENERATED_COLOUR, "generated galaxies",
               "conditioning redshift")]
    for axis, x, y, colour, title, xlabel in panels:
        axis.scatter(x, y, s=6, alpha=0.5, color=colour, linewidths=0)
        axis.plot(grid, grid, color="0.3", lw=1)
        for sign in (-1, 1):
            axis.plot(grid, grid + sign * 0.15 * (1 + grid), color="0.6", lw=0.8, ls="--")
        axis.set(title=title, xlabel=xlabel, xlim=(0, grid[-1]), ylim=(0, grid[-1]))
    axes[0].set_ylabel("CNN-predicted redshift")
    return _png(figure)


def loss_vs_redshift(real_bins, generated_bins) -> bytes:
    """Mean redshift loss 1 - 1/(1+(dz/0.15)^2) per redshift bin."""
    figure, axis = plt.subplots(figsize=(7, 4))
    for bins, colour, label in ((real_bins, REAL_COLOUR, "real"), (generated_bins, GENERATED_COLOUR, "generated")):
        axis.plot(_bin_centres(bins), [b["mean_loss"] for b in bins], "o-", color=colour, label=label)
    axis.set(xlabel="redshift (spectroscopic / conditioning)", ylabel="mean redshift loss", ylim=(0, 1))
    axis.legend()
    return _png(figure)


def histograms(real: dict, generated: dict, names, labels: dict) -> bytes:
    """One column per metric: linear counts on top, the same histogram with log counts below (as Lizarraga et al.)."""
    figure, axes = plt.subplots(2, len(names), figsize=(3.2 * len(names), 5.6), squeeze=False)
    for column, name in enumerate(names):
        values_real = real[name][np.isfinite(real[name])]
        values_generated = generated[name][np.isfinite(generated[name])]
        both = np.concatenate([values_real, values_generated])
        for row, log in enumerate((False, True)):
            axis = axes[row, column]
            if both.size == 0:
                _no_data(axis)
            else:
                low, high = np.percentile(both, [0.5, 99.5]) if both.size > 10 else (both.min(), both.max())
                edges = np.linspace(low, high if high > low else low + 1.0, 31)
                axis.hist(np.clip(values_real, edges[0], edges[-1]), bins=edges, histtype="step", lw=1.5,
                          color=REAL_COLOUR, label="real")
                axis.hist(np.clip(values_generated, edges[0], edges[-1]), bins=edges, histtype="step", lw=1.5,
                          color=GENERATED_COLOUR, label="generated")
                if log:
                    axis.set_yscale("log")
            axis.set_xlabel(labels.get(name, name))
        axes[0, column].set_title(name.replace("_", " "))
    axes[0, 0].set_ylabel("galaxies")
    axes[1, 0].set_ylabel("galaxies (log)")
    axes[0, 0].legend(fontsize=8)
    return _png(figure)


def binned_means(per_metric: dict, names, labels: dict) -> bytes:
    """Per-redshift-bin mean with its 95% bootstrap interval, real (band) vs generated (points)."""
    columns = min(3, len(names))
    rows = int(np.ceil(len(names) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.4 * rows), squeeze=False)
    for k, name in enumerate(names):
        axis = axes.flat[k]
        real_bins, generated_bins = per_metric[name]["real"], per_metric[name]["generated"]
        centres = _bin_centres(real_bins)
        mean = np.array([b["mean"] for b in real_bins])
        low = np.array([b["ci_low"] for b in real_bins])
        high = np.array([b["ci_high"] for b in real_bins])
        axis.fill_between(centres, low, high, color=REAL_COLOUR, alpha=0.2, step=None, label="real 95% interval")
        axis.plot(centres, mean, color=REAL_COLOUR, lw=1, label="real mean")
        g_mean = np.array([b["mean"] for b in generated_bins])
        g_err = np.array([[m - b["ci_low"], b["ci_high"] - m] for m, b in zip(g_mean, generated_bins)]).T
        axis.errorbar(centres, g_mean, yerr=np.nan_to_num(g_err), fmt="o", ms=3, color=GENERATED_COLOUR,
                      label="generated mean")
        axis.set(title=name.replace("_", " "), xlabel="redshift", ylabel=labels.get(name, name))
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    return _png(figure)


def distances_per_bin(per_metric_bins: dict, names) -> bytes:
    """KS statistic and Wasserstein distance (relative to the real spread) between real and generated, per bin."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in names:
        bins = per_metric_bins[name]["bins"]
        centres = _bin_centres(bins)
        scale = per_metric_bins[name].get("real_std") or np.nan
        axes[0].plot(centres, [b["ks_statistic"] for b in bins], "o-", ms=3, label=name)
        axes[1].plot(centres, np.array([b["wasserstein"] for b in bins]) / scale, "o-", ms=3, label=name)
    axes[0].set(xlabel="redshift", ylabel="KS statistic", ylim=(0, 1), title="Kolmogorov-Smirnov")
    axes[1].set(xlabel="redshift", ylabel="Wasserstein distance / real std", title="Wasserstein (1st)")
    axes[0].legend(fontsize=7)
    return _png(figure)


def image_grid(real_images, generated_images, redshifts, bands) -> bytes:
    """Real (top) and generated (bottom) galaxies at the same redshift, Lupton i,r,g composites, one stretch."""
    count = len(redshifts)
    figure, axes = plt.subplots(2, count, figsize=(1.6 * count, 3.6), squeeze=False)
    real_rgb = lupton_rgb(real_images, bands=tuple(bands))
    generated_rgb = lupton_rgb(generated_images, bands=tuple(bands))
    for k in range(count):
        for row, rgb in enumerate((real_rgb, generated_rgb)):
            axes[row, k].imshow(rgb[k], origin="lower")
            axes[row, k].set_xticks([])
            axes[row, k].set_yticks([])
        axes[0, k].set_title(f"z = {redshifts[k]:.2f}", fontsize=9)
    axes[0, 0].set_ylabel("real")
    axes[1, 0].set_ylabel("generated")
    figure.subplots_adjust(wspace=0.05, hspace=0.05)
    return _png(figure)


def size_redshift(relation: dict) -> bytes:
    """Median intrinsic size vs redshift: real and generated measurements against the survey's true relation."""
    figure, axis = plt.subplots(figsize=(7, 4.2))
    z_curve = np.array(relation["true_curve"]["redshift"])
    axis.plot(z_curve, relation["true_curve"]["median_size_arcsec"], color=TRUTH_COLOUR, lw=2,
              label="true median r_e (synthetic survey)")
    for key, colour, label in (("real", REAL_COLOUR, "measured, real"), ("generated", GENERATED_COLOUR,
                                                                         "measured, generated")):
        bins = relation[key]
        axis.plot([b["z_median"] for b in bins], [b["median"] for b in bins], "o-", color=colour, label=label)
    if relation.get("catalogue_truth"):
        bins = relation["catalogue_truth"]
        axis.plot([b["z_median"] for b in bins], [b["median"] for b in bins], "s", mfc="none", color=TRUTH_COLOUR,
                  label="true r_e of these real galaxies")
    axis.set(xlabel="redshift", ylabel="median semi-major r_e (arcsec)", yscale="log")
    axis.legend(fontsize=8)
    return _png(figure)


def range_grid(generated: np.ndarray, survey: np.ndarray, redshifts, seeds, survey_redshifts, bands,
               scale: int = 2, crop: int = 0) -> bytes:
    """Generated galaxies (Z, S, 5, H, W), one row per redshift and one column per seed, beside survey galaxies
    (Z, K, 5, H, W) nearest each redshift; Lupton i,r,g composites at the app's fixed stretch, each pixel drawn as
    ``scale`` x ``scale`` screen pixels (nearest), so pixel-scale grain shows as it is; ``crop`` pixels left out at
    each edge of every stamp."""
    if crop:
        generated, survey = generated[..., crop:-crop, crop:-crop], survey[..., crop:-crop, crop:-crop]
    rows, columns, survey_columns = generated.shape[0], generated.shape[1], survey.shape[1]
    tile = generated.shape[-1] * scale
    gap, group_gap, left, top = 4, 24, 70, 34
    width = left + (columns + survey_columns) * (tile + gap) + group_gap
    height = top + rows * (tile + gap)
    mosaic = np.full((height, width, 3), 255, dtype=np.uint8)
    for row in range(rows):
        tiles = list(lupton_rgb(generated[row], bands=tuple(bands))) + list(lupton_rgb(survey[row], bands=tuple(bands)))
        for column, rgb in enumerate(tiles):
            x = left + column * (tile + gap) + (group_gap if column >= columns else 0)
            y = top + row * (tile + gap)
            mosaic[y:y + tile, x:x + tile] = np.repeat(np.repeat(rgb[::-1], scale, axis=0), scale, axis=1)
    dpi = 100
    figure = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    axis = figure.add_axes((0, 0, 1, 1))
    axis.imshow(mosaic, interpolation="nearest")
    axis.set_axis_off()
    for column in range(columns + survey_columns):
        x = left + column * (tile + gap) + (group_gap if column >= columns else 0) + tile / 2
        label = f"seed {seeds[column]}" if column < columns else "survey"
        axis.text(x, top - 20, label, ha="center", va="center", fontsize=9,
                  color=GENERATED_COLOUR if column < columns else REAL_COLOUR)
    for row, z in enumerate(redshifts):
        y = top + row * (tile + gap) + tile / 2
        axis.text(left - 8, y, f"z = {z:g}", ha="right", va="center", fontsize=10)
        for k, survey_z in enumerate(survey_redshifts[row]):
            x = left + (columns + k) * (tile + gap) + group_gap + 4
            axis.text(x, y + tile / 2 - 6, f"z = {survey_z:.3f}", ha="left", va="bottom", fontsize=7, color="white")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()
