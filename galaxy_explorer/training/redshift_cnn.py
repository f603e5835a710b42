"""Train the redshift CNN (:mod:`galaxy_explorer.measure.redshift_predictor`) on survey images and spectroscopic redshifts.

Data: a GalaxiesML-schema HDF5 file (``data``; validated on ``validation_data``), or by default the built-in
*synthetic* survey, streamed from ``SyntheticSurvey(seed)`` (a fresh galaxy every step, so no epoch is repeated)
and validated on the built-in survey's validation split. Images are rotated and flipped at random (a galaxy's
redshift does not depend on its orientation on the sky).

``train(config)`` is the one entry point; ``train/train_redshift_cnn.py`` is its command line.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.json_output import json_safe
from galaxy_explorer.options import option
from galaxy_explorer.paths import DEFAULT_REDSHIFT_CHECKPOINT
from galaxy_explorer.measure.photoz_metrics import photoz_metrics
from galaxy_explorer.measure.redshift_predictor import RedshiftCNN, RedshiftPredictor, log1p_redshift


class RedshiftTrainingError(GalaxyExplorerError, ValueError):
    """A training configuration that cannot run (bad numbers, missing validation data)."""


@dataclass
class RedshiftTrainingConfig:
    """Every setting of a redshift-CNN training run; each is an option of ``train/train_redshift_cnn.py``."""

    out: str = option(str(DEFAULT_REDSHIFT_CHECKPOINT),
                      help="checkpoint to write (.safetensors; .json beside it; default: the shipped one)")
    data: str | None = option(  # None -> stream the built-in synthetic survey
        None, help="GalaxiesML-schema training file (default: built-in synthetic survey)")
    validation_data: str | None = option(  # None -> built-in validation split (synthetic) or the sibling file
        None, help="validation file (default: the built-in survey's validation split, or the file named like --data "
                   "with 'validation' for 'training')")
    steps: int = option(2000, help="optimizer steps (default: %(default)s)")
    batch_size: int = option(64, help="images per step (default: %(default)s)")
    learning_rate: float = option(3e-3, help="AdamW peak learning rate (default: %(default)s)")
    weight_decay: float = option(1e-4, help="AdamW weight decay (default: %(default)s)")
    width: int = option(16, help="channels of the CNN's first layer (default: %(default)s)")
    seed: int = option(0, help="seed of the weights, the augmentation and the synthetic stream (default: %(default)s)")
    threads: int = option(1, help="torch CPU threads (default: %(default)s)")
    max_minutes: float | None = option(  # stop early (and still save) after this much wall time
        None, help="time budget: the learning-rate schedule ends and the model is saved when it runs out, even "
                   "before --steps (default: none)")
    validation_size: int = option(1000, help="validation galaxies (default: %(default)s)")
    validation_every: int = option(500, help="steps between validations (default: %(default)s)")
    normalization_sample: int = option(1024, help="images used to fit the normalization (default: %(default)s)")
    half_precision: bool = option(True, flag="--fp32", action="store_false", dest="half_precision",
                                  help="store fp32 weights (default fp16)")
    progress: bool = option(True, flag="--no-progress", action="store_false", dest="progress", help="no progress bar")

    def check(self) -> None:
        for name in ("steps", "batch_size", "width", "threads", "validation_size", "validation_every",
                     "normalization_sample"):
            if int(getattr(self, name)) < 1:
                raise RedshiftTrainingError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise RedshiftTrainingError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise RedshiftTrainingError(f"max_minutes must be positive, got {self.max_minutes!r}")


# ------------------------------------------------------------------------------------------------ data sources
def synthetic_batches(seed: int, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (images, redshift) batches from the built-in synthetic survey's seeded stream."""
    from galaxy_explorer.synthetic import SyntheticSurvey

    survey = SyntheticSurvey(seed)
    while True:
        sample = survey.sample(batch_size)
        yield sample["image"].float(), torch.as_tensor(sample["specz_redshift"]).float()


