"""A pool of rendered galaxies held on the training device, drawn from at every step and refreshed in chunks as
training runs, so that a GPU trains at its own speed instead of waiting for the renderer at every batch.

The pool holds ``size`` stamps in model space (fp16: the rounding, ~5e-4 of a value, is far below the sky noise,
which is ~0.1 in model space) with their conditions (fp32). Every ``refresh_every`` steps the oldest chunk of
``chunk`` stamps is replaced by a freshly rendered one, so each stamp lives ``size / chunk × refresh_every`` steps;
a step draws ``batch_size`` stamps uniformly (with replacement), so each stamp is drawn on average

    reuse = refresh_every × batch_size / chunk      times over its life

(``PoolPlan.reuse``; the stamps of the first filling, retired early, fewer). The renderer then only has to make
``batch_size / reuse`` images a step. Every stamp is an independent draw of the same renderer, so a uniform draw
from the pool has exactly the distribution of a freshly rendered batch (``tests/test_training_pool.py`` checks
it); what reuse costs is that a stamp's ``reuse`` appearances are spread over its life instead of being distinct
galaxies. With ``--augment rot90`` (or ``dihedral``) each appearance is seen in one of 4 (8) orientations.

Chunk ``j`` is rendered from the seed (run seed, pool purpose, rank, j) and lives in slot ``j mod chunks``; at
step s the pool holds chunks ``s // refresh_every`` onwards, so a resumed run rebuilds the very pool an
uninterrupted one would hold, and the batch of step s (drawn from a generator seeded by the step) is the same.
With ``background`` the next chunk is rendered in a worker thread (on its own CUDA stream on a GPU) while the steps
run; it is inserted at the same step as without, so the run is the same either way.
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

import torch

from galaxy_explorer.errors import GalaxyExplorerError

POOL_DTYPE = torch.float16


class PoolError(GalaxyExplorerError, ValueError):
    """Pool settings that cannot work together."""


@dataclass(frozen=True)
class PoolPlan:
    """The pool's shape, from the requested size and reuse: ``chunks`` chunks of ``chunk`` stamps, one replaced
    every ``refresh_every`` steps."""

    chunk: int
    chunks: int
    refresh_every: int
    batch_size: int

    @property
    def size(self) -> int:
        return self.chunk * self.chunks

    @property
    def reuse(self) -> float:
        """Expected draws of a stamp over its life (uniform draws with replacement, FIFO replacement)."""
        return self.refresh_every * self.batch_size / self.chunk

    @property
    def rendered_per_step(self) -> float:
        return self.chunk / self.refresh_every

    def chunk_at(self, step: int) -> int:
        """The oldest chunk the pool holds at ``step``."""
        return step // self.refresh_every

    def to_dict(self) -> dict:
        return {"size": self.size, "chunk": self.chunk, "chunks": self.chunks, "refresh_every": self.refresh_every,
                "reuse": self.reuse}


def plan_pool(size: int, reuse: float, refresh_every: int, batch_size: int) -> PoolPlan:
    """The plan nearest the request: chunks of ``refresh_every × batch_size / reuse`` stamps, as many as fit
    ``size`` (at least 2)."""
    if reuse <= 0 or refresh_every < 1 or batch_size < 1:
        raise PoolError(f"pool reuse must be > 0 and its refresh interval >= 1 step, got reuse {reuse}, every "
                        f"{refresh_every}")
    chunk = max(1, round(refresh_every * batch_size / reuse))
    chunks = size // chunk
    if chunks < 2 or chunks * chunk < batch_size:
        raise PoolError(f"--pool-size {size} holds fewer than 2 refresh chunks of {chunk} stamps or less than a "
                        f"batch of {batch_size}; raise it to at least {max(2 * chunk, batch_size)}, or raise "
                        "--pool-reuse or lower --pool-refresh-every")
    return PoolPlan(chunk, chunks, refresh_every, batch_size)


class RenderedPool:
    """Stamps in model space and their conditions on ``device``, filled and refreshed from ``chunk_source``
    (a training data source whose ``batch(j)`` renders chunk ``j``, see ``training.data``)."""

    def __init__(self, plan: PoolPlan, chunk_source, normalization, device: torch.device, start_step: int,
                 background: bool = False):
        self.plan, self.source, self.normalization = plan, chunk_source, normalization
        self.device = torch.device(device)
        self.images: Optional[torch.Tensor] = None
        self.conditions: Optional[torch.Tensor] = None
        self.stamp_ids = torch.full((plan.size,), -1, dtype=torch.long)  # chunk * plan.chunk + i: who is where
        self.rendered = 0
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") if background else None
        self._pending: Optional[tuple[int, Future]] = None
        self._stream = torch.cuda.Stream(self.device) if background and self.device.type == "cuda" else None
        self.oldest = plan.chunk_at(start_step)
        for j in range(self.oldest, self.oldest + plan.chunks):
            self._insert(j, self._render(j))
        self._prefetch(self.oldest + plan.chunks)

    # ---------------------------------------------------------------------------------- rendering and refresh
    def _render(self, j: int) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.cuda.Event]]:
        """Chunk ``j`` in model space (fp16) with its conditions; on the worker's stream when there is one."""
        stream = torch.cuda.stream(self._stream) if self._stream is not None else contextlib.nullcontext()
        with stream:
            images, conditions = self.source.batch(j)
            clean = torch.nan_to_num(self.normalization.to_model(images.to(self.device))).to(POOL_DTYPE)
            conditions = conditions.to(self.device, torch.float32)
            event = None
            if self._stream is not None:
                event = torch.cuda.Event()
                event.record(self._stream)
        return clean, conditions, event

    def _insert(self, j: int, rendered) -> None:
        clean, conditions, event = rendered
        if self.images is None:
            self.images = torch.empty((self.plan.size,) + tuple(clean.shape[1:]), dtype=POOL_DTYPE, device=self.device)
            self.conditions = torch.empty((self.plan.size, conditions.shape[1]), dtype=torch.float32,
                                          device=self.device)
        if event is not None:  # rendered on the worker's stream: wait for it, and keep its memory until used here
            current = torch.cuda.current_stream(self.device)
            current.wait_event(event)
            clean.record_stream(current)
            conditions.record_stream(current)
        if len(clean) != self.plan.chunk:
            raise PoolError(f"the data source gave {len(clean)} stamps for a chunk of {self.plan.chunk}")
        start = (j % self.plan.chunks) * self.plan.chunk
        self.images[start:start + self.plan.chunk] = clean
        self.conditions[start:start + self.plan.chunk] = conditions
        self.stamp_ids[start:start + self.plan.chunk] = torch.arange(j * self.plan.chunk, (j + 1) * self.plan.chunk)
        self.rendered += self.plan.chunk

    def _prefetch(self, j: int) -> None:
        if self._worker is not None:
            self._pending = (j, self._worker.submit(self._render, j))

    def _next_chunk(self, j: int):
        if self._pending is not None and self._pending[0] == j:
            rendered = self._pending[1].result()
            self._pending = None
            return rendered
        return self._render(j)

    def advance(self, step: int) -> None:
        """Replace the chunks that step ``step`` no longer holds (one every ``refresh_every`` steps)."""
        wanted = self.plan.chunk_at(step)
        if wanted < self.oldest:
            raise PoolError(f"the pool is at step {self.oldest * self.plan.refresh_every}; it cannot go back to "
                            f"step {step}")
        while self.oldest < wanted:
            newest = self.oldest + self.plan.chunks
            self._insert(newest, self._next_chunk(newest))
            self.oldest += 1
            self._prefetch(newest + 1)

    # ---------------------------------------------------------------------------------- drawing
    def draw(self, step: int, generator: torch.Generator) -> torch.Tensor:
        """The pool slots of step ``step``'s batch: uniform, with replacement."""
        self.advance(step)
        return torch.randint(0, self.plan.size, (self.plan.batch_size,), generator=generator, device=self.device)

    def batch(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(clean images in model space, float32; conditions) of step ``step``."""
        slots = self.draw(step, generator)
        return self.images[slots].float(), self.conditions[slots]

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None

    def describe(self) -> dict:
        return {**self.plan.to_dict(), "dtype": str(POOL_DTYPE).removeprefix("torch."),
                "background": self._worker is not None,
                "megabytes": math.prod(self.images.shape) * self.images.element_size() / 2 ** 20}

