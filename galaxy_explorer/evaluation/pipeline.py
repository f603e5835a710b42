"""``galaxy-explorer evaluate``: generate galaxies at the test split's redshifts and compare them with the real ones.

Steps, each visible on a progress bar:
1. choose N real galaxies of the test file at random (``seed``) and read their images and redshifts;
2. generate galaxy i at the redshift of real galaxy i from seed ``seed + i`` (so every galaxy has its own noise,
   and the whole run is reproducible);
3. measure real and generated images with one morphology pipeline (:func:`galaxy_explorer.measure.morphology.measure`),
   and predict their redshifts with one CNN (:class:`galaxy_explorer.measure.redshift_predictor.RedshiftPredictor`);
4. compare: photo-z metrics, per-bin means with 95% intervals, KS and Wasserstein distances, the size-redshift
   relation (built-in synthetic survey: against the known truth), and the quality checks (``checks``), each
   calibrated real vs real on a second, disjoint set of N test galaxies that is measured alike; the check of the
   ends of the redshift range takes every test galaxy at z < 0.1 and 2.5 < z < 3.5 and generates
   ``range_ends.GENERATED_PER_GALAXY`` galaxies at each one's redshift;
   with a guidance sweep, steps 2-4 run once per guidance scale and the report shows the best scale;
5. write ``report.html`` (self-contained) and ``metrics.json`` into the output folder, atomically.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from galaxy_explorer.measure import morphology
from galaxy_explorer.atomic import atomic_path
from galaxy_explorer.measure.photoz_metrics import BIN_WIDTH, photoz_metrics, redshift_bin_edges
from galaxy_explorer.evaluation import checks, diagnostics, figures, range_ends
from galaxy_explorer.evaluation import statistics as st
from galaxy_explorer.evaluation.config import EvaluationConfig, EvaluationError
from galaxy_explorer.json_output import json_safe, portable_name

COMPARED_METRICS_FAST = ("ellipticity", "semi_major_axis", "semi_minor_axis", "isophotal_area",
                         "half_light_radius", "ellipticity_psf_corrected", "half_light_radius_psf_corrected")
COMPARED_METRICS_FULL = COMPARED_METRICS_FAST + ("sersic_index", "sersic_half_light_radius", "sersic_ellipticity",
                                                 "gini", "m20", "concentration", "asymmetry")
PLOTTED_METRICS_FAST = ("ellipticity", "semi_major_axis", "isophotal_area", "half_light_radius")
PLOTTED_METRICS_FULL = ("ellipticity", "semi_major_axis", "sersic_index", "isophotal_area", "half_light_radius",
                        "concentration")
# The morphology metrics of the binned-means check.
QUALITY_METRICS = ("ellipticity", "semi_major_axis", "isophotal_area", "half_light_radius")
UNITS = {
    "ellipticity": "1 - b/a", "ellipticity_psf_corrected": "1 - b/a", "sersic_ellipticity": "1 - b/a",
    "semi_major_axis": "pixels", "semi_minor_axis": "pixels", "half_light_radius": "pixels",
    "half_light_radius_psf_corrected": "pixels", "sersic_half_light_radius": "pixels (semi-major)",
    "isophotal_area": "pixels²", "sersic_index": "n", "gini": "Gini", "m20": "M20",
    "concentration": "C", "asymmetry": "A",
}

# The size-redshift relation against the synthetic survey's truth (a figure and a table; the judged checks are in
# ``checks``, against the survey's own images).
QUALITY_SIZE_Z_RANGE = (0.1, 2.0)
MIN_GALAXIES_PER_SIZE_BIN = 10  # a median of fewer scatters by >~15% (0.2-0.3 dex size scatter): reported, not judged
GRID_COLUMNS = 8

SYNTHETIC_NOTE = ("The data are the built-in SYNTHETIC survey (simulated HSC-like galaxies with known physics), "
                  "not real observations; 'real' below means 'from the survey file'.")


# ---------------------------------------------------------------------------------------------- helpers
def _progress_bar(enabled: bool, total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="galaxy", disable=not enabled, leave=False)


def _bar_callback(bar):
    def update(done: int, total: int) -> None:
        bar.update(done - bar.n)
    return update


def is_builtin_synthetic(survey, data_path: Path) -> bool:
    """Built-in survey split, or a mock written with its truth columns (same population and true relations)."""
    from galaxy_explorer.data.survey import builtin_survey_path

    if getattr(survey, "synthetic", False) or "true_r_e_arcsec" in survey.columns:
        return True
    try:
        return any(data_path.resolve() == Path(builtin_survey_path(split)).resolve()
                   for split in ("training", "validation", "testing"))
    except Exception:  # noqa: BLE001 - deciding a label must not break the run
        return False


def choose_rows(n_rows: int, n: int, seed: int) -> np.ndarray:
    """``n`` distinct rows drawn at random with ``seed``, in file order (reads are faster in order)."""
    if n > n_rows:
        raise EvaluationError(f"--n {n} is more than the {n_rows} galaxies in the data file")
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=n, replace=False))


def size_estimate_arcsec(measured: dict, mode: str, pixel_scale: float) -> np.ndarray:
    """An intrinsic semi-major-axis half-light radius, in arcsec, from the morphology measurements.

    full: the PSF-convolved Sérsic fit's r_e. fast: the PSF-corrected circular half-light radius divided by
    sqrt(b/a) (a circle holding half the light of an ellipse has radius ~ sqrt(a b)).
    """
    if mode == "full":
        return measured["sersic_half_light_radius"] * pixel_scale
    ellipticity = np.where(np.isfinite(measured["ellipticity_psf_corrected"]),
                           measured["ellipticity_psf_corrected"], measured["ellipticity"])
    with np.errstate(invalid="ignore", divide="ignore"):
        return measured["half_light_radius_psf_corrected"] / np.sqrt(1.0 - np.clip(ellipticity, 0, 0.95)) \
            * pixel_scale


def size_redshift_relation(real_size, generated_size, redshift, true_size_function, catalogue_truth=None) -> dict:
    """Median size per bin for real and generated galaxies against the true median relation, 0.1 < z < 2.

    The maximum deviation counts bins with at least ``MIN_GALAXIES_PER_SIZE_BIN`` measured galaxies.

    The true median changes fast with z inside a bin at low z, so each galaxy's size is first divided by the true
    median *at its own redshift*; a bin's relative deviation is the median of those ratios minus 1, and its
    recovered median size is that ratio times the true median at the bin's median redshift.
    """
    low, high = QUALITY_SIZE_Z_RANGE
    edges = np.unique(np.clip(np.append(np.arange(0.0, high + 1e-9, BIN_WIDTH), [low]), low, high))
    truth_per_galaxy = np.asarray(true_size_function(redshift), dtype=np.float64)
    out: dict[str, Any] = {"z_range": [low, high], "edges": edges}
    samples = {"real": real_size, "generated": generated_size}
    if catalogue_truth is not None:
        samples["catalogue_truth"] = catalogue_truth
    for key, values in samples.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.asarray(values, dtype=np.float64) / truth_per_galaxy
        rows = []
        for (z_low, z_high), mask in zip(zip(edges[:-1], edges[1:]), st.bin_masks(redshift, edges)):
            inside = ratio[mask]
            ok = np.isfinite(inside)
            z_median = float(np.median(redshift[mask])) if mask.any() else float((z_low + z_high) / 2)
            truth = float(np.asarray(true_size_function(np.array([z_median])))[0])
            median_ratio = float(np.median(inside[ok])) if ok.any() else float("nan")
            rows.append({"z_low": float(z_low), "z_high": float(z_high), "z_median": z_median, "n": int(ok.sum()),
                         "true_median": truth, "median": median_ratio * truth,
                         "relative_deviation": median_ratio - 1.0})
        out[key] = rows
    curve_z = np.linspace(0.02, max(high, float(np.nanmax(redshift)) if len(redshift) else high), 80)
    out["true_curve"] = {"redshift": curve_z, "median_size_arcsec": np.asarray(true_size_function(curve_z))}
    out["min_galaxies_per_bin"] = MIN_GALAXIES_PER_SIZE_BIN
    for key in samples:
        deviations = [abs(r["relative_deviation"]) for r in out[key]
                      if np.isfinite(r["relative_deviation"]) and r["n"] >= MIN_GALAXIES_PER_SIZE_BIN]
        out[f"max_relative_deviation_{key}"] = max(deviations) if deviations else float("nan")
    return out


# ---------------------------------------------------------------------------------------------- main entry
@dataclass
class MeasuredSet:
    """Images of one set of galaxies with everything the report reads from them (one pipeline for all sets)."""

    images: np.ndarray
    redshift: np.ndarray  # spectroscopic (real) or conditioning (generated)
    morphology: dict
    colours: dict
    predicted_redshift: np.ndarray
    grain: np.ndarray  # per-galaxy grain sums in the detection band (diagnostics.grain_sums, checks.GRAIN_LEVELS)

    def population(self, mode: str) -> checks.Population:
        size = size_estimate_arcsec(self.morphology, mode, morphology.PIXEL_SCALE_ARCSEC)
        return checks.Population(self.redshift, {name: self.morphology[name] for name in QUALITY_METRICS}, size,
                                 self.colours, self.predicted_redshift, self.grain)


def choose_halves(n_rows: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random sets of ``n`` rows, each in file order: the reference the generated galaxies are
    conditioned on and compared with, and the second real set that calibrates every check (real vs real)."""
    if 2 * n > n_rows:
        raise EvaluationError(f"--n {n} needs {2 * n} galaxies ({n} to compare with, {n} more for the real-vs-real "
                              f"calibration), but the data file has {n_rows}; use --n {n_rows // 2} or fewer")
    rows = np.random.default_rng(seed).choice(n_rows, size=2 * n, replace=False)
    return np.sort(rows[:n]), np.sort(rows[n:])


