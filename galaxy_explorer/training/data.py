"""Training data for the diffusion model: batches of (survey-flux images, named conditions).

Two sources, one interface (``batch(step) -> (images, conditions)``, float32 torch tensors: on the CPU, or for
the synthetic survey on the training device, where it renders):

* ``SyntheticBatches`` draws every batch fresh from the built-in synthetic survey (no file needed). The batch of
  step k on process r depends only on (seed, r, k), so a resumed run sees exactly the batches an uninterrupted
  run would have.
* ``SurveyFileBatches`` streams a GalaxiesML-schema HDF5 file through ``galaxy_explorer.data.survey.Survey``, shuffled
  anew each epoch, with process r of w taking every w-th batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from galaxy_explorer.errors import GalaxyExplorerError

SYNTHETIC = "synthetic"


class TrainingDataError(GalaxyExplorerError, ValueError):
    """Training data that cannot be used (missing condition column, too few rows, …)."""


def derived_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (run seed, process rank, step, purpose); via NumPy's SeedSequence."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31 ^ int(state[1])) & (2 ** 63 - 1)


# Purposes, so that streams drawn for different jobs from the same run seed never coincide.
PURPOSE_BATCH, PURPOSE_NOISE, PURPOSE_NORMALIZATION, PURPOSE_DROPOUT, PURPOSE_FLAT_REDSHIFT = 1, 2, 3, 4, 5
PURPOSE_POOL, PURPOSE_POOL_DRAW, PURPOSE_AUGMENT = 6, 7, 8  # the pool's chunks, its draws, the symmetry turns


def flat_redshift_count(batch_size: int, fraction: float) -> int:
    """How many galaxies of a batch get a redshift drawn uniformly over the training range."""
    return int(round(batch_size * fraction))


class SyntheticBatches:
    """Batches of the built-in synthetic survey, generated on the fly (see ``galaxy_explorer.synthetic``)."""

    description = ("built-in SYNTHETIC HSC-like survey (galaxy_explorer.synthetic), generated on the fly; "
                   "not real galaxies")

    def __init__(self, seed: int, batch_size: int, condition_names: Sequence[str], rank: int = 0,
                 world_size: int = 1, device: torch.device | str = "cpu", flat_redshift_fraction: float = 0.0):
        from galaxy_explorer.synthetic import SyntheticSurvey  # imported here: only this source needs it

        self._survey_class = SyntheticSurvey
        # The app walks p(image | z) uniformly in z, but ~93% of survey galaxies lie below z = 1.5, so the ends of
        # the range get few training images. A share of each batch with z ~ U(range) and every other property drawn
        # given z (as the survey does) leaves p(image | z) unchanged and feeds the sparse ends.
        self.flat_redshift_fraction = float(flat_redshift_fraction)
        self.seed, self.batch_size, self.rank, self.world_size = int(seed), int(batch_size), int(rank), int(world_size)
        self.condition_names = tuple(condition_names)
        # Rendering on the training device keeps a GPU fed; on the CPU it shares the cores with training.
        self.device = torch.device(device)

    def _draw(self, survey_seed: int, n: int, chunk: int = 256,
              redshifts: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` images and their (n, k) conditions, rendered ``chunk`` at a time to bound memory; ``redshifts``
        fixes the redshifts of the first ``len(redshifts)`` galaxies."""
        survey = self._survey_class(survey_seed, device=self.device)
        images, conditions = [], []
        fixed = 0 if redshifts is None else len(redshifts)
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            given = redshifts[start:start + size] if start < fixed else None
            sample = survey.sample(size if given is None else len(given), redshift=given)
            columns = {"redshift": sample["specz_redshift"], **sample}
            missing = [name for name in self.condition_names if name not in columns]
            if missing:
                raise TrainingDataError(f"condition {missing[0]!r} is not a column of the synthetic survey; "
                                        f"available: {sorted(k for k in columns if k != 'image')}")
            images.append(sample["image"].float())
            conditions.append(torch.stack([torch.as_tensor(columns[name]).to(self.device, torch.float32)
                                           for name in self.condition_names], dim=1))
        return torch.cat(images), torch.cat(conditions)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        flat = flat_redshift_count(self.batch_size, self.flat_redshift_fraction)
        survey_seed = derived_seed(self.seed, PURPOSE_BATCH, self.rank, step)
        if flat == 0:
            return self._draw(survey_seed, self.batch_size)
        from galaxy_explorer.synthetic import population

        generator = torch.Generator("cpu").manual_seed(derived_seed(self.seed, PURPOSE_FLAT_REDSHIFT, self.rank, step))
        low, high = population.REDSHIFT_MIN, population.REDSHIFT_MAX
        redshifts = low + (high - low) * torch.rand(flat, generator=generator)
        images, conditions = self._draw(survey_seed, flat, redshifts=redshifts)
        rest_images, rest_conditions = self._draw(survey_seed + 1, self.batch_size - flat)
        return torch.cat([images, rest_images]), torch.cat([conditions, rest_conditions])

    def first_sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` images (and conditions) for fitting the normalization; the same on every process."""
        images, conditions = self._draw(derived_seed(self.seed, PURPOSE_NORMALIZATION), n)
        return images.cpu().numpy(), conditions.cpu().numpy()

    def condition_ranges(self, sample_conditions: np.ndarray) -> list[tuple[float, float]]:
        """Training range of each condition: the survey's declared redshift range, the sample's range otherwise."""
        from galaxy_explorer.synthetic import population

        ranges = [(float(np.nanmin(column)), float(np.nanmax(column))) for column in sample_conditions.T]
        ranges[0] = (float(population.REDSHIFT_MIN), float(population.REDSHIFT_MAX))
        return ranges

    def describe(self) -> dict:
        return {"source": SYNTHETIC, "description": self.description, "seed": self.seed}


class SurveyFileBatches:
    """Shuffled batches of a GalaxiesML-schema HDF5 file, epoch after epoch; incomplete batches are buffered."""

    def __init__(self, path: str | Path, seed: int, batch_size: int, condition_names: Sequence[str],
                 rank: int = 0, world_size: int = 1):
        from galaxy_explorer.data.survey import Survey

        self.path = Path(path)
        self.survey = Survey(self.path)
        self.seed, self.batch_size, self.rank, self.world_size = int(seed), int(batch_size), int(rank), int(world_size)
        self.condition_names = tuple(condition_names)
        self.extra_columns = tuple(name for name in self.condition_names if name != "redshift")
        missing = [name for name in self.extra_columns if name not in self.survey.columns]
        if missing:
            raise TrainingDataError(f"{self.path}: condition column {missing[0]!r} not found; "
                                    f"1-D columns available: {', '.join(self.survey.columns)}")
        for name in self.extra_columns:
            dtype = self.survey.column_dtype(name)
            if dtype.kind not in "iuf":
                raise TrainingDataError(f"{self.path}: condition column {name!r} has dtype {dtype}; expected numbers")
        self.batches_per_epoch = self.survey.n_rows // self.batch_size
        if self.batches_per_epoch < self.world_size:
            raise TrainingDataError(f"{self.path}: {self.survey.n_rows} valid rows are fewer than one batch of "
                                    f"{self.batch_size} per process ({self.world_size} processes)")
        self._iterator = None
        self._next_global_batch: Optional[int] = None
        self._require_one_clean_batch()

    def _require_one_clean_batch(self) -> None:
        """Fail now, naming the file, when not one batch has finite pixels (a run would otherwise start, then stop
        at its first step). Reads one pool of blocks from a good file; scans a bad one once."""
        if next(self._epoch_batches(derived_seed(self.seed, PURPOSE_NORMALIZATION)), None) is None:
            raise self._no_clean_batch()

    def _epoch_batches(self, shuffle_seed: int):
        """Exactly ``batch_size``-row batches of one shuffled epoch, whatever chunking the reader uses
        (it drops rows with non-finite pixels, so its batches can be short)."""
        pending: list[dict] = []
        held = 0
        for chunk in self.survey.iter_batches(self.batch_size, seed=shuffle_seed, shuffle=True,
                                              columns=self.extra_columns):
            pending.append(chunk)
            held += len(chunk["specz_redshift"])
            while held >= self.batch_size:
                merged = {key: np.concatenate([c[key] for c in pending]) for key in pending[0]}
                yield {key: value[:self.batch_size] for key, value in merged.items()}
                rest = {key: value[self.batch_size:] for key, value in merged.items()}
                held -= self.batch_size
                pending = [rest] if held else []

    def _global_batches(self, start: int):
        """Batches numbered from ``start`` across epochs (batch g is batch g mod B of epoch g // B)."""
        epoch, skip = divmod(start, self.batches_per_epoch)
        while True:
            delivered = 0
            for index, batch in enumerate(self._epoch_batches(derived_seed(self.seed, PURPOSE_BATCH, epoch))):
                if index >= self.batches_per_epoch:
                    break
                delivered += 1
                if index >= skip:
                    yield batch
            if delivered == 0:  # every epoch would be the same: stop instead of looping for ever
                raise self._no_clean_batch()
            epoch, skip = epoch + 1, 0

    def _no_clean_batch(self) -> TrainingDataError:
        return TrainingDataError(
            f"{self.path}: no batch of {self.batch_size} images with finite pixels in a whole pass over the file: "
            f"fewer than {self.batch_size} of its {self.survey.n_rows} rows with a usable redshift have images "
            f"free of NaN/inf in 'image' (galaxy-explorer info --scan-pixels counts them)")

    def _conditions(self, batch: dict) -> np.ndarray:
        columns = [batch["specz_redshift"] if name == "redshift" else batch[name] for name in self.condition_names]
        return np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=1).astype(np.float32)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        wanted = step * self.world_size + self.rank
        if self._iterator is None or self._next_global_batch != wanted:
            self._iterator = self._global_batches(wanted)
        batch = next(self._iterator)
        # Skip the other processes' batches so the next call lines up with step + 1.
        for _ in range(self.world_size - 1):
            next(self._iterator)
        self._next_global_batch = wanted + self.world_size
        images = np.asarray(batch["image"], dtype=np.float32)
        return torch.from_numpy(images), torch.from_numpy(self._conditions(batch))

    def first_sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        images, conditions = [], []
        held = 0
        # A shuffle of its own, identical on every process.
        for batch in self._epoch_batches(derived_seed(self.seed, PURPOSE_NORMALIZATION)):
            images.append(np.asarray(batch["image"], dtype=np.float32))
            conditions.append(self._conditions(batch))
            held += len(images[-1])
            if held >= n:
                break
        if not images:
            raise self._no_clean_batch()
        return np.concatenate(images)[:n], np.concatenate(conditions)[:n]

    def condition_ranges(self, sample_conditions: np.ndarray) -> list[tuple[float, float]]:
        """Ranges over the whole file (the columns are 1-D and cheap to read)."""
        ranges = []
        for name in self.condition_names:
            column = self.survey.redshift if name == "redshift" else self.survey.column(name)
            column = np.asarray(column, dtype=np.float64)
            finite = column[np.isfinite(column)]
            if finite.size == 0:
                raise TrainingDataError(f"{self.path}: column {name!r} has no finite values")
            ranges.append((float(finite.min()), float(finite.max())))
        return ranges

    def describe(self) -> dict:
        return {"source": "file", "path": str(self.path.resolve()), "rows": int(self.survey.n_rows),
                "description": f"GalaxiesML-schema survey file {self.path.name}", "seed": self.seed}


def open_training_data(data: Optional[str], seed: int, batch_size: int, condition_names: Sequence[str],
                       rank: int = 0, world_size: int = 1, device: torch.device | str = "cpu",
                       flat_redshift_fraction: float = 0.0):
    """``data`` None or 'synthetic' -> the built-in synthetic survey; otherwise a GalaxiesML-schema file path.

    ``flat_redshift_fraction`` applies to the synthetic survey only: a survey file has the redshifts it has."""
    if data is None or data == SYNTHETIC:
        return SyntheticBatches(seed, batch_size, condition_names, rank, world_size, device, flat_redshift_fraction)
    if flat_redshift_fraction:
        raise TrainingDataError(f"{data}: --flat-redshift-fraction needs the built-in synthetic survey, which can "
                                "render a galaxy at any redshift; a survey file has the redshifts it has")
    path = Path(data)
    if not path.exists():
        raise TrainingDataError(f"{path}: training data file not found (pass a GalaxiesML-schema HDF5 file, or "
                                f"'{SYNTHETIC}' for the built-in synthetic survey)")
    return SurveyFileBatches(path, seed, batch_size, condition_names, rank, world_size)

