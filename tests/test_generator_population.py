"""Generator.population: many galaxies, one seed and redshift each, batched: row i is frames(seed_i, [z_i])."""

import numpy as np
import pytest

from galaxy_explorer.diffusion import GenerationError

SEEDS = [3, 10, 7, 2 ** 40, 0]
REDSHIFTS = [0.3, 1.2, 2.5, 0.8, 3.9]


def _model_space(generator, flux):
    # An untrained tiny network's flux can reach 1e9; compare where the network works.
    return generator.normalization.to_model(flux)


@pytest.mark.parametrize("sampler", ["dpmpp2m", "ddpm"])
def test_row_i_is_what_frames_draws_from_seed_i_at_z_i(generator, sampler):
    calls = []
    population = generator.population(SEEDS, REDSHIFTS, sampler=sampler, steps=4, batch_size=3,
                                      progress=lambda done, total: calls.append((done, total)))
    assert population.shape == (len(SEEDS), 5, 64, 64) and population.dtype == np.float32
    assert calls == [(3, 5), (5, 5)]
    for i, (seed, z) in enumerate(zip(SEEDS, REDSHIFTS)):
        single = generator.frames(seed, [z], sampler=sampler, steps=4)[0]
        np.testing.assert_allclose(_model_space(generator, population[i]), _model_space(generator, single),
                                   rtol=1e-4, atol=1e-4)


def test_rows_do_not_depend_on_the_batch_they_are_drawn_in(generator):
    whole = generator.population(SEEDS, REDSHIFTS, sampler="ddpm", steps=3, batch_size=len(SEEDS))
    reversed_order = generator.population(SEEDS[::-1], REDSHIFTS[::-1], sampler="ddpm", steps=3, batch_size=2)
    np.testing.assert_allclose(_model_space(generator, whole), _model_space(generator, reversed_order[::-1]),
                               rtol=1e-4, atol=1e-4)
    # Different seeds give different galaxies at the same redshift.
    same_z = generator.population([1, 2], [1.0, 1.0], steps=3)
    assert not np.allclose(same_z[0], same_z[1])


def test_further_conditions_per_row_and_guidance(guided_generator):
    g = guided_generator
    sersic = np.array([4.0, 1.0, 2.5])
    population = g.population([5, 6, 7], [0.5, 1.0, 2.0], steps=3, batch_size=2, guidance_scale=2.0,
                              sersic_index=sersic)
    for i, seed in enumerate([5, 6, 7]):
        single = g.frames(seed, [[0.5, 1.0, 2.0][i]], steps=3, guidance_scale=2.0, sersic_index=sersic[i])[0]
        np.testing.assert_allclose(_model_space(g, population[i]), _model_space(g, single), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seeds, redshifts, kwargs, message", [
    ([1, 2], [1.0], {}, "one seed per redshift"),
    ([-1], [1.0], {}, "seed"),
    ([1.5], [1.0], {}, "seed"),
    ([1], [1.0], dict(batch_size=0), "batch_size"),
    ([1], [1.0], dict(sampler="euler"), "sampler"),
    ([1], [1.0], dict(guidance_scale=2.0), "condition dropout"),
])
def test_bad_requests_are_refused(generator, seeds, redshifts, kwargs, message):
    with pytest.raises(GenerationError, match=message):
        generator.population(seeds, redshifts, **kwargs)


def test_an_empty_population_is_empty(generator):
    assert generator.population([], [], steps=2).shape == (0, 5, 64, 64)
