"""``galaxy-explorer augment``: does adding generated galaxies of a rare class help a classifier find that class?

The experiment of Ma et al. (2025), who enlarged a Galaxy Zoo 2 classifier's training set with images from a
morphology-conditioned diffusion model and report completeness and purity up by up to 30%. Here the survey's truth
columns (``true_has_arms`` etc.) say exactly which galaxies belong to the class, so the gain can be measured rather
than estimated, and separated from the mere effect of having more data.

Steps (all from one ``seed``, so a run is reproducible):
1. the galaxies of the survey file inside the redshift window (default z > 1, where arms are rare) are shuffled and
   split into a held-out test set (``n_test``), a training set (``n_train``) and a reserve (the rest);
   a galaxy belongs to the class when its label column is >= ``class_min`` (``true_has_arms`` >= 0.5: has arms);
   P is the number of class members in the training set;
2. ``max(factors) x P`` class members are generated once: each copies the redshift and label value of a random
   training member (the other conditions are left free when the model was trained with condition dropout, and are
   copied from the same member otherwise); generated galaxy i uses seed ``generation_seed + i``;
3. for each of ``seeds`` classifier seeds, a small CNN (``classifier.SmallClassifier``) is trained on
   * the real training set alone (the baseline),
   * the training set plus k = f x P generated members, for each factor f (a random draw from the generated pool),
   * the control: the training set plus f x P *real* members from the reserve (as many as there are; the count is
     reported), which separates "more data of the class" from "generated data";
   and completeness (recall), purity (precision) and F1 of the class on the held-out test set are recorded;
4. each arm's mean +- standard deviation over the seeds, and its change against the baseline, go into
   ``augment.json`` and ``augment.html`` (written atomically).

"Helped" is decided on F1: an arm helped when its mean F1 exceeds the baseline's by more than twice the standard
error of the difference of the two means over the seeds; it hurt when it falls short by as much.
"""

from __future__ import annotations

import html
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.diffusion.samplers import SAMPLERS
from galaxy_explorer.errors import GalaxyExplorerError
from galaxy_explorer.evaluation.classifier import predict_probability, to_classifier_space, train_classifier
from galaxy_explorer.json_output import json_safe, portable_name
from galaxy_explorer.options import option

OUTPUT_FILES = ("augment.json", "augment.html")
GENERATION_SEED_OFFSET = 1_000_000  # generated galaxy i uses seed + this + i: apart from evaluate's seeds


class AugmentationError(GalaxyExplorerError, ValueError):
    """Options, data or a checkpoint the augmentation experiment cannot use."""