def _morphology(config: EvaluationConfig, images: np.ndarray, label: str, bands, psf: tuple) -> dict:
    with _progress_bar(config.progress, len(images), f"morphology ({label}, {config.mode})") as bar:
        return morphology.measure(images, mode=config.mode, detection_band=config.detection_band,
                                  workers=int(config.workers), bands=tuple(bands), psf_fwhm_arcsec=psf[0],
                                  psf_moffat_beta=psf[1], progress=_bar_callback(bar))


def _measure(config: EvaluationConfig, images: np.ndarray, redshift: np.ndarray, label: str, predictor, bands,
             psf: tuple, sky: float) -> MeasuredSet:
    """One pipeline for every set; ``sky``: the survey's sky sigma in the detection band (the grain's unit)."""
    from galaxy_explorer.measure.photometry import colours

    measured = _morphology(config, images, label, bands, psf)
    grain = diagnostics.grain_sums(images[:, tuple(bands).index(config.detection_band)], sky, checks.GRAIN_LEVELS)
    return MeasuredSet(images, redshift, measured, colours(images, bands), predictor.predict(images), grain)


def _measure_ends(config: EvaluationConfig, images: np.ndarray, redshift: np.ndarray, label: str, bands,
                  psf: tuple) -> range_ends.EndSample:
    """Size and central concentration of end-of-range galaxies, by the same pipeline as the other sets."""
    measured = _morphology(config, images, label, bands, psf)
    size = size_estimate_arcsec(measured, config.mode, morphology.PIXEL_SCALE_ARCSEC)
    concentration = range_ends.central_concentration(images, tuple(bands).index(config.detection_band))
    return range_ends.EndSample(np.asarray(redshift, dtype=np.float64), size, concentration)


