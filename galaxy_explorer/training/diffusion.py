"""The diffusion training loop (Lizarraga et al. 2024 recipe, with the choices documented below).

``train(config)`` is the one entry point: ``galaxy-explorer train`` (``commands/train.py``) and
``train/train_diffusion.py`` only parse arguments into a ``TrainConfig`` (``training/config.py``); the run directory,
its checkpoints and --resume / --init-from live in ``training/run_state.py``. Recipe: AdamW, Huber loss on the
network target weighted over noise levels (uniform, or min-SNR-γ), gradient clipping at 1.0, an exponential moving
average (EMA) of the weights (the EMA weights are the ones saved for sampling), Gaussian noise (σ = 0.01 by
default) on the redshift condition so the model interpolates between nearby redshifts, optional condition dropout
for classifier-free guidance, an optional flat-redshift share of the synthetic stream, a time budget, and bf16
autocast on GPUs. A step's images are rendered for it or drawn from a pool of rendered stamps (``training/pool.py``),
optionally turned by the sky's symmetries (``training/symmetry.py``); the speed switches are in
``training/speed.py``.

Several processes under ``torchrun`` train with DistributedDataParallel with no change to the command;
--batch-size is per process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F

from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.diffusion.prediction import make_eps_function, training_target
from galaxy_explorer.diffusion.samplers import run_sampler
from galaxy_explorer.diffusion.schedule import signal_and_noise_scales
from galaxy_explorer.diffusion.unet import count_parameters
from galaxy_explorer.training.config import LOSS_WEIGHTINGS, TrainConfig, TrainingError, TrainResult
from galaxy_explorer.training.data import (PURPOSE_AUGMENT, PURPOSE_DROPOUT, PURPOSE_NOISE, PURPOSE_POOL,
                                           PURPOSE_POOL_DRAW, derived_seed, open_training_data)
from galaxy_explorer.training.pool import RenderedPool
from galaxy_explorer.training.speed import autocast_for, memory_format, prepare_network
from galaxy_explorer.training.symmetry import augment
from galaxy_explorer.training.run_state import MODEL_FILE, RunState, check_run_directory, save_run, start_run

__all__ = ["TrainConfig", "TrainResult", "TrainingError", "train", "diffusion_loss", "loss_weights",
           "learning_rate", "ema_decay_at", "MODEL_FILE"]

SAMPLE_SEEDS = (0, 1, 2, 3)
SAMPLE_COLUMNS = 6


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
    """ema <- ema + (1 - decay) (model - ema), over all parameters in one multi-tensor operation (a few kernel
    launches on a GPU instead of one per parameter)."""
    ema_params = list(ema_model.parameters())
    params = [param.detach().to(ema.dtype) for ema, param in zip(ema_params, model.parameters())]
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
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
                   labels_free_dropout: float = 0.0,
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
    if labels_free_dropout > 0:  # the step's last draw, made only when asked: runs without it replay as before
        labels_free = torch.rand((batch,), generator=generator, device=device) < labels_free_dropout
        drop_mask[:, 1:] |= labels_free[:, None]
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


# --- processes, log and sample grids ---------------------------------------------------------------------------

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
        # set_device needs an index: plain "cuda" means the current GPU (torch 2.11 refuses an index-less device).
        device = torch.device("cuda", local_rank if world_size > 1 else (device.index or 0))
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


def _sample_grid(ema_model, schedule, normalization, config: TrainConfig, condition_ranges, device,
                 path: Path) -> None:
    """PNG grid of EMA-model samples: rows are fixed seeds, columns evenly spaced redshifts."""
    import imageio.v3 as iio

    from galaxy_explorer.output.composite import lupton_rgb
    from galaxy_explorer.diffusion.generator import initial_noise

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




class _Throughput:
    """Images per second and the mean loss over a logging window, counting training time only (not checkpoints
    or sample grids). The losses stay on the device until read (``read``: at each progress line, checkpoint and the
    end), so the CPU can queue the next step while the GPU still runs this one."""

    def __init__(self):
        self.start, self.images = time.perf_counter(), 0
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, loss) not yet read back
        self.window: list[float] = []
        self.losses: list[float] = []  # every loss read back, in step order
        self.last = float("nan")

    def add(self, images: int, step: int, loss: torch.Tensor) -> None:
        self.images += images
        self.pending.append((step, loss))

    def read(self) -> float:
        """Read the pending losses back (one transfer) and return the last; a non-finite loss stops the run,
        naming its step, before anything trained past it is saved."""
        if self.pending:
            values = torch.stack([loss.float() for _, loss in self.pending]).cpu().tolist()
            for (step, _), value in zip(self.pending, values):
                if not np.isfinite(value):
                    raise TrainingError(f"loss became {value} at step {step}; lower --lr or check the data")
            self.window += values
            self.losses += values
            self.pending = []
        return self.losses[-1] if self.losses else float("nan")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.start += time.perf_counter() - started

    def take(self) -> tuple[float, float]:
        """(images/s, mean loss) of the window, and start a new one."""
        self.read()
        elapsed = time.perf_counter() - self.start
        self.last = self.images / elapsed if elapsed > 0 else float("nan")
        mean_loss = float(np.mean(self.window))
        self.start, self.images, self.window = time.perf_counter(), 0, []
        return self.last, mean_loss


def _for_distributed(model: torch.nn.Module, distributed: _Distributed, device: torch.device) -> torch.nn.Module:
    """The module the loss runs through: DistributedDataParallel under torchrun, the model itself otherwise."""
    if distributed.world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _finish_processes(distributed: _Distributed, completed: bool) -> None:
    if distributed.world_size == 1:
        return
    import torch.distributed as dist

    if completed:
        dist.barrier()  # every process finished; none is left waiting in a collective
    dist.destroy_process_group()


def seeded_generator(device: torch.device, *parts: int) -> torch.Generator:
    """A generator on ``device`` seeded by (run seed, purpose, rank, step): see ``training_step``."""
    return torch.Generator(device).manual_seed(derived_seed(*parts))


def clean_batch(config: TrainConfig, run: RunState, source, rank: int,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``run.step``'s clean images in model space and their conditions, on ``device``: drawn from the pool
    (a ``RenderedPool``) or rendered now (a data source), then turned by ``--augment``'s symmetry group."""
    step = run.step
    if isinstance(source, RenderedPool):
        clean, conditions = source.batch(step, seeded_generator(device, config.seed, PURPOSE_POOL_DRAW, rank, step))
    else:
        images, conditions = source.batch(step)
        clean = torch.nan_to_num(run.normalization.to_model(images.to(device)))
        conditions = conditions.to(device)
    if config.augment != "none":
        clean = augment(clean, config.augment, seeded_generator(device, config.seed, PURPOSE_AUGMENT, rank, step))
    return clean.contiguous(memory_format=memory_format(config.channels_last)), conditions