# ---------------------------------------------------------------------------------------------- scores
def classification_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Completeness (recall), purity (precision) and F1 of the positive class; NaN where undefined."""
    truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    true_positive = float(np.sum(truth & predicted))
    completeness = true_positive / truth.sum() if truth.any() else float("nan")
    purity = true_positive / predicted.sum() if predicted.any() else float("nan")
    if np.isfinite(completeness) and np.isfinite(purity) and completeness + purity > 0:
        f1 = 2 * completeness * purity / (completeness + purity)
    else:
        f1 = 0.0 if truth.any() else float("nan")
    return {"completeness": float(completeness), "purity": float(purity), "f1": float(f1)}


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation over seeds (NaNs counted as missing)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return {"mean": float(finite.mean()) if finite.size else float("nan"),
            "std": float(finite.std(ddof=1)) if finite.size > 1 else float("nan"), "n": int(finite.size)}


def verdict(baseline: Sequence[float], arm: Sequence[float]) -> str:
    """'helped' / 'hurt' when the mean differs from the baseline's by more than 2 standard errors of the
    difference, else 'no clear change' (one seed: always 'no clear change')."""
    a, b = np.asarray(baseline, dtype=np.float64), np.asarray(arm, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return "no clear change"
    difference = b.mean() - a.mean()
    error = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    if error == 0:
        return "no clear change" if difference == 0 else ("helped" if difference > 0 else "hurt")
    return "helped" if difference > 2 * error else "hurt" if difference < -2 * error else "no clear change"


# ---------------------------------------------------------------------------------------------- configuration
def _as_tuple(values) -> tuple:
    return tuple(values)


@dataclass
class AugmentConfig:
    """The settings of the experiment; each field declared with ``option`` is an option of ``galaxy-explorer
    augment`` (``galaxy_explorer.commands.config_arguments``), besides --guidance, which it shares with other
    commands."""

    out: str = option(help="output folder for augment.html and augment.json")
    checkpoint: Optional[str] = option(  # None -> the shipped model (refused: it has no morphology condition)
        None, help="diffusion checkpoint conditioned on --label (default: the shipped assets/diffusion-small-morph)")
    data: Optional[str] = option(  # None -> the built-in synthetic survey's training split
        None, help="GalaxiesML-schema file with the label column (default: the built-in synthetic survey's training "
                   "split)")
    label: str = option("true_has_arms", help="label column defining the class (default: %(default)s)")
    class_min: float = option(0.5, value_type="finite_float",
                              help="a galaxy is in the class when label >= this (default: %(default)s)")
    z_min: float = option(1.0, value_type="non_negative_float",
                          help="redshift window, lower edge (default: %(default)s, where arms are rare)")
    z_max: float = option(math.inf, value_type="non_negative_float", help="redshift window, upper edge (default: none)")
    n_train: int = option(400, value_type="positive_int",
                          help="real training galaxies in the window (default: %(default)s, which leaves enough real "
                               "members for the 4x control)")
    n_test: int = option(800, value_type="positive_int",
                         help="held-out real test galaxies in the window (default: %(default)s)")
    factors: tuple = option((1.0, 2.0, 4.0), value_type="non_negative_float", nargs="+", metavar="F",
                            to_config=_as_tuple,
                            help="extra examples as multiples of the class's training count (default 1 2 4)")
    seeds: int = option(5, value_type="positive_int", help="classifier seeds (default: %(default)s)")
    seed: int = option(0, value_type="seed", help="splits the data and seeds the generated galaxies (0 to 2**63-1)")
    epochs: int = option(12, value_type="positive_int", help="classifier epochs (default: %(default)s)")
    sampler: str = option("dpmpp2m", choices=SAMPLERS, help="sampler (default: %(default)s)")
    steps: int = option(20, value_type="positive_int", metavar="N", help="sampler steps (default: %(default)s)")
    guidance: Optional[float] = None  # None: the checkpoint's default (--guidance: commands.arguments)
    device: str = option("cpu", help="torch device for generation (default: %(default)s)")
    batch_size: Optional[int] = option(  # galaxies per network call; None: 256 on CUDA, 8 on CPU
        None, value_type="positive_int", metavar="B",
        help="galaxies generated per network call (default: 256 on CUDA, 8 on CPU)")
    progress: bool = option(True, flag="--no-progress", action="store_false", dest="progress",
                            help="no progress bars")

    def check(self) -> None:
        """Everything that can be refused before reading a file."""
        def integer(value, name, low):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise AugmentationError(f"{name} must be an integer >= {low}, got {value!r}")
        integer(self.n_train, "--n-train", 2)
        integer(self.n_test, "--n-test", 2)
        integer(self.seeds, "--seeds", 1)
        integer(self.seed, "--seed", 0)
        integer(self.epochs, "--epochs", 1)
        integer(self.steps, "--steps", 1)
        if self.batch_size is not None:
            integer(self.batch_size, "--batch-size", 1)
        if not self.factors:
            raise AugmentationError("--factors needs at least one value")
        for factor in self.factors:
            if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
                raise AugmentationError(f"--factors: each factor must be a number > 0, got {factor!r}")
        if len(set(self.factors)) != len(self.factors):
            raise AugmentationError(f"--factors repeats a value: {list(self.factors)}")
        if not (math.isfinite(self.z_min) and self.z_min >= 0):
            raise AugmentationError(f"--z-min must be a finite number >= 0, got {self.z_min!r}")
        if not (self.z_max > self.z_min):
            raise AugmentationError(f"--z-max ({self.z_max}) must be above --z-min ({self.z_min})")
        if not math.isfinite(self.class_min):
            raise AugmentationError(f"--class-min must be a finite number, got {self.class_min!r}")
        if self.guidance is not None and not (math.isfinite(self.guidance) and self.guidance >= 0):
            raise AugmentationError(f"--guidance must be a finite number >= 0, got {self.guidance!r}")
        if not self.label:
            raise AugmentationError("--label must name a column of the survey file")


def check_checkpoint(generator, label: str) -> None:
    """The model must be conditioned on ``label``: otherwise it cannot be asked for the class."""
    if label not in generator.condition_names[1:]:
        raise AugmentationError(
            f"{generator.checkpoint_path}: not conditioned on {label!r} (its conditions: "
            f"{', '.join(generator.condition_names)}); train one with --condition {label}")


@dataclass
class Split:
    test: np.ndarray
    train: np.ndarray
    reserve: np.ndarray


def split_rows(window_rows: np.ndarray, n_train: int, n_test: int, seed: int) -> Split:
    """Shuffle the window's rows with ``seed``: test, then train, then the reserve."""
    if n_train + n_test > len(window_rows):
        raise AugmentationError(f"--n-train {n_train} + --n-test {n_test} = {n_train + n_test} galaxies needed in the "
                                f"redshift window, but it holds {len(window_rows)}")
    order = np.random.default_rng(seed).permutation(window_rows)
    return Split(order[:n_test], order[n_test:n_test + n_train], order[n_test + n_train:])