def generation_batch_size(config: EvaluationConfig) -> int:
    """``config.batch_size``, or what suits the device: 256 galaxies a network call on a GPU, 8 on a CPU (where
    batching barely helps and a smaller batch keeps memory low)."""
    if config.batch_size is not None:
        return int(config.batch_size)
    return 256 if str(config.device).startswith("cuda") else 8


def _generate(config: EvaluationConfig, generator, redshift: np.ndarray, other_conditions: dict,
              guidance_scale, first_seed: int | None = None) -> np.ndarray:
    """Galaxy i at ``redshift[i]`` from seed ``first_seed + i`` (default ``config.seed``),
    ``generation_batch_size`` galaxies a network call (the same galaxies as one at a time, up to float rounding)."""
    label = "generating" + ("" if guidance_scale is None else f" (guidance {guidance_scale:g})")
    first_seed = int(config.seed) if first_seed is None else int(first_seed)
    seeds = [first_seed + i for i in range(len(redshift))]
    with _progress_bar(config.progress, len(redshift), label) as bar:
        images = generator.population(seeds, redshift, sampler=config.sampler, steps=int(config.steps),
                                      batch_size=generation_batch_size(config), progress=_bar_callback(bar),
                                      guidance_scale=guidance_scale, guided=config.guided,
                                      denoise_step=config.denoise_step, **other_conditions)
    if not np.isfinite(images).all():
        raise EvaluationError(f"{generator.checkpoint_path}: generated images contain NaN or inf (guidance "
                              f"{guidance_scale}); the checkpoint's weights or the sampler settings are broken")
    return images


