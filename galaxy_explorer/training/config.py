"""The settings of a diffusion training run (``TrainConfig``), checked when made, and what a run returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from galaxy_explorer.diffusion.prediction import PREDICTIONS
from galaxy_explorer.diffusion.schedule import SCHEDULE_KINDS
from galaxy_explorer.diffusion.unet import PRESETS
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.options import option
from galaxy_explorer.training.data import SYNTHETIC
from galaxy_explorer.training.pool import PoolError, plan_pool
from galaxy_explorer.training.speed import COMPILE_MODES
from galaxy_explorer.training.symmetry import AUGMENTATIONS, check_augmentation

LOSS_WEIGHTINGS = ("uniform", "min-snr")
WEIGHTS_DTYPES = ("float32", "float16")


class TrainingError(GalaxyExplorerError, ValueError):
    """A training configuration or run directory that cannot be used."""


def _after_redshift(extra_conditions) -> tuple[str, ...]:
    """The conditions of a run from ``--condition`` flags: redshift first, then each further column."""
    return ("redshift", *extra_conditions)


@dataclass
class TrainConfig:
    """Every setting of a training run; stored in the training state so --resume can check it.

    A field declared with ``option`` is an option of ``galaxy-explorer train`` and of ``train/gpu_run.py``
    (``galaxy_explorer.commands.config_arguments``): a new option is a new field here.
    """

    out_dir: Path = option(flag="--out", metavar="DIR", help="run directory (checkpoint, state, sample grids, log)")
    preset: str = option("small", choices=tuple(PRESETS), help="network size (default: %(default)s)")
    steps: int = option(20000, metavar="N", help="total optimizer steps (default: %(default)s)")
    batch_size: int = option(32, help="images per step per process (default: %(default)s)")
    lr: float = option(2e-4, help="AdamW learning rate after warm-up (default: %(default)s)")
    warmup_steps: int = option(200, help="linear learning-rate warm-up (default: %(default)s)")
    weight_decay: float = option(0.01, help="AdamW weight decay (default: %(default)s)")
    ema_decay: float = option(0.999, metavar="D", help="EMA decay of the saved weights (default: %(default)s)")
    grad_clip: float = 1.0
    huber_delta: float = 1.0
    prediction: str = option("v", choices=PREDICTIONS,
                             help="network target: v or eps (as in the seed paper; default: %(default)s)")
    schedule: str = option("linear", choices=SCHEDULE_KINDS, help="noise schedule (default: %(default)s)")
    redshift_noise: float = option(0.01, help="std of Gaussian noise added to the redshift condition "
                                              "(default: %(default)s)")
    condition_dropout: float = option(
        0.0, metavar="P", help="probability of replacing each condition by its null embedding (> 0 enables "
                               "classifier-free guidance; default: %(default)s)")
    # Share of examples whose labels (every condition after redshift) are all dropped together, on top of
    # condition_dropout: independent dropout leaves k labels free together only p**k of the time, yet the app's
    # first page and the labels-free evaluation sample exactly that way.
    labels_free_dropout: float = option(
        0.0, metavar="P", help="share of examples whose labels (every condition after redshift) are all dropped "
                               "together, on top of --condition-dropout: trains the labels-free sampling the app "
                               "opens on (default: %(default)s)")
    loss_weighting: str = option(
        "uniform", choices=LOSS_WEIGHTINGS, help="weighting of the loss over noise levels: uniform or min-snr "
                                                 "(Hang et al. 2023; default: %(default)s)")
    min_snr_gamma: float = option(
        5.0, metavar="G", help="the SNR cap of --loss-weighting min-snr; larger puts more weight on the nearly clean "
                               "noise levels, where the grain of bright galaxies is decided (default: %(default)s)")
    flat_redshift_fraction: float = option(
        0.0, metavar="F", help="share of each synthetic-survey batch drawn uniformly in redshift, other properties "
                               "given z (feeds the sparse high-z end; default: %(default)s)")
    max_minutes: Optional[float] = option(
        None, help="time budget: stop and save at the first step past it, even before --steps (default: none)")
    conditions: tuple[str, ...] = option(
        ("redshift",), flag="--condition", action="append", metavar="COLUMN", dest="extra_conditions",
        to_config=_after_redshift,
        help="a further condition after redshift: a 1-D column of the survey file, e.g. true_bulge_fraction "
             "(repeatable); with --init-from a redshift checkpoint, its new condition embeddings start fresh")
    data: Optional[str] = option(  # None or 'synthetic': the built-in synthetic survey; else an HDF5 path
        None, metavar="FILE", help="GalaxiesML-schema HDF5 file, or 'synthetic': the built-in synthetic survey "
                                   "generated on the fly (the default)")
    seed: int = option(0, value_type="seed", help="run seed, 0 to 2**63-1 (default: %(default)s)")
    device: str = option("auto", help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    threads: Optional[int] = option(None, metavar="N", help="torch CPU threads (default: torch's choice)")
    checkpoint_every: int = option(500, help="steps between checkpoints (default: %(default)s)")
    sample_every: int = option(1000, help="steps between sample grids, 0 for none (default: %(default)s)")
    sample_steps: int = 20
    log_every: int = option(50, help="steps between progress lines (default: %(default)s)")
    normalization_sample: int = option(2048, help="images used to fit the normalization (default: %(default)s)")
    resume: bool = option(False, help="continue the run in --out from its saved state")
    overwrite: bool = option(False, help="start a new run in an --out that already holds a run or a model, "
                                         "replacing them")
    init_from: Optional[str] = option(  # a sampling checkpoint whose weights start a new run (module docstring)
        None, metavar="CHECKPOINT",
        help="start a new run from this diffusion checkpoint's weights, normalization and step count (e.g. "
             "assets/diffusion-small.safetensors to train it further); the optimizer starts afresh")
    # The images of a step: rendered for it, or drawn from a pool of rendered ones (training/pool.py), and turned by
    # the sky's symmetries (training/symmetry.py says why each is exact for the built-in survey).
    augment: str = option(
        "none", choices=AUGMENTATIONS,
        help="turn each training stamp by a random element of a symmetry group: rot90 (the 4 rotations by 90 deg, "
             "exact for the built-in survey) or dihedral (rotations and mirror images; the built-in survey's spiral "
             "arms all wind one way, so mirrors suit only mirror-symmetric data; default: %(default)s)")
    pool_size: int = option(
        0, metavar="N", help="hold N rendered stamps (fp16, model space) on the training device and draw each batch "
                             "from them, replacing the oldest as training runs; 0 renders every batch "
                             "(default: %(default)s)")
    pool_reuse: float = option(
        4.0, metavar="R", help="with --pool-size: how many times each pooled stamp is drawn on average over its life; "
                               "the renderer makes batch/R images a step (default: %(default)s)")
    pool_refresh_every: int = option(
        4, metavar="K", help="with --pool-size: steps between refreshes, each replacing the oldest K x batch/R "
                             "stamps (default: %(default)s)")
    pool_background: bool = option(
        False, help="with --pool-size: render the next refresh in a worker thread (its own CUDA stream on a GPU) "
                    "while the steps run; the run is the same as without")
    # Speed switches (training/speed.py): none changes what a step computes beyond float rounding.
    bf16: bool = option(True, flag="--no-bf16", action="store_false", dest="bf16", help="train in fp32 on GPU too")
    channels_last: bool = option(False, help="keep the network's weights and activations in channels-last (NHWC) "
                                             "memory order")
    compile: str = option("none", choices=COMPILE_MODES,
                          help="torch.compile the network: default, or reduce-overhead (CUDA graphs) "
                               "(default: %(default)s)")
    fused_adamw: bool = option(False, help="AdamW's update as one fused kernel")
    weights_dtype: str = option(
        "float32", choices=WEIGHTS_DTYPES,
        help="precision of the saved sampling checkpoint's weights: float16 halves the file (a larger preset under "
             "a transfer limit); loading converts back to float32 (default: %(default)s)")
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
        checks += [
            (self.pool_size >= 0, f"pool size must be >= 0 (0: no pool), got {self.pool_size}"),
            (self.weights_dtype in WEIGHTS_DTYPES,
             f"weights dtype {self.weights_dtype!r} is not one of {WEIGHTS_DTYPES}"),
            (self.compile in COMPILE_MODES, f"compile mode {self.compile!r} is not one of {COMPILE_MODES}"),
        ]
        checks.append((not (self.resume and self.init_from),
                       "--init-from starts a new run from a checkpoint; drop it when continuing a run with --resume"))
        for ok, message in checks:
            if not ok:
                raise TrainingError(message)
        try:
            check_augmentation(self.augment, self.conditions)
            self.pool_plan()
        except (PoolError, ValueError) as exc:
            raise TrainingError(str(exc)) from exc
        if self.init_from is not None:
            self.init_from = str(Path(self.init_from).resolve())

    def pool_plan(self):
        """The pool's shape (``training.pool.PoolPlan``), or None without a pool."""
        if self.pool_size == 0:
            return None
        return plan_pool(self.pool_size, self.pool_reuse, self.pool_refresh_every, self.batch_size)

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
