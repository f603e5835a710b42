"""Train the conditional diffusion model (Lizarraga et al. 2024 recipe, with the choices documented below).

``train(config)`` is the one entry point: ``train/train_diffusion.py`` and ``galaxy-explorer train`` only parse
arguments into a ``TrainConfig``. Recipe: AdamW, Huber loss on the network target, gradient clipping at 1.0,
an exponential moving average (EMA) of the weights (the EMA weights are the ones saved for sampling), Gaussian
noise (σ = 0.01 by default) on the redshift condition so the model interpolates between nearby redshifts, optional
condition dropout for classifier-free guidance, and bf16 autocast on GPUs.

Run directory (``--out``):
  model.safetensors + model.json         the sampling checkpoint (EMA weights), rewritten every N steps
  training_state.safetensors + .json     raw weights, EMA, optimizer state, RNG state, step: for --resume
  samples/step_NNNNNNN.png               a grid of samples at fixed seeds (rows) and redshifts (columns)
  train_log.jsonl                        one line of loss and throughput per logging interval

``--init-from CHECKPOINT`` starts a new run from a sampling checkpoint's weights (for instance the shipped one, to
train it further, or to fine-tune it on a GalaxiesML file): the network and its EMA both start from those weights,
the normalization and condition ranges are the checkpoint's (so model space does not move), the step count goes on
from the checkpoint's, and the optimizer starts afresh with its own learning-rate warm-up. The optimizer moments of
the original run are not in a sampling checkpoint, so this is not bit-identical to an uninterrupted run; --resume is.

Randomness at step k on process r (diffusion times, noise, redshift jitter, condition dropout, network dropout,
and for the synthetic survey the batch itself) is drawn from generators seeded by (seed, r, k): the RNG state is
a function of the step, so a resumed run replays exactly what an uninterrupted one would have done. Several processes under ``torchrun`` train with
DistributedDataParallel with no change to the command; --batch-size is per process.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..atomic import atomic_path
from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import CheckpointError, GalaxyExplorerError
from ..diffusion.model_io import checkpoint_metadata, save_diffusion_checkpoint
from ..diffusion.prediction import PREDICTIONS, make_eps_function, training_target
from ..diffusion.samplers import run_sampler
from ..diffusion.schedule import SCHEDULE_KINDS, make_schedule, signal_and_noise_scales
from ..diffusion.unet import PRESETS, ConditionalUNet, count_parameters, preset_config
from .data import PURPOSE_DROPOUT, PURPOSE_NOISE, SYNTHETIC, derived_seed, open_training_data

LOSS_WEIGHTINGS = ("uniform", "min-snr")
MODEL_FILE = "model.safetensors"
STATE_FILE = "training_state.safetensors"
SAMPLE_SEEDS = (0, 1, 2, 3)
SAMPLE_COLUMNS = 6


class TrainingError(GalaxyExplorerError, ValueError):
    """A training configuration or run directory that cannot be used."""


@dataclass
class TrainConfig:
    """Every setting of a training run; stored in the training state so --resume can check it."""

    out_dir: Path
    preset: str = "small"
    steps: int = 20000
    batch_size: int = 32
    lr: float = 2e-4
    warmup_steps: int = 200
    weight_decay: float = 0.01
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    huber_delta: float = 1.0
    prediction: str = "v"
    schedule: str = "linear"
    redshift_noise: float = 0.01
    condition_dropout: float = 0.0
    loss_weighting: str = "uniform"  # or "min-snr" (Hang et al. 2023)
    min_snr_gamma: float = 5.0
    flat_redshift_fraction: float = 0.0  # share of each synthetic batch with z uniform over the training range
    max_minutes: Optional[float] = None  # time budget: stop (and save) at the first step past it
    conditions: tuple[str, ...] = ("redshift",)
    data: Optional[str] = None  # None or 'synthetic': the built-in synthetic survey; else an HDF5 path
    seed: int = 0
    device: str = "auto"
    threads: Optional[int] = None
    checkpoint_every: int = 500
    sample_every: int = 1000
    sample_steps: int = 20
    log_every: int = 50
    normalization_sample: int = 2048
    resume: bool = False
    overwrite: bool = False  # start a new run in an --out that already holds a run or a model, replacing them
    init_from: Optional[str] = None  # a sampling checkpoint whose weights start a new run (see the module docstring)
    bf16: bool = True
    progress_bar: Optional[bool] = None  # None: a tqdm bar when stderr is a terminal

    # Settings that fix what the network is; --resume refuses to change them.
    IDENTITY_KEYS = ("preset", "prediction", "schedule", "conditions", "data", "seed", "batch_size")

    def __post_init__(self):
        self.out_dir = Path(self.out_dir)
        # One spelling per data source, so --resume can compare them.
        self.data = SYNTHETIC if self.data in (None, SYNTHETIC) else str(Path(self.data).resolve())
        self.conditions = tuple(self.conditions)
        checks = [
            (self.preset in PRESETS, f"preset {self.preset!r} is not one of {tuple(PRESETS)}"),
            (self.prediction in PREDICTIONS, f"prediction {self.prediction!r} is not one of {PREDICTIONS}"),
            (self.schedule in SCHEDULE_KINDS, f"schedule {self.schedule!r} is not one of {SCHEDULE_KINDS}"),
            (self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"learning rate must be > 0, got {self.lr}"),
            (0 <= self.ema_decay < 1, f"EMA decay must be in [0, 1), got {self.ema_decay}"),
            (self.redshift_noise >= 0, f"redshift noise must be >= 0, got {self.redshift_noise}"),
            (0 <= self.condition_dropout < 1, f"condition dropout must be in [0, 1), got {self.condition_dropout}"),
            (self.loss_weighting in LOSS_WEIGHTINGS,
             f"loss weighting {self.loss_weighting!r} is not one of {LOSS_WEIGHTINGS}"),
            (self.min_snr_gamma > 0, f"min-SNR gamma must be > 0, got {self.min_snr_gamma}"),
            (0 <= self.flat_redshift_fraction <= 1,
             f"flat redshift fraction must be in [0, 1], got {self.flat_redshift_fraction}"),
            (self.max_minutes is None or self.max_minutes > 0, f"max minutes must be > 0, got {self.max_minutes}"),
            (self.checkpoint_every >= 1, f"checkpoint interval must be >= 1, got {self.checkpoint_every}"),
            (self.sample_every >= 0, f"sample interval must be >= 0 (0: never), got {self.sample_every}"),
            (self.log_every >= 1, f"log interval must be >= 1, got {self.log_every}"),
            (self.normalization_sample >= 16, f"normalization sample must be >= 16, got {self.normalization_sample}"),
            (self.threads is None or self.threads >= 1, f"threads must be >= 1, got {self.threads}"),
            (bool(self.conditions) and self.conditions[0] == "redshift",
             f"the first condition must be 'redshift', got {self.conditions}"),
            (len(set(self.conditions)) == len(self.conditions), f"conditions repeat a name: {self.conditions}"),
        ]
        checks.append((not (self.resume and self.init_from),
                       "--init-from starts a new run from a checkpoint; drop it when continuing a run with --resume"))
        for ok, message in checks:
            if not ok:
                raise TrainingError(message)
        if self.init_from is not None:
            self.init_from = str(Path(self.init_from).resolve())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["out_dir"] = str(self.out_dir)
        out["conditions"] = list(self.conditions)
        return out


@dataclass
class TrainResult:
    checkpoint: Path
    step: int
    images_seen: int
    last_loss: float
    images_per_second: float
    losses: list[float] = field(default_factory=list)


# --- small pure pieces -----------------------------------------------------------------------------------------

def learning_rate(step: int, base_lr: float, warmup_steps: int) -> float:
    """Linear warm-up from base_lr / warmup to base_lr, then constant."""
    if warmup_steps <= 0:
        return base_lr
    return base_lr * min(1.0, (step + 1) / warmup_steps)


def ema_decay_at(step: int, max_decay: float) -> float:
    """EMA decay that starts small, so the average is not dominated by the random initial weights."""
    return min(max_decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_ema(ema_model: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for ema_param, param in zip(ema_model.parameters(), model.parameters()):
        ema_param.lerp_(param.detach().to(ema_param.dtype), 1.0 - decay)
    for ema_buffer, buffer in zip(ema_model.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)


def loss_weights(weighting: str, prediction: str, alpha: torch.Tensor, sigma: torch.Tensor,
                 gamma: float = 5.0) -> torch.Tensor:
    """Per-sample weight of the loss at noise level (alpha, sigma), SNR = alpha² / sigma².

    "uniform": 1. "min-snr" (Hang et al. 2023): the implied loss on x0 is weighted by min(SNR, gamma) instead of
    by SNR + 1 (v-target) or SNR (eps-target), so nearly clean steps, whose fine detail the conditioning barely
    touches, stop dominating the gradient: weight min(SNR, gamma) / (SNR + 1) for v, min(SNR, gamma) / SNR for eps.
    """
    if weighting == "uniform":
        return torch.ones_like(alpha)
    if weighting != "min-snr":
        raise ValueError(f"loss weighting {weighting!r} is not one of {LOSS_WEIGHTINGS}")
    snr = alpha.double() ** 2 / sigma.double() ** 2
    implied = snr + 1.0 if prediction == "v" else snr
    return (snr.clamp(max=gamma) / implied).float()


def diffusion_loss(model: torch.nn.Module, schedule, prediction: str, clean: torch.Tensor, conditions: torch.Tensor,
                   generator: torch.Generator, *, redshift_noise: float, condition_dropout: float,
                   huber_delta: float, autocast_dtype: Optional[torch.dtype] = None,
                   loss_weighting: str = "uniform", min_snr_gamma: float = 5.0) -> torch.Tensor:
    """Huber loss of the network target at random diffusion times, weighted per noise level (``loss_weights``);
    all randomness from ``generator``."""
    batch, device = clean.shape[0], clean.device
    timesteps = torch.randint(0, schedule.num_steps, (batch,), generator=generator, device=device)
    noise = torch.randn(clean.shape, generator=generator, device=device)
    jitter = torch.randn((batch,), generator=generator, device=device)
    conditions = conditions.clone()
    conditions[:, 0] += redshift_noise * jitter  # Gaussian redshift noise, as in the seed paper
    # Always pass a mask (all False without dropout) so every parameter takes part in each step, as DDP requires.
    drop_mask = torch.rand(conditions.shape, generator=generator, device=device) < condition_dropout
    alpha, sigma = signal_and_noise_scales(schedule, timesteps)
    alpha, sigma = (s.float()[:, None, None, None] for s in (alpha, sigma))
    noisy = alpha * clean + sigma * noise
    target = training_target(prediction, clean, noise, alpha, sigma)
    autocast = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with autocast:
        output = model(noisy, timesteps, conditions, drop_mask)
    per_sample = F.huber_loss(output.float(), target, delta=huber_delta, reduction="none").mean(dim=(1, 2, 3))
    weights = loss_weights(loss_weighting, prediction, alpha.flatten(), sigma.flatten(), min_snr_gamma)
    return (weights * per_sample).mean()


# --- state files (safetensors + JSON; nothing pickled) --------------------------------------------------------

def _optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{param_id}.{key}"] = value
            else:
                scalars[f"{param_id}.{key}"] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()} for group in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                            description: dict[str, Any], source: Path) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, param_id, key = name.split(".", 2)
            state.setdefault(int(param_id), {})[key] = value
    for name, value in description.get("scalars", {}).items():
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in group.items()} for group in description["param_groups"]]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: optimizer state does not match the model ({exc})") from exc


def _prefixed(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": t.detach() for name, t in module.state_dict().items()}


def _unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = len(prefix) + 1
    return {name[start:]: t for name, t in tensors.items() if name.startswith(prefix + ".")}


# --- the run ----------------------------------------------------------------------------------------------------

@dataclass
class _Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _distributed_setup(device_request: str) -> tuple[_Distributed, torch.device]:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); pick the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_request == "auto":
        device_request = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device_request)
    except RuntimeError as exc:
        raise TrainingError(f"device {device_request!r} is not a torch device ({exc})") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(f"device {device_request!r} requested but CUDA is not available")
        if world_size > 1:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world_size == 1:
        return _Distributed(), device
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _Distributed(dist.get_rank(), dist.get_world_size(), local_rank), device


def _past_deadline(deadline: Optional[float], distributed: _Distributed, device: torch.device) -> bool:
    """Whether the --max-minutes budget is spent; under torchrun every process stops at the same step."""
    if deadline is None:
        return False
    past = time.monotonic() > deadline
    if distributed.world_size > 1:
        import torch.distributed as dist

        flag = torch.tensor([float(past)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        past = bool(flag.item())
    return past


class _Log:
    """Progress lines on stdout (main process) and a JSON-lines log; a tqdm bar when on a terminal."""

    def __init__(self, config: TrainConfig, is_main: bool, start_step: int):
        self.is_main = is_main
        self.path = config.out_dir / "train_log.jsonl"
        use_bar = config.progress_bar if config.progress_bar is not None else sys.stderr.isatty()
        self.bar = None
        if is_main and use_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=config.steps, initial=start_step, unit="step", dynamic_ncols=True)

    def step(self, postfix: str) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(postfix, refresh=False)

    def record(self, entry: dict[str, Any], line: str) -> None:
        if not self.is_main:
            return
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _check_run_directory(config: TrainConfig) -> Optional[tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """The stored training state when resuming; refuse to overwrite a run or a model by accident; remove the
    partial files a crashed run left (``atomic.remove_stale_partials``)."""
    from ..atomic import remove_stale_partials

    state_path = config.out_dir / STATE_FILE
    for name in (MODEL_FILE, STATE_FILE):
        for final in (config.out_dir / name, (config.out_dir / name).with_suffix(".json")):
            for removed in remove_stale_partials(final):
                print(f"removed {removed}, a partial file left by an interrupted run", file=sys.stderr)
    if config.resume and config.overwrite:
        raise TrainingError("--overwrite starts a new run and --resume continues one: pass only one of them")
    if not config.resume:
        held = [name for name in (STATE_FILE, MODEL_FILE) if (config.out_dir / name).exists()]
        if held and not config.overwrite:
            what = "a training run" if held[0] == STATE_FILE else "a trained model"
            raise TrainingError(f"{config.out_dir}: already holds {what} ({held[0]}); pass --resume to continue "
                                "it, --overwrite to start a new run that replaces it, or choose another --out")
        return None
    if not state_path.exists():
        raise TrainingError(f"{config.out_dir}: nothing to resume ({STATE_FILE} not found)")
    tensors, description = load_checkpoint(state_path)
    if description.get("model") != "conditional-ddpm-training-state":
        raise CheckpointError(f"{state_path.with_suffix('.json')}: not a diffusion training state")
    stored = description.get("config", {})
    for key in TrainConfig.IDENTITY_KEYS:
        now = config.to_dict()[key]
        if stored.get(key) != now:
            raise TrainingError(f"{config.out_dir}: --resume with {key}={now!r}, but the run was started with "
                                f"{key}={stored.get(key)!r}")
    return tensors, description


def _load_initial_checkpoint(config: TrainConfig):
    """The checkpoint named by --init-from, checked against the run's settings (the network must be the same)."""
    from ..diffusion.model_io import load_diffusion_checkpoint

    checkpoint = load_diffusion_checkpoint(config.init_from)
    json_path = checkpoint.path.with_suffix(".json")
    architecture = checkpoint.metadata["architecture"]
    wanted = preset_config(config.preset, config.conditions, architecture.get("condition_ranges")).to_dict()
    mismatches = [f"{key}={architecture.get(key)!r} (this run: {value!r})"
                  for key, value in wanted.items() if architecture.get(key) != value]
    if checkpoint.prediction != config.prediction:
        mismatches.append(f"prediction={checkpoint.prediction!r} (this run: {config.prediction!r})")
    if checkpoint.schedule.to_dict() != make_schedule(config.schedule).to_dict():
        mismatches.append(f"schedule={checkpoint.schedule.to_dict().get('kind')!r} (this run: {config.schedule!r})")
    if mismatches:
        raise TrainingError(f"{json_path}: --init-from needs the same network as this run (--preset {config.preset}, "
                            f"conditions {list(config.conditions)}); the checkpoint has " + "; ".join(mismatches))
    training = checkpoint.metadata.get("training", {})
    start_step, images_seen = int(training.get("step", 0)), int(training.get("images_seen", 0))
    if config.steps <= start_step:
        raise TrainingError(f"{json_path}: the checkpoint is already at step {start_step}; --steps is the total, "
                            f"so ask for more than {start_step} (got {config.steps})")
    return checkpoint, start_step, images_seen