def record_default_guidance(checkpoint: Path, scale: float, evidence: dict, guided: tuple | None = None) -> None:
    """Write ``scale`` into the checkpoint as its default guidance (``sampling.guidance_scale``), and ``guided``
    (the conditions it pushes towards; None: all) as ``sampling.guided_conditions``, with the evidence that chose
    them; weights and description are rewritten together in one atomic rename."""
    from galaxy_explorer.data.checkpoint import load_checkpoint, save_checkpoint

    tensors, metadata = load_checkpoint(checkpoint)
    metadata = {k: v for k, v in metadata.items() if k not in ("format", "format_version")}
    metadata["sampling"] = {"guidance_scale": float(scale), "chosen_by": evidence}
    if guided is not None:
        metadata["sampling"]["guided_conditions"] = list(guided)
    save_checkpoint(checkpoint, tensors, metadata)


def choose_guidance(sweep: list[dict]) -> dict:
    """The sweep entry with the fewest failed checks, then the lowest total badness, then the smallest scale."""
    return min(sweep, key=lambda entry: (entry["failed_checks"], entry["score"], entry["guidance_scale"]))


@dataclass
class Reference:
    """The survey galaxies of one evaluation: the reference half (generated galaxies are conditioned on it and
    compared with it) and the calibration half (real vs real), read once."""

    data_path: Path
    rows: np.ndarray
    other_rows: np.ndarray
    redshift: np.ndarray
    other_redshift: np.ndarray
    images: np.ndarray
    other_images: np.ndarray
    synthetic: bool
    other_conditions: dict  # the reference rows' further conditions (none when they are left free)
    catalogue_truth: np.ndarray | None  # the synthetic survey's true sizes of the reference rows
    ends: dict  # every row at the ends of the redshift range: rows, redshift, images, conditions (range_ends)

    def ends_to_generate(self) -> tuple[np.ndarray, dict]:
        """Redshifts and further conditions of the end-of-range galaxies to generate: each survey galaxy's,
        ``range_ends.GENERATED_PER_GALAXY`` times in a row."""
        repeat = range_ends.GENERATED_PER_GALAXY
        return (np.repeat(self.ends["redshift"], repeat),
                {name: np.repeat(values, repeat) for name, values in self.ends["conditions"].items()})


