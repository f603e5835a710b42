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
3. for each of ``seeds`` classifier seeds, a small CNN (``SmallClassifier``) is trained on
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
import torch
from torch import nn

from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.errors import GalaxyExplorerError

OUTPUT_FILES = ("augment.json", "augment.html")
GENERATION_SEED_OFFSET = 1_000_000  # generated galaxy i uses seed + this + i: apart from evaluate's seeds


class AugmentationError(GalaxyExplorerError, ValueError):
    """Options, data or a checkpoint the augmentation experiment cannot use."""


# ---------------------------------------------------------------------------------------------- the classifier
class SmallClassifier(nn.Module):
    """A CPU-friendly CNN for one yes/no label of 5-band stamps in model space: three strided convolutions
    (32 -> 16 -> 8 -> 4 pixels on the central crop), one more convolution, global average pooling and one logit;
    ~50k parameters, ~2-3 ms an image an epoch on two CPU cores."""

    def __init__(self, bands: int = 5, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(bands, width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(4 * width, 4 * width, 3, padding=1), nn.GELU(),
        )
        self.head = nn.Linear(4 * width, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).mean(dim=(2, 3))).squeeze(1)


def _random_dihedral(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each stamp flipped and rotated by a multiple of 90 degrees at random (a galaxy's class does not change)."""
    flips = torch.rand(batch.shape[0], generator=generator) < 0.5
    batch = torch.where(flips[:, None, None, None], batch.flip(-1), batch)
    turns = int(torch.randint(0, 4, (1,), generator=generator))
    return torch.rot90(batch, turns, dims=(-2, -1))


def train_classifier(images: np.ndarray, labels: np.ndarray, *, seed: int, epochs: int = 12, batch_size: int = 64,
                     lr: float = 3e-3, width: int = 16) -> SmallClassifier:
    """Train ``SmallClassifier`` on model-space stamps ``images`` (n,5,H,W) and 0/1 ``labels``; deterministic for a
    seed (CPU). Binary cross-entropy, AdamW, random flips and 90-degree rotations."""
    images = torch.as_tensor(np.asarray(images, dtype=np.float32))
    labels = torch.as_tensor(np.asarray(labels, dtype=np.float32))
    if images.ndim != 4 or len(images) != len(labels) or len(images) == 0:
        raise AugmentationError(f"classifier training needs (n,bands,H,W) images and n labels, got "
                                f"{tuple(images.shape)} and {tuple(labels.shape)}")
    generator = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = SmallClassifier(images.shape[1], width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_function = nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(int(epochs)):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), batch_size):
            index = order[start:start + batch_size]
            loss = loss_function(model(_random_dihedral(images[index], generator)), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return model


@torch.no_grad()
def predict_probability(model: SmallClassifier, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The classifier's probability of the class for each model-space stamp."""
    images = np.asarray(images, dtype=np.float32)
    out = [torch.sigmoid(model(torch.from_numpy(images[i:i + batch_size]))).numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


CLASSIFIER_CROP = 32  # pixels: the central 32 x 32 (5.4 arcsec) of a stamp, where the galaxy is; 4x cheaper


def to_classifier_space(images: np.ndarray, normalization, crop: int = CLASSIFIER_CROP) -> np.ndarray:
    """Survey flux -> the central ``crop`` x ``crop`` pixels in the checkpoint's model space (asinh per band,
    clipped at -1), bounded above at 10 so that an untrained model's extreme pixels cannot dominate."""
    images = np.asarray(images, dtype=np.float32)
    height, width = images.shape[-2:]
    top, left = max((height - crop) // 2, 0), max((width - crop) // 2, 0)
    images = images[..., top:top + crop, left:left + crop]
    return np.clip(normalization.to_model(images), -1.0, 10.0).astype(np.float32)


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
@dataclass
class AugmentConfig:
    out: str
    checkpoint: Optional[str] = None  # None -> the shipped model (refused: it has no morphology condition)
    data: Optional[str] = None  # None -> the built-in synthetic survey's training split
    label: str = "true_has_arms"
    class_min: float = 0.5  # a galaxy is in the class when label >= class_min
    z_min: float = 1.0
    z_max: float = math.inf
    n_train: int = 400
    n_test: int = 800
    factors: tuple = (1, 2, 4)
    seeds: int = 5
    seed: int = 0
    epochs: int = 12
    sampler: str = "dpmpp2m"
    steps: int = 20
    guidance: Optional[float] = None  # None: the checkpoint's default
    device: str = "cpu"
    batch_size: Optional[int] = None  # galaxies per network call; None: 256 on CUDA, 8 on CPU
    progress: bool = True

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
    from galaxy_explorer.diffusion.generator import Generator
    from galaxy_explorer.evaluation.pipeline import json_safe, portable_name
    from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT
    from galaxy_explorer.data.survey import Survey, builtin_survey_path

    config.check()
    started = time.perf_counter()
    out_dir = Path(config.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise AugmentationError(f"--out {out_dir} exists and is not a folder")
    checkpoint = Path(config.checkpoint) if config.checkpoint else DEFAULT_DIFFUSION_CHECKPOINT
    generator = Generator.load(checkpoint, device=config.device)
    check_checkpoint(generator, config.label)
    if config.guidance not in (None, 1.0) and not generator.supports_guidance:
        raise AugmentationError(f"{checkpoint}: trained without condition dropout, so --guidance {config.guidance} "
                                "cannot be used (only 1)")
    data_path = Path(config.data) if config.data else Path(builtin_survey_path("training"))
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
        if len(train_members) < 2:
            raise AugmentationError(f"{data_path}: only {len(train_members)} galaxies of the training set have "
                                    f"{config.label} >= {config.class_min} in {config.z_min} <= z < {config.z_max}; "
                                    "use a larger --n-train or a wider window")
        if test_members < 2 or test_members == len(split.test):
            raise AugmentationError(f"{data_path}: the test set has {test_members} of {len(split.test)} galaxies "
                                    f"with {config.label} >= {config.class_min}; completeness and purity need both "
                                    "classes: change --n-test or the window")
        # Donors: the training members whose redshift and label (and other conditions, if needed) generated
        # galaxies copy.
        count = len(train_members)
        pool_size = int(round(max(config.factors) * count))
        donors = rng.choice(train_members, size=pool_size, replace=True)
        other = {}
        for name in generator.condition_names[1:]:
            if name == config.label:
                continue
            if generator.supports_guidance:
                continue  # left free: the null embedding
            if name not in survey.columns:
                raise AugmentationError(f"{checkpoint}: needs condition {name!r} (no condition dropout), which "
                                        f"{data_path} lacks")
            other[name] = np.asarray(survey.column(name), dtype=np.float64)[donors]
        reserve_members = split.reserve[member[split.reserve]]
        needed_rows = np.unique(np.concatenate([split.test, split.train, reserve_members]))
        images = _read_images(survey, needed_rows)
        z_min_model, z_max_model = generator.condition_ranges["redshift"]
        donor_z = np.clip(redshift_all[donors], z_min_model, z_max_model)
        lo, hi = generator.condition_ranges[config.label]
        donor_label = np.clip(label_all[donors], lo, hi)

    def flux_rows(rows):
        return images[np.searchsorted(needed_rows, rows)]

    normalization = generator.normalization
    test_x = to_classifier_space(flux_rows(split.test), normalization)
    test_y = member[split.test]
    train_x = to_classifier_space(flux_rows(split.train), normalization)
    train_y = member[split.train].astype(np.float32)
    reserve_x = to_classifier_space(flux_rows(reserve_members), normalization) if len(reserve_members) else \
        np.zeros((0, *train_x.shape[1:]), np.float32)
    read_seconds = time.perf_counter() - started

    # -- generate the pool once
    tick = time.perf_counter()
    seeds = [int(config.seed) + GENERATION_SEED_OFFSET + i for i in range(pool_size)]
    batch_size = config.batch_size or (256 if str(config.device).startswith("cuda") else 8)
    with _progress(config.progress, pool_size, f"generating {config.label} >= {config.class_min}") as bar:
        generated = generator.population(seeds, donor_z, sampler=config.sampler, steps=int(config.steps),
                                         batch_size=int(batch_size), guidance_scale=config.guidance,
                                         progress=lambda done, total: bar.update(done - bar.n),
                                         **{config.label: donor_label}, **other)
    if not np.isfinite(generated).all():
        raise AugmentationError(f"{checkpoint}: generated images contain NaN or inf; the checkpoint's weights or the "
                                "sampler settings are broken")
    generated_x = to_classifier_space(generated, normalization)
    generate_seconds = time.perf_counter() - tick

    # -- the arms of the experiment, each over the seeds
    arms = [("real only", None, 0, None)]
    for factor in config.factors:
        k = int(round(factor * count))
        arms.append((f"+{factor:g}x generated", "generated", k, float(factor)))
        arms.append((f"+{factor:g}x real (control)", "real", min(k, len(reserve_x)), float(factor)))
    runs: dict[str, list[dict]] = {name: [] for name, *_ in arms}
    tick = time.perf_counter()
    with _progress(config.progress, len(arms) * int(config.seeds), "training classifiers") as bar:
        for s in range(int(config.seeds)):
            seed_rng = np.random.default_rng([int(config.seed), s])
            for name, source, k, _ in arms:
                extra_x = np.zeros((0, *train_x.shape[1:]), np.float32)
                if source == "generated":
                    extra_x = generated_x[seed_rng.choice(len(generated_x), size=k, replace=False)]
                elif source == "real" and k:
                    extra_x = reserve_x[seed_rng.choice(len(reserve_x), size=k, replace=False)]
                x = np.concatenate([train_x, extra_x])
                y = np.concatenate([train_y, np.ones(len(extra_x), np.float32)])
                model = train_classifier(x, y, seed=int(config.seed) * 1000 + s, epochs=int(config.epochs))
                scores = classification_scores(test_y, predict_probability(model, test_x) >= 0.5)
                runs[name].append({"seed": s, **scores})
                bar.update(1)
    train_seconds = time.perf_counter() - tick

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
    result = {
        "experiment": "augmentation of a rare class with generated galaxies (Ma et al. 2025)",
        "label": config.label, "class": f"{config.label} >= {config.class_min:g}",
        "redshift_window": [config.z_min, config.z_max],
        "counts": {"window": int(len(window)), "train": int(len(split.train)), "train_members": int(count),
                   "test": int(len(split.test)), "test_members": test_members,
                   "reserve_members": int(len(reserve_members)), "generated_pool": pool_size},
        "table": table, "runs": runs,
        "summary": {"augmentation_helped": bool(helped), "helped_arms": helped,
                    "generated_beat_real_control": beat_control, "control_shortfall": shortfall,
                    "statement": _statement(helped, beat_control, table)},
        "reference": "Ma et al. 2025 (arXiv:2506.16233): completeness and purity up by up to 30%",
        "config": {**{k: v for k, v in asdict(config).items() if k not in ("out", "progress")},
                   "checkpoint": portable_name(generator.checkpoint_path),
                   "data": portable_name(data_path, None if config.data else "training"),
                   "conditions_left_free": [n for n in generator.condition_names[1:]
                                            if n != config.label and n not in other],
                   "generation_seeds": f"generated galaxy i uses seed {seeds[0] if seeds else '-'} + i",
                   "classifier": "SmallClassifier (4 conv layers, global pooling, one logit), threshold 0.5",
                   "verdict_rule": "F1 mean differs from the baseline's by > 2 standard errors of the difference"},
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
