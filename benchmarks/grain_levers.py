"""What causes the grain, and which sampling lever lowers it (issue 31): one command, the same galaxies and seeds.

    python benchmarks/grain_levers.py [--n 200] [--seed 0] [--threads 2] [--levers NAME ...]
                                      [--out benchmarks/results/grain_levers.json]

Each lever is one run of the evaluation pipeline (``galaxy_explorer.evaluation.run_evaluation``, exactly what
``galaxy-explorer evaluate`` runs; its command is recorded beside the lever) on the shipped default, with every
label left free as on the app's first page: --n survey galaxies of the built-in testing split (and --n more for the
real-vs-real calibration) and every test galaxy at the ends of the redshift range, galaxy i from seed --seed + i.
Only the sampler settings change from lever to lever, so every difference is the lever's. For each lever it
records the grain (rms of pixel − 3×3 median, i band, in sky sigmas) generated over survey at each brightness and
its real-vs-real value, every quality check's value (grain and the ends of the range included), the end-of-range
medians, and the generation time per galaxy (the app's latency grows with the network calls per frame).

The cause: the ``cause`` section of the JSON measures the same grain in model space (asinh, where the network
works and its error lives) for the default, and tabulates the training loss weight that min-SNR weighting gives the
low-noise steps, where pixel-scale detail is learned. The training levers (EMA length, min-SNR gamma, a longer GPU
run) need GPU training and are listed with the command that would measure them.

On 2 CPU cores the default levers take about 40 minutes (the DDPM lever alone half of that); --levers picks some.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a file: import the package from this source tree
    sys.path.insert(0, str(REPO))

DATE = "2026-12-04"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "grain_levers.json"
# name -> sampler settings, each given in full (the generator's defaults may change). The first is the sampler alone,
# as the app drew until the lever table below made the final denoising step at t = 10 the default.
LEVERS = {
    "dpmpp2m, 20 steps, no final denoise": dict(sampler="dpmpp2m", steps=20, denoise_step=None),
    "dpmpp2m, 10 steps": dict(sampler="dpmpp2m", steps=10, denoise_step=None),
    "dpmpp2m, 50 steps": dict(sampler="dpmpp2m", steps=50, denoise_step=None),
    "ddim, 50 steps": dict(sampler="ddim", steps=50, denoise_step=None),
    "ddpm, 100 steps": dict(sampler="ddpm", steps=100, denoise_step=None),
    "dpmpp2m, 20 steps + final denoise at t = 3": dict(sampler="dpmpp2m", steps=20, denoise_step=3),
    "dpmpp2m, 20 steps + final denoise at t = 5": dict(sampler="dpmpp2m", steps=20, denoise_step=5),
    "dpmpp2m, 20 steps + final denoise at t = 6": dict(sampler="dpmpp2m", steps=20, denoise_step=6),
    "dpmpp2m, 20 steps + final denoise at t = 8": dict(sampler="dpmpp2m", steps=20, denoise_step=8),
    "dpmpp2m, 20 steps + final denoise at t = 10 (the default)": dict(sampler="dpmpp2m", steps=20, denoise_step=10),
    "dpmpp2m, 20 steps + final denoise at t = 12": dict(sampler="dpmpp2m", steps=20, denoise_step=12),
    "dpmpp2m, 20 steps + final denoise at t = 15": dict(sampler="dpmpp2m", steps=20, denoise_step=15),
    "dpmpp2m, 20 steps + final denoise at t = 20": dict(sampler="dpmpp2m", steps=20, denoise_step=20),
}
GPU_RUN = ("python3 train/gpu_run.py --out $OUT --total-minutes 9.1 --batch-sizes 1024 --init-from "
           "assets/diffusion-small-morph.safetensors --condition true_bulge_fraction --condition true_axis_ratio "
           "--condition true_has_arms --condition-dropout 0.15 --loss-weighting min-snr --lr 3e-4 "
           "--n 1000 --mode fast --guidance 1 --labels-free")
TRAINING_LEVERS = [
    {"name": "EMA length", "status": "needs GPU training",
     "why": "the checkpoint holds the EMA weights only (decay 0.998, ~500 steps), so another averaging length "
            "needs the raw weights of a training run",
     "command": GPU_RUN + " --min-snr-gamma 5 --ema-decay 0.9995"},
    {"name": "loss weighting at low noise (min-SNR gamma)", "status": "needs GPU training",
     "why": "gamma = 5 gives the nearly clean steps, where pixel-scale detail is learned, a few thousandths of "
            "the weight of uniform weighting (see cause.loss_weight); CPU fine-tunes were measured to pull the "
            "GPU-trained weights back (docs/experiments.md)",
     "command": GPU_RUN + " --ema-decay 0.998 --min-snr-gamma 20"},
    {"name": "the GPU-throughput issue's training run", "status": "needs GPU training",
     "why": "no GPU was lent to this session",
     "command": GPU_RUN + " --ema-decay 0.998 --min-snr-gamma 5 --pool-size 65536 --pool-reuse 8 "
                          "--pool-background --augment rot90 --channels-last --fused-adamw --compile reduce-overhead"},
]


def lever_command(settings: dict, n: int, seed: int) -> str:
    denoise = "none" if settings["denoise_step"] is None else settings["denoise_step"]
    flags = f"--sampler {settings['sampler']} --steps {settings['steps']} --denoise-step {denoise}"
    if settings.get("range_ends") is False:
        flags += " --no-range-ends"
    return (f"galaxy-explorer evaluate --n {n} --seed {seed} --mode fast --threads 2 --labels-free "
            f"--real-galaxies off {flags} --out levers/")


def run_lever(settings: dict, n: int, seed: int, threads: int, folder: Path) -> dict:
    """One evaluation with these sampler settings; the numbers the lever table reads."""
    from galaxy_explorer.evaluation import EvaluationConfig, run_evaluation

    config = EvaluationConfig(out=str(folder), n=n, seed=seed, mode="fast", threads=threads, labels_free=True,
                              real_galaxies="off", progress=False, **settings)
    metrics = run_evaluation(config)
    checks = metrics["quality_checks"]["checks"]
    return {
        "settings": settings, "command": lever_command(settings, n, seed),
        "checks": {name: {"value": c["value_generated"], "real_vs_real": c["value_real_vs_real"],
                          "passes": c["passes"]} for name, c in checks.items()},
        "grain_by_brightness": [{key: level[key] for key in ("low", "high", "ratio", "real_vs_real")}
                                for level in metrics["diagnostics"]["pixel_noise"]["levels"]],
        "range_ends": [{"z_low": row["z_low"], "z_high": row["z_high"], "n_survey": row["n_survey"],
                        "n_generated": row["n_generated"],
                        "size_ratio": 1.0 + row["size"]["generated"],
                        "concentration_difference": row["concentration"]["generated"]}
                       for row in checks.get("range_ends", {}).get("bins", [])],
        "colours_worst": worst_cell(checks["colours"]),
        "generate_seconds_per_galaxy": metrics["guidance"]["sweep"][0]["generate_seconds"]
        / (n + sum(row["n_generated"] for row in checks.get("range_ends", {}).get("bins", []))),
    }


def worst_cell(colours: dict) -> dict:
    """The colour and bin that set the colour check's value: where a lever moves the colours."""
    cells = [{"colour": name, **cell} for name, table in colours["per_colour"].items() for cell in table["bins"]
             if cell["counted"] and cell["generated"] is not None]
    return max(cells, key=lambda cell: abs(cell["generated"]) / cell["tolerance"]) if cells else {}