def run_evaluation(config: EvaluationConfig) -> dict:
    """Run everything and write ``report.html`` and ``metrics.json`` into ``config.out``; returns the metrics."""
    from galaxy_explorer.data.survey import builtin_survey_path

    config.check()
    if config.threads is not None:
        import torch

        torch.set_num_threads(int(config.threads))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    out_dir = Path(config.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise EvaluationError(f"--out {out_dir} exists and is not a folder")

    generator, predictor, redshift_checkpoint = _load_models(config)
    data_path = Path(config.data) if config.data else Path(builtin_survey_path("testing"))
    reference = _read_reference(config, generator, data_path)
    timings["read_data_s"] = time.perf_counter() - started

    psf = _psf_for(config.detection_band, reference.synthetic)
    sky = survey_sky_sigma(reference.images, tuple(generator.bands), config.detection_band)
    tick = time.perf_counter()
    real = _measure(config, reference.images, reference.redshift, "real", predictor, generator.bands, psf, sky)
    other_real = _measure(config, reference.other_images, reference.other_redshift, "real, calibration half",
                          predictor, generator.bands, psf, sky)
    real_ends = _measure_ends(config, reference.ends["images"], reference.ends["redshift"], "real, range ends",
                              generator.bands, psf) if config.range_ends else None
    timings["measure_real_s"] = time.perf_counter() - tick

    sweep, generated_sets = _guidance_sweep(config, generator, predictor, reference, (real, other_real, real_ends),
                                            psf, sky)
    chosen = choose_guidance(sweep)
    generated = generated_sets[chosen["guidance_scale"]]
    if config.write_guidance:
        record_default_guidance(generator.checkpoint_path, chosen["guidance_scale"], {
            "command": "galaxy-explorer evaluate", "n": int(config.n), "seed": int(config.seed),
            "mode": config.mode, "sweep": {str(e["guidance_scale"]): e["failed_checks"] for e in sweep},
            "rule": "fewest failed checks, then the lowest total badness"}, config.guided)
    timings["generate_and_measure_s"] = float(sum(entry["seconds"] for entry in sweep))

    measured = {"real": real.morphology, "generated": generated.morphology}
    predicted = {"real": real.predicted_redshift, "generated": generated.predicted_redshift}
    metrics = _all_checks(config, generator, reference, (real, generated, other_real), chosen, timings)
    metrics["guidance"] = _guidance_record(config, generator, chosen, sweep)
    metrics["config"] = _config_record(config, generator, reference, redshift_checkpoint, psf)
    metrics["checkpoint_metadata"] = {
        "diffusion": {k: generator.metadata.get(k) for k in ("preset", "data", "training") if k in generator.metadata},
        "redshift_cnn": {k: predictor.metadata.get(k) for k in ("data", "training") if k in predictor.metadata},
    }
    metrics["synthetic_data"] = reference.synthetic
    metrics["note"] = SYNTHETIC_NOTE if reference.synthetic else "Survey data from " + metrics["config"]["data"]
    real_galaxy_figures = _real_galaxies(config, reference.synthetic, metrics)
    timings["total_s"] = time.perf_counter() - started
    metrics["timings"] = timings
    return _write_outputs(out_dir, metrics, measured, predicted, reference, generated, tuple(generator.bands),
                          config.mode, real_galaxy_figures)


def _real_galaxies(config: EvaluationConfig, synthetic: bool, metrics: dict) -> dict:
    """Adds ``real_galaxies`` to the metrics when evaluating on the built-in survey (the comparison is of that
    survey with real galaxies, so it says nothing about a user's own data); returns its figures."""
    if not synthetic:
        return {}
    from galaxy_explorer.evaluation.real_galaxies import for_report

    result, figures = for_report(config.real_galaxies)
    if result is not None:
        metrics["real_galaxies"] = result
    return figures


def _load_models(config: EvaluationConfig):
    """The generator and the redshift CNN (and the CNN's checkpoint path), refused where the model cannot do what
    the options ask (labels left free, guided conditions, a guidance sweep)."""
    from galaxy_explorer.diffusion.generator import Generator
    from galaxy_explorer.measure.redshift_predictor import RedshiftPredictor
    from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT, DEFAULT_REDSHIFT_CHECKPOINT

    checkpoint = Path(config.checkpoint) if config.checkpoint else DEFAULT_DIFFUSION_CHECKPOINT
    redshift_checkpoint = Path(config.redshift_checkpoint) if config.redshift_checkpoint else \
        DEFAULT_REDSHIFT_CHECKPOINT
    generator = Generator.load(checkpoint, device=config.device)
    predictor = RedshiftPredictor.load(redshift_checkpoint, device=config.device)
    if config.labels_free and len(generator.condition_names) > 1 and not generator.supports_guidance:
        raise EvaluationError(f"{checkpoint}: trained without condition dropout, so its conditions beyond redshift "
                              f"({', '.join(generator.condition_names[1:])}) cannot be left free")
    unknown = [name for name in config.guided or () if name not in generator.condition_names]
    if unknown:
        raise EvaluationError(f"{checkpoint}: guided condition {unknown[0]!r} is not one of the model's conditions "
                              f"{list(generator.condition_names)}")
    if generator.supports_guidance is False and any(g not in (None, 1.0) for g in config.guidance_scales or ()):
        raise EvaluationError(f"{checkpoint}: trained without condition dropout, so guidance scales other than 1 "
                              f"cannot be swept (asked for {list(config.guidance_scales)})")
    return generator, predictor, redshift_checkpoint


def _read_reference(config: EvaluationConfig, generator, data_path: Path) -> Reference:
    """Both halves of survey galaxies (step 1), checked against the model's bands and image shape."""
    from galaxy_explorer.data.survey import Survey

    with Survey(data_path) as survey:
        if tuple(survey.bands) != tuple(generator.bands):
            raise EvaluationError(f"{data_path}: bands {survey.bands} differ from the model's {generator.bands}")
        rows, other_rows = choose_halves(len(survey), int(config.n), int(config.seed))
        conditions = [name for name in generator.condition_names[1:]
                      if name in survey.columns and not config.labels_free]
        end_rows = range_ends.end_rows(np.asarray(survey.redshift, dtype=np.float64)) if config.range_ends else \
            np.empty(0, dtype=np.int64)
        ends = {"rows": end_rows, "redshift": np.asarray(survey.redshift[end_rows], dtype=np.float64),
                "images": np.asarray(survey.images(end_rows), dtype=np.float32),
                "conditions": {name: survey.column(name, end_rows) for name in conditions}}
        reference = Reference(
            data_path, rows, other_rows,
            redshift=np.asarray(survey.redshift[rows], dtype=np.float64),
            other_redshift=np.asarray(survey.redshift[other_rows], dtype=np.float64),
            images=np.asarray(survey.images(rows), dtype=np.float32),
            other_images=np.asarray(survey.images(other_rows), dtype=np.float32),
            synthetic=is_builtin_synthetic(survey, data_path),
            other_conditions={name: survey.column(name, rows) for name in conditions},
            catalogue_truth=survey.column("true_r_e_arcsec", rows) if "true_r_e_arcsec" in survey.columns else None,
            ends=ends)
    if reference.images.shape[1:] != tuple(generator.image_shape):
        raise EvaluationError(f"{data_path}: images are {reference.images.shape[1:]}, the model makes "
                              f"{tuple(generator.image_shape)}")
    return reference


def _guidance_sweep(config: EvaluationConfig, generator, predictor, reference: Reference, real_sets: tuple,
                    psf: tuple, sky: float) -> tuple[list[dict], dict]:
    """Steps 2-4 once per guidance scale of the sweep (the checkpoint's default alone without a sweep): generate,
    measure with the same pipeline, check. ``real_sets``: the measured reference half, calibration half and
    end-of-range galaxies. Returns the sweep's entries and the measured sets by scale."""
    real, other_real, real_ends = real_sets
    sweep, generated_sets = [], {}
    for scale in (config.guidance_scales or (None,)):
        effective = generator.default_guidance if scale is None else float(scale)
        tick = time.perf_counter()
        images = _generate(config, generator, reference.redshift, reference.other_conditions, effective)
        ends = None if real_ends is None else \
            (real_ends, _generate_ends(config, generator, reference, effective, psf))
        generate_seconds = time.perf_counter() - tick
        generated = _measure(config, images, reference.redshift, "generated", predictor, generator.bands, psf, sky)
        quality = checks.quality_checks(real.population(config.mode), generated.population(config.mode),
                                        other_real.population(config.mode), seed=int(config.seed), ends=ends)
        if real_ends is None:
            quality["skipped"]["range_ends"] = "left out (--no-range-ends)"
        failed = sum(not c["passes"] for c in quality["checks"].values())
        sweep.append({"guidance_scale": effective, "failed_checks": failed, "score": quality["score"],
                      "all_pass": quality["all_pass"], "quality_checks": quality,
                      "seconds": time.perf_counter() - tick, "generate_seconds": generate_seconds})
        generated_sets[effective] = generated
    return sweep, generated_sets


def _generate_ends(config: EvaluationConfig, generator, reference: Reference, guidance_scale,
                  psf: tuple) -> range_ends.EndSample:
    """The generated end-of-range galaxies, measured (their generation is timed with the N galaxies')."""
    redshift, conditions = reference.ends_to_generate()
    images = _generate(config, generator, redshift, conditions, guidance_scale,
                       first_seed=int(config.seed) + range_ends.SEED_OFFSET)
    return _measure_ends(config, images, redshift, "generated, range ends", tuple(generator.bands), psf)


def _all_checks(config: EvaluationConfig, generator, reference: Reference, measured_sets: tuple, chosen: dict,
                timings: dict) -> dict:
    """The comparison, the quality checks of the chosen scale, the diagnostics and (a model with morphology
    conditions, unless they were left free) the label checks of issue 13."""
    real, generated, other_real = measured_sets
    measured = {"real": real.morphology, "generated": generated.morphology}
    predicted = {"real": real.predicted_redshift, "generated": generated.predicted_redshift}
    metrics = compare(config, measured, predicted, reference.redshift, reference.synthetic,
                      reference.catalogue_truth)
    metrics["quality_checks"] = chosen["quality_checks"]
    metrics["diagnostics"] = fidelity_diagnostics(real, generated, other_real, tuple(generator.bands),
                                                  config.detection_band)
    if len(generator.condition_names) > 1 and not config.labels_free:  # do the labels act on the images? (issue 13)
        from galaxy_explorer.evaluation.labels import evaluation_label_checks

        tick = time.perf_counter()
        metrics["label_checks"] = evaluation_label_checks(reference.data_path, generator, reference.rows,
                                                          reference.other_rows, real, other_real, generated,
                                                          seed=int(config.seed))
        timings["label_checks_s"] = time.perf_counter() - tick
    return metrics


def _guidance_record(config: EvaluationConfig, generator, chosen: dict, sweep: list[dict]) -> dict:
    return {
        "chosen_scale": chosen["guidance_scale"], "checkpoint_default": generator.default_guidance,
        "guided_conditions": list(config.guided or generator.default_guided),
        "rule": "fewest failed checks, then the lowest total badness (sum over checks of value / threshold)",
        "sweep": [{k: v for k, v in entry.items() if k != "quality_checks"} |
                  {"checks": {name: {"value_generated": c["value_generated"], "passes": c["passes"]}
                              for name, c in entry["quality_checks"]["checks"].items()}} for entry in sweep]}


def _config_record(config: EvaluationConfig, generator, reference: Reference, redshift_checkpoint: Path,
                   psf: tuple) -> dict:
    """The run's settings as metrics.json records them, every input named portably (``portable_name``)."""
    return {
        **{k: v for k, v in asdict(config).items() if k not in ("out", "progress", "extra")},
        "checkpoint": portable_name(generator.checkpoint_path),
        "data": portable_name(reference.data_path, None if config.data else "testing"),
        "redshift_checkpoint": portable_name(redshift_checkpoint), "rows": reference.rows,
        "calibration_rows": reference.other_rows, "range_end_rows": reference.ends["rows"],
        "generation_seeds": f"galaxy i uses seed {int(config.seed)} + i",
        "range_end_seeds": f"end-of-range galaxy j uses seed {int(config.seed) + range_ends.SEED_OFFSET} + j, "
                           f"{range_ends.GENERATED_PER_GALAXY} a survey galaxy", "psf_fwhm_arcsec": psf[0],
        "psf_moffat_beta": psf[1], **config.extra,
    }


def _write_outputs(out_dir: Path, metrics: dict, measured: dict, predicted: dict, reference: Reference,
                   generated: MeasuredSet, bands: tuple, mode: str, extra_figures: dict | None = None) -> dict:
    """Figures, then metrics.json and report.html (step 5), each written atomically; returns the JSON-safe metrics."""
    from galaxy_explorer.evaluation.report import write_report

    grid = _grid_indices(reference.redshift, GRID_COLUMNS)
    images = {"real": reference.images[grid], "generated": generated.images[grid],
              "redshift": reference.redshift[grid]}
    figure_png = {**make_figures(metrics, measured, predicted, reference.redshift, images, bands, mode),
                  **(extra_figures or {})}
    out_dir.mkdir(parents=True, exist_ok=True)
    safe = json_safe(metrics)
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(safe, indent=2, allow_nan=False) + "\n")
    write_report(out_dir / "report.html", safe, figure_png)
    return safe