# ---------------------------------------------------------------------------------------------- the experiment
def _progress(enabled: bool, total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, disable=not enabled, leave=False)


def run_augmentation(config: AugmentConfig) -> dict:
    """Run the experiment and write ``augment.json`` and ``augment.html`` into ``config.out``; returns the JSON."""
    from galaxy_explorer.data.survey import builtin_survey_path

    config.check()
    started = time.perf_counter()
    out_dir = Path(config.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise AugmentationError(f"--out {out_dir} exists and is not a folder")
    generator = _load_generator(config)
    data_path = Path(config.data) if config.data else Path(builtin_survey_path("training"))
    draw = _draw_galaxies(config, generator, data_path)
    sets = ClassifierSets.of(draw, generator.normalization)
    read_seconds = time.perf_counter() - started

    tick = time.perf_counter()
    generated_x = to_classifier_space(_generate_pool(config, generator, draw), generator.normalization)
    generate_seconds = time.perf_counter() - tick

    tick = time.perf_counter()
    arms = experiment_arms(config.factors, draw.count, len(sets.reserve_x))
    runs = _train_arms(config, arms, sets, generated_x)
    train_seconds = time.perf_counter() - tick

    table = score_table(arms, runs)
    result = {
        "experiment": "augmentation of a rare class with generated galaxies (Ma et al. 2025)",
        "label": config.label, "class": f"{config.label} >= {config.class_min:g}",
        "redshift_window": [config.z_min, config.z_max],
        "counts": draw.counts(),
        "table": table, "runs": runs,
        "summary": experiment_summary(table, runs, draw.count),
        "reference": "Ma et al. 2025 (arXiv:2506.16233): completeness and purity up by up to 30%",
        "config": _config_record(config, generator, data_path, draw),
        "synthetic_data": bool("true_r_e_arcsec" in _columns(data_path)),
        "timings": {"read_s": read_seconds, "generate_s": generate_seconds, "train_s": train_seconds,
                    "total_s": time.perf_counter() - started},
    }
    safe = json_safe(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "augment.json") as tmp:
        tmp.write_text(json.dumps(safe, indent=2, allow_nan=False) + "\n")
    with atomic_path(out_dir / "augment.html") as tmp:
        tmp.write_text(render_html(safe), encoding="utf-8")
    return safe


def _load_generator(config: AugmentConfig):
    """The checkpoint's generator, refused when it is not conditioned on the label or cannot take the guidance."""
    from galaxy_explorer.diffusion.generator import Generator
    from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT

    checkpoint = Path(config.checkpoint) if config.checkpoint else DEFAULT_DIFFUSION_CHECKPOINT
    generator = Generator.load(checkpoint, device=config.device)
    check_checkpoint(generator, config.label)
    if config.guidance not in (None, 1.0) and not generator.supports_guidance:
        raise AugmentationError(f"{checkpoint}: trained without condition dropout, so --guidance {config.guidance} "
                                "cannot be used (only 1)")
    return generator


@dataclass
class GalaxyDraw:
    """What the experiment reads from the survey (step 1) and the donors the generated galaxies copy (step 2)."""

    window: np.ndarray  # rows inside the redshift window
    split: Split
    member: np.ndarray  # per survey row: in the class
    reserve_members: np.ndarray
    test_members: int
    count: int  # P: the class members in the training set
    donor_z: np.ndarray  # per generated galaxy: the redshift and label it is conditioned on
    donor_label: np.ndarray
    other: dict  # further conditions copied from the donors (a model without condition dropout)
    image_rows: np.ndarray  # sorted rows whose images are in ``images``
    images: np.ndarray

    def flux(self, rows: np.ndarray) -> np.ndarray:
        return self.images[np.searchsorted(self.image_rows, rows)]

    def counts(self) -> dict:
        return {"window": int(len(self.window)), "train": int(len(self.split.train)), "train_members": int(self.count),
                "test": int(len(self.split.test)), "test_members": self.test_members,
                "reserve_members": int(len(self.reserve_members)), "generated_pool": int(len(self.donor_z))}


def _draw_galaxies(config: AugmentConfig, generator, data_path: Path) -> GalaxyDraw:
    """Split the window's galaxies (test, train, reserve), check that both classes are there, draw the donors and
    read the images the classifiers need."""
    from galaxy_explorer.data.survey import Survey

    rng = np.random.default_rng(config.seed)
    with Survey(data_path) as survey:
        if config.label not in survey.columns:
            truth = [c for c in survey.columns if c.startswith("true_")]
            raise AugmentationError(f"{data_path}: no column {config.label!r} (truth columns here: "
                                    f"{', '.join(truth) or 'none'})")
        if tuple(survey.bands) != tuple(generator.bands):
            raise AugmentationError(f"{data_path}: bands {survey.bands} differ from the model's {generator.bands}")
        redshift_all = np.asarray(survey.redshift, dtype=np.float64)
        window = np.flatnonzero((redshift_all >= config.z_min) & (redshift_all < config.z_max))
        split = split_rows(window, int(config.n_train), int(config.n_test), int(config.seed))
        label_all = np.asarray(survey.column(config.label), dtype=np.float64)
        member = label_all >= config.class_min
        train_members = split.train[member[split.train]]
        test_members = int(member[split.test].sum())
        _check_both_classes(config, data_path, len(train_members), test_members, len(split.test))
        # Donors: the training members whose redshift and label (and other conditions, if needed) generated
        # galaxies copy.
        pool_size = int(round(max(config.factors) * len(train_members)))
        donors = rng.choice(train_members, size=pool_size, replace=True)
        other = _copied_conditions(config, generator, survey, data_path, donors)
        reserve_members = split.reserve[member[split.reserve]]
        image_rows = np.unique(np.concatenate([split.test, split.train, reserve_members]))
        images = _read_images(survey, image_rows)
    z_min_model, z_max_model = generator.condition_ranges["redshift"]
    lo, hi = generator.condition_ranges[config.label]
    return GalaxyDraw(window, split, member, reserve_members, test_members, len(train_members),
                      np.clip(redshift_all[donors], z_min_model, z_max_model), np.clip(label_all[donors], lo, hi),
                      other, image_rows, images)


def _check_both_classes(config: AugmentConfig, data_path: Path, train_members: int, test_members: int,
                        test_size: int) -> None:
    if train_members < 2:
        raise AugmentationError(f"{data_path}: only {train_members} galaxies of the training set have "
                                f"{config.label} >= {config.class_min} in {config.z_min} <= z < {config.z_max}; "
                                "use a larger --n-train or a wider window")
    if test_members < 2 or test_members == test_size:
        raise AugmentationError(f"{data_path}: the test set has {test_members} of {test_size} galaxies "
                                f"with {config.label} >= {config.class_min}; completeness and purity need both "
                                "classes: change --n-test or the window")


def _copied_conditions(config: AugmentConfig, generator, survey, data_path: Path, donors: np.ndarray) -> dict:
    """The conditions beyond redshift and the label that a model without condition dropout needs: the donors'."""
    other = {}
    for name in generator.condition_names[1:]:
        if name == config.label:
            continue
        if generator.supports_guidance:
            continue  # left free: the null embedding
        if name not in survey.columns:
            raise AugmentationError(f"{generator.checkpoint_path}: needs condition {name!r} (no condition dropout), "
                                    f"which {data_path} lacks")
        other[name] = np.asarray(survey.column(name), dtype=np.float64)[donors]
    return other


@dataclass
class ClassifierSets:
    """The real galaxies in the classifier's space: test set, training set (with 0/1 labels) and reserve members."""

    test_x: np.ndarray
    test_y: np.ndarray
    train_x: np.ndarray
    train_y: np.ndarray
    reserve_x: np.ndarray

    @classmethod
    def of(cls, draw: GalaxyDraw, normalization) -> "ClassifierSets":
        split = draw.split
        train_x = to_classifier_space(draw.flux(split.train), normalization)
        reserve_x = to_classifier_space(draw.flux(draw.reserve_members), normalization) \
            if len(draw.reserve_members) else np.zeros((0, *train_x.shape[1:]), np.float32)
        return cls(to_classifier_space(draw.flux(split.test), normalization), draw.member[split.test], train_x,
                   draw.member[split.train].astype(np.float32), reserve_x)


def generation_seeds(config: AugmentConfig, count: int) -> list[int]:
    return [int(config.seed) + GENERATION_SEED_OFFSET + i for i in range(count)]


def _generate_pool(config: AugmentConfig, generator, draw: GalaxyDraw) -> np.ndarray:
    """The pool of generated class members, made once (step 2), in survey flux."""
    pool_size = len(draw.donor_z)
    batch_size = config.batch_size or (256 if str(config.device).startswith("cuda") else 8)
    with _progress(config.progress, pool_size, f"generating {config.label} >= {config.class_min}") as bar:
        generated = generator.population(generation_seeds(config, pool_size), draw.donor_z, sampler=config.sampler,
                                         steps=int(config.steps), batch_size=int(batch_size),
                                         guidance_scale=config.guidance,
                                         progress=lambda done, total: bar.update(done - bar.n),
                                         **{config.label: draw.donor_label}, **draw.other)
    if not np.isfinite(generated).all():
        raise AugmentationError(f"{generator.checkpoint_path}: generated images contain NaN or inf; the checkpoint's "
                                "weights or the sampler settings are broken")
    return generated


def experiment_arms(factors: Sequence[float], count: int, reserve: int) -> list[tuple]:
    """(name, source, extra examples, factor) of each arm: the baseline, then per factor the generated arm and its
    real control (capped at the ``reserve`` real members there are)."""
    arms = [("real only", None, 0, None)]
    for factor in factors:
        k = int(round(factor * count))
        arms.append((f"+{factor:g}x generated", "generated", k, float(factor)))
        arms.append((f"+{factor:g}x real (control)", "real", min(k, reserve), float(factor)))
    return arms


def _train_arms(config: AugmentConfig, arms: list[tuple], sets: ClassifierSets,
                generated_x: np.ndarray) -> dict[str, list[dict]]:
    """Each arm's classifier trained once per seed (step 3): its test-set scores, per seed."""
    runs: dict[str, list[dict]] = {name: [] for name, *_ in arms}
    with _progress(config.progress, len(arms) * int(config.seeds), "training classifiers") as bar:
        for s in range(int(config.seeds)):
            seed_rng = np.random.default_rng([int(config.seed), s])
            for name, source, k, _ in arms:
                extra_x = np.zeros((0, *sets.train_x.shape[1:]), np.float32)
                if source == "generated":
                    extra_x = generated_x[seed_rng.choice(len(generated_x), size=k, replace=False)]
                elif source == "real" and k:
                    extra_x = sets.reserve_x[seed_rng.choice(len(sets.reserve_x), size=k, replace=False)]
                x = np.concatenate([sets.train_x, extra_x])
                y = np.concatenate([sets.train_y, np.ones(len(extra_x), np.float32)])
                model = train_classifier(x, y, seed=int(config.seed) * 1000 + s, epochs=int(config.epochs))
                scores = classification_scores(sets.test_y, predict_probability(model, sets.test_x) >= 0.5)
                runs[name].append({"seed": s, **scores})
                bar.update(1)
    return runs


def score_table(arms: list[tuple], runs: dict[str, list[dict]]) -> list[dict]:
    """One row per arm: each score's mean ± std over the seeds, its change against the baseline, the F1 verdict."""
    baseline = runs["real only"]
    table = []
    for name, source, k, factor in arms:
        row: dict[str, Any] = {"arm": name, "source": source or "none", "extra_examples": k, "factor": factor}
        for metric in ("completeness", "purity", "f1"):
            values = [r[metric] for r in runs[name]]
            row[metric] = summarize(values)
            base = summarize([r[metric] for r in baseline])["mean"]
            row[f"{metric}_relative_change"] = (row[metric]["mean"] / base - 1.0) if base and np.isfinite(base) \
                else float("nan")
        row["f1_verdict"] = "baseline" if source is None else verdict([r["f1"] for r in baseline],
                                                                        [r["f1"] for r in runs[name]])
        table.append(row)
    return table


def experiment_summary(table: list[dict], runs: dict[str, list[dict]], count: int) -> dict:
    """Did generated galaxies help, did they beat the real control, and where the reserve ran short."""
    generated_rows = [r for r in table if r["source"] == "generated"]
    helped = [r["arm"] for r in generated_rows if r["f1_verdict"] == "helped"]
    beat_control = []
    for row in generated_rows:
        control = next(r for r in table if r["source"] == "real" and r["factor"] == row["factor"])
        if control["extra_examples"] and verdict([r["f1"] for r in runs[control["arm"]]],
                                                 [r["f1"] for r in runs[row["arm"]]]) == "helped":
            beat_control.append(row["arm"])
    shortfall = [r["arm"] for r in table if r["source"] == "real" and r["extra_examples"] <
                 int(round(r["factor"] * count))]
    return {"augmentation_helped": bool(helped), "helped_arms": helped, "generated_beat_real_control": beat_control,
            "control_shortfall": shortfall, "statement": _statement(helped, beat_control, table)}


def _config_record(config: AugmentConfig, generator, data_path: Path, draw: GalaxyDraw) -> dict:
    seeds = generation_seeds(config, len(draw.donor_z))
    return {**{k: v for k, v in asdict(config).items() if k not in ("out", "progress")},
            "checkpoint": portable_name(generator.checkpoint_path),
            "data": portable_name(data_path, None if config.data else "training"),
            "conditions_left_free": [n for n in generator.condition_names[1:]
                                     if n != config.label and n not in draw.other],
            "generation_seeds": f"generated galaxy i uses seed {seeds[0] if seeds else '-'} + i",
            "classifier": "SmallClassifier (4 conv layers, global pooling, one logit), threshold 0.5",
            "verdict_rule": "F1 mean differs from the baseline's by > 2 standard errors of the difference"}


def _columns(path: Path) -> tuple:
    from galaxy_explorer.data.survey import Survey

    with Survey(path) as survey:
        return tuple(survey.columns)


def _read_images(survey, rows: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Images of sorted ``rows``, read in chunks."""
    parts = [np.asarray(survey.images(rows[i:i + chunk]), dtype=np.float32) for i in range(0, len(rows), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 5, 64, 64), np.float32)


def _statement(helped: list, beat_control: list, table: list) -> str:
    if not helped:
        return ("Augmentation with generated galaxies did not clearly improve F1 here (no arm beat the real-only "
                "baseline by more than 2 standard errors).")
    text = f"Augmentation helped F1 in: {', '.join(helped)}."
    if beat_control:
        text += f" Generated examples beat the same number of extra real ones in: {', '.join(beat_control)}."
    else:
        text += " It did not beat the control of the same number of extra real examples."
    return text


# ---------------------------------------------------------------------------------------------- the report
def _cell(summary: dict) -> str:
    mean, std = summary.get("mean"), summary.get("std")
    if mean is None:
        return "–"
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def _change(value) -> str:
    return "–" if value is None else f"{value:+.0%}"


def render_html(result: dict) -> str:
    """A self-contained page: the table of arms (mean ± std over seeds) and the verdict."""
    counts, config = result["counts"], result["config"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            row["arm"], row["extra_examples"], _cell(row["completeness"]), _change(row["completeness_relative_change"]),
            _cell(row["purity"]), _change(row["purity_relative_change"]), _cell(row["f1"]),
            _change(row["f1_relative_change"]), row["f1_verdict"])) + "</tr>"
        for row in result["table"])
    header = "".join(f"<th>{h}</th>" for h in ("training set", "extra examples", "completeness", "Δ", "purity", "Δ",
                                                "F1", "Δ", "F1 vs baseline"))
    z_low, z_high = result["redshift_window"]
    z_text = f"{z_low:g} ≤ z" + ("" if z_high is None else f" < {z_high:g}")
    synthetic = ("<p class='note'>The survey is the built-in SYNTHETIC one (simulated galaxies with known truth): the "
                 "class labels are exact.</p>" if result.get("synthetic_data") else "")
    return f"""<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Galaxy Explorer augmentation</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
th {{ background: #f4f4f4; }} td:first-child {{ text-align: left; }}
.note {{ background: #fff4e5; border-left: 4px solid #e66100; padding: 0.6em 1em; }}</style></head><body>
<h1>Augmentation experiment: {html.escape(result['class'])}, {html.escape(z_text)}</h1>{synthetic}
<p>{html.escape(result['summary']['statement'])}</p>
<p>Training set: {counts['train']} survey galaxies, {counts['train_members']} of them in the class; held-out test set:
{counts['test']} galaxies, {counts['test_members']} in the class; {counts['reserve_members']} further real members in
reserve for the control. Each row: a small CNN trained {config['seeds']} times (seeds), mean ± standard deviation of
the scores on the test set; Δ: change of the mean against the real-only baseline. Generated examples come from
{html.escape(str(config['checkpoint']))} ({html.escape(config['sampler'])}, {config['steps']} steps), conditioned on
the redshift and {html.escape(result['label'])} of random training members
(left free: {html.escape(', '.join(config['conditions_left_free']) or 'none')}).</p>
<table><tr>{header}</tr>{rows}</table>
<p>Rule: {html.escape(config['verdict_rule'])}. Control rows add the same number of extra <em>real</em> members
(fewer where the reserve runs short: {html.escape(', '.join(result['summary']['control_shortfall']) or 'none')}).</p>
<p>Reference: {html.escape(result['reference'])}.</p>
</body></html>
"""