def survey_batches(path: str, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (images, redshift) batches from a survey file, reshuffled every epoch."""
    from galaxy_explorer.data.survey import Survey

    survey = Survey(path)
    epoch = 0
    while True:
        for batch in survey.iter_batches(batch_size, seed=seed + epoch, shuffle=True):
            if len(batch["image"]) == batch_size:  # equal batches keep BatchNorm statistics steady
                yield torch.as_tensor(batch["image"]).float(), torch.as_tensor(batch["specz_redshift"]).float()
        epoch += 1


def validation_set(config: RedshiftTrainingConfig) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, redshifts, description) of the held-out validation galaxies."""
    from galaxy_explorer.data.survey import Survey, builtin_survey_path

    if config.validation_data is not None:
        path = Path(config.validation_data)
    elif config.data is None:
        path = builtin_survey_path("validation")
    else:
        training = Path(config.data)
        sibling = training.with_name(training.name.replace("training", "validation"))
        if sibling == training or not sibling.exists():
            raise RedshiftTrainingError(
                f"no validation file for {training}: pass validation_data (--validation-data); looked for {sibling}"
            )
        path = sibling
    with Survey(path) as survey:
        count = min(config.validation_size, len(survey))
        # An evenly spaced subset covers the whole file whatever its row order.
        rows = np.unique(np.linspace(0, len(survey) - 1, count).round().astype(np.int64))
        if config.validation_data is None and config.data is None:  # name it so that anyone can make it again
            from galaxy_explorer.synthetic.mock_file import GENERATOR_VERSION
            from galaxy_explorer.data.survey import BUILTIN_SPLITS

            n_split, seed = BUILTIN_SPLITS["validation"]
            description = (f"built-in synthetic survey, validation split: `galaxy-explorer mock --n {n_split} --seed "
                           f"{seed}` (synthetic generator v{GENERATOR_VERSION}, {path.name}); {len(rows)} evenly "
                           "spaced rows")
        else:
            description = str(path)
        return survey.images(rows), np.asarray(survey.redshift[rows], dtype=np.float64), description


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random 90-degree rotation and flips, one draw per image."""
    quarter_turns = torch.randint(0, 4, (len(images),), generator=generator)
    flips = torch.rand(len(images), generator=generator) < 0.5
    out = torch.empty_like(images)
    for turns in range(4):
        chosen = quarter_turns == turns
        if chosen.any():
            out[chosen] = torch.rot90(images[chosen], turns, dims=(2, 3))
    out[flips] = torch.flip(out[flips], dims=(3,))
    return out


# ------------------------------------------------------------------------------------------------ training
WARMUP_FRACTION = 0.05
FINAL_LR_FRACTION = 0.01


def training_progress(step: int, steps: int, elapsed_seconds: float, max_minutes: float | None) -> float:
    """Fraction of the run done: steps, or wall time when a time budget is set and runs out first.

    Tying the learning-rate schedule to this (rather than to steps alone) means a run cut short by
    ``max_minutes`` still ends with a fully decayed learning rate instead of stopping mid-schedule.
    """
    fraction = step / steps
    if max_minutes is not None:
        fraction = max(fraction, elapsed_seconds / (60.0 * max_minutes))
    return fraction


def learning_rate_at(progress: float, peak: float) -> float:
    """Linear warm-up over the first 5%, then cosine decay to 1% of the peak."""
    if progress < WARMUP_FRACTION:
        return peak * max(progress, 1e-3) / WARMUP_FRACTION
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, (progress - WARMUP_FRACTION) / (1.0 - WARMUP_FRACTION))))
    return peak * (FINAL_LR_FRACTION + (1.0 - FINAL_LR_FRACTION) * cosine)


def evaluate(predictor: RedshiftPredictor, images: np.ndarray, redshift: np.ndarray) -> dict:
    predicted = predictor.predict(images)
    return photoz_metrics(predicted, redshift)


def train(config: RedshiftTrainingConfig, log: Callable[[str], None] = print) -> dict:
    """Train, validate and save; returns a summary (validation metrics, steps, time, output path)."""
    from galaxy_explorer.data.normalization import Normalization

    config.check()
    torch.set_num_threads(int(config.threads))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    started = time.perf_counter()

    batches, data_description = _training_stream(config)
    validation_images, validation_redshift, validation_path = validation_set(config)
    data_description["validation"] = validation_path

    # Normalization from the first batches of the training stream (robust per-band scales).
    first_batches = []
    while sum(len(b[0]) for b in first_batches) < config.normalization_sample:
        first_batches.append(next(batches))
    normalization = Normalization.fit(torch.cat([b[0] for b in first_batches]).numpy())
    predictor = RedshiftPredictor(RedshiftCNN(width=config.width), normalization)
    validate = functools.partial(evaluate, predictor, validation_images, validation_redshift)

    # Train on the normalization batches too, then on the rest of the stream.
    step, history = _training_loop(config, predictor, _chain(first_batches, batches), generator, started, validate,
                                   log)
    if step < config.steps:
        log(f"stopped at step {step} of {config.steps}: max_minutes={config.max_minutes} reached "
            "(the learning rate had already decayed to its floor)")

    if config.half_precision:  # validate exactly the weights that will be shipped
        with torch.no_grad():
            for tensor in predictor.network.state_dict().values():
                if tensor.is_floating_point():
                    tensor.copy_(tensor.half().float())
    validation = validate()
    elapsed = time.perf_counter() - started
    training = {
        **{k: v for k, v in dataclasses.asdict(config).items() if k not in ("out", "progress")},
        "steps_done": step,
        "images_seen": step * config.batch_size,
        "wall_seconds": round(elapsed, 1),
        "torch_version": torch.__version__,
    }
    metadata = {
        "data": data_description,
        "training": training,
        "validation_metrics": json_safe(validation),
        "history": json_safe(history),
        "description": "CNN photometric-redshift predictor for evaluating generated galaxies"
                       + (" (trained on the built-in SYNTHETIC survey)" if config.data is None else ""),
    }
    path = predictor.save(config.out, metadata, half_precision=config.half_precision)
    log(f"saved {path} after {step} steps in {elapsed / 60:.1f} min; validation: "
        + json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in validation["overall"].items()}))
    return {"path": str(path), "validation": validation, "training": training}


def _training_stream(config: RedshiftTrainingConfig) -> tuple[Iterator, dict]:
    """The endless (images, redshift) batches to train on, and their description for the checkpoint."""
    if config.data is None:
        return (synthetic_batches(config.seed, config.batch_size),
                {"source": "built-in synthetic survey", "synthetic": True, "stream_seed": config.seed})
    return survey_batches(config.data, config.batch_size, config.seed), {"source": str(config.data), "synthetic": False}


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _training_loop(config: RedshiftTrainingConfig, predictor: RedshiftPredictor, batches: Iterator,
                   generator: torch.Generator, started: float, validate: Callable[[], dict],
                   log: Callable[[str], None]) -> tuple[int, list[dict]]:
    """AdamW steps until ``config.steps`` or the time budget (the learning rate follows whichever ends first),
    validating every ``validation_every`` steps; returns the steps done and the validation history."""
    from tqdm.auto import tqdm

    network = predictor.network
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_function = nn.SmoothL1Loss(beta=0.05)  # ~L1 on dz for residuals beyond 0.05: robust to outliers
    history, step, running = [], 0, 0.0
    bar = tqdm(total=config.steps, desc="redshift CNN", unit="step", disable=not config.progress)
    while True:
        done = training_progress(step, config.steps, time.perf_counter() - started, config.max_minutes)
        if done >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(done, config.learning_rate)
        images, redshift = next(batches)
        network.train()
        loss = loss_function(network(augment(predictor.to_model_space(images), generator)), log1p_redshift(redshift))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(network.parameters(), 5.0)
        optimizer.step()
        step += 1
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        if step % config.validation_every == 0:
            metrics = validate()["overall"]
            history.append({"step": step, "train_loss": running, **metrics})
            log(f"step {step}: train loss {running:.4f}; validation sigma_NMAD {metrics['sigma_nmad']:.4f}, "
                f"bias {metrics['bias']:+.4f}, outliers {metrics['outlier_fraction']:.3f}, "
                f"loss {metrics['mean_loss']:.4f}")
    bar.close()
    return step, history
