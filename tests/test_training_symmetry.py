"""The sky's symmetries as training augmentation (galaxy_explorer.training.symmetry): a turned stamp is what the
renderer draws for the turned galaxy, so rotations add images of the survey's own distribution; mirrors do not, for
this survey, because its spiral arms all wind one way."""

from __future__ import annotations

import math

import pytest
import torch

from galaxy_explorer.instrument import BANDS
from galaxy_explorer.synthetic import SyntheticSurvey
from galaxy_explorer.synthetic.observation import SKY_NOISE_SIGMA
from galaxy_explorer.synthetic.population import draw_catalogue
from galaxy_explorer.synthetic.tables import Tables
from galaxy_explorer.training.config import TrainConfig, TrainingError
from galaxy_explorer.training.symmetry import augment, turn, turned_offsets

SIGMA = torch.tensor([SKY_NOISE_SIGMA[band] for band in BANDS])[None, :, None, None]


def test_turns_move_a_pixel_about_the_survey_centre_as_the_offsets_say():
    for element in range(8):
        for dx, dy in [(3, -5), (0, 7), (-31, 12), (31, -31)]:
            image = torch.zeros(1, 2, 64, 64)
            image[0, :, 32 + dy, 32 + dx] = 1.0
            turned = turn(image, torch.tensor([element]))
            tx, ty = turned_offsets(element, torch.tensor(dx), torch.tensor(dy))
            row, column = (32 + int(ty)) % 64, (32 + int(tx)) % 64
            assert turned[0, :, row, column].tolist() == [1.0, 1.0] and float(turned.sum()) == 2.0, (element, dx, dy)
    image = torch.zeros(1, 1, 64, 64)
    image[0, 0, 32, 32] = 1.0  # the centre pixel stays where it is under every element
    assert all(turn(image, torch.tensor([g]))[0, 0, 32, 32] == 1.0 for g in range(8))


def test_the_turns_form_the_group_of_the_square():
    image = torch.randn(1, 5, 64, 64, generator=torch.Generator().manual_seed(0))
    quarter = torch.tensor([1])
    assert torch.equal(turn(image, torch.tensor([0])), image)
    four = image
    for _ in range(4):
        four = turn(four, quarter)
    assert torch.equal(four, image)
    mirrored = turn(image, torch.tensor([4]))
    assert torch.equal(turn(mirrored, torch.tensor([4])), image)
    distinct = {turn(image, torch.tensor([g])).numpy().tobytes() for g in range(8)}
    assert len(distinct) == 8


def test_augment_turns_each_stamp_by_its_own_seeded_element_and_none_draws_nothing():
    images = torch.randn(16, 5, 64, 64, generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(5)
    assert augment(images, "none", generator) is images
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(5).get_state())
    first = augment(images, "rot90", torch.Generator().manual_seed(7))
    assert torch.equal(first, augment(images, "rot90", torch.Generator().manual_seed(7)))
    elements = torch.randint(0, 4, (16,), generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, turn(images, elements))
    assert len(set(elements.tolist())) > 1


def rotated_catalogue(catalogue: dict, element: int) -> dict:
    """The same galaxies turned by rotation ``element`` (0-3) about the stamp centre: position angles + 90 deg
    each, centre and neighbour offsets turned; arms and clumps are placed in each disc's own frame and follow."""
    turned = dict(catalogue)
    for key in ("position_angle", "neighbour_position_angle"):
        turned[key] = catalogue[key] + element * math.pi / 2
    for key in ("centre_offset", "neighbour_offset"):
        dx, dy = turned_offsets(element, catalogue[key][..., 0], catalogue[key][..., 1])
        turned[key] = torch.stack([dx, dy], dim=-1)
    return turned


def mirrored_catalogue(catalogue: dict) -> dict:
    """The same galaxies mirrored x -> -x: angles negated, clumps mirrored in the disc plane. Spiral arms cannot
    be: the survey's pitch angles are all positive, so every arm winds the same way."""
    mirrored = dict(catalogue)
    for key in ("position_angle", "neighbour_position_angle"):
        mirrored[key] = -catalogue[key]
    mirrored["clump_angle"] = math.pi - catalogue["clump_angle"]
    for key in ("centre_offset", "neighbour_offset"):
        mirrored[key] = torch.stack([-catalogue[key][..., 0], catalogue[key][..., 1]], dim=-1)
    return mirrored


@pytest.fixture(scope="module")
def rendered():
    survey = SyntheticSurvey(0)
    catalogue = draw_catalogue(300, torch.Generator().manual_seed(3), Tables("cpu"))
    return survey, catalogue, survey.render(catalogue)


@pytest.mark.parametrize("element", [1, 2, 3])
def test_a_turned_stamp_is_the_rendering_of_the_turned_galaxy(rendered, element):
    # Exact (float rounding) everywhere but the one row or column that a turn about pixel 32 brings round from the
    # opposite edge; there it is exact for galaxies drawn on the 64-pixel FFT grid, and off by the light that larger
    # galaxies and neighbours put on the stamp's edge. Measured over these 300 galaxies: interior within 0.02 sky
    # sigma; on the wrapped line the median is ~1e-6 sigma, 4.6-4.8% of its pixels are off by > 0.1 sigma (< 0.9%
    # by > 1 sigma), 0.07-0.15% of all pixels.
    survey, catalogue, image = rendered
    expected = survey.render(rotated_catalogue(catalogue, element))
    difference = ((turn(image, torch.full((len(image),), element)) - expected) / SIGMA).abs()
    wrapped_row, wrapped_column = {1: (None, 0), 2: (0, 0), 3: (0, None)}[element]
    interior = torch.ones(64, 64, dtype=torch.bool)
    if wrapped_row is not None:
        interior[wrapped_row, :] = False
    if wrapped_column is not None:
        interior[:, wrapped_column] = False
    assert float(difference[..., interior].max()) < 0.03
    wrapped = difference[..., ~interior]
    assert float(wrapped.median()) < 1e-3
    assert float((wrapped > 0.1).float().mean()) < 0.08
    assert float((difference > 0.1).float().mean()) < 0.002


def test_mirrors_are_exact_except_for_spiral_arms_which_the_survey_winds_one_way(rendered):
    survey, catalogue, image = rendered
    expected = survey.render(mirrored_catalogue(catalogue))
    difference = ((turn(image, torch.full((len(image),), 4)) - expected) / SIGMA).abs()[..., 1:]  # column 0 wraps
    arms = catalogue["has_arms"].bool()
    assert arms.any() and (~arms).any()
    per_galaxy = difference.amax(dim=(1, 2, 3))
    interior = difference[..., 1:-1, 1:-1].amax(dim=(1, 2, 3))
    assert float(interior[~arms].max()) < 0.05  # ellipses, bulges, clumps and neighbours mirror exactly
    assert float(per_galaxy[arms].median()) > 1.0  # a mirrored spiral is not one the survey draws


@pytest.mark.parametrize("column", ["true_position_angle", "true_centre_x"])
def test_turning_is_refused_for_a_condition_that_turning_changes(tmp_path, column):
    with pytest.raises(TrainingError, match=f"changes the condition '{column}'"):
        TrainConfig(out_dir=tmp_path, augment="rot90", conditions=("redshift", column))
    TrainConfig(out_dir=tmp_path, augment="none", conditions=("redshift", column))