def survey_sky_sigma(images: np.ndarray, bands: tuple, band: str) -> float:
    """The survey's sky noise in ``band`` (the normalization's robust estimate from the stamps' outer frames): the
    unit of the grain check and diagnostic."""
    from galaxy_explorer.data.normalization import Normalization

    return float(Normalization.fit(images, bands=bands).softening[bands.index(band)])


def fidelity_diagnostics(real: MeasuredSet, generated: MeasuredSet, other_real: MeasuredSet, bands: tuple,
                         band: str) -> dict:
    """What explains the checks (``diagnostics``): grain by brightness in the detection band, and the colours'
    spread at fixed redshift, each with its real-vs-real value."""
    index = bands.index(band)
    sky = survey_sky_sigma(real.images, bands, band)
    colours = diagnostics.colour_scatter(real.colours, real.redshift, generated.colours, generated.redshift,
                                         other_real.colours, other_real.redshift, checks.bin_edges())
    return {
        "pixel_noise": {"band": band, **diagnostics.pixel_noise(real.images[:, index], generated.images[:, index],
                                                                 other_real.images[:, index], sky)},
        "colour_scatter": {"bins": colours, "median_ratio": diagnostics.summary(colours)},
        "description": ("diagnostics, not checks. pixel_noise: rms of (pixel - median of its 3x3 neighbourhood) "
                        "in sky sigmas, per brightness level (sky sigmas of the 3x3 median) of the detection band; "
                        "colour_scatter: sigma_NMAD of each aperture colour per redshift bin. ratio: generated / "
                        "survey; real_vs_real: the calibration half / survey"),
    }


