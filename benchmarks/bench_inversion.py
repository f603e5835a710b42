"""How well inversion reproduces survey galaxies: invert at the galaxy's own redshift, regenerate, compare.

    python benchmarks/bench_inversion.py [--n 200] [--steps 20] [--refine 3] [--batch 25] [--out inversion.json]

Galaxies: ``--n`` rows of the built-in SYNTHETIC survey's testing split (a fixed random choice, ``--seed``), the
split the model never trained on. Model: the shipped checkpoint (``--checkpoint`` for another). Each galaxy is
inverted with ``Generator.invert`` (DDIM run backwards, ``--steps`` steps, ``--refine`` fixed-point iterations a
step, no guidance) and drawn back with DDIM at the same steps and redshift (``Generator.frames_from_noise``), as the
app does when a survey galaxy is clicked. Reported per galaxy, then as medians and 90th percentiles, overall and by
redshift and i-band magnitude bins:

* ``relative_l2``: ||reconstruction - original|| / ||original|| over all five bands, in survey flux;
* ``flux_i``: (total i-band flux of the reconstruction) / (that of the original) - 1, summed over the stamp;
* ``size``: relative difference of the i-band-detected half-light radius (``morphology.measure``, fast mode);
* ``failed``: the fraction with ``relative_l2`` above ``--fail-above`` (default 0.1).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REDSHIFT_BINS = (0.0, 0.5, 1.0, 1.5, 2.0, 4.0)
MAGNITUDE_BINS = (14.0, 20.0, 21.0, 22.0, 23.0, 30.0)


def relative_l2(reconstruction: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Per galaxy ||a - b|| / ||b|| over all bands and pixels."""
    difference = (reconstruction - original).reshape(len(original), -1)
    return np.linalg.norm(difference, axis=1) / np.linalg.norm(original.reshape(len(original), -1), axis=1)


def relative_change(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return new / old - 1.0


def summary(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"n": 0, "median": None, "p90": None}
    return {"n": int(finite.size), "median": float(np.median(finite)), "p90": float(np.percentile(finite, 90)),
            "median_abs": float(np.median(np.abs(finite)))}


def binned(by: np.ndarray, edges, metrics: dict[str, np.ndarray], fail_above: float) -> list[dict]:
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (by >= low) & (by < high)
        if not inside.any():
            continue
        rows.append({"low": low, "high": high, "n": int(inside.sum()),
                     "failed": float(np.mean(metrics["relative_l2"][inside] > fail_above)),
                     **{name: summary(values[inside]) for name, values in metrics.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--refine", type=int, default=3)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fail-above", type=float, default=0.1)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from galaxy_explorer.diffusion import Generator
    from galaxy_explorer.measure.morphology import measure
    from galaxy_explorer.data.survey import Survey, builtin_survey_path

    generator = Generator.load(args.checkpoint)
    path = builtin_survey_path("testing")
    with Survey(path) as survey:
        rows = np.sort(np.random.default_rng(args.seed).choice(len(survey), size=args.n, replace=False))
        images = survey.images(rows)
        redshift = np.asarray(survey.redshift[rows], dtype=np.float64)
        magnitude_i = survey.column("i_cmodel_mag", rows).astype(np.float64)
        object_id = survey.column("object_id", rows)

    start = time.perf_counter()
    tick = lambda done, total: print(f"  {done}/{total} galaxies, {time.perf_counter() - start:.0f} s", flush=True)  # noqa: E731
    print(f"inverting {args.n} galaxies ({args.steps} DDIM steps, refine {args.refine})", flush=True)
    x_T = generator.invert(images, redshift, steps=args.steps, refine=args.refine, batch_size=args.batch,
                           progress=tick)
    inverted = time.perf_counter()
    print("regenerating", flush=True)
    reconstruction = generator.frames_from_noise(x_T, redshift, sampler="ddim", steps=args.steps,
                                                 batch_size=args.batch, progress=tick, guidance_scale=1.0)
    finished = time.perf_counter()

    band_i = generator.bands.index("i")
    size_original = measure(images, mode="fast")["half_light_radius"]
    size_reconstruction = measure(reconstruction, mode="fast")["half_light_radius"]
    metrics = {
        "relative_l2": relative_l2(reconstruction, images),
        "flux_i": relative_change(reconstruction[:, band_i].sum(axis=(1, 2)), images[:, band_i].sum(axis=(1, 2))),
        "size": relative_change(np.asarray(size_reconstruction, np.float64), np.asarray(size_original, np.float64)),
    }
    result = {
        "checkpoint": str(generator.checkpoint_path), "survey": str(path), "survey_split": "testing (SYNTHETIC)",
        "n": args.n, "steps": args.steps, "refine": args.refine, "sampler": "ddim", "guidance_scale": 1.0,
        "fail_above": args.fail_above, "seconds_invert": inverted - start,
        "seconds_regenerate": finished - inverted,
        "network_calls_per_galaxy": args.steps * (args.refine + 1) + args.steps,
        "overall": {"failed": float(np.mean(metrics["relative_l2"] > args.fail_above)),
                    **{name: summary(values) for name, values in metrics.items()}},
        "by_redshift": binned(redshift, REDSHIFT_BINS, metrics, args.fail_above),
        "by_magnitude_i": binned(magnitude_i, MAGNITUDE_BINS, metrics, args.fail_above),
        "galaxies": [{"object_id": int(o), "redshift": float(z), "i_cmodel_mag": float(m),
                      **{name: float(values[k]) for name, values in metrics.items()}}
                     for k, (o, z, m) in enumerate(zip(object_id, redshift, magnitude_i))],
    }
    print(f"\n{args.n} galaxies, {args.steps} steps, refine {args.refine}: invert {result['seconds_invert']:.0f} s, "
          f"regenerate {result['seconds_regenerate']:.0f} s")
    header = f"{'':>16} {'n':>4} {'failed':>7} {'L2 med':>7} {'L2 p90':>7} {'Δflux_i med':>12} {'Δsize med':>10}"
    print(header)

    def line(label: str, row: dict) -> str:
        flux, size = row["flux_i"], row["size"]
        fmt = lambda v: "   n/a" if v is None else f"{v:+.3f}"  # noqa: E731
        return (f"{label:>16} {row['relative_l2']['n']:>4} {row['failed']:>7.0%} "
                f"{row['relative_l2']['median']:>7.3f} {row['relative_l2']['p90']:>7.3f} "
                f"{fmt(flux['median']):>12} {fmt(size['median']):>10}")

    print(line("all", result["overall"]))
    for row in result["by_redshift"]:
        print(line(f"z {row['low']:.1f}-{row['high']:.1f}", row))
    for row in result["by_magnitude_i"]:
        print(line(f"i {row['low']:.0f}-{row['high']:.0f} mag", row))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
