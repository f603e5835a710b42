"""The generated population beside the survey grid, and the seed's filmstrip, without a browser."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_app import STEPS, make_app, settle, survey_file, tiny_checkpoint  # noqa: F401 (fixtures)


def test_the_population_is_the_next_seeds_at_the_slider_redshift_with_the_walk_settings(make_app):
    app = make_app()
    cache = app.population.population
    assert cache.key.axis == "seed" and cache.key.at_redshift == pytest.approx(app.redshift)
    seeds = [app.seed + k for k in range(1, 13)]
    assert [int(s) for s in cache.grid] == seeds
    frames = app.population.population_frames()
    assert all(frame is not None for frame in frames)
    # Each picture is that seed's galaxy at this redshift, as Generator.population draws it.
    expected = app.walk.generator.population(seeds[:2], [app.redshift] * 2, sampler=app.sampler, steps=STEPS)
    np.testing.assert_allclose(np.stack([frames[0].image, frames[1].image]), expected, rtol=1e-4, atol=1e-4)
    grid = app.population_card.grid.object
    assert grid.count("<img") == 12 and "seed 8" in grid
    status = app.population_card.status.object
    assert "generated (model)" in status and f"seeds {seeds[0]}–{seeds[-1]}" in status and "z = 0.50" in status


def test_the_population_follows_the_slider_on_release_only_and_is_kept_for_the_process(make_app):
    app = make_app()
    first = app.population.population
    app.redshift = 1.5  # dragging
    settle(app)
    assert app.population.population is first
    app.set_redshift(1.5)  # release
    settle(app)
    assert app.population.population.key.at_redshift == pytest.approx(1.5)
    assert all(frame is not None for frame in app.population.population_frames())
    app.set_redshift(0.5)  # back: the first population is still in the process's frame store
    assert app.population.population is first


def test_a_new_seed_redraws_the_population(make_app):
    app = make_app()
    app.seed = 100
    settle(app)
    assert [int(s) for s in app.population.population.grid][:2] == [101, 102]


def test_the_filmstrip_shows_this_seed_at_redshifts_across_the_range_from_its_walk(make_app):
    app = make_app()
    generator = app.walk.generator
    calls = []
    original = generator.frames
    generator.frames = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        app.param.trigger("filmstrip")  # the Filmstrip button
        settle(app)
    finally:
        del generator.frames
    low, high = app.walk.redshift_range
    assert app.population.filmstrip_redshifts == pytest.approx(list(np.linspace(low, high, 8)))
    assert app.population.filmstrip is app.walk.cache  # the seed's own walk…
    assert calls == []  # …whose bake made these frames already
    film = app.population_card.film.object
    assert film.count("<img") == 8 and "z 0.00" in film and f"z {high:.2f}" in film
    assert f"seed {app.seed} at 8 redshifts" in app.population_card.film_status.object


def test_a_population_batch_reports_each_sampler_step_and_stops_where_the_queue_says(generator):
    from galaxy_explorer.app_parts.state.generation import Interrupted

    steps = []
    generator.population([1, 2], [0.5, 1.0], steps=3, on_step=steps.append)
    assert steps == [1, 2, 3]  # so the generation queue can pause it for an exact frame, or drop it

    def stop(step):
        raise Interrupted

    with pytest.raises(Interrupted):
        generator.population([1, 2], [0.5, 1.0], steps=3, on_step=stop)