def _psf_for(band: str, synthetic: bool) -> tuple[float | None, float]:
    """The built-in survey's own PSF when evaluating on it; HSC median seeing otherwise."""
    if synthetic:
        try:
            from galaxy_explorer import instrument
            return float(instrument.PSF_FWHM_ARCSEC[band]), float(instrument.MOFFAT_BETA)
        except (ImportError, AttributeError, KeyError):
            pass
    return None, morphology.MOFFAT_BETA


def _grid_indices(redshift: np.ndarray, count: int) -> np.ndarray:
    """Galaxies at evenly spaced redshift quantiles, low to high."""
    order = np.argsort(redshift, kind="stable")
    picks = np.unique(np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int))
    return order[picks]


def compare(config: EvaluationConfig, measured: dict, predicted: dict, redshift: np.ndarray, synthetic: bool,
            catalogue_truth) -> dict:
    """Every number of the report (see the module docstring)."""
    edges = redshift_bin_edges(redshift, BIN_WIDTH)
    compared = COMPARED_METRICS_FULL if config.mode == "full" else COMPARED_METRICS_FAST
    out: dict[str, Any] = {"redshift_bin_edges": edges, "n": int(len(redshift)), "mode": config.mode}

    out["redshift_prediction"] = {
        "real": photoz_metrics(predicted["real"], redshift),
        "generated": photoz_metrics(predicted["generated"], redshift),
        "description": "real: CNN prediction vs spectroscopic z; generated: CNN prediction vs conditioning z",
    }
    out["detections"] = {
        key: {"n": int(len(m["flag"])),
              "no_detection_fraction": float(np.mean((m["flag"] & morphology.NO_DETECTION) > 0)),
              "flag_counts": {name: int(((m["flag"] & bit) > 0).sum()) for bit, name in morphology.FLAG_NAMES.items()}}
        for key, m in measured.items()
    }
    per_metric = {}
    for name in compared:
        real, generated = measured["real"][name], measured["generated"][name]
        per_metric[name] = {
            "units": UNITS.get(name, ""),
            "real": st.summary(real), "generated": st.summary(generated),
            "overall": st.distribution_distance(real, generated),
            "binned_means": {"real": st.binned_means(real, redshift, edges, seed=config.seed),
                             "generated": st.binned_means(generated, redshift, edges, seed=config.seed + 7919)},
            "bins": st.binned_distances(real, generated, redshift, redshift, edges),
        }
    out["morphology"] = per_metric

    out["size_redshift"] = None
    if synthetic:
        from galaxy_explorer.synthetic import true_median_size_arcsec

        pixel_scale = morphology.PIXEL_SCALE_ARCSEC
        relation = size_redshift_relation(
            size_estimate_arcsec(measured["real"], config.mode, pixel_scale),
            size_estimate_arcsec(measured["generated"], config.mode, pixel_scale),
            redshift, true_median_size_arcsec, catalogue_truth)
        relation["size_estimate"] = ("Sérsic-fit semi-major r_e" if config.mode == "full" else
                                     "PSF-corrected half-light radius / sqrt(b/a) (fast mode; cruder)")
        out["size_redshift"] = relation
    return out


