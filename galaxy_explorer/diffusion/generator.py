"""``Generator``: load a diffusion checkpoint once, then turn (seed, redshifts, …) into images in survey flux units.

The same seed gives the same initial noise x_T for every redshift (drawn on the CPU from
``torch.Generator().manual_seed(seed)``, whatever device the network runs on), and the samplers are deterministic,
so a walk through redshift changes the image continuously. That walk is a path through the model's conditional
distribution, not the history of one galaxy.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from galaxy_explorer.errors import CheckpointError
from galaxy_explorer.diffusion.generator_inputs import (
    GenerationError,
    Guidance,
    ModelConditions,
    checked_images,
    checked_noise,
    redshift_array,
    validated_seed,
)
from galaxy_explorer.diffusion.model_io import load_diffusion_checkpoint
from galaxy_explorer.diffusion.prediction import make_eps_function
from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP, SAMPLERS, run_sampler


def noise_stream(seed: int) -> torch.Generator:
    """The CPU random stream of ``seed``: x_T is its first draw, and DDPM's per-step noise continues it."""
    return torch.Generator("cpu").manual_seed(int(seed))


def initial_noise(seed: int, shape: Sequence[int], stream: Optional[torch.Generator] = None) -> torch.Tensor:
    """x_T for ``seed``: the first draw of ``noise_stream(seed)``, made on the CPU so it is the same on every
    device and in every process. Pass that stream (fresh) as ``stream`` to go on drawing from it afterwards."""
    stream = noise_stream(seed) if stream is None else stream
    return torch.randn(tuple(shape), generator=stream, dtype=torch.float32)


