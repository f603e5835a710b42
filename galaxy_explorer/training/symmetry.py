"""The sky's symmetries as free training images: each clean stamp of a batch turned by a random 90° rotation (and,
where exact, mirrored), the conditions unchanged.

``--augment rot90`` draws one of the 4 rotations, ``--augment dihedral`` one of the 8 rotations and mirror images of
the square (the dihedral group D4). A turned stamp must be an image the survey could have produced, with the same
labels, or the model learns a different distribution. Why the rotations are exact for the built-in survey:

* the PSF is a circular Moffat profile (``synthetic.render``), so turning the sky turns the PSF-convolved image;
* the pixels are square and the pixel response (a box, sinc(kx/2)·sinc(ky/2) in Fourier space) maps onto itself
  under every rotation by 90° and every mirror of the square;
* the sky noise is i.i.d. Gaussian per pixel, whose distribution any permutation of pixels keeps;
* every orientation in the population is drawn uniformly (``synthetic.population``): position angles over a full
  period, centre offsets uniform over a pixel square around pixel (32, 32), neighbours in uniform directions, spiral
  arm phases and clump angles uniform in the disc plane;
* the conditions (redshift, bulge fraction, axis ratio, spiral arms, magnitudes, sizes) are scalars that do not
  depend on orientation. Those that do (``ORIENTED_COLUMNS``: the position angle, the centre) are refused.

Stamps are turned about pixel (32, 32), the survey's centre (a 64-pixel cut-out is centred to the nearest pixel at
index 32, not between pixels 31 and 32): a rotation about the array's middle would shift every galaxy by a pixel.
Turning about pixel 32 moves one row (or column) past the edge; it comes back on the opposite edge, as in the
renderer's own periodic FFT grid. That is exact for galaxies drawn on the 64-pixel grid and approximate only in
that one edge row for those drawn on a larger grid and cropped (light reaching the stamp's edge: large galaxies,
neighbours). ``tests/test_training_symmetry.py`` measures it against rendering the turned galaxies: the interior
agrees within 0.02 of the sky noise; on the wrapped line the median difference is ~1e-6 of it and 5% of its pixels
are off by more than 0.1 (0.07-0.15% of all pixels).

The mirror images are NOT exact for the built-in survey: its spiral arms all wind the same way (the pitch angle is
drawn positive), so a mirrored spiral is one it never renders. Use ``dihedral`` only for data whose population is
mirror-symmetric. For real HSC stamps (a survey file), spiral handedness is even on the sky, but the PSF is only
nearly round (a few per cent ellipticity that varies over the field) and a cut-out is not periodic, so both groups
are then close approximations rather than exact symmetries.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import torch

AUGMENTATIONS = ("none", "rot90", "dihedral")
GROUP_ORDER = {"none": 1, "rot90": 4, "dihedral": 8}
# Conditions that a rotation or mirror changes: a model conditioned on them cannot be trained on turned stamps.
ORIENTED_COLUMNS = ("true_position_angle", "true_centre_x", "true_centre_y")


def check_augmentation(augmentation: str, condition_names: Sequence[str]) -> None:
    """Refuse an unknown group, or one that would change a condition of the run."""
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation {augmentation!r} is not one of {AUGMENTATIONS}")
    oriented = [name for name in condition_names if name in ORIENTED_COLUMNS]
    if augmentation != "none" and oriented:
        raise ValueError(f"--augment {augmentation} turns the stamps, which changes the condition {oriented[0]!r}; "
                         "train on it with --augment none")


def turned_offsets(element: int, dx: torch.Tensor, dy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets (x = column, y = row, from the centre) moved by group element ``element``: elements 0-3 rotate by
    ``element`` × 90° (x, y) -> (-y, x); elements 4-7 mirror x -> -x first, then rotate likewise."""
    if element >= 4:
        dx = -dx
    for _ in range(element % 4):
        dx, dy = -dy, dx
    return dx, dy


@lru_cache(maxsize=None)
def source_pixels(size: int, centre: int) -> torch.Tensor:
    """(8, size*size) int64: for each group element, the flat index of the pixel each output pixel is read from,
    so that ``out.flat[p] = image.flat[table[g, p]]`` turns the image about pixel (centre, centre), periodically."""
    rows, columns = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    dx, dy = (columns - centre).flatten(), (rows - centre).flatten()
    tables = []
    for element in range(8):
        # The output pixel at offset d shows the input pixel at g^-1 d; the inverse of g is found by search over
        # the group (8 elements), which keeps one definition of each element (turned_offsets).
        inverse = next(h for h in range(8) if _compose_is_identity(element, h))
        sx, sy = turned_offsets(inverse, dx, dy)
        tables.append(((sy + centre) % size) * size + (sx + centre) % size)
    return torch.stack(tables)


def _compose_is_identity(first: int, second: int) -> bool:
    probe_x, probe_y = torch.tensor([1, 0]), torch.tensor([0, 2])  # two independent offsets
    x, y = turned_offsets(second, *turned_offsets(first, probe_x, probe_y))
    return bool(torch.equal(x, probe_x) and torch.equal(y, probe_y))


def turn(images: torch.Tensor, elements: torch.Tensor, centre: int | None = None) -> torch.Tensor:
    """Each image (n, c, s, s) turned by its group element (n,) about pixel (centre, centre) (default s // 2), in
    one gather; the conditions of the stamps do not change."""
    n, channels, size, width = images.shape
    if size != width:
        raise ValueError(f"stamps must be square to be turned by 90°, got {size}x{width}")
    table = source_pixels(size, size // 2 if centre is None else centre).to(images.device)
    index = table[elements.to(images.device)][:, None, :].expand(n, channels, size * size)
    return images.reshape(n, channels, size * size).gather(2, index).view(n, channels, size, size)


def augment(images: torch.Tensor, augmentation: str, generator: torch.Generator) -> torch.Tensor:
    """A random element of the group ``augmentation`` for each image, drawn from ``generator`` (on the images'
    device); ``none`` returns the images unchanged and draws nothing."""
    order = GROUP_ORDER[augmentation]
    if order == 1:
        return images
    elements = torch.randint(0, order, (images.shape[0],), generator=generator, device=images.device)
    return turn(images, elements)