def optimizer_step(config: TrainConfig, run: RunState, network: torch.nn.Module, clean: torch.Tensor,
                   conditions: torch.Tensor, rank: int, device: torch.device,
                   autocast: Optional[torch.dtype]) -> torch.Tensor:
    """The loss of ``clean`` at random noise levels, backward, clipping, AdamW and EMA; returns the loss as a
    tensor on ``device``, not read back, so the GPU is not waited for at every step."""
    generator = seeded_generator(device, config.seed, PURPOSE_NOISE, rank, run.step)
    torch.manual_seed(derived_seed(config.seed, PURPOSE_DROPOUT, rank, run.step))  # for network dropout
    if config.compile == "reduce-overhead":  # a new iteration: the CUDA graphs may reuse the last step's buffers
        torch.compiler.cudagraph_mark_step_begin()
    loss = diffusion_loss(network, run.schedule, config.prediction, clean, conditions, generator,
                          redshift_noise=config.redshift_noise, condition_dropout=config.condition_dropout,
                          labels_free_dropout=config.labels_free_dropout,
                          huber_delta=config.huber_delta, autocast_dtype=autocast,
                          loss_weighting=config.loss_weighting, min_snr_gamma=config.min_snr_gamma)
    for group in run.optimizer.param_groups:
        group["lr"] = learning_rate(run.step - run.warmup_origin, config.lr, config.warmup_steps)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
    run.optimizer.step()
    update_ema(run.ema_model, run.model, ema_decay_at(run.step, config.ema_decay))
    run.step += 1
    run.images_seen += config.batch_size * run.world_size
    return loss.detach()


def training_step(config: TrainConfig, run: RunState, network: torch.nn.Module, source, rank: int,
                  device: torch.device, autocast: Optional[torch.dtype]) -> torch.Tensor:
    """One optimizer step on the batch of step ``run.step``; returns its loss (a tensor, see ``optimizer_step``).

    Every random draw of step k on process r (the batch or its pool slots, the symmetry turns, diffusion times,
    noise, redshift jitter, condition dropout, network dropout) comes from generators seeded by (seed, r, k), so a
    resumed run replays exactly what an uninterrupted one would have done.
    """
    clean, conditions = clean_batch(config, run, source, rank, device)
    return optimizer_step(config, run, network, clean, conditions, rank, device, autocast)


def open_pool(config: TrainConfig, run: RunState, distributed, device: torch.device) -> Optional[RenderedPool]:
    """The run's pool of rendered stamps (``--pool-size``), filled as at step ``run.step``; None without one."""
    plan = config.pool_plan()
    if plan is None:
        return None
    chunks = open_training_data(config.data, derived_seed(config.seed, PURPOSE_POOL), plan.chunk, config.conditions,
                                distributed.rank, distributed.world_size, device, config.flat_redshift_fraction)
    return RenderedPool(plan, chunks, run.normalization, device, run.step, background=config.pool_background)