def model_space_grain(n: int, seed: int) -> dict:
    """Grain of the sampler's own output (no final denoising step) in model space (asinh, per band scale) against
    the survey's: if the network's error there is about the same at every brightness, the asinh stretch turns it
    into flux grain that grows with the flux, as measured."""
    from galaxy_explorer.data.survey import Survey, builtin_survey_path
    from galaxy_explorer.diffusion import Generator
    from galaxy_explorer.evaluation.diagnostics import grain_sums
    from galaxy_explorer.evaluation.pipeline import choose_halves, survey_sky_sigma

    generator = Generator.load()
    with Survey(builtin_survey_path("testing")) as survey:
        rows, _ = choose_halves(len(survey), n, seed)
        real = np.asarray(survey.images(rows), dtype=np.float32)
        redshift = np.asarray(survey.redshift[rows], dtype=np.float64)
    generated = generator.population([seed + i for i in range(n)], redshift, denoise_step=None)
    band = generator.bands.index("i")
    sky = survey_sky_sigma(real, tuple(generator.bands), "i")
    levels = ((-1.0, 1.0), (5.0, 20.0), (20.0, 100.0), (100.0, np.inf))
    sets = {name: (grain_sums(images[:, band], sky, levels).sum(axis=0),
                   generator.normalization.to_model(images)[:, band], images[:, band] / sky)
            for name, images in (("survey", real), ("generated", generated))}
    out = []
    for k, (low, high) in enumerate(levels):
        row = {"low": low, "high": high}
        for name, (flux, model, in_sky) in sets.items():
            # the same pixels' residuals in model space, chosen by the flux brightness of their 3x3 median
            row[name] = {"flux_rms_sky_sigmas": float(np.sqrt(flux[k, 0] / flux[k, 1])),
                         "model_rms": _model_rms(model, in_sky, low, high)}
        row["model_excess"] = float(np.sqrt(max(row["generated"]["model_rms"] ** 2
                                                - row["survey"]["model_rms"] ** 2, 0.0)))
        out.append(row)
    return {"n": n, "levels": out}


def _model_rms(model: np.ndarray, flux_in_sky: np.ndarray, low: float, high: float) -> float:
    from scipy.ndimage import median_filter

    residual = model - median_filter(model, size=(1, 3, 3), mode="nearest")
    level = median_filter(flux_in_sky, size=(1, 3, 3), mode="nearest")
    chosen = (level >= low) & (level < high)
    return float(np.sqrt(np.mean(residual[chosen] ** 2)))


