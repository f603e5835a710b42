"""A run directory on disk: the resume state and the sampling checkpoint (safetensors with their description;
nothing pickled), the checks made before a run starts, and the --init-from checkpoint.

  model.safetensors (+ .json copy)            the sampling checkpoint (EMA weights), rewritten every N steps
  training_state.safetensors (+ .json copy)   raw weights, EMA, optimizer state, step, images seen: for --resume
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from galaxy_explorer.data.checkpoint import load_checkpoint, load_state_into, save_checkpoint
from galaxy_explorer.diffusion.model_io import checkpoint_metadata, save_diffusion_checkpoint
from galaxy_explorer.diffusion.schedule import make_schedule
from galaxy_explorer.diffusion.unet import preset_config
from galaxy_explorer.errors import CheckpointError
from galaxy_explorer.training.config import TrainConfig, TrainingError
from galaxy_explorer.training.speed import make_optimizer, memory_format

MODEL_FILE = "model.safetensors"
STATE_FILE = "training_state.safetensors"
STATE_KIND = "conditional-ddpm-training-state"
IMPLEMENTATION_KEYS = ("fused", "foreach", "capturable")  # AdamW settings that change speed, not the update


@dataclass
class RunState:
    """Everything a run carries from step to step, and everything a checkpoint records."""

    model: torch.nn.Module
    ema_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    model_config: Any
    schedule: Any
    normalization: Any
    data_description: dict
    step: int
    images_seen: int
    warmup_origin: int  # the step at which this optimizer started (its learning-rate warm-up counts from there)
    world_size: int = 1


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
    # How the update is computed (fused, foreach) is this run's choice, not the stored run's: torch would take the
    # stored one, and where the step counts live (on the GPU for fused) follows it.
    for group, current in zip(groups, optimizer.param_groups):
        group.update({key: current[key] for key in IMPLEMENTATION_KEYS if key in current})
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: optimizer state does not match the model ({exc})") from exc


def _prefixed(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": t.detach() for name, t in module.state_dict().items()}


def _unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = len(prefix) + 1
    return {name[start:]: t for name, t in tensors.items() if name.startswith(prefix + ".")}


def check_run_directory(config: TrainConfig) -> Optional[tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """The stored training state when resuming; refuse to overwrite a run or a model by accident; remove the
    partial files a crashed run left (``atomic.remove_stale_partials``)."""
    from galaxy_explorer.atomic import remove_stale_partials

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
    if description.get("model") != STATE_KIND:
        raise CheckpointError(f"{state_path.with_suffix('.json')}: not a diffusion training state")
    stored = description.get("config", {})
    for key in TrainConfig.IDENTITY_KEYS:
        now = config.to_dict()[key]
        if stored.get(key) != now:
            raise TrainingError(f"{config.out_dir}: --resume with {key}={now!r}, but the run was started with "
                                f"{key}={stored.get(key)!r}")
    return tensors, description


def load_initial_checkpoint(config: TrainConfig):
    """The checkpoint named by --init-from, checked against the run's settings: the network must be the same, except
    that the run may add conditions after the checkpoint's own (new condition embeddings then start fresh)."""
    from galaxy_explorer.diffusion.model_io import load_diffusion_checkpoint

    checkpoint = load_diffusion_checkpoint(config.init_from)
    json_path = checkpoint.path.with_suffix(".json")
    architecture = checkpoint.metadata["architecture"]
    inherited = tuple(architecture.get("condition_names", ()))
    if tuple(config.conditions[:len(inherited)]) != inherited:
        raise TrainingError(f"{json_path}: --init-from needs this run's conditions to start with the checkpoint's "
                            f"{list(inherited)} (in that order; further ones may follow), got {list(config.conditions)}")
    wanted = preset_config(config.preset, inherited, architecture.get("condition_ranges")).to_dict()
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


def load_extended_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy a checkpoint's weights into ``model``, which may condition on more labels than the checkpoint did: the
    per-condition rows of the condition embedding are copied for the checkpoint's conditions, the new conditions'
    MLPs and null embeddings keep their fresh initialisation. Returns the names of the tensors left fresh."""
    fresh = []
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name not in state:
                fresh.append(name)
            elif state[name].shape == tensor.shape:
                tensor.copy_(state[name])
            elif tensor.ndim >= 1 and state[name].shape[1:] == tensor.shape[1:] and state[name].shape[0] < len(tensor):
                tensor[:len(state[name])].copy_(state[name])  # one row per condition: the old ones come first
                fresh.append(name)
            else:
                raise TrainingError(f"--init-from: tensor {name!r} has shape {tuple(state[name].shape)}, this "
                                    f"network needs {tuple(tensor.shape)}")
    return fresh


def restore_state(run: RunState, tensors: dict[str, torch.Tensor], description: dict[str, Any], path: Path) -> None:
    """Load a --resume state's weights, EMA and optimizer moments into ``run``."""
    device = next(run.model.parameters()).device
    load_state_into(run.model, _unprefixed("model", tensors), path)
    load_state_into(run.ema_model, _unprefixed("ema", tensors), path)
    _optimizer_from_tensors(run.optimizer, {k: v.to(device) for k, v in tensors.items() if k.startswith("optimizer.")},
                            description["optimizer"], path)
    # The moments in the parameters' memory order (channels-last or not), as a fresh run's are: the fused and
    # multi-tensor updates want the two alike.
    for param, entries in run.optimizer.state.items():
        for key, value in entries.items():
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                entries[key] = torch.empty_like(param).copy_(value)