# --- the run ----------------------------------------------------------------------------------------------------

def train(config: TrainConfig) -> TrainResult:
    """Train (or resume) a diffusion model as ``config`` says; returns where the checkpoint is and how it went."""
    if config.threads:
        torch.set_num_threads(config.threads)
    distributed, device = _distributed_setup(config.device)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    resumed = check_run_directory(config)
    data = open_training_data(config.data, config.seed, config.batch_size, config.conditions,
                              distributed.rank, distributed.world_size, device, config.flat_redshift_fraction)
    run = start_run(config, data, resumed, device, distributed.world_size)
    network = prepare_network(run.model, channels_last=config.channels_last, compile_mode=config.compile,
                              wrap=lambda model: _for_distributed(model, distributed, device))
    log = _Log(config, distributed.is_main, run.step)
    pool = open_pool(config, run, distributed, device)
    _record_start(log, config, run, distributed, device, resumed, data, pool)
    throughput = _Throughput()
    try:
        checkpoint_path = _run_steps(config, run, network, pool or data, distributed, device, log, throughput)
    finally:
        log.close()
        if pool is not None:
            pool.close()
    return TrainResult(checkpoint_path, run.step, run.images_seen, throughput.losses[-1] if throughput.losses else
                       float("nan"), throughput.last, throughput.losses)


def _record_start(log: _Log, config: TrainConfig, run: RunState, distributed: _Distributed, device: torch.device,
                  resumed, data, pool: Optional[RenderedPool]) -> None:
    parameters = count_parameters(run.model)
    entry = {"event": "start", "step": run.step, "parameters": parameters, "device": str(device),
             "world_size": distributed.world_size, "augment": config.augment,
             "pool": pool.describe() if pool is not None else None}
    line = (f"{'resuming' if resumed else 'training'} {config.preset} ({parameters:,} parameters) on {device} "
            f"x{distributed.world_size}, step {run.step} -> {config.steps}; data: {data.describe()['description']}")
    if pool is not None:
        plan = pool.plan
        line += (f"; a pool of {plan.size:,} stamps ({entry['pool']['megabytes']:,.0f} MiB), {plan.chunk:,} "
                 f"replaced every {plan.refresh_every} steps: each drawn {plan.reuse:g} times on average")
    log.record(entry, line)


# Long because: the loop's order (step, progress line, checkpoint, sample grid, deadline) is one piece to read.
def _run_steps(config: TrainConfig, run: RunState, network: torch.nn.Module, source, distributed: _Distributed,
               device: torch.device, log: _Log, throughput: _Throughput) -> Path:
    """The steps from ``run.step`` to --steps (or the time budget); returns the last checkpoint's path."""
    autocast = autocast_for(device, config.bf16)
    start_step, checkpoint_path = run.step, config.out_dir / MODEL_FILE
    deadline = None if config.max_minutes is None else time.monotonic() + 60.0 * config.max_minutes
    completed = False
    try:
        run.model.train()
        while run.step < config.steps:
            loss = training_step(config, run, network, source, distributed.rank, device, autocast)
            throughput.add(config.batch_size * distributed.world_size, run.step - 1, loss)
            if log.bar is not None:
                log.step(f"loss {throughput.read():.4f}")
            last_step = run.step == config.steps or _past_deadline(deadline, distributed, device)
            if run.step % config.log_every == 0 or last_step:
                images_per_second, mean_loss = throughput.take()
                learning = run.optimizer.param_groups[0]["lr"]
                log.record({"step": run.step, "loss": mean_loss, "images_per_second": images_per_second,
                            "images_seen": run.images_seen, "lr": learning, "time": time.time()},
                           f"step {run.step}/{config.steps}  loss {mean_loss:.4f}  {images_per_second:.1f} images/s  "
                           f"lr {learning:.2e}")
            with throughput.paused():
                if distributed.is_main and (run.step % config.checkpoint_every == 0 or last_step):
                    checkpoint_path = save_run(config, run, throughput.read())
                if distributed.is_main and config.sample_every and (run.step % config.sample_every == 0 or last_step):
                    _sample_grid(run.ema_model, run.schedule, run.normalization, config,
                                 run.model_config.condition_ranges, device,
                                 config.out_dir / "samples" / f"step_{run.step:07d}.png")
                    run.model.train()
            if last_step:
                break
        completed = True
    except KeyboardInterrupt:
        if distributed.is_main and run.step > start_step:
            save_run(config, run, throughput.read())
            log.record({"event": "interrupted", "step": run.step},
                       f"interrupted at step {run.step}; state saved, continue with --resume")
        raise
    finally:
        _finish_processes(distributed, completed)
    return checkpoint_path
