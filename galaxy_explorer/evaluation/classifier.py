"""A small CNN that tells one yes/no class of galaxy stamps: used by the augmentation experiment (``augmentation``)
and by the evaluation's arm check (``labels``), each of which trains its own."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from galaxy_explorer.errors import GalaxyExplorerError

CLASSIFIER_CROP = 32  # pixels: the central 32 x 32 (5.4 arcsec) of a stamp, where the galaxy is; 4x cheaper


class ClassifierError(GalaxyExplorerError, ValueError):
    """Images and labels the classifier cannot be trained on."""


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
        raise ClassifierError(f"classifier training needs (n,bands,H,W) images and n labels, got "
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


def to_classifier_space(images: np.ndarray, normalization, crop: int = CLASSIFIER_CROP) -> np.ndarray:
    """Survey flux -> the central ``crop`` x ``crop`` pixels in the checkpoint's model space (asinh per band,
    clipped at -1), bounded above at 10 so that an untrained model's extreme pixels cannot dominate."""
    images = np.asarray(images, dtype=np.float32)
    height, width = images.shape[-2:]
    top, left = max((height - crop) // 2, 0), max((width - crop) // 2, 0)
    images = images[..., top:top + crop, left:left + crop]
    return np.clip(normalization.to_model(images), -1.0, 10.0).astype(np.float32)
