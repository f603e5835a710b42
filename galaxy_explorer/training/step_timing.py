"""Where a training step's time goes, measured apart: rendering the survey, drawing a batch from the pool, and the
optimizer step itself; and which speed switches (``training.speed``) make the step faster on this machine.

``train/gpu_run.py``'s batch timing prints these (images/s each, and what they give together) so that a GPU session
shows what bounds it, and keeps a speed switch only if it measured faster; ``benchmarks/bench_diffusion.py`` prints
them on the CPU. A part's rate is images per second of that part alone, on the device, synchronised.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from galaxy_explorer.training.config import TrainConfig
from galaxy_explorer.training.data import derived_seed, open_training_data
from galaxy_explorer.training.diffusion import clean_batch, optimizer_step
from galaxy_explorer.training.pool import PoolPlan, RenderedPool
from galaxy_explorer.training.run_state import RunState
from galaxy_explorer.training.speed import SWITCHES, autocast_for, make_optimizer, memory_format, prepare_network

KEEP_GAIN = 1.03  # a switch is kept when it makes the step at least 3% faster than the best without it
PLAIN = {"bf16": False, "channels_last": False, "fused_adamw": False, "compile": "none"}
CUDA_ONLY = {"bf16": "bf16 autocast applies on CUDA only",
             "compile": "on a CPU, compiling takes minutes (1-2 for the tiny preset on 2 cores), longer than it saves "
                        "in a dry run; measured on CUDA only"}


@dataclass
class StepParts:
    """Images/s of each part of a step at one batch size; ``reuse`` is the pool's (None: no pool)."""

    batch_size: int
    render: float
    step: float
    draw: Optional[float] = None
    reuse: Optional[float] = None

    @property
    def together(self) -> float:
        """Images/s of whole steps when the parts run one after another: with a pool the renderer makes only
        1/reuse of the images a step uses."""
        seconds = 1.0 / self.step + (1.0 / self.render if self.reuse is None else
                                     1.0 / (self.reuse * self.render) + 1.0 / self.draw)
        return 1.0 / seconds

    def to_dict(self) -> dict:
        return {"batch_size": self.batch_size, "images_per_second": self.together,
                "render_images_per_second": self.render, "pool_images_per_second": self.draw,
                "step_images_per_second": self.step, "pool_reuse": self.reuse}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(function: Callable[[], object], images: int, seconds: float, device: torch.device,
         warmup: int = 1, max_calls: int = 200) -> float:
    """Images/s of ``function`` (``images`` a call) over at least 2 calls and ``seconds``, after ``warmup``."""
    for _ in range(warmup):
        function()
    synchronize(device)
    calls, started = 0, time.perf_counter()
    while calls < 2 or (time.perf_counter() - started < seconds and calls < max_calls):
        function()
        calls += 1
    synchronize(device)
    return calls * images / (time.perf_counter() - started)


def timing_run(config: TrainConfig, network: torch.nn.Module, schedule, normalization,
               device: torch.device) -> tuple[RunState, torch.nn.Module]:
    """A RunState around a trainable copy of ``network`` with ``config``'s memory order, optimizer and compile mode
    (a loaded checkpoint's network is frozen for sampling), and the module the loss runs through."""
    model = copy.deepcopy(network).train().requires_grad_(True).to(device, memory_format=memory_format(
        config.channels_last))
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = make_optimizer(model, 1e-6, config.weight_decay, config.fused_adamw)
    run = RunState(model, ema, optimizer, network.config, schedule, normalization, {}, 0, 0, 0)
    return run, prepare_network(model, channels_last=config.channels_last, compile_mode=config.compile)


def step_rate(config: TrainConfig, run: RunState, network: torch.nn.Module, clean: torch.Tensor,
              conditions: torch.Tensor, seconds: float, device: torch.device, warmup: int = 1) -> float:
    """Images/s of the optimizer step alone, on a fixed batch."""
    clean = clean.contiguous(memory_format=memory_format(config.channels_last))
    autocast = autocast_for(device, config.bf16)
    # Reading the loss back each call, as the loop does at each progress line, bounds the queue of launched work.
    return rate(lambda: float(optimizer_step(config, run, network, clean, conditions, 0, device, autocast)),
                config.batch_size, seconds, device, warmup=warmup)


