"""The settings of an evaluation (``EvaluationConfig``): each option of ``galaxy-explorer evaluate`` is a field here
(``galaxy_explorer.commands.config_arguments``), and ``check`` refuses impossible values before any work.

Kept apart from ``pipeline`` (which imports scipy and matplotlib) so that a command line can be built from it
cheaply."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP, DENOISE_STEP_HELP, SAMPLERS
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.instrument import BANDS
from galaxy_explorer.measure.morphology import MODES
from galaxy_explorer.options import option


# Where the section comparing the built-in survey with real galaxies comes from (evaluation.real_galaxies).
REAL_GALAXIES_SOURCES = ("stored", "recompute", "off")


class EvaluationError(GalaxyExplorerError, ValueError):
    """Evaluation options that cannot work with the given checkpoint or data."""


def _scales(values) -> tuple:
    return tuple(values)


@dataclass
class EvaluationConfig:
    out: str = option(help="output folder for report.html and metrics.json")
    checkpoint: str | None = option(  # None -> paths.DEFAULT_DIFFUSION_CHECKPOINT
        None, help="diffusion checkpoint (.safetensors; default: the shipped assets/diffusion-small-morph)")
    data: str | None = option(  # None -> the built-in synthetic survey's testing split
        None, metavar="FILE",
        help="GalaxiesML-schema test file (default: the built-in synthetic survey's testing split)")
    n: int = option(500, help="galaxies to generate and compare (default: %(default)s)")
    seed: int = option(0, value_type="seed",
                       help="picks the test galaxies; galaxy i is generated from seed+i (0 to 2**63-1)")
    sampler: str = option("dpmpp2m", choices=SAMPLERS, help="sampler (default: %(default)s)")
    steps: int = option(20, value_type="positive_int", metavar="N", help="sampler steps (default: %(default)s)")
    denoise_step: int | None = option(  # None: the sampler's own output (issue 31's final denoising lever)
        DEFAULT_DENOISE_STEP, value_type="denoise_step", metavar="T|none", help=DENOISE_STEP_HELP)
    redshift_checkpoint: str | None = option(  # None -> paths.DEFAULT_REDSHIFT_CHECKPOINT
        None, help="redshift CNN checkpoint (default: the shipped assets/redshift-cnn)")
    mode: str = option("full", choices=MODES,
                       help="morphology: full (Sérsic fit, Gini/M20/C/A; ~0.2-0.4 s a stamp) or fast (~1-4 ms; "
                            "default: %(default)s)")
    workers: int = option(1, value_type="positive_int", metavar="N",
                          help="processes for full-mode morphology (default: %(default)s)")
    detection_band: str = option("i", choices=BANDS, help="band used for detection and shapes (default: %(default)s)")
    device: str = option("cpu", help="torch device for generation and the CNN (default: %(default)s)")
    threads: int | None = option(None, value_type="positive_int", metavar="N",
                                 help="torch CPU threads (default: torch's choice)")
    progress: bool = option(True, flag="--no-progress", action="store_false", dest="progress",
                            help="no progress bars")
    range_ends: bool = option(  # the check of the ends of the redshift range (evaluation.range_ends)
        True, flag="--no-range-ends", action="store_false", dest="range_ends",
        help="leave out the check of the ends of the redshift range (it generates two galaxies at each survey "
             "galaxy's redshift at z < 0.1 and 2.5 < z < 3.5: 184 on the built-in testing split)")
    extra: dict = field(default_factory=dict)
    guidance_scales: tuple | None = option(  # None: the checkpoint's default scale; else a sweep, the best reported
        None, flag="--guidance", value_type=float, nargs="+", metavar="G", to_config=_scales,
        help="classifier-free guidance scale (default: the checkpoint's); several values run a sweep and the "
             "report shows the scale that passes most checks, e.g. --guidance 1 1.5 2 3")
    write_guidance: bool = option(
        False, help="record the chosen guidance scale in the checkpoint as its default (rewrites the checkpoint file "
                    "in one atomic rename; the CLI and the app then sample with it)")
    batch_size: int | None = option(  # galaxies per network call when generating; None: 256 on CUDA, 8 on CPU
        None, value_type="positive_int", metavar="B",
        help="galaxies generated per network call (default: 256 on CUDA, 8 on CPU); the images do not depend on it "
             "beyond float rounding")
    real_galaxies: str = option(
        "stored", choices=REAL_GALAXIES_SOURCES,
        help="the report's section 'Synthetic survey against real galaxies' (with the built-in survey only): stored: "
             "the shipped comparison (assets/evaluation/real-data.json, from benchmarks/real_data_check.py); "
             "recompute: remake it from the real data ($GALAXY_EXPLORER_REALDATA, else ../shared/realdata beside the "
             "repository; ~30 s); off: leave it out (default: %(default)s)")
    labels_free: bool = option(  # generate from the redshift alone, every further condition left free
        False, help="generate from the test galaxies' redshifts alone, every further condition of the model left "
                    "free (a model trained with condition dropout): the quality checks of a morphology model used "
                    "as a redshift-only one; the label checks are then not run")
    # Conditions the guidance pushes towards; None: the checkpoint's (all, by default). Its flag, --guide, is
    # shared with `galaxy-explorer sample` (commands.arguments.add_guide_argument).
    guided: tuple | None = None

    def check(self) -> None:
        if isinstance(self.n, bool) or int(self.n) < 2:
            raise EvaluationError(f"n must be an integer >= 2 (galaxies to compare), got {self.n!r}")
        if int(self.seed) < 0:
            raise EvaluationError(f"seed must be >= 0, got {self.seed!r}")
        if self.real_galaxies not in REAL_GALAXIES_SOURCES:
            raise EvaluationError(f"real_galaxies {self.real_galaxies!r} is not one of {REAL_GALAXIES_SOURCES}")
        if self.mode not in MODES:
            raise EvaluationError(f"mode {self.mode!r} is not one of {MODES}")
        if self.denoise_step is not None and (isinstance(self.denoise_step, bool) or int(self.denoise_step) < 0):
            raise EvaluationError(f"denoise_step must be None or an integer >= 0, got {self.denoise_step!r}")
        if int(self.workers) < 1:
            raise EvaluationError(f"workers must be >= 1, got {self.workers!r}")
        if self.threads is not None and int(self.threads) < 1:
            raise EvaluationError(f"threads must be >= 1, got {self.threads!r}")
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or int(self.batch_size) < 1):
            raise EvaluationError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        for scale in self.guidance_scales or ():
            if not math.isfinite(scale) or scale < 0:
                raise EvaluationError(f"guidance scale must be a finite number >= 0, got {scale!r}")