def _sample_grid(ema_model, schedule, normalization, config: TrainConfig, condition_ranges, device,
                 path: Path) -> None:
    """PNG grid of EMA-model samples: rows are fixed seeds, columns evenly spaced redshifts."""
    import imageio.v3 as iio

    from ..composite import lupton_rgb
    from ..diffusion.generator import initial_noise

    lo, hi = condition_ranges[0]
    redshifts = np.linspace(lo, hi, SAMPLE_COLUMNS)
    midpoints = [0.5 * (a + b) for a, b in condition_ranges[1:]]
    conditions = torch.tensor([[z, *midpoints] for z in redshifts], dtype=torch.float32, device=device)
    rows = []
    ema_model.eval()
    with torch.inference_mode():
        eps = make_eps_function(ema_model, schedule, config.prediction, conditions)
        for seed in SAMPLE_SEEDS:
            shape = (1, ema_model.config.image_channels, ema_model.config.image_size, ema_model.config.image_size)
            x_T = initial_noise(seed, shape).to(device)
            x0 = run_sampler("dpmpp2m", eps, schedule, x_T.expand(len(redshifts), -1, -1, -1).contiguous(),
                             config.sample_steps)
            flux = normalization.to_flux(x0.float()).cpu().numpy()
            rows.append(np.concatenate(list(lupton_rgb(flux)), axis=1))
    grid = np.concatenate(rows, axis=0)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, grid, extension=".png")


