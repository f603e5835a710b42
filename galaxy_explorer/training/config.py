"""The settings of a diffusion training run (``TrainConfig``), checked when made, and what a run returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from galaxy_explorer.diffusion.prediction import PREDICTIONS
from galaxy_explorer.diffusion.schedule import SCHEDULE_KINDS
from galaxy_explorer.diffusion.unet import PRESETS
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.training.data import SYNTHETIC

LOSS_WEIGHTINGS = ("uniform", "min-snr")


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
    # Share of examples whose labels (every condition after redshift) are all dropped together, on top of
    # condition_dropout: independent dropout leaves k labels free together only p**k of the time, yet the app's
    # first page and the labels-free evaluation sample exactly that way.
    labels_free_dropout: float = 0.0
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
            (0 <= self.labels_free_dropout < 1,
             f"labels-free dropout must be in [0, 1), got {self.labels_free_dropout}"),
            (self.labels_free_dropout == 0 or len(self.conditions) > 1,
             "labels-free dropout needs conditions beyond redshift (--condition COLUMN)"),
            (self.labels_free_dropout == 0 or self.condition_dropout > 0,
             "labels-free dropout adds to --condition-dropout, which must be > 0 too (a model trained without it "
             "is refused labels left free and guidance)"),
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