def make_figures(metrics, measured, predicted, redshift, grid_images, bands, mode) -> dict[str, tuple[str, bytes]]:
    """{figure id: (caption, PNG bytes)} in report order."""
    plotted = PLOTTED_METRICS_FULL if mode == "full" else PLOTTED_METRICS_FAST
    per_metric = metrics["morphology"]
    binned = {name: per_metric[name]["binned_means"] for name in plotted}
    distance_bins = {name: {"bins": per_metric[name]["bins"], "real_std": per_metric[name]["real"]["std"]}
                     for name in plotted}
    out = {
        "fig-redshift-scatter": ("CNN-predicted redshift against the spectroscopic redshift of the real galaxies "
                                 "(left) and the conditioning redshift of the generated ones (right); dashed: "
                                 "|dz| = 0.15.",
                                 figures.redshift_scatter(redshift, predicted["real"], redshift,
                                                          predicted["generated"])),
        "fig-loss-vs-redshift": ("Mean redshift loss 1 - 1/(1 + (dz/0.15)²) per Δz = 0.2 bin.",
                                 figures.loss_vs_redshift(metrics["redshift_prediction"]["real"]["bins"],
                                                          metrics["redshift_prediction"]["generated"]["bins"])),
        "fig-histograms": ("Distributions of each metric, real vs generated; bottom row: log counts.",
                           figures.histograms(measured["real"], measured["generated"], plotted, UNITS)),
        "fig-binned-means": ("Per-redshift-bin means: real galaxies' 95% bootstrap interval (band) and the "
                             "generated galaxies' means with their intervals.",
                             figures.binned_means(binned, plotted, UNITS)),
        "fig-distances": ("Kolmogorov-Smirnov statistic and Wasserstein distance between real and generated "
                          "distributions in each redshift bin.", figures.distances_per_bin(distance_bins, plotted)),
        "fig-image-grid": ("Real (top) and generated (bottom) galaxies at the same redshift (Lupton i,r,g composite, "
                           "fixed stretch).", figures.image_grid(grid_images["real"], grid_images["generated"],
                                                                 grid_images["redshift"], bands)),
    }
    if metrics.get("size_redshift"):
        out["fig-size-redshift"] = ("Median intrinsic size against redshift, measured from real and generated "
                                    "galaxies, with the synthetic survey's true median relation.",
                                    figures.size_redshift(metrics["size_redshift"]))
    return out
