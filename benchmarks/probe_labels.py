"""A quick probe of whether a morphology-conditioned checkpoint's labels act on its images.

    python benchmarks/probe_labels.py runs/morph/model.safetensors [--seeds 10] [--redshift 0.2]

For a few seeds at one redshift it generates galaxies with the axis ratio set to 0.2, 0.5 and 0.95 (other labels
left free) and with the bulge fraction set to 0, 0.5 and 1, and prints the medians of two simple measures of the
i band: the second-moment axis ratio of the pixels above 3σ, and the central concentration (flux within 3 px of
the centre over flux within 10 px). The same measures on the built-in survey's test galaxies at 0.1 < z < 0.35,
grouped by their true labels, are printed beside them. This is a probe for following a training run, not the
evaluation's label checks (``galaxy-explorer evaluate`` on a checkpoint with label conditions).
"""

from __future__ import annotations

import argparse

import numpy as np

AXIS_RATIOS = (0.2, 0.5, 0.95)
AXIS_RATIO_GROUPS = ((0.0, 0.35), (0.35, 0.7), (0.7, 1.01))
BULGE_FRACTIONS = (0.0, 0.5, 1.0)
BULGE_GROUPS = ((0.0, 0.2), (0.2, 0.8), (0.8, 1.01))  # most galaxies sit near 0 or at 1
SURVEY_WINDOW = (0.1, 0.35)
I_BAND = 2


def shape_measures(stamp: np.ndarray) -> tuple[float, float]:
    """(second-moment axis ratio, concentration) of the i band of one (5, 64, 64) stamp."""
    image = stamp[I_BAND] - np.median(stamp[I_BAND])
    sigma = 1.4826 * np.median(np.abs(image))
    image = np.where(image > 3 * sigma, image, 0.0)
    if image.sum() <= 0:
        return float("nan"), float("nan")
    y, x = np.mgrid[:image.shape[0], :image.shape[1]]
    weights = image / image.sum()
    cx, cy = (weights * x).sum(), (weights * y).sum()
    xx, yy = (weights * (x - cx) ** 2).sum(), (weights * (y - cy) ** 2).sum()
    xy = (weights * (x - cx) * (y - cy)).sum()
    half_difference = np.hypot((xx - yy) / 2, xy)
    major, minor = (xx + yy) / 2 + half_difference, (xx + yy) / 2 - half_difference
    radius = np.hypot(x - image.shape[1] / 2, y - image.shape[0] / 2)
    return float(np.sqrt(max(minor, 1e-9) / major)), float(image[radius < 3].sum() / image[radius < 10].sum())


def median_measures(stamps) -> np.ndarray:
    return np.nanmedian(np.array([shape_measures(stamp) for stamp in stamps]), axis=0)


def survey_rows(label: str, groups) -> list[np.ndarray]:
    from galaxy_explorer.data.survey import Survey, builtin_survey_path

    with Survey(builtin_survey_path("testing")) as survey:
        rows = survey.in_window(*SURVEY_WINDOW)
        values = survey.column(label, rows)
        return [median_measures(survey.images(rows[(values >= low) & (values < high)]))
                for low, high in groups]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--redshift", type=float, default=0.2)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)

    import torch

    from galaxy_explorer.diffusion import Generator

    torch.set_num_threads(1)
    generator = Generator.load(args.checkpoint)
    for label, values, groups in (("true_axis_ratio", AXIS_RATIOS, AXIS_RATIO_GROUPS),
                                  ("true_bulge_fraction", BULGE_FRACTIONS, BULGE_GROUPS)):
        survey = survey_rows(label, groups)
        for value, (low, high), real in zip(values, groups, survey):
            stamps = [generator.frames(seed, [args.redshift], steps=args.steps, **{label: value})[0]
                      for seed in range(args.seeds)]
            generated = median_measures(stamps)
            print(f"{label} = {value:4.2f}: generated axis ratio {generated[0]:.2f}, concentration {generated[1]:.2f}"
                  f"  | survey ({low:.2f} ≤ {label} < {high:.2f}, {SURVEY_WINDOW[0]} < z < {SURVEY_WINDOW[1]}): "
                  f"axis ratio {real[0]:.2f}, concentration {real[1]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
