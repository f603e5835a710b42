#!/usr/bin/env python3
"""Train the diffusion model for a time budget on one GPU, then evaluate it: one call, at most 8 files.

On the device machine (Python 3.12 with torch, numpy, scipy, h5py, safetensors and tqdm; no network), after
``bash train/fetch_device_wheels.sh`` put the other packages into ``.whl/`` here (carry ``.whl``), from the
repository root, as one line:

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site
    .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD GALAXY_EXPLORER_CACHE=/tmp/gecache PYTHONUNBUFFERED=1
    MPLCONFIGDIR=/tmp/mpl && python3 train/gpu_run.py --out $OUT --total-minutes 9.1 --batch-sizes 1024
    --init-from assets/diffusion-small-morph.safetensors --condition true_bulge_fraction --condition true_axis_ratio
    --condition true_has_arms --condition-dropout 0.15 --loss-weighting min-snr --lr 3e-4 --ema-decay 0.998
    --pool-size 65536 --pool-reuse 8 --pool-background --augment rot90 --channels-last --fused-adamw
    --compile reduce-overhead --n 200 --mode fast --guidance 1 --labels-free

The package runs from the source tree through PYTHONPATH; it is not installed. The clock starts when this script
does: 9.1 minutes leave the wheel install (~10-30 s) inside a 10-minute call.

Phases, each timed and reported in images/s:
  (a) environment: Python, torch, CUDA, the GPU, and every package the later phases import (fails at once if one
      is missing, before any time is spent);
  (b) batch-size timing: at each candidate batch size, images/s of each part of a step alone (rendering the
      synthetic survey on the device; drawing a batch from the pool with the symmetry turns, with --pool-size;
      the optimizer step: forward, backward, AdamW, EMA) and of the parts together; the fastest per image wins
      (the smallest batch within 5% of it). At that batch, the speed switches asked for (bf16, --channels-last,
      --fused-adamw, --compile) are added one at a time and each kept only if the step is then >= 3% faster.
      Then the speed of a sampling forward pass, and of the morphology pipeline, which set the evaluation's time
      estimate;
  (c) training (``galaxy_explorer.training.diffusion.train``) for what the budget leaves after that estimate, in a
      scratch folder;
  (d) copy into --out: model.safetensors + model.json (the sampling checkpoint), train_log.jsonl and the last
      sample grid;
  (e) evaluation (``galaxy_explorer.evaluation.run_evaluation``) of that checkpoint on the built-in synthetic
      test split: generation on the device, morphology in one process per CPU core, a guidance sweep when the
      model was trained with condition dropout (the chosen scale is recorded in the checkpoint); report.html and
      metrics.json into --out;
  (f) summary.json (and gpu_run.log, everything printed) into --out, after checking that it holds at most 8 files
      of at most 16 MiB each.

CPU dry run of the same command (two minutes): drop --init-from and append ``--preset tiny --device cpu --threads 1
--total-minutes 2 --batch-sizes 4 8 --pool-size 1024 --n 40 --guidance 1 2`` (the last of a repeated flag wins;
docs/training.md: the numbers it printed; bf16 and --compile are timed on CUDA only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a file from anywhere: import the package from this source tree
    sys.path.insert(0, str(REPO))

MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2 ** 20
HEADER_BYTES = 64 * 2 ** 10  # room for a checkpoint's JSON description in its safetensors header
# On an H200 the small model gained throughput up to the largest batch tried (449 images/s at 64, 2,000 at 512,
# 2,834 at 1024): it is bound by kernel launches and by rendering the survey, so the candidates go higher.
GPU_BATCH_SIZES = (256, 512, 1024, 2048)
CPU_BATCH_SIZES = (4, 8)
DEFAULT_GUIDANCE = (1.0, 1.5, 2.0, 3.0)
SAFETY = 1.3  # the evaluation's time estimate is multiplied by this
FAST_STAMP_S = 1.2e-3  # fast-mode morphology of a stamp on the development machine (docs/benchmarks.md)
GRID_IMAGES = 24  # the training run's last sample grid: 4 seeds x 6 redshifts
OUTPUTS = ("model.safetensors", "model.json", "train_log.jsonl", "metrics.json", "report.html", "summary.json",
           "gpu_run.log")  # and the sample grid, samples_step_NNNNNNN.png


class RunError(RuntimeError):
    """A setting or an outcome that stops the run, with what to change."""


# ------------------------------------------------------------------------------------------------ arguments
def parse_arguments(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.out:
        parser.error("--out is required when $OUT is not set")
    if args.total_minutes <= 0 or args.n < 2 or args.workers < 1 or args.eval_steps < 1:
        parser.error("--total-minutes must be > 0, --n >= 2, --workers >= 1 and --eval-steps >= 1")
    from galaxy_explorer.errors import GalaxyExplorerError

    try:  # TrainConfig's checks of the recipe, now rather than after the batch-size timing
        recipe(args)
    except GalaxyExplorerError as exc:
        parser.error(str(exc))
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpu_run.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train for a time budget (synthetic survey rendered on the GPU, the fastest batch size and "
                    "speed switches), "
                    "then evaluate, writing at most 8 files of at most 16 MiB into --out.",
        epilog=__doc__[__doc__.index("Phases"):] + "\nThe device command: this script's docstring, or "
               "docs/training.md, 'Training on a GPU in one call'.")
    budget = parser.add_argument_group("budget and output")
    budget.add_argument("--out", default=os.environ.get("OUT"), metavar="DIR", help="output folder, empty or absent (default: $OUT)")
    budget.add_argument("--total-minutes", type=float, default=9.0, metavar="MIN",
                        help="wall-clock budget for everything, training gets what evaluation leaves (default 9)")
    budget.add_argument("--timing-seconds", type=float, default=None, metavar="S",
                        help="time for the batch-size timing (default: 30 s, at most 6%% of the budget)")
    budget.add_argument("--batch-sizes", type=int, nargs="+", default=None, metavar="B",
                        help=f"candidates (default: {' '.join(map(str, GPU_BATCH_SIZES))} on CUDA, "
                             f"{' '.join(map(str, CPU_BATCH_SIZES))} on CPU)")
    training = training_arguments()
    training["machine"].add_to(budget)
    budget.add_argument("--scratch", default=None, metavar="DIR", help="folder for the training run (default: a temporary one)")
    recipe_group = parser.add_argument_group("training recipe (passed to TrainConfig; unset: its defaults)")
    training["recipe"].add_to(recipe_group)
    training["seed"].add_to(recipe_group)
    evaluation = parser.add_argument_group("evaluation")
    evaluation_arguments().add_to(evaluation)
    evaluation.add_argument("--no-write-guidance", action="store_true",
                            help="do not record the chosen guidance scale in the copied checkpoint")
    return parser


# TrainConfig's fields that this script sets itself, and why; every other field of TrainConfig is an option here.
DECIDED_TRAINING = {
    "out_dir": "the run trains in a scratch folder (--scratch); --out receives the copies",
    "batch_size": "the fastest per image of --batch-sizes, timed on the device",
    "max_minutes": "what --total-minutes leaves training after the evaluation's estimate",
    "data": "the built-in synthetic survey, rendered on the device",
    "checkpoint_every": "a checkpoint every 2,000 steps and at the end",
    "sample_every": "one sample grid, at the end",
    "log_every": "every 100 steps on a GPU, 10 on a CPU",
    "normalization_sample": "2048 galaxies on a GPU, 256 on a CPU",
    "resume": "every call starts a new run",
    "overwrite": "every call starts a new run in a new scratch folder",
}
# EvaluationConfig's fields that this script sets itself, and why; every other one is an option here.
DECIDED_EVALUATION = {
    "out": "--out", "checkpoint": "the model just trained", "seed": "--seed, the training's",
    "device": "--device, the training's", "threads": "--threads, the training's", "progress": "no progress bars",
    "write_guidance": "when a sweep ran, unless --no-write-guidance",
}
RECIPE_HELP = {  # where a recipe option means more here than in galaxy-explorer train
    "preset": "network size (default: --init-from's, else small)",
    "steps": "ceiling on the total step count (default: none; the time budget stops training)",
    "bf16": "train in fp32 on GPU too (else bf16 autocast, kept only if the batch timing measures it faster)",
    "channels_last": "channels-last memory order, kept only if the batch timing measures it faster",
    "compile": "torch.compile mode (CUDA only here), kept only if the batch timing measures it faster "
               "(default: %(default)s)",
    "fused_adamw": "AdamW as one fused kernel, kept only if the batch timing measures it faster",
    "weights_dtype": "precision of the copied checkpoint's weights; float16 is chosen anyway when float32 would be "
                     "over 16 MiB (default: %(default)s)",
}
SEED_HELP = "training seed, 0 to 2**63-1; also the evaluation's (default: %(default)s)"


def training_arguments() -> dict:
    """TrainConfig's options here, by argument group: the machine (--device, --threads: the evaluation's too), the
    recipe (unset: TrainConfig's default) and the seed (the evaluation's too)."""
    from galaxy_explorer.commands.config_arguments import ConfigArguments
    from galaxy_explorer.training.config import TrainConfig

    shared = ("device", "threads", "seed")
    return {"machine": ConfigArguments(TrainConfig, only=("device", "threads")),
            "recipe": ConfigArguments(TrainConfig, exclude=(*DECIDED_TRAINING, *shared), help=RECIPE_HELP,
                                      unset_defaults=True),
            "seed": ConfigArguments(TrainConfig, only=("seed",), help={"seed": SEED_HELP})}


def evaluation_arguments():
    """EvaluationConfig's options here: those of ``galaxy-explorer evaluate`` that this script does not decide, under
    their names there, but --eval-data, --eval-steps and --eval-batch-size where a training option has the name."""
    from galaxy_explorer.commands.config_arguments import ConfigArguments
    from galaxy_explorer.evaluation.config import EvaluationConfig

    return ConfigArguments(
        EvaluationConfig, exclude=tuple(DECIDED_EVALUATION),
        flags={"data": "--eval-data", "steps": "--eval-steps", "batch_size": "--eval-batch-size"},
        defaults={"n": 1000, "workers": os.cpu_count() or 1, "guidance_scales": list(DEFAULT_GUIDANCE)},
        help={"guidance_scales": "guidance scales swept when the model has condition dropout (default 1 1.5 2 3)",
              "workers": "morphology processes (default: one per CPU core)"})


def recipe(args, **decided):
    """The run's TrainConfig, checked as every run's is: the options given over TrainConfig's defaults, and what
    this script decides (``decided``). Without ``decided`` (the recipe alone: its checks, its loss settings for the
    batch-size timing) the run folder is --out and the preset and step count TrainConfig's defaults."""
    from galaxy_explorer.training.config import TrainConfig

    options = {"out_dir": Path(args.out)}
    for arguments in training_arguments().values():
        options |= arguments.kwargs(args)
    return TrainConfig(**(options | decided))


