"""Does the evaluation's redshift CNN react to grain? A probe behind the reading of the
diagnostics in docs/experiments.md.

    python benchmarks/cnn_grain_sensitivity.py [--n 1000] [--seed 0] [--grain 0 0.05 0.1 0.2 0.3]

Generated galaxies carry about twice the survey's pixel-to-pixel noise inside the galaxy (the evaluation's "grain"
diagnostic). Is that what widens the redshift CNN's scatter on them? This adds grain, Gaussian noise of ``grain``
× the pixel's flux, to the same survey galaxies the evaluation compares with (its first half: ``--n`` and
``--seed`` as there) and prints, for each level, the grain diagnostic it produces (i band, against the untouched
galaxies, as the evaluation reports it: match it to a model's) and the CNN's bias, σ_NMAD and outlier fraction at
z < 2. If they barely move, grain is not what the CNN's verdict on a model is about.
"""

from __future__ import annotations

import argparse

import numpy as np


def with_grain(images: np.ndarray, grain: float, seed: int) -> np.ndarray:
    """``images`` plus Gaussian noise of standard deviation ``grain`` × max(flux, 0), pixel by pixel."""
    rng = np.random.default_rng(seed)
    return (images + rng.normal(size=images.shape) * grain * np.clip(images, 0.0, None)).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="survey galaxies, as the evaluation's --n (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="as the evaluation's --seed (default 0)")
    parser.add_argument("--grain", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.3],
                        help="grain levels: noise as a fraction of each pixel's flux (default 0 0.05 0.1 0.2 0.3)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from galaxy_explorer.measure import photoz_metrics
    from galaxy_explorer.evaluation.checks import Z_MAX
    from galaxy_explorer.evaluation.diagnostics import pixel_noise
    from galaxy_explorer.data.normalization import Normalization
    from galaxy_explorer.evaluation.pipeline import choose_halves
    from galaxy_explorer.paths import DEFAULT_REDSHIFT_CHECKPOINT
    from galaxy_explorer.measure.redshift_predictor import RedshiftPredictor
    from galaxy_explorer.data.survey import Survey, builtin_survey_path

    torch.set_num_threads(args.threads)
    predictor = RedshiftPredictor.load(DEFAULT_REDSHIFT_CHECKPOINT)
    with Survey(builtin_survey_path("testing")) as survey:
        rows, _ = choose_halves(len(survey), args.n, args.seed)
        redshift = np.asarray(survey.redshift[rows], dtype=np.float64)
        images = np.asarray(survey.images(rows), dtype=np.float32)
        survey_bands = tuple(survey.bands)
    below = redshift < Z_MAX
    print(f"{int(below.sum())} SYNTHETIC survey test galaxies at z < {Z_MAX:g} (the evaluation's first half, "
          f"--n {args.n} --seed {args.seed}); redshift CNN {DEFAULT_REDSHIFT_CHECKPOINT.name}")
    band = survey_bands.index("i")
    sky = Normalization.fit(images, bands=survey_bands).softening[band]
    print("| grain (fraction of the flux) | grain diagnostic at 5–20 / 20–100 / ≥ 100 sky σ | bias | σ_NMAD | "
          "outlier fraction |\n|---|---|---|---|---|")
    for grain in args.grain:
        grainy = with_grain(images, grain, args.seed)
        levels = pixel_noise(images[:, band], grainy[:, band], images[:, band], sky)["levels"][1:]
        predicted = predictor.predict(grainy)
        dz = photoz_metrics.normalized_residual(predicted[below], redshift[below])
        ratios = " / ".join(f"{level['ratio']:.2f}" for level in levels)
        print(f"| {grain:g} | {ratios} | "
              f"{photoz_metrics.bias(dz):+.4f} | {photoz_metrics.sigma_nmad(dz):.4f} | "
              f"{photoz_metrics.outlier_fraction(dz):.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