def save_run(config: TrainConfig, run: RunState, loss_value: float) -> Path:
    """Write the resume state, then the sampling checkpoint derived from it (never the other way round)."""
    training_info = {"step": run.step, "images_seen": run.images_seen, "batch_size": config.batch_size,
                     "world_size": run.world_size, "lr": config.lr, "ema_decay": config.ema_decay,
                     "redshift_noise": config.redshift_noise, "loss": loss_value, "prediction": config.prediction,
                     "huber_delta": config.huber_delta, "seed": config.seed,
                     "loss_weighting": config.loss_weighting, "min_snr_gamma": config.min_snr_gamma,
                     "flat_redshift_fraction": config.flat_redshift_fraction, "augment": config.augment,
                     "pool": plan.to_dict() if (plan := config.pool_plan()) else None,
                     "speed": {"bf16": config.bf16, "channels_last": config.channels_last, "compile": config.compile,
                               "fused_adamw": config.fused_adamw}}
    metadata = checkpoint_metadata(run.model_config, run.schedule, run.normalization, preset=config.preset,
                                   data=run.data_description, training=training_info, prediction=config.prediction,
                                   condition_dropout=config.condition_dropout,
                                   labels_free_dropout=config.labels_free_dropout)
    optimizer_tensors, optimizer_description = _optimizer_to_tensors(run.optimizer)
    state_tensors = {**_prefixed("model", run.model), **_prefixed("ema", run.ema_model), **optimizer_tensors}
    save_checkpoint(config.out_dir / STATE_FILE, state_tensors, {
        "model": STATE_KIND, "step": run.step, "images_seen": run.images_seen, "config": config.to_dict(),
        "architecture": run.model_config.to_dict(), "warmup_origin": run.warmup_origin,
        "normalization": run.normalization.to_dict(), "optimizer": optimizer_description})
    return save_diffusion_checkpoint(config.out_dir / MODEL_FILE, run.ema_model, metadata,
                                     weights_dtype=config.weights_dtype)


def start_run(config: TrainConfig, data, resumed, device: torch.device, world_size: int) -> RunState:
    """The run's starting point: a fresh network with the normalization and condition ranges fitted on a first
    sample of the data; or the --init-from checkpoint's weights, normalization and step (the optimizer starts
    afresh, with its own warm-up); or, with --resume, the stored state."""
    import copy

    from galaxy_explorer.diffusion.unet import ConditionalUNet
    from galaxy_explorer.data.normalization import Normalization
    from galaxy_explorer.training.data import derived_seed

    initial = None
    if resumed is not None:
        tensors, description = resumed
        normalization = Normalization.from_dict(description["normalization"])
        condition_ranges = [tuple(r) for r in description["architecture"]["condition_ranges"]]
        step, images_seen = int(description["step"]), int(description["images_seen"])
        warmup_origin = int(description.get("warmup_origin", 0))
    elif config.init_from is not None:
        initial, step, images_seen = load_initial_checkpoint(config)
        normalization = initial.normalization
        condition_ranges = [tuple(r) for r in initial.model.config.condition_ranges]
        if len(config.conditions) > len(condition_ranges):  # added conditions: their ranges from the data
            _, sample_conditions = data.first_sample(config.normalization_sample)
            condition_ranges += data.condition_ranges(sample_conditions)[len(condition_ranges):]
        warmup_origin = step
    else:
        sample_images, sample_conditions = data.first_sample(config.normalization_sample)
        normalization = Normalization.fit(sample_images)
        condition_ranges = data.condition_ranges(sample_conditions)
        step, images_seen, warmup_origin = 0, 0, 0

    model_config = preset_config(config.preset, config.conditions, condition_ranges)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(config.seed, 0))  # same initial weights on every process
        model = ConditionalUNet(model_config)
    if initial is not None:
        load_extended_state(model, initial.model.state_dict())
    # Both networks in the same memory order, so the EMA update is one multi-tensor operation.
    model.to(device, memory_format=memory_format(config.channels_last))
    ema_model = copy.deepcopy(model).requires_grad_(False)
    optimizer = make_optimizer(model, config.lr, config.weight_decay, config.fused_adamw)
    run = RunState(model, ema_model, optimizer, model_config, make_schedule(config.schedule), normalization,
                   data.describe(), step, images_seen, warmup_origin, world_size)
    if resumed is not None:
        restore_state(run, *resumed, config.out_dir / STATE_FILE)
    return run