# ------------------------------------------------------------------------------------------------ helpers
class Clock:
    """The budget: seconds since the start, seconds left, and per-phase wall times."""

    def __init__(self, total_minutes: float):
        self.start = time.monotonic()
        self.total = 60.0 * total_minutes
        self.phases: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.total - self.elapsed()

    def phase(self, name: str, seconds: float) -> None:
        self.phases[name] = round(seconds, 2)

    def say(self, text: str) -> None:
        """A phase's header line, with the time since the start."""
        say(f"{text}  [{self.elapsed():.0f} s]")


class Tee:
    """Write what is printed to the terminal and to a log file."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text):
        self.log.write(text)
        return self.stream.write(text)

    def flush(self):
        self.log.flush()
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def say(text: str = "") -> None:
    print(text, flush=True)


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release_device_memory(device) -> None:
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def prepare_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"--out {out} must be an empty folder or absent (it holds {sorted(os.listdir(out))[:5]})")
    out.mkdir(parents=True, exist_ok=True)


# ------------------------------------------------------------------------------------------------ (a) environment
def environment(args) -> tuple[dict, object]:
    """Versions, the device, and an import of everything the later phases need (fail now, not after training)."""
    import importlib

    import torch

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RunError(f"--device {args.device} asked for, but torch {torch.__version__} sees no CUDA device")
    report = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
              "device": str(device), "cpu_count": os.cpu_count(), "workers": args.workers}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        report |= {"gpu": properties.name, "gpu_memory_gib": round(properties.total_memory / 2 ** 30, 1),
                   "capability": ".".join(map(str, torch.cuda.get_device_capability(device)))}
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convolutions
        torch.set_float32_matmul_precision("high")  # TF32 for the fp32 sampling passes
    if args.threads:
        torch.set_num_threads(args.threads)
    needed = ["numpy", "scipy", "h5py", "safetensors", "tqdm", "astropy", "sep", "photutils", "matplotlib",
              "imageio", "PIL", "galaxy_explorer.evaluation.figures"] + \
        (["statmorph", "skimage"] if args.mode == "full" else [])
    missing = []
    for name in needed:
        try:
            module = importlib.import_module(name)
            if getattr(module, "__version__", None):
                report[name] = module.__version__
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    if missing:
        raise RunError("missing packages: " + "; ".join(missing) + " - install the carried wheels (.whl/) first")
    return report, device


# ------------------------------------------------------------------------------------------------ (b) timing
def preset_and_start(args) -> tuple[str, int]:
    """The preset (--preset, else --init-from's, else small) and the step the run starts from."""
    if not args.init_from:
        return args.preset or "small", 0
    from galaxy_explorer.diffusion.model_io import load_diffusion_checkpoint

    metadata = load_diffusion_checkpoint(args.init_from).metadata
    return args.preset or metadata.get("preset", "small"), int(metadata.get("training", {}).get("step", 0))


def timing_model(args, preset: str, device):
    """The network the timing steps train, with the run's conditions: --init-from's weights when they have them
    (else a fresh network of the same preset: only its speed matters here); with its normalization."""
    from galaxy_explorer.diffusion.model_io import load_diffusion_checkpoint
    from galaxy_explorer.diffusion.schedule import make_schedule
    from galaxy_explorer.diffusion.unet import ConditionalUNet, preset_config
    from galaxy_explorer.data.normalization import Normalization
    from galaxy_explorer.training.data import open_training_data

    training = recipe(args)
    names = training.conditions
    if args.init_from:
        loaded = load_diffusion_checkpoint(args.init_from, device)
        if tuple(loaded.model.config.condition_names) == names:
            return loaded.model, loaded.schedule, loaded.normalization, loaded.prediction
    data = open_training_data(None, training.seed, 8, names, device=device)
    sample, sample_conditions = data.first_sample(64)
    config = preset_config(preset, names, data.condition_ranges(sample_conditions))
    if args.init_from:
        return ConditionalUNet(config).to(device), loaded.schedule, loaded.normalization, loaded.prediction
    return (ConditionalUNet(config).to(device), make_schedule(training.schedule), Normalization.fit(sample),
            training.prediction)


def weights_dtype_for(args, model) -> str:
    """The sampling checkpoint's weights dtype: --weights-dtype, or float16 when float32 weights would be over the
    16 MiB a file in --out may have and float16 ones are not; refuse before training if neither comes back."""
    parameters = sum(p.numel() for p in model.parameters())
    sizes = {"float32": 4 * parameters + HEADER_BYTES, "float16": 2 * parameters + HEADER_BYTES}
    requested = recipe(args).weights_dtype
    if sizes[requested] <= MAX_FILE_BYTES:
        return requested
    if sizes["float16"] <= MAX_FILE_BYTES:
        say(f"  {requested} weights would be {sizes[requested] / 2 ** 20:.1f} MiB, over the {MAX_FILE_BYTES >> 20} "
            f"MiB a file in --out may have: saving them as float16 ({sizes['float16'] / 2 ** 20:.1f} MiB)")
        return "float16"
    raise RunError(f"this preset's checkpoint would be {sizes['float16'] / 2 ** 20:.1f} MiB even as float16, over "
                   f"the {MAX_FILE_BYTES >> 20} MiB a file in --out may have; use a smaller --preset")


def time_batch_size(args, network, schedule, normalization, prediction, batch_size: int, seconds: float,
                    device) -> dict:
    """Images/s of each part of a training step at one batch size (``training.step_timing.time_parts``):
    rendering alone, drawing from the pool alone (with --pool-size), the optimizer step alone with the switches
    that need no compiling (bf16 on CUDA, channels-last, fused AdamW, as asked), and what they give together."""
    from galaxy_explorer.training.step_timing import time_parts

    config = recipe(args, batch_size=batch_size, compile="none", prediction=prediction)
    return time_parts(config, network, schedule, normalization, device, seconds).to_dict()


def choose_batch_size(results: list[dict]) -> dict:
    """The fastest per image; among those within 5% of it, the smallest batch (more optimizer steps)."""
    best = max(r["images_per_second"] for r in results)
    return min((r for r in results if r["images_per_second"] >= 0.95 * best), key=lambda r: r["batch_size"])


def describe_parts(result: dict) -> str:
    """One line of a batch size's timing: each part alone, then together."""
    parts = f"step alone {result['step_images_per_second']:,.0f}"
    if result["pool_images_per_second"]:
        parts += (f", pool draws {result['pool_images_per_second']:,.0f}, rendering "
                  f"{result['render_images_per_second']:,.0f} (each rendered stamp drawn {result['pool_reuse']:g} "
                  "times)")
    else:
        parts += f", rendering {result['render_images_per_second']:,.0f}"
    return f"{result['images_per_second']:9.1f} images/s together ({parts} images/s)"


def time_batch_sizes(args, clock: Clock, device) -> tuple[dict, object]:
    """Phase (b)'s training part: each candidate batch size's parts; at the fastest, the speed switches asked for,
    each kept only if it measured faster."""
    import torch

    preset, _ = preset_and_start(args)
    network, schedule, normalization, prediction = timing_model(args, preset, device)
    weights_dtype = weights_dtype_for(args, network)
    candidates = args.batch_sizes or (GPU_BATCH_SIZES if device.type == "cuda" else CPU_BATCH_SIZES)
    seconds = args.timing_seconds if args.timing_seconds is not None else min(30.0, 0.06 * clock.total)
    results = []
    for batch_size in candidates:
        try:
            result = time_batch_size(args, network, schedule, normalization, prediction, batch_size,
                                     seconds / (len(candidates) + 1), device)
        except torch.cuda.OutOfMemoryError:
            say(f"  batch {batch_size:5d}: out of GPU memory, skipped")
            torch.cuda.empty_cache()
            continue
        results.append(result)
        say(f"  batch {batch_size:5d}: {describe_parts(result)}")
    if not results:
        raise RunError(f"no batch size of {list(candidates)} fits on {device}")
    chosen = choose_batch_size(results)
    switches, variants = time_chosen_switches(args, chosen, network, schedule, normalization, prediction,
                                              seconds / (len(candidates) + 1), device)
    say(f"  chosen batch size {chosen['batch_size']} ({chosen['images_per_second']:.1f} images/s together); "
        f"switches {switches}")
    return {"candidates": results, "chosen": chosen, "preset": preset, "switches": switches,
            "switch_timing": variants, "weights_dtype": weights_dtype}, network


def time_chosen_switches(args, chosen: dict, network, schedule, normalization, prediction, seconds: float,
                         device) -> tuple[dict, list]:
    """The speed switches to train with, timed at the chosen batch size (``step_timing.time_switches``); the
    chosen entry's step and together rates become those of the switches kept."""
    from galaxy_explorer.training.step_timing import StepParts, time_switches

    config = recipe(args, batch_size=chosen["batch_size"], prediction=prediction)
    say(f"  speed switches at batch {chosen['batch_size']}, the step alone:")
    switches, variants = time_switches(config, network, schedule, normalization, device, seconds, say=say)
    timed = [v for v in variants if v["kept"] and "images_per_second" in v]
    if timed:
        chosen["step_images_per_second"] = timed[-1]["images_per_second"]
        chosen["images_per_second"] = StepParts(
            chosen["batch_size"], chosen["render_images_per_second"], chosen["step_images_per_second"],
            chosen["pool_images_per_second"], chosen["pool_reuse"]).together
    return switches, variants


def time_sampling_forward(network, device, batch_size: int, seconds: float = 2.0) -> float:
    """Network forward passes per second (images) as the sampler runs them: fp32, inference mode."""
    import torch

    network = network.eval()
    x = torch.randn((batch_size,) + (network.config.image_channels,) + (network.config.image_size,) * 2,
                    device=device)
    low = network.condition_embedding.range_low.to(device)  # any in-range value: only the speed matters
    conditions = (low + 0.5 * network.condition_embedding.range_span.to(device)).expand(batch_size, -1)
    timesteps = torch.full((batch_size,), 500, dtype=torch.long, device=device)
    with torch.inference_mode():
        network(x, timesteps, conditions)  # warm-up
        synchronize(device)
        passes, started = 0, time.perf_counter()
        while passes < 2 or time.perf_counter() - started < seconds:
            network(x, timesteps, conditions)
            passes += 1
        synchronize(device)
    return passes * batch_size / (time.perf_counter() - started)


def time_morphology(args, device) -> dict:
    """Seconds a stamp of the evaluation's per-image work: morphology (in --workers processes), aperture colours
    and the redshift CNN; what starting the worker pool costs; and how slow this CPU is against the development
    machine's (fast-mode morphology, 1.2 ms a stamp there), which scales the evaluation's fixed part."""
    from galaxy_explorer.measure import morphology
    from galaxy_explorer.measure.photometry import colours
    from galaxy_explorer.measure.redshift_predictor import RedshiftPredictor
    from galaxy_explorer.data.survey import Survey, builtin_survey_path
    from galaxy_explorer.synthetic import true_median_size_arcsec

    true_median_size_arcsec([1.0])  # computed once per process (cached); the evaluation needs it
    data = args.eval_data or builtin_survey_path("testing")  # rendered once into the cache; evaluation reads it
    with Survey(data) as survey:
        bands = tuple(survey.bands)
        stamps = survey.images(list(range(min(len(survey), max(64, args.workers)))))
    slowness = min(20.0, max(0.3, timed(lambda: morphology.measure(stamps, bands=bands)) / len(stamps) / FAST_STAMP_S))
    single = 4 if args.mode == "full" else len(stamps)
    per_stamp = timed(lambda: morphology.measure(stamps[:single], mode=args.mode, bands=bands)) / single
    pool_start = 0.0
    if args.workers > 1:
        pool = timed(lambda: morphology.measure(stamps[:args.workers], mode=args.mode, bands=bands,
                                                workers=args.workers))
        pool_start = max(0.0, pool - per_stamp)
    predictor = RedshiftPredictor.load(device=device)
    predictor.predict(stamps[:8])  # warm-up
    per_stamp_main = timed(lambda: (predictor.predict(stamps), colours(stamps, bands))) / len(stamps)
    parallel = per_stamp / (0.85 * args.workers) if args.workers > 1 else per_stamp
    return {"stamp_seconds": parallel + per_stamp_main, "pool_start_seconds": pool_start,
            "morphology_stamp_cpu_seconds": per_stamp, "cpu_slowness": slowness}


def timed(function) -> float:
    tick = time.perf_counter()
    function()
    return time.perf_counter() - tick


# ------------------------------------------------------------------------------------------------ budget
def guidance_scales(args, condition_dropout: float) -> tuple[float, ...]:
    return tuple(args.guidance) if condition_dropout > 0 else (1.0,)


def evaluation_seconds(n: int, scales: tuple, probes: dict, eval_steps: int) -> float:
    """Estimated wall time of the evaluation of ``n`` galaxies: generation at the measured forward speed (a guided
    step runs a batch of two), per-stamp work on 2n real and n generated stamps per scale, worker-pool starts, and
    a fixed part for the checks, figures and report."""
    passes = sum(1 if scale == 1.0 else 2 for scale in scales)
    generation = n * eval_steps * passes / probes["forward_images_per_second"]
    stamps = n * (2 + len(scales)) * probes["stamp_seconds"]
    fixed = (2 + len(scales)) * probes["pool_start_seconds"] + probes["cpu_slowness"] * (4.0 + 2.0 * len(scales))
    return SAFETY * (generation + stamps + fixed)


def fit_n(args, left: float, scales: tuple, probes: dict, minimum_training: float) -> int:
    """The largest n up to --n whose evaluation leaves ``minimum_training`` seconds of the ``left`` ones."""
    n = args.n
    while n > 10 and evaluation_seconds(n, scales, probes, args.eval_steps) > left - minimum_training:
        n = max(10, int(n * 0.8))
    if evaluation_seconds(n, scales, probes, args.eval_steps) > left - minimum_training:
        raise RunError(f"--total-minutes {args.total_minutes:g} cannot hold training and an evaluation of even "
                       f"{n} galaxies ({evaluation_seconds(n, scales, probes, args.eval_steps):.0f} s estimated); "
                       "raise --total-minutes, or use --mode fast or fewer --guidance scales")
    return n


def training_overhead(args, probes: dict, device) -> float:
    """Seconds train() spends outside its --max-minutes: setup (and, for a fresh model, rendering the
    normalization sample), the final checkpoint and the last sample grid; then the copies."""
    setup = (10.0 if device.type == "cuda" else 3.0) * (1.0 if device.type == "cuda" else probes["cpu_slowness"])
    normalization = 0.0 if args.init_from else normalization_sample(device) / probes["render_images_per_second"]
    grid = GRID_IMAGES * 20 / probes["forward_images_per_second"]
    return setup + normalization + probes.get("pool_fill_seconds", 0.0) + grid


def normalization_sample(device) -> int:
    """Galaxies rendered to fit a fresh model's normalization: TrainConfig's 2048 on a GPU, fewer on a CPU."""
    return 2048 if device.type == "cuda" else 256


def plan(args, clock: Clock, probes: dict, condition_dropout: float, device) -> dict:
    """Split what is left between training and evaluation."""
    scales = guidance_scales(args, condition_dropout)
    overhead = training_overhead(args, probes, device)
    margin = max(5.0, 0.04 * clock.total)
    left = clock.left() - overhead - margin
    n = fit_n(args, left, scales, probes, minimum_training=max(0.25 * clock.total, 6.0))
    if n < args.n:
        say(f"  --n {args.n} would leave training less than a quarter of the budget: planning the evaluation for "
            f"{n} galaxies (more, up to --n, if training leaves the time)")
    estimate = evaluation_seconds(n, scales, probes, args.eval_steps)
    train_seconds = left - estimate
    say(f"  evaluation of {n} galaxies x {len(scales)} guidance scale(s) estimated at {estimate:.0f} s; "
        f"training gets {train_seconds:.0f} s")
    return {"n": n, "guidance_scales": list(scales), "evaluation_estimate_seconds": round(estimate, 1),
            "training_seconds": round(train_seconds, 1), "margin_seconds": margin, "overhead_seconds": overhead}


# ------------------------------------------------------------------------------------------------ (c) training
def train_config(args, preset: str, batch_size: int, train_seconds: float, run_dir: Path, device,
                 measured: Optional[dict] = None):
    """The run's TrainConfig: the recipe given, and what this script decides (``DECIDED_TRAINING``); ``measured``:
    the speed switches the batch timing kept and the weights dtype it chose (None: the recipe's)."""
    _, start = preset_and_start(args)
    return recipe(args, out_dir=run_dir, preset=preset, steps=args.steps or start + 10 ** 6, batch_size=batch_size,
                  max_minutes=max(train_seconds, 1.0) / 60.0, device=str(device), checkpoint_every=2000,
                  sample_every=10 ** 9, log_every=100 if device.type == "cuda" else 10, progress_bar=False,
                  normalization_sample=normalization_sample(device), **(measured or {}))


def log_throughput(log_path: Path, batch_size: int) -> tuple[int, float, float]:
    """(steps trained, images/s of the training loop alone, the median of its progress windows after the first)
    from the run's train_log.jsonl. The first window holds the warm-up (with --compile, the compiling), so the
    median of the others is the loop's steady speed."""
    entries = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    start = next((e["step"] for e in entries if e.get("event") == "start"), 0)
    previous, images, seconds, windows = start, 0, 0.0, []
    for entry in entries:
        if "images_per_second" in entry and entry["images_per_second"]:
            window = (entry["step"] - previous) * batch_size
            images, seconds, previous = images + window, seconds + window / entry["images_per_second"], entry["step"]
            windows.append(entry["images_per_second"])
    steady = statistics.median(windows[1:]) if len(windows) > 1 else (windows[0] if windows else float("nan"))
    return previous - start, images / seconds if seconds else float("nan"), steady


def run_training(args, preset: str, batch_size: int, train_seconds: float, run_dir: Path, device,
                 measured: Optional[dict] = None) -> dict:
    from galaxy_explorer.training.diffusion import train

    config = train_config(args, preset, batch_size, train_seconds, run_dir, device, measured)
    tick = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - tick
    steps, loop_speed, steady = log_throughput(run_dir / "train_log.jsonl", batch_size)
    return {"steps": steps, "final_step": result.step, "images": steps * batch_size, "batch_size": batch_size,
            "seconds": round(wall, 1), "budget_seconds": round(train_seconds, 1),
            "images_per_second": loop_speed, "images_per_second_with_setup": steps * batch_size / wall,
            "steady_images_per_second": steady,
            "last_loss": result.last_loss, "condition_dropout": config.condition_dropout,
            "pool": plan.to_dict() if (plan := config.pool_plan()) else None, "augment": config.augment,
            "switches": {name: getattr(config, name) for name in ("bf16", "channels_last", "fused_adamw", "compile")},
            "weights_dtype": config.weights_dtype}


# ------------------------------------------------------------------------------------------------ (d) copy
def copy_outputs(run_dir: Path, out: Path) -> list[str]:
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    copies = [(run_dir / "model.safetensors", "model.safetensors"), (run_dir / "train_log.jsonl", "train_log.jsonl")]
    if (run_dir / "model.json").exists():
        copies.append((run_dir / "model.json", "model.json"))
    if grids:
        copies.append((grids[-1], f"samples_{grids[-1].name}"))
    for source, name in copies:
        shutil.copy2(source, out / name)
    return [name for _, name in copies]


# ------------------------------------------------------------------------------------------------ (e) evaluation
def run_evaluation_phase(args, out: Path, n: int, scales: list, device) -> dict:
    from galaxy_explorer.evaluation import EvaluationConfig, run_evaluation

    sweep = tuple(scales) if len(scales) > 1 or scales[0] != 1.0 else None
    config = EvaluationConfig(**evaluation_arguments().kwargs(args) | {
        "out": str(out), "checkpoint": str(out / "model.safetensors"), "n": n, "seed": args.seed,
        "device": str(device), "threads": args.threads, "progress": False, "guidance_scales": sweep,
        "write_guidance": bool(sweep) and not args.no_write_guidance})
    tick = time.perf_counter()
    metrics = run_evaluation(config)
    wall = time.perf_counter() - tick
    entries = metrics["guidance"]["sweep"]
    generate_seconds = sum(e.get("generate_seconds") or e["seconds"] for e in entries)
    measure_real = metrics["timings"]["measure_real_s"]
    failed = {name: not c["passes"] for name, c in metrics["quality_checks"]["checks"].items()}
    return {"n": n, "seconds": round(wall, 1), "guidance_scales": [e["guidance_scale"] for e in entries],
            "chosen_guidance": metrics["guidance"]["chosen_scale"],
            "generation_images_per_second": n * len(entries) / generate_seconds,
            "morphology_images_per_second": 2 * n / measure_real,
            "images_per_second": n * (2 + len(entries)) / wall,
            "failed_checks": sorted(k for k, v in failed.items() if v), "checks": len(failed)}


# ------------------------------------------------------------------------------------------------ (f) summary
def check_out(out: Path) -> dict:
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    problems = [f"{name} is {size / 2 ** 20:.1f} MiB" for name, size in files.items() if size > MAX_FILE_BYTES]
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files: {sorted(files)}")
    if problems:
        raise RunError(f"--out breaks the limits ({MAX_FILES} files, {MAX_FILE_BYTES >> 20} MiB each): "
                       + "; ".join(problems))
    return files


def print_summary(summary: dict) -> None:
    timing, training, evaluation = summary["batch_timing"], summary["training"], summary.get("evaluation", {})
    chosen = timing["chosen"]
    say("== summary (images/s of each phase)")
    pool = (f"pool draws alone {chosen['pool_images_per_second']:,.0f}, " if chosen["pool_images_per_second"]
            else "")
    kept = [name if value is True else f"{name} {value}" for name, value in timing["switches"].items()
            if value not in (False, "none")]
    say(f"batch timing : {chosen['images_per_second']:,.1f} images/s at batch {chosen['batch_size']} (of "
        f"{', '.join(str(c['batch_size']) for c in timing['candidates'])}; training step alone "
        f"{chosen['step_images_per_second']:,.0f}, {pool}rendering alone {chosen['render_images_per_second']:,.0f} "
        f"images/s; switches kept: {', '.join(kept) or 'none'})")
    say(f"training     : {training['images_per_second']:,.1f} images/s ({training['steps']:,} steps, "
        f"{training['images']:,} images, {training['seconds']:.0f} s of which the loop "
        f"{training['images'] / training['images_per_second']:.0f} s; after the first progress line "
        f"{training['steady_images_per_second']:,.0f} images/s)")
    if evaluation:
        say(f"generation   : {evaluation['generation_images_per_second']:,.1f} images/s ({evaluation['n']} galaxies "
            f"x {len(evaluation['guidance_scales'])} guidance scale(s), {summary['settings']['eval_steps']} "
            f"{summary['settings']['sampler']} steps)")
        say(f"morphology   : {evaluation['morphology_images_per_second']:,.1f} images/s "
            f"({summary['settings']['mode']}, {summary['environment']['workers']} workers; real stamps, with "
            "colours and the redshift CNN)")
        say(f"evaluation   : {evaluation['images_per_second']:,.1f} images/s overall ({evaluation['seconds']:.0f} s; "
            f"guidance {evaluation['chosen_guidance']:g} chosen; {len(evaluation['failed_checks'])} of "
            f"{evaluation['checks']} checks failed)")
    say(f"total        : {summary['total_seconds']:.0f} s of the {summary['budget_seconds']:.0f} s budget; "
        f"phases {summary['phase_seconds']}")


def write_summary(out: Path, summary: dict) -> None:
    temporary = out / "summary.json.tmp"
    temporary.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    temporary.replace(out / "summary.json")


# ------------------------------------------------------------------------------------------------ main
def timing_phase(args, clock: Clock, device) -> tuple[dict, dict]:
    """Phase (b): the batch-size timing, then the probes that set the evaluation's time estimate (a sampling
    forward pass, the per-stamp work); the timing network is let go before training."""
    batch_timing, network = time_batch_sizes(args, clock, device)
    eval_batch = args.eval_batch_size or (256 if device.type == "cuda" else 8)
    probes = {"forward_images_per_second": time_sampling_forward(network, device, eval_batch)}
    probes["render_images_per_second"] = batch_timing["chosen"]["render_images_per_second"]
    pool = recipe(args, batch_size=batch_timing["chosen"]["batch_size"]).pool_plan()
    if pool is not None:  # train() fills its pool before its time budget starts
        probes["pool_fill_seconds"] = pool.size / probes["render_images_per_second"]
        say(f"  the pool of {pool.size:,} stamps will take ~{probes['pool_fill_seconds']:.0f} s to fill")
    clock.say("   timing the evaluation's parts")
    probes |= time_morphology(args, device)
    say(f"  sampling forward {probes['forward_images_per_second']:,.0f} images/s at batch {eval_batch}; "
        f"evaluation work {probes['stamp_seconds'] * 1e3:.1f} ms a stamp with {args.workers} worker(s) "
        f"(pool start {probes['pool_start_seconds']:.1f} s); this CPU takes {probes['cpu_slowness']:.1f}x the "
        "unloaded development machine's time")
    del network
    release_device_memory(device)
    return batch_timing, probes


def run(args) -> dict:
    clock = Clock(args.total_minutes)
    out = Path(args.out)
    summary: dict = {"budget_seconds": clock.total, "settings": {k: v for k, v in vars(args).items()}}

    clock.say("== (a) environment")
    tick = time.perf_counter()
    summary["environment"], device = environment(args)
    say("  " + ", ".join(f"{k} {v}" for k, v in summary["environment"].items()))
    clock.phase("environment", time.perf_counter() - tick)

    clock.say("== (b) batch-size timing")
    tick = time.perf_counter()
    summary["batch_timing"], probes = timing_phase(args, clock, device)
    summary["probes"] = probes
    clock.phase("batch_timing_and_probes", time.perf_counter() - tick)

    preset = summary["batch_timing"]["preset"]
    dropout = recipe(args).condition_dropout
    summary["plan"] = plan(args, clock, probes, dropout, device)

    clock.say(f"== (c) training {preset}, batch {summary['batch_timing']['chosen']['batch_size']}, "
        f"{summary['plan']['training_seconds']:.0f} s")
    with tempfile.TemporaryDirectory(prefix="gpu_run-", dir=args.scratch) as scratch:
        run_dir = Path(scratch) / "run"
        tick = time.perf_counter()
        timing = summary["batch_timing"]
        summary["training"] = run_training(args, preset, timing["chosen"]["batch_size"],
                                           summary["plan"]["training_seconds"], run_dir, device,
                                           measured={**timing["switches"], "weights_dtype": timing["weights_dtype"]})
        clock.phase("training", time.perf_counter() - tick)
        clock.say("== (d) copy into " + str(out))
        summary["copied"] = copy_outputs(run_dir, out)
        say("  " + ", ".join(summary["copied"]))
    summary["total_seconds"] = clock.elapsed()
    write_summary(out, summary)  # something to read even if the evaluation is cut short

    scales = summary["plan"]["guidance_scales"]
    n = fit_n(args, clock.left() - summary["plan"]["margin_seconds"], tuple(scales), probes, 0.0)
    if n < args.n:
        say(f"  --n {args.n} does not fit the time left: evaluating {n} galaxies")
    clock.say(f"== (e) evaluation: {n} galaxies, guidance {scales}, {args.mode} morphology, {args.workers} workers")
    tick = time.perf_counter()
    summary["evaluation"] = run_evaluation_phase(args, out, n, scales, device)
    clock.phase("evaluation", time.perf_counter() - tick)

    summary["phase_seconds"] = clock.phases
    summary["total_seconds"] = clock.elapsed()
    summary["within_budget"] = summary["total_seconds"] <= clock.total
    write_summary(out, summary)
    summary["files"] = check_out(out)
    write_summary(out, summary)
    print_summary(summary)
    return summary


def main(argv=None) -> int:
    args = parse_arguments(argv)
    out = Path(args.out)
    try:
        prepare_out(out)
    except RunError as exc:
        print(f"gpu_run: error: {exc}", file=sys.stderr)
        return 2
    saved = sys.stdout, sys.stderr
    with open(out / "gpu_run.log", "a") as log:
        sys.stdout, sys.stderr = Tee(saved[0], log), Tee(saved[1], log)
        try:
            run(args)
        except (RunError, ValueError) as exc:  # ValueError: the package's own refusals (GalaxyExplorerError)
            print(f"gpu_run: error: {exc}", file=sys.stderr)
            return 2
        finally:
            sys.stdout, sys.stderr = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