# Long because: the three parts are timed on one set of objects (the rendered chunk fills the timing pool).
def time_parts(config: TrainConfig, network: torch.nn.Module, schedule, normalization, device: torch.device,
               seconds: float) -> StepParts:
    """Images/s of rendering (a pool chunk, or a batch, into model space), of drawing a batch from the pool (with
    the symmetry turns), and of the optimizer step alone, each for about a third of ``seconds``."""
    plan = config.pool_plan()
    chunk = plan.chunk if plan else config.batch_size
    source = open_training_data(config.data, derived_seed(config.seed, 99), chunk, config.conditions, device=device,
                                flat_redshift_fraction=config.flat_redshift_fraction)
    run, trained = timing_run(config, network, schedule, normalization, device)
    calls = iter(range(10 ** 9))

    def render() -> torch.Tensor:
        images, _ = source.batch(next(calls))
        return torch.nan_to_num(normalization.to_model(images.to(device))).half()

    render_rate = rate(render, chunk, seconds / 3, device)
    if plan is None:
        clean, conditions = clean_batch(config, run, source, 0, device)  # chunk == batch size without a pool
        return StepParts(config.batch_size, render_rate, step_rate(config, run, trained, clean, conditions,
                                                                   seconds / 3, device))
    batch_source = open_training_data(config.data, derived_seed(config.seed, 98), config.batch_size,
                                      config.conditions, device=device,
                                      flat_redshift_fraction=config.flat_redshift_fraction)
    pool = RenderedPool(PoolPlan(config.batch_size, 2, 10 ** 9, config.batch_size), batch_source, normalization,
                        device, 0)
    draw_rate = rate(lambda: clean_batch(config, run, pool, 0, device), config.batch_size, seconds / 3, device)
    clean, conditions = clean_batch(config, run, pool, 0, device)
    step = step_rate(config, run, trained, clean, conditions, seconds / 3, device)
    return StepParts(config.batch_size, render_rate, step, draw_rate, plan.reuse)


def requested_switches(config: TrainConfig) -> dict:
    return {name: getattr(config, name) for name in SWITCHES if getattr(config, name) != PLAIN[name]}


# Long because: each variant's line is decided and printed where it is measured.
def time_switches(config: TrainConfig, network: torch.nn.Module, schedule, normalization, device: torch.device,
                  seconds: float, say: Callable[[str], None] = print) -> tuple[dict, list[dict]]:
    """The step alone at ``config``'s batch size, first with every switch off, then with each switch ``config``
    asks for added in turn (``SWITCHES`` order); a switch is kept only if the step is then ``KEEP_GAIN`` times
    faster than the best so far. Returns the switches to train with (``TrainConfig`` fields) and one entry a
    variant. A variant that fails (a compiler missing on the machine) is reported and not kept."""
    wanted = requested_switches(config)
    kept = dict(PLAIN)
    clean, conditions = _fixed_batch(config, normalization, device)
    variants = [("plain", None, None)] + [(name, name, value) for name, value in wanted.items()]
    results, best = [], 0.0
    per_variant = seconds / max(len(variants), 1)
    for label, name, value in variants:
        if name is not None and device.type != "cuda" and name in CUDA_ONLY:
            results.append({"switch": name, "value": value, "kept": False, "note": CUDA_ONLY[name]})
            say(f"  + {name}: not timed ({CUDA_ONLY[name]})")
            continue
        trial = dataclasses.replace(config, **(kept | ({name: value} if name else {})))
        tick = time.perf_counter()
        try:
            run, trained = timing_run(trial, network, schedule, normalization, device)
            # reduce-overhead records its CUDA graphs over the first calls: three warm-ups.
            images_per_second = step_rate(trial, run, trained, clean, conditions, per_variant, device,
                                          warmup=3 if name == "compile" else 1)
        except Exception as exc:  # noqa: BLE001 - any failure of a speed switch leaves the run on the plain path
            results.append({"switch": name, "value": value, "kept": False, "note": f"failed: {exc}"[:300]})
            say(f"  + {label}={value}: failed ({type(exc).__name__}: {str(exc)[:200]}); not kept")
            continue
        keep = name is None or images_per_second >= KEEP_GAIN * best
        if name is not None and keep:
            kept[name] = value
        best = max(best, images_per_second) if keep else best
        results.append({"switch": name, "value": value, "images_per_second": images_per_second, "kept": keep,
                        "seconds": round(time.perf_counter() - tick, 1)})
        say(f"  {'step, all switches off' if name is None else '+ ' + label + '=' + str(value)}: "
            f"{images_per_second:,.0f} images/s{'' if name is None else (' kept' if keep else ' not kept')} "
            f"({time.perf_counter() - tick:.1f} s with warm-up)")
    return kept, results


def _fixed_batch(config: TrainConfig, normalization, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One rendered batch in model space, to time the step on."""
    source = open_training_data(config.data, derived_seed(config.seed, 97), config.batch_size, config.conditions,
                                device=device)
    images, conditions = source.batch(0)
    return torch.nan_to_num(normalization.to_model(images.to(device))), conditions.to(device)