def loss_weight_table() -> list[dict]:
    """The training loss weight per noise level under min-SNR (gamma 5, the default's; 20) and uniform weighting."""
    import torch

    from galaxy_explorer.diffusion.schedule import make_schedule, signal_and_noise_scales
    from galaxy_explorer.training.diffusion import loss_weights

    schedule = make_schedule("linear")
    steps = torch.tensor([0, 5, 10, 50, 200, 500, 999])
    alpha, sigma = signal_and_noise_scales(schedule, steps)
    rows = [{"t": int(t), "sigma": float(s)} for t, s in zip(steps, sigma)]
    for name, weighting, gamma in (("min_snr_5", "min-snr", 5.0), ("min_snr_20", "min-snr", 20.0),
                                   ("uniform", "uniform", 5.0)):
        for row, weight in zip(rows, loss_weights(weighting, "v", alpha, sigma, gamma)):
            row[name] = float(weight)
    return rows


def network_calls(settings: dict) -> int:
    """Network calls a frame costs (what the app's latency scales with; guidance 1, one call a step)."""
    return int(settings["steps"]) + (settings.get("denoise_step") is not None)


def markdown_table(summary: dict) -> str:
    """The lever table of docs/experiments.md, from a written summary."""
    def number(value, digits=2):
        return "–" if value is None else f"{value:.{digits}f}"

    def verdict(check) -> str:
        return "–" if check is None else f"{number(check['value'])}{'' if check['passes'] else ' ✗'}"

    lines = ["| lever | grain at sky / 5–20 / 20–100 / ≥ 100 sky σ | grain check | ends of the range | redshift CNN "
             "| colours | binned means, sizes | network calls a frame |", "|---|---|---|---|---|---|---|---|"]
    for name, lever in summary["levers"].items():
        grain = " / ".join(number(level["ratio"]) for level in lever["grain_by_brightness"])
        checks = lever["checks"]
        lines.append(f"| {name} | {grain} | {verdict(checks['grain'])} | {verdict(checks.get('range_ends'))} | "
                     f"{verdict(checks['redshift_cnn'])} | {verdict(checks['colours'])} | "
                     f"{verdict(checks['binned_means'])}, {verdict(checks['sizes'])} | "
                     f"{network_calls(lever['settings'])} |")
    return "\n".join(lines)


def _write(path: Path, summary: dict) -> None:
    from galaxy_explorer.atomic import atomic_path
    from galaxy_explorer.json_output import json_safe

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(json_safe(summary), indent=1, allow_nan=False) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="survey galaxies compared (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--levers", nargs="+", choices=list(LEVERS), default=list(LEVERS), metavar="NAME",
                        help="the levers to run (default: all): " + "; ".join(LEVERS))
    parser.add_argument("--no-range-ends", action="store_true",
                        help="leave out the ends of the range (their 184 generated galaxies dominate a small --n)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--table", action="store_true", help="print the lever table of --out and run nothing")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(args.out.read_text())))
        return 0

    import torch

    torch.set_num_threads(args.threads)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    same_run = (previous.get("n"), previous.get("seed"), previous.get("range_ends", True)) == (
        args.n, args.seed, not args.no_range_ends)
    results = previous.get("levers", {}) if same_run else {}
    summary = {"date": DATE, "n": args.n, "seed": args.seed, "range_ends": not args.no_range_ends, "checkpoint": "shipped:diffusion-small-morph.safetensors",
               "command": "python benchmarks/grain_levers.py" + (f" --n {args.n}" if args.n != 200 else "")
               + (" --no-range-ends" if args.no_range_ends else "") + ("" if args.out == DEFAULT_OUT else
                                                                        f" --out {os.path.relpath(args.out, REPO)}"),
               "note": "generate_seconds_per_galaxy is wall time on the shared 2-core machine, under whatever else "
                       "ran; the latency a lever costs is its network calls a frame (markdown_table)",
               "levers": results, "training_levers": TRAINING_LEVERS,
               "cause": previous["cause"] if same_run and "cause" in previous else
               {"model_space_grain": model_space_grain(min(args.n, 64), args.seed),
                "loss_weight": loss_weight_table()}}
    for name in args.levers:
        tick = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            settings = LEVERS[name] | ({"range_ends": False} if args.no_range_ends else {})
            results[name] = run_lever(settings, args.n, args.seed, args.threads, Path(folder))
        grain = results[name]["grain_by_brightness"]
        print(f"{name}: grain " + " / ".join("–" if level["ratio"] is None else f"{level['ratio']:.2f}"
                                             for level in grain) + f" ({time.perf_counter() - tick:.0f} s)",
              flush=True)
        summary["levers"] = {key: results[key] for key in LEVERS if key in results}
        _write(args.out, summary)  # after every lever: a long run keeps what it has measured
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