def train(config: TrainConfig) -> TrainResult:
    """Train (or resume) a diffusion model as ``config`` says; returns where the checkpoint is and how it went."""
    from ..normalization import Normalization

    if config.threads:
        torch.set_num_threads(config.threads)
    distributed, device = _distributed_setup(config.device)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    resumed = _check_run_directory(config)
    data = open_training_data(config.data, config.seed, config.batch_size, config.conditions,
                              distributed.rank, distributed.world_size, device, config.flat_redshift_fraction)

    # Normalization and condition ranges: fitted on a first sample of the data, taken from the --init-from
    # checkpoint, or restored when resuming. warmup_origin: the step at which this optimizer started.
    initial = None
    if resumed is not None:
        tensors, description = resumed
        normalization = Normalization.from_dict(description["normalization"])
        condition_ranges = [tuple(r) for r in description["architecture"]["condition_ranges"]]
        start_step, images_seen = int(description["step"]), int(description["images_seen"])
        warmup_origin = int(description.get("warmup_origin", 0))
    elif config.init_from is not None:
        initial, start_step, images_seen = _load_initial_checkpoint(config)
        normalization = initial.normalization
        condition_ranges = [tuple(r) for r in initial.model.config.condition_ranges]
        warmup_origin = start_step
    else:
        sample_images, sample_conditions = data.first_sample(config.normalization_sample)
        normalization = Normalization.fit(sample_images)
        condition_ranges = data.condition_ranges(sample_conditions)
        start_step, images_seen, warmup_origin = 0, 0, 0

    model_config = preset_config(config.preset, config.conditions, condition_ranges)
    schedule = make_schedule(config.schedule)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(config.seed, 0))  # same initial weights on every process
        model = ConditionalUNet(model_config)
    ema_model = copy.deepcopy(model).requires_grad_(False)
    model.to(device)
    ema_model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if initial is not None:
        model.load_state_dict(initial.model.state_dict())
        ema_model.load_state_dict(initial.model.state_dict())
    if resumed is not None:
        from ..checkpoint import load_state_into

        state_path = config.out_dir / STATE_FILE
        load_state_into(model, _unprefixed("model", tensors), state_path)
        load_state_into(ema_model, _unprefixed("ema", tensors), state_path)
        _optimizer_from_tensors(optimizer, {k: v.to(device) for k, v in tensors.items() if k.startswith("optimizer.")},
                                description["optimizer"], state_path)

    trained_model = model
    if distributed.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        trained_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    autocast_dtype = torch.bfloat16 if (device.type == "cuda" and config.bf16) else None
    log = _Log(config, distributed.is_main, start_step)
    if distributed.is_main:
        log.record({"event": "start", "step": start_step, "parameters": count_parameters(model),
                    "device": str(device), "world_size": distributed.world_size},
                   f"{'resuming' if resumed else 'training'} {config.preset} ({count_parameters(model):,} parameters) "
                   f"on {device} x{distributed.world_size}, step {start_step} -> {config.steps}; "
                   f"data: {data.describe()['description']}")

    def save(step: int, loss_value: float) -> Path:
        training_info = {"step": step, "images_seen": images_seen, "batch_size": config.batch_size,
                         "world_size": distributed.world_size, "lr": config.lr, "ema_decay": config.ema_decay,
                         "redshift_noise": config.redshift_noise, "loss": loss_value, "prediction": config.prediction,
                         "huber_delta": config.huber_delta, "seed": config.seed,
                         "loss_weighting": config.loss_weighting, "min_snr_gamma": config.min_snr_gamma,
                         "flat_redshift_fraction": config.flat_redshift_fraction}
        metadata = checkpoint_metadata(model_config, schedule, normalization, preset=config.preset,
                                       data=data.describe(), training=training_info, prediction=config.prediction,
                                       condition_dropout=config.condition_dropout)
        # Resume state first: the sampling checkpoint is derived from it, never the other way round.
        optimizer_tensors, optimizer_description = _optimizer_to_tensors(optimizer)
        state_tensors = {**_prefixed("model", model), **_prefixed("ema", ema_model), **optimizer_tensors}
        save_checkpoint(config.out_dir / STATE_FILE, state_tensors, {
            "model": "conditional-ddpm-training-state", "step": step, "images_seen": images_seen,
            "config": config.to_dict(), "architecture": model_config.to_dict(), "warmup_origin": warmup_origin,
            "normalization": normalization.to_dict(), "optimizer": optimizer_description})
        return save_diffusion_checkpoint(config.out_dir / MODEL_FILE, ema_model, metadata)

    losses: list[float] = []
    step = start_step
    window_start, window_images, window_losses = time.perf_counter(), 0, []
    throughput = float("nan")
    last_loss = float("nan")
    checkpoint_path = config.out_dir / MODEL_FILE
    deadline = None if config.max_minutes is None else time.monotonic() + 60.0 * config.max_minutes
    try:
        model.train()
        while step < config.steps:
            images, conditions = data.batch(step)
            clean = torch.nan_to_num(normalization.to_model(images.to(device)))
            # The RNG state of step k is a function of (seed, rank, k): restoring the step restores it.
            generator = torch.Generator(device).manual_seed(
                derived_seed(config.seed, PURPOSE_NOISE, distributed.rank, step))
            torch.manual_seed(derived_seed(config.seed, PURPOSE_DROPOUT, distributed.rank, step))  # for dropout
            loss = diffusion_loss(trained_model, schedule, config.prediction, clean, conditions.to(device), generator,
                                  redshift_noise=config.redshift_noise, condition_dropout=config.condition_dropout,
                                  huber_delta=config.huber_delta, autocast_dtype=autocast_dtype,
                                  loss_weighting=config.loss_weighting, min_snr_gamma=config.min_snr_gamma)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss became {loss.item()} at step {step}; lower --lr or check the data")
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step - warmup_origin, config.lr, config.warmup_steps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            update_ema(ema_model, model, ema_decay_at(step, config.ema_decay))
            step += 1
            images_seen += config.batch_size * distributed.world_size
            last_loss = float(loss.detach())
            losses.append(last_loss)
            window_losses.append(last_loss)
            window_images += config.batch_size * distributed.world_size
            log.step(f"loss {last_loss:.4f}")
            last_step = step == config.steps or _past_deadline(deadline, distributed, device)

            if step % config.log_every == 0 or last_step:
                elapsed = time.perf_counter() - window_start
                throughput = window_images / elapsed if elapsed > 0 else float("nan")
                mean_loss = float(np.mean(window_losses))
                log.record({"step": step, "loss": mean_loss, "images_per_second": throughput,
                            "images_seen": images_seen, "lr": optimizer.param_groups[0]["lr"], "time": time.time()},
                           f"step {step}/{config.steps}  loss {mean_loss:.4f}  {throughput:.1f} images/s  "
                           f"lr {optimizer.param_groups[0]['lr']:.2e}")
                window_start, window_images, window_losses = time.perf_counter(), 0, []
            bookkeeping_start = time.perf_counter()
            if distributed.is_main and (step % config.checkpoint_every == 0 or last_step):
                checkpoint_path = save(step, last_loss)
            if distributed.is_main and config.sample_every and (step % config.sample_every == 0 or last_step):
                _sample_grid(ema_model, schedule, normalization, config, model_config.condition_ranges, device,
                             config.out_dir / "samples" / f"step_{step:07d}.png")
                model.train()
            window_start += time.perf_counter() - bookkeeping_start  # throughput counts training time only
            if last_step:
                break
        if distributed.world_size > 1:
            import torch.distributed as dist

            dist.barrier()  # every process finished; none is left waiting in a collective
    except KeyboardInterrupt:
        if distributed.is_main and step > start_step:
            save(step, last_loss)
            log.record({"event": "interrupted", "step": step},
                       f"interrupted at step {step}; state saved, continue with --resume")
        raise
    finally:
        log.close()
        if distributed.world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    return TrainResult(checkpoint_path, step, images_seen, last_loss, throughput, losses)