def default_guidance_scale(metadata: Mapping) -> float:
    """The classifier-free guidance scale a checkpoint samples with by default: its ``sampling.guidance_scale``,
    written when an evaluation sweep chose it; 1 (no guidance) when absent."""
    value = metadata.get("sampling", {}).get("guidance_scale", 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise CheckpointError(f"sampling.guidance_scale must be a finite number >= 0, got {value!r}")
    return float(value)


def default_guided_conditions(metadata: Mapping, condition_names: Sequence[str]) -> tuple[str, ...]:
    """The conditions a checkpoint's guidance pushes towards by default: its ``sampling.guided_conditions``, written
    when an evaluation chose them; every condition when absent (plain classifier-free guidance)."""
    value = metadata.get("sampling", {}).get("guided_conditions")
    if value is None:
        return tuple(condition_names)
    if not isinstance(value, list) or not value or any(name not in condition_names for name in value):
        raise CheckpointError(f"sampling.guided_conditions must be a non-empty list of the model's conditions "
                              f"{list(condition_names)}, got {value!r}")
    return tuple(value)


class Generator:
    """A loaded diffusion model that draws images at given redshifts (and further conditions) from a seed."""

    def __init__(self, checkpoint_path: Path, model, schedule, normalization, metadata: dict,
                 device: torch.device, prediction: str = "v"):
        self.prediction = prediction
        self.checkpoint_path = Path(checkpoint_path)
        self.metadata = metadata
        self.model = model
        self.schedule = schedule
        self.normalization = normalization
        self.device = device
        config = model.config
        self.condition_names: tuple[str, ...] = tuple(config.condition_names)
        self.condition_ranges: dict[str, tuple[float, float]] = {
            name: (float(lo), float(hi)) for name, (lo, hi) in zip(config.condition_names, config.condition_ranges)}
        self.bands: tuple[str, ...] = tuple(metadata["bands"])
        self.image_shape: tuple[int, int, int] = (config.image_channels, config.image_size, config.image_size)
        self.supports_guidance = float(metadata.get("conditions", {}).get("dropout_probability", 0.0)) > 0
        # The guidance scale the checkpoint's evaluation chose (1: none); callers may override it per call.
        self.default_guidance = default_guidance_scale(metadata)
        # Which conditions that guidance pushes towards (all: plain classifier-free guidance); callers may override.
        self.default_guided = default_guided_conditions(metadata, self.condition_names)
        self._conditions = ModelConditions(self.condition_names, self.condition_ranges, self.supports_guidance,
                                           self.checkpoint_path.name)

    @classmethod
    def load(cls, checkpoint: Optional[str | os.PathLike] = None, device: str | torch.device = "cpu") -> "Generator":
        """Load ``checkpoint`` (default: the shipped ``assets/diffusion-small-morph.safetensors``; a shipped checkpoint's
        file name alone names it) onto ``device``."""
        from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT, shipped_or_given

        path = shipped_or_given(checkpoint) if checkpoint is not None else DEFAULT_DIFFUSION_CHECKPOINT
        if checkpoint is None and not path.exists():
            raise CheckpointError(f"{path}: the shipped diffusion checkpoint is missing; train one with "
                                  "'galaxy-explorer train' and pass --checkpoint")
        try:
            device = torch.device(device)
        except RuntimeError as exc:
            raise GenerationError(f"device {device!r} is not a torch device ({exc})") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise GenerationError(f"device {str(device)!r} requested but CUDA is not available")
        loaded = load_diffusion_checkpoint(path, device)
        return cls(loaded.path, loaded.model, loaded.schedule, loaded.normalization, loaded.metadata, device,
                   loaded.prediction)

    # -- sampling ---------------------------------------------------------------------------------------------
    def frames(self, seed: int, redshifts, sampler: str = "dpmpp2m", steps: int = 20, batch_size: int = 8,
               progress: Optional[Callable[[int, int], None]] = None, *, guidance_scale: Optional[float] = None,
               guided: Optional[Sequence[str]] = None, on_step: Optional[Callable[[int], None]] = None,
               denoise_step: Optional[int] = DEFAULT_DENOISE_STEP, **other_conditions) -> np.ndarray:
        """Images (n, 5, 64, 64) float32 in survey flux units, one per redshift, all from the same x_T.

        ``other_conditions`` give further named conditions (a number, or one per redshift); a condition left out
        uses the learned null embedding (models trained with condition dropout only). ``guidance_scale`` > 1 applies
        classifier-free guidance (conditional and unconditional passes in one batch of two); None takes the
        checkpoint's default (``default_guidance``). ``guided`` names the conditions the guidance pushes towards
        (the unconditional pass leaves out those only); None takes the checkpoint's (``default_guided``: all unless an
        evaluation chose fewer). ``progress(done, total)`` is called with frames finished;
        ``on_step(step)`` after each sampler step of a batch (1 … steps), and whatever it raises stops the generation
        there (how the app interrupts work between steps; the pixels are unchanged when it returns normally).
        ``denoise_step``: a training step for one ``samplers.final_denoise`` call after the sampler (default
        ``samplers.DEFAULT_DENOISE_STEP``, which removes the model's pixel-scale grain; None: none, the sampler's own
        output).
        """
        seed = validated_seed(seed)
        guidance = self._checked_settings(sampler, steps, batch_size, guidance_scale, guided, denoise_step)

        def batch(rows: slice, conditions, left_out) -> np.ndarray:
            return self._sample_batch(seed, conditions, left_out, sampler, int(steps), guidance, on_step,
                                      denoise_step)

        return self._in_batches(redshifts, other_conditions, batch_size, progress, batch)

    def frames_from_noise(self, x_T, redshifts, sampler: str = "ddim", steps: int = 20, batch_size: int = 8,
                          progress: Optional[Callable[[int, int], None]] = None, *,
                          guidance_scale: Optional[float] = None, guided: Optional[Sequence[str]] = None,
                          on_step: Optional[Callable[[int], None]] = None, **other_conditions) -> np.ndarray:
        """As ``frames``, from an explicit initial noise instead of a seed (the output of ``invert``).

        ``x_T`` (5,64,64) or (1,5,64,64) starts every frame (a walk); (n,5,64,64) gives row i at ``redshifts[i]``.
        Only the deterministic samplers ('ddim', 'dpmpp2m') are defined by x_T alone: DDPM adds fresh noise at every
        step. To reproduce an inverted image, sample with 'ddim' and the steps it was inverted with. No final
        denoising step: the inversion maps an image to x_T and back through the sampler alone.
        """
        guidance = self._checked_settings(sampler, steps, batch_size, guidance_scale, guided)
        if sampler == "ddpm":
            raise GenerationError("sampler 'ddpm' adds fresh noise at every step, so an explicit x_T does not fix "
                                  "its images; use 'ddim' (or 'dpmpp2m')")
        redshifts = redshift_array(redshifts)
        noise = checked_noise(x_T, len(redshifts), self.image_shape)

        def batch(rows: slice, conditions, left_out) -> np.ndarray:
            start = noise[rows] if noise.shape[0] > 1 else noise.expand(conditions.shape[0], *self.image_shape)
            return self._denoise(start.contiguous().to(self.device), None, conditions, left_out, sampler,
                                 int(steps), guidance, on_step)

        return self._in_batches(redshifts, other_conditions, batch_size, progress, batch)

    def invert(self, image_flux, redshift, steps: int = 20, batch_size: int = 8, refine: int = 0,
               progress: Optional[Callable[[int, int], None]] = None, *,
               on_step: Optional[Callable[[int], None]] = None, **other_conditions) -> torch.Tensor:
        """The initial noise x_T from which DDIM with ``steps`` steps at ``redshift`` draws (about) ``image_flux``.

        ``image_flux``: one image (5,64,64) or several (n,5,64,64) in survey flux, like ``frames``'s output;
        ``redshift``: a number or one per image; ``other_conditions`` as for ``frames``. Returns (n,5,64,64) float32
        on the CPU, for ``frames_from_noise(x_T, …, sampler='ddim', steps=steps)``. The ODE is run backwards without
        guidance (scale 1), and ``refine`` fixed-point iterations per step make each step a closer inverse of the
        sampler's (see ``inversion``). Row i of the answer does not depend on the other rows.
        """
        from galaxy_explorer.diffusion.inversion import invert_ddim

        self._checked_settings("ddim", steps, batch_size, 1.0)
        if isinstance(refine, bool) or not isinstance(refine, (int, np.integer)) or int(refine) < 0:
            raise GenerationError(f"refine must be an integer >= 0, got {refine!r}")
        refine = int(refine)
        images = checked_images(image_flux, self.image_shape)
        redshifts = np.asarray(redshift, dtype=np.float64)
        if redshifts.ndim == 0:
            redshifts = np.full(images.shape[0], float(redshifts))
        if redshifts.shape != (images.shape[0],):
            raise GenerationError(f"redshift must be a number or one per image ({images.shape[0]}), "
                                  f"got shape {redshifts.shape}")

        def batch(rows: slice, conditions, left_out) -> np.ndarray:
            x_0 = self.normalization.to_model(torch.from_numpy(images[rows])).to(self.device)
            eps = make_eps_function(self.model, self.schedule, self.prediction, conditions.to(self.device),
                                    left_out.to(self.device), 1.0)
            with torch.inference_mode():
                x_T = invert_ddim(eps, self.schedule, x_0, int(steps), refine=refine, on_step=on_step)
            return x_T.float().to("cpu").numpy()

        return torch.from_numpy(self._in_batches(redshifts, other_conditions, batch_size, progress, batch))

    def _in_batches(self, redshifts, other_conditions: Mapping[str, object], batch_size: int,
                    progress: Optional[Callable[[int, int], None]], batch) -> np.ndarray:
        """(n,5,64,64) float32 made by ``batch(rows, conditions, left_out)`` a batch at a time, one row per redshift."""
        redshifts = redshift_array(redshifts)
        conditions, left_out = self._conditions.matrix(redshifts, other_conditions)
        n = len(redshifts)
        out = np.empty((n,) + self.image_shape, dtype=np.float32)
        if n == 0:
            return out
        for start in range(0, n, int(batch_size)):
            stop = min(start + int(batch_size), n)
            out[start:stop] = batch(slice(start, stop), conditions[start:stop], left_out[start:stop])
            if progress is not None:
                progress(stop, n)
        return out

    def population(self, seeds, redshifts, sampler: str = "dpmpp2m", steps: int = 20, batch_size: int = 8,
                   progress: Optional[Callable[[int, int], None]] = None, *, guidance_scale: Optional[float] = None,
                   guided: Optional[Sequence[str]] = None, on_step: Optional[Callable[[int], None]] = None,
                   denoise_step: Optional[int] = DEFAULT_DENOISE_STEP, **other_conditions) -> np.ndarray:
        """Images (n, 5, 64, 64) float32 in survey flux units: row i is galaxy ``seeds[i]`` at ``redshifts[i]``.

        Row i is what ``frames(seeds[i], [redshifts[i]])`` draws (same x_T; for 'ddpm' the same per-step noise, from
        the row's own CPU stream), up to float rounding, but ``batch_size`` galaxies share each network call: the
        way to draw a population on a GPU. ``other_conditions`` give a number or one value per row; the other
        arguments are as for ``frames``. ``progress(done, total)`` is called with galaxies finished, and ``on_step``
        as for ``frames`` (the app's generation queue interrupts a population between sampler steps with it), and
        ``denoise_step`` as for ``frames``.
        """
        guidance = self._checked_settings(sampler, steps, batch_size, guidance_scale, guided, denoise_step)
        redshifts = redshift_array(redshifts)
        seeds = [validated_seed(seed) for seed in np.atleast_1d(np.asarray(seeds, dtype=object)).tolist()]
        if len(seeds) != len(redshifts):
            raise GenerationError(f"population needs one seed per redshift, got {len(seeds)} seeds and "
                                  f"{len(redshifts)} redshifts")

        def batch(rows: slice, conditions, left_out) -> np.ndarray:
            return self._sample_rows(seeds[rows], conditions, left_out, sampler, int(steps), guidance, on_step,
                                     denoise_step)

        return self._in_batches(redshifts, other_conditions, batch_size, progress, batch)

    def _checked_settings(self, sampler, steps, batch_size, guidance_scale: Optional[float],
                          guided: Optional[Sequence[str]] = None, denoise_step: Optional[int] = None) -> Guidance:
        """Refuse sampler settings that cannot work; returns the guidance to use (None: the checkpoint's)."""
        if guided is None:
            guided = self.default_guided
        if isinstance(guided, str) or not guided or any(name not in self.condition_names for name in guided):
            raise GenerationError(f"guided must name one or more of this model's conditions {self.condition_names}, "
                                  f"got {guided!r}")
        if guidance_scale is None:
            guidance_scale = self.default_guidance
        if sampler not in SAMPLERS:
            raise GenerationError(f"sampler {sampler!r} is not one of {SAMPLERS}")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or \
                not 1 <= int(steps) <= self.schedule.num_steps:
            raise GenerationError(f"steps must be an integer from 1 to {self.schedule.num_steps}, got {steps!r}")
        if denoise_step is not None and (isinstance(denoise_step, bool) or not isinstance(
                denoise_step, (int, np.integer)) or not 0 <= int(denoise_step) < self.schedule.num_steps):
            raise GenerationError(f"denoise_step must be None or a training step from 0 to "
                                  f"{self.schedule.num_steps - 1}, got {denoise_step!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or int(batch_size) < 1:
            raise GenerationError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not math.isfinite(guidance_scale) or guidance_scale < 0:
            raise GenerationError(f"guidance_scale must be a finite number >= 0, got {guidance_scale!r}")
        if guidance_scale != 1.0 and not self.supports_guidance:
            raise GenerationError(f"{self.checkpoint_path.name} was trained without condition dropout, so "
                                  "classifier-free guidance (guidance_scale != 1) is not available")
        return Guidance(float(guidance_scale), tuple(name in guided for name in self.condition_names))

    def _sample_batch(self, seed: int, conditions: torch.Tensor, left_out: torch.Tensor, sampler: str,
                      steps: int, guidance: Guidance, on_step=None, denoise_step=None) -> np.ndarray:
        batch = conditions.shape[0]
        # One CPU generator per batch: x_T, then (for DDPM) the noise of each step, identical for every frame.
        noise_source = noise_stream(seed)
        x_T = initial_noise(seed, (1,) + self.image_shape, stream=noise_source)

        def step_noise(_step: int) -> torch.Tensor:
            fresh = torch.randn((1,) + self.image_shape, generator=noise_source, dtype=torch.float32)
            return fresh.to(self.device)

        x_T = x_T.to(self.device).expand(batch, *self.image_shape).contiguous()
        return self._denoise(x_T, step_noise, conditions, left_out, sampler, steps, guidance, on_step, denoise_step)

    def _sample_rows(self, seeds: Sequence[int], conditions: torch.Tensor, left_out: torch.Tensor, sampler: str,
                     steps: int, guidance: Guidance, on_step=None, denoise_step=None) -> np.ndarray:
        """Row i from seed ``seeds[i]``: its own CPU stream gives its x_T and (DDPM) its noise at every step."""
        streams = [noise_stream(seed) for seed in seeds]
        shape = (1,) + self.image_shape
        x_T = torch.cat([initial_noise(seed, shape, stream=stream) for seed, stream in zip(seeds, streams)])

        def step_noise(_step: int) -> torch.Tensor:
            fresh = [torch.randn(shape, generator=stream, dtype=torch.float32) for stream in streams]
            return torch.cat(fresh).to(self.device)

        return self._denoise(x_T.to(self.device), step_noise, conditions, left_out, sampler, steps, guidance,
                             on_step, denoise_step)

    def _denoise(self, x_T: torch.Tensor, step_noise, conditions: torch.Tensor, left_out: torch.Tensor,
                 sampler: str, steps: int, guidance: Guidance, on_step=None, denoise_step=None) -> np.ndarray:
        guided = None if all(guidance.guided) else torch.tensor(guidance.guided, dtype=torch.bool)
        eps = make_eps_function(self.model, self.schedule, self.prediction, conditions.to(self.device),
                                left_out.to(self.device), guidance.scale, guided)
        with torch.inference_mode():
            x0 = run_sampler(sampler, eps, self.schedule, x_T, steps, noise_fn=step_noise, on_step=on_step,
                             denoise_step=None if denoise_step is None else int(denoise_step))
            flux = self.normalization.to_flux(x0.float())
        return flux.detach().to("cpu").numpy().astype(np.float32, copy=False)
