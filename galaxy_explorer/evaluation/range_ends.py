"""The ends of the redshift range as a check (issue 31): sizes and central concentrations where the walk starts and ends.

The app's walk starts at z = 0.02 and ends at z = 3 and beyond, where the survey holds few galaxies (in the built-in
testing split, 30 at z < 0.1 and 62 at 2.5 < z < 3.5 of 4,000), so a random sample of the test split says little
there. This check takes *every* survey galaxy of the data file in each end bin as the reference, generates
``GENERATED_PER_GALAXY`` galaxies at each one's redshift (galaxy j of the list from seed ``seed + SEED_OFFSET + j``),
and compares, per end bin:

* the median size (the evaluation's size estimate, arcsec), ratio within 10% of the survey's, as the sizes check;
* the median central concentration (detection-band flux within 3 px of the stamp centre over flux within 10 px, the
  label probe's measure, ``benchmarks/probe_labels.py``), within 0.05 of the survey's.

Calibrated real vs real like the other checks: the survey galaxies of each end bin are split into two random halves
many times. Each cell's noise is the standard error of a difference of medians (1.2533 x 1.4826 MAD of the
reference x sqrt(1/n_1 + 1/n_2), as ``checks.binned_median_differences``), and one factor c is set so that every cell
of a split lies within max(target, c x noise) in 97% of splits; the pass rate is measured on fresh splits. The
noise formula carries the factor from the halves' sizes to the generated comparison's (n survey galaxies against
GENERATED_PER_GALAXY x n generated ones). With so few galaxies the check can only see large errors: each cell also
reports the smallest deviation it detects with 80% probability (``power``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galaxy_explorer.measure.photometry import aperture_fluxes

RANGE_ENDS = ((0.0, 0.1), (2.5, 3.5))
SIZE_MAX_RELATIVE_DEVIATION = 0.10
CONCENTRATION_MAX_DEVIATION = 0.05
CONCENTRATION_RADII = (3.0, 10.0)  # pixels: the label probe's inner and outer apertures
MIN_PER_SIDE = 10  # a cell is judged with at least this many galaxies on each side (a half of the low bin holds 15)
GENERATED_PER_GALAXY = 2
SEED_OFFSET = 1_000_000  # end galaxy j is drawn from seed + SEED_OFFSET + j, apart from the N galaxies' seeds
RESPLITS = 500
CALIBRATION_QUANTILE = 0.97
DETECTION_PROBABILITY = 0.8
STATISTICS = ("size", "concentration")
TARGETS = {"size": SIZE_MAX_RELATIVE_DEVIATION, "concentration": CONCENTRATION_MAX_DEVIATION}


@dataclass(frozen=True)
class EndSample:
    """Galaxies of the end bins as the check reads them."""

    redshift: np.ndarray  # (n,)
    size: np.ndarray  # (n,) arcsec
    concentration: np.ndarray  # (n,)

    def take(self, index: np.ndarray) -> "EndSample":
        return EndSample(self.redshift[index], self.size[index], self.concentration[index])

    def __len__(self) -> int:
        return len(self.redshift)


def end_rows(redshift: np.ndarray) -> np.ndarray:
    """Indices of the galaxies inside any end bin, in file order."""
    redshift = np.asarray(redshift, dtype=np.float64)
    inside = np.zeros(redshift.shape, dtype=bool)
    for low, high in RANGE_ENDS:
        inside |= (redshift >= low) & (redshift < high)
    return np.flatnonzero(inside)


def central_concentration(images: np.ndarray, band_index: int) -> np.ndarray:
    """(N,) flux within CONCENTRATION_RADII[0] pixels of the stamp centre over flux within CONCENTRATION_RADII[1], in
    one band, each background-subtracted (``photometry.aperture_fluxes``); NaN where the outer flux is not positive."""
    band = np.asarray(images)[:, band_index:band_index + 1]
    inner, outer = (aperture_fluxes(band, radius)[:, 0] for radius in CONCENTRATION_RADII)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(outer > 0, inner / outer, np.nan)


def _median_difference(reference: np.ndarray, compared: np.ndarray, relative: bool) -> tuple[float, int, float]:
    """(deviation, smaller count, noise) of one cell: the compared median against the reference's, as ratio - 1 of
    medians of logs (``relative``) or a difference, and the standard error of that difference of medians."""
    r, c = np.asarray(reference, dtype=np.float64), np.asarray(compared, dtype=np.float64)
    if relative:
        with np.errstate(invalid="ignore", divide="ignore"):
            r, c = np.log(r), np.log(c)
    r, c = r[np.isfinite(r)], c[np.isfinite(c)]
    if not (r.size and c.size):
        return float("nan"), int(min(r.size, c.size)), float("nan")
    difference = float(np.median(c) - np.median(r))
    mad = float(np.median(np.abs(r - np.median(r))))
    noise = 1.2533 * 1.4826 * mad * np.sqrt(1.0 / r.size + 1.0 / c.size)
    return (float(np.expm1(difference)) if relative else difference), int(min(r.size, c.size)), float(noise)


def cell_deviations(reference: EndSample, compared: EndSample) -> dict:
    """{statistic: (deviation, count, noise)} arrays with one cell per end bin."""
    out = {}
    for name in STATISTICS:
        cells = []
        for low, high in RANGE_ENDS:
            in_reference = (reference.redshift >= low) & (reference.redshift < high)
            in_compared = (compared.redshift >= low) & (compared.redshift < high)
            cells.append(_median_difference(getattr(reference, name)[in_reference],
                                            getattr(compared, name)[in_compared], relative=name == "size"))
        out[name] = tuple(np.array(part) for part in zip(*cells))
    return out


def _counted(cells: tuple) -> np.ndarray:
    deviation, count, noise = cells
    return (count >= MIN_PER_SIDE) & np.isfinite(deviation) & np.isfinite(noise)


def verdict(cells: dict, factor: float) -> tuple[float, bool]:
    """Worst |deviation| / max(target, factor x noise) over the counted cells of both statistics; <= 1 passes."""
    worst = []
    for name in STATISTICS:
        deviation, _, noise = cells[name]
        counted = _counted(cells[name])
        tolerance = np.maximum(TARGETS[name], factor * noise)
        worst.extend((np.abs(deviation) / tolerance)[counted].tolist())
    if not worst:
        return float("nan"), False
    return float(max(worst)), max(worst) <= 1.0


def _needed_factor(cells: dict) -> float:
    """The smallest noise factor at which every counted cell of one comparison passes."""
    needed = [0.0]
    for name in STATISTICS:
        deviation, _, noise = cells[name]
        over = _counted(cells[name]) & (np.abs(deviation) > TARGETS[name]) & (noise > 0)
        needed.extend((np.abs(deviation) / noise)[over].tolist())
    return max(needed)


def real_vs_real_splits(reference: EndSample, count: int, seed: int) -> list[dict]:
    """``count`` random splits of each end bin's survey galaxies into two halves; the cell deviations of each."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero((reference.redshift >= low) & (reference.redshift < high)) for low, high in RANGE_ENDS]
    out = []
    for _ in range(count):
        first, second = [], []
        for group in groups:
            order = rng.permutation(group)
            first.append(order[:len(order) // 2])
            second.append(order[len(order) // 2:2 * (len(order) // 2)])
        out.append(cell_deviations(reference.take(np.concatenate(first)), reference.take(np.concatenate(second))))
    return out


def detectable(cells: dict, factor: float) -> dict:
    """Per statistic and end bin, the smallest deviation the check sees with 80% probability, both ways: the
    deviation, normal with the cell's noise, must leave the tolerance (sizes as ratios, concentration as
    differences)."""
    z = 0.8416212335729143  # the 80% point of the normal distribution
    out = {}
    for name in STATISTICS:
        _, _, noise = cells[name]
        tolerance = np.maximum(TARGETS[name], factor * noise)
        if name == "size":  # the deviation is exp(d) - 1 of a log difference d with standard error `noise`
            low = np.where(tolerance < 1, (1 - np.minimum(tolerance, 0.999)) * np.exp(-z * noise), np.nan)
            out[name] = {"ratio_below": low.tolist(), "ratio_above": ((1 + tolerance) * np.exp(z * noise)).tolist()}
        else:
            out[name] = {"difference": (tolerance + z * noise).tolist()}
    return out


def range_ends_check(reference: EndSample, generated: EndSample, *, resplits: int = RESPLITS,
                     seed: int = 0) -> dict | None:
    """The check, or None where no end bin holds 2 x MIN_PER_SIDE survey galaxies (nothing can be judged)."""
    calibration = real_vs_real_splits(reference, resplits, seed)
    if not any(_counted(cells[name]).any() for cells in calibration[:1] for name in STATISTICS):
        return None
    factor = float(np.quantile([_needed_factor(cells) for cells in calibration], CALIBRATION_QUANTILE))
    fresh = [verdict(cells, factor)[1] for cells in real_vs_real_splits(reference, resplits, seed + 1)]
    generated_cells = cell_deviations(reference, generated)
    real_cells = real_vs_real_splits(reference, 1, seed + 2)[0]
    value, passes = verdict(generated_cells, factor)
    real_value, real_passes = verdict(real_cells, factor)
    return {"value_generated": value, "value_real_vs_real": real_value, "passes": bool(passes),
            "real_vs_real_passes": bool(real_passes), "real_vs_real_pass_rate": float(np.mean(fresh)),
            "split_passes": fresh, "noise_factor": factor, "targets": dict(TARGETS),
            "bins": _bin_table(reference, generated, generated_cells, real_cells, factor),
            "power": detectable(generated_cells, factor),
            "description": "worst |median deviation| / tolerance over sizes (ratio) and central concentrations "
                           "(difference) at z < 0.1 and 2.5 < z < 3.5, every survey galaxy there; <= 1 passes"}


def _median(values: np.ndarray) -> float:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else float("nan")


def _bin_table(reference: EndSample, generated: EndSample, cells: dict, real_cells: dict, factor: float) -> list:
    """Per end bin: counts, medians of both sets, the deviations (generated and real vs real) and tolerances."""
    rows = []
    for k, (low, high) in enumerate(RANGE_ENDS):
        in_reference = (reference.redshift >= low) & (reference.redshift < high)
        in_generated = (generated.redshift >= low) & (generated.redshift < high)
        row = {"z_low": low, "z_high": high, "n_survey": int(in_reference.sum()),
               "n_generated": int(in_generated.sum())}
        for name in STATISTICS:
            deviation, count, noise = (part[k] for part in cells[name])
            row[name] = {"survey_median": _median(getattr(reference, name)[in_reference]),
                         "generated_median": _median(getattr(generated, name)[in_generated]),
                         "generated": float(deviation), "real_vs_real": float(real_cells[name][0][k]),
                         "tolerance": float(max(TARGETS[name], factor * noise)) if np.isfinite(noise)
                         else TARGETS[name], "counted": bool(_counted(cells[name])[k])}
        rows.append(row)
    return rows