# --- command line (shared by train/train_diffusion.py and `galaxy-explorer train`) ------------------------------

def add_training_arguments(parser) -> None:
    from .. import arguments

    defaults = {f.name: f.default for f in fields(TrainConfig)}
    add = parser.add_argument
    add("--out", required=True, type=Path, metavar="DIR", help="run directory (checkpoint, state, sample grids, log)")
    add("--preset", default=defaults["preset"], choices=tuple(PRESETS), help="network size (default: %(default)s)")
    add("--steps", type=int, default=defaults["steps"], help="total optimizer steps (default: %(default)s)")
    add("--batch-size", type=int, default=defaults["batch_size"], help="images per step per process (default: %(default)s)")
    add("--lr", type=float, default=defaults["lr"], help="AdamW learning rate after warm-up (default: %(default)s)")
    add("--warmup-steps", type=int, default=defaults["warmup_steps"], help="linear learning-rate warm-up (default: %(default)s)")
    add("--weight-decay", type=float, default=defaults["weight_decay"], help="AdamW weight decay (default: %(default)s)")
    add("--ema-decay", type=float, default=defaults["ema_decay"], help="EMA decay of the saved weights (default: %(default)s)")
    add("--prediction", default=defaults["prediction"], choices=PREDICTIONS,
        help="network target: v (default) or eps (as in the seed paper)")
    add("--schedule", default=defaults["schedule"], choices=SCHEDULE_KINDS, help="noise schedule (default: %(default)s)")
    add("--redshift-noise", type=float, default=defaults["redshift_noise"],
        help="std of Gaussian noise added to the redshift condition (default: %(default)s)")
    add("--condition-dropout", type=float, default=defaults["condition_dropout"],
        help="probability of replacing each condition by its null embedding (enables guidance; default: %(default)s)")
    add("--loss-weighting", default=defaults["loss_weighting"], choices=LOSS_WEIGHTINGS,
        help="weighting of the loss over noise levels: uniform or min-snr (Hang et al. 2023; default: %(default)s)")
    add("--min-snr-gamma", type=float, default=defaults["min_snr_gamma"],
        help="the SNR cap of --loss-weighting min-snr (default: %(default)s)")
    add("--flat-redshift-fraction", type=float, default=defaults["flat_redshift_fraction"],
        help="share of each synthetic-survey batch drawn uniformly in redshift, other properties given z "
             "(feeds the sparse high-z end; default: %(default)s)")
    add("--max-minutes", type=float, default=None,
        help="time budget: stop and save at the first step past it, even before --steps (default: none)")
    add("--condition", dest="extra_conditions", action="append", default=[], metavar="COLUMN",
        help="a further condition: a 1-D column of the survey file (repeatable)")
    add("--data", default=None, metavar="FILE",
        help="GalaxiesML-schema HDF5 file, or 'synthetic': the built-in synthetic survey generated on the fly "
             "(the default)")
    add("--seed", type=arguments.seed, default=defaults["seed"], help="run seed, 0 to 2**63-1 (default: %(default)s)")
    add("--device", default=defaults["device"], help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    add("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    add("--checkpoint-every", type=int, default=defaults["checkpoint_every"], help="steps between checkpoints (default: %(default)s)")
    add("--sample-every", type=int, default=defaults["sample_every"], help="steps between sample grids, 0 for none (default: %(default)s)")
    add("--log-every", type=int, default=defaults["log_every"], help="steps between progress lines (default: %(default)s)")
    add("--normalization-sample", type=int, default=defaults["normalization_sample"],
        help="images used to fit the normalization (default: %(default)s)")
    add("--no-bf16", action="store_true", help="train in fp32 on GPU too")
    add("--resume", action="store_true", help="continue the run in --out from its saved state")
    add("--overwrite", action="store_true",
        help="start a new run in an --out that already holds a run or a model, replacing them")
    add("--init-from", default=None, metavar="CHECKPOINT",
        help="start a new run from this diffusion checkpoint's weights, normalization and step count "
             "(e.g. assets/diffusion-small.safetensors to train it further); the optimizer starts afresh")


def config_from_args(args) -> TrainConfig:
    from ..output_path import check_output_folder

    check_output_folder(args.out, (), overwrite=True)  # a file, or a place that cannot be written: refuse now
    return TrainConfig(
        out_dir=args.out, preset=args.preset, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        warmup_steps=args.warmup_steps, weight_decay=args.weight_decay, ema_decay=args.ema_decay,
        prediction=args.prediction, schedule=args.schedule, redshift_noise=args.redshift_noise,
        condition_dropout=args.condition_dropout, conditions=("redshift", *args.extra_conditions),
        loss_weighting=args.loss_weighting, min_snr_gamma=args.min_snr_gamma,
        flat_redshift_fraction=args.flat_redshift_fraction, max_minutes=args.max_minutes,
        data=args.data, seed=args.seed, device=args.device, threads=args.threads,
        checkpoint_every=args.checkpoint_every, sample_every=args.sample_every, log_every=args.log_every,
        normalization_sample=args.normalization_sample, resume=args.resume, overwrite=args.overwrite, init_from=args.init_from,
        bf16=not args.no_bf16)


def run_from_args(args) -> int:
    result = train(config_from_args(args))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"checkpoint: {result.checkpoint} (step {result.step}, {result.images_seen} images seen)")
    return 0
