"""Morphology conditions, guidance and the URL in the app, without a browser: tiny conditioned checkpoints, the real
generation thread, results applied at once (a headless session)."""

from __future__ import annotations

import numpy as np
import param
import pytest

from tests.test_app import GRID, make_app, settle, survey_file, tiny_checkpoint  # noqa: F401 (fixtures)

LABELS = ("true_bulge_fraction", "true_axis_ratio")


@pytest.fixture(scope="module")
def morph_checkpoint(tmp_path_factory):
    """Redshift and two morphology labels, trained (nominally) with condition dropout: labels may be left free."""
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("morph") / "morph.safetensors",
                                condition_names=("redshift", *LABELS), condition_dropout=0.15)


@pytest.fixture(scope="module")
def strict_checkpoint(tmp_path_factory):
    """Redshift and an unknown column, without condition dropout: every label needs a value, no guidance."""
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("strict") / "strict.safetensors",
                                condition_names=("redshift", "mystery_index"), condition_ranges=((0, 4), (2, 5)))


def release(slider, value):
    """What the browser does when a slider is dragged to ``value`` and let go."""
    slider.value = value
    with param.edit_constant(slider):
        slider.value_throttled = value


def recording(generator):
    """Record the arguments of every ``Generator.frames`` call (the generation thread's)."""
    calls = []
    original = generator.frames

    def frames(seed, redshifts, *args, **kwargs):
        calls.append((list(redshifts), {k: v for k, v in kwargs.items() if k in LABELS}))
        return original(seed, redshifts, *args, **kwargs)

    generator.frames = frames
    return calls


def test_one_slider_per_label_with_what_it_means_and_where_it_came_from(make_app, morph_checkpoint):
    app = make_app(checkpoint=morph_checkpoint)
    panel = app.conditions_panel
    assert list(panel.sliders) == list(LABELS)
    assert "bulge" in panel.descriptions["true_bulge_fraction"].object
    assert "survey column true_axis_ratio" in panel.descriptions["true_axis_ratio"].object
    # Trained with dropout: each label may be left free, and the first page leaves them all free ("any" ticked,
    # sliders off): a plain redshift walk of the model's whole population.
    assert not any(box.disabled for box in panel.free_boxes.values())
    assert all(box.value for box in panel.free_boxes.values())
    assert all(slider.disabled and not slider.show_value for slider in panel.sliders.values())  # no value shown
    assert app.walk.cache.key.axis == "redshift"
    assert app.walk.cache.key.condition_dict == {name: None for name in LABELS}


def test_a_checkpoint_without_dropout_starts_every_label_at_the_middle_of_its_range(make_app, strict_checkpoint):
    app = make_app(checkpoint=strict_checkpoint)
    assert app.conditions_panel.free_boxes["mystery_index"].value is False
    assert app.walk.cache.key.condition_dict == {"mystery_index": pytest.approx(3.5)}


def test_an_unknown_label_is_described_by_its_column_and_range(make_app, strict_checkpoint):
    app = make_app(checkpoint=strict_checkpoint)
    text = app.conditions_panel.descriptions["mystery_index"].object
    assert "survey column mystery_index, range 2–5" in text
    assert app.conditions_panel.free_boxes["mystery_index"].disabled  # no dropout: no "any"


def test_moving_a_label_slider_starts_a_walk_with_that_label(make_app, morph_checkpoint):
    app = make_app(checkpoint=morph_checkpoint)
    app.conditions_panel.free_boxes["true_axis_ratio"].value = False  # "any" off: the slider sets the label
    settle(app)
    assert not app.conditions_panel.sliders["true_axis_ratio"].disabled
    assert app.conditions_panel.sliders["true_axis_ratio"].show_value
    first = app.walk.cache
    release(app.conditions_panel.sliders["true_axis_ratio"], 0.2)
    settle(app)
    assert app.walk.cache is not first
    assert app.walk.cache.key.condition_dict["true_axis_ratio"] == pytest.approx(0.2)
    assert app.galaxy_card.view.shown[1] == "exact" and app.walk.cache.complete


def test_any_leaves_the_label_free_for_the_model(make_app, morph_checkpoint):
    app = make_app(checkpoint=morph_checkpoint)
    for name in LABELS:  # both labels set by their sliders
        app.conditions_panel.free_boxes[name].value = False
    settle(app)
    assert app.walk.cache.key.condition_dict == {name: pytest.approx(0.5) for name in LABELS}  # the sliders' values
    calls = recording(app.walk.generator)
    try:
        app.conditions_panel.free_boxes["true_bulge_fraction"].value = True
        settle(app)
    finally:
        del app.walk.generator.frames
    assert app.walk.cache.key.condition_dict["true_bulge_fraction"] is None
    assert app.conditions_panel.sliders["true_bulge_fraction"].disabled
    # The generator is asked with the label left out (None: its learned null embedding).
    assert calls and all(kwargs["true_bulge_fraction"] is None for _, kwargs in calls)
    assert app.galaxy_card.view.shown[1] == "exact"


def test_walking_a_label_moves_it_across_its_range_at_the_fixed_redshift(make_app, morph_checkpoint):
    app = make_app(checkpoint=morph_checkpoint)
    app.set_redshift(1.3)
    settle(app)
    calls = recording(app.walk.generator)
    try:
        app.conditions_panel.mode.value = "true_axis_ratio"
        settle(app)
    finally:
        del app.walk.generator.frames
    key = app.walk.cache.key
    assert key.axis == "true_axis_ratio" and key.at_redshift == pytest.approx(1.3)
    assert "true_axis_ratio" not in key.condition_dict  # the walked label is the position, not part of the walk
    assert key.condition_dict["true_bulge_fraction"] is None  # the other label is held (free, as it started)
    # Every frame at z = 1.3; the label takes one value per frame, across its whole range.
    assert calls and all(np.allclose(redshifts, 1.3) for redshifts, _ in calls)
    walked = np.concatenate([np.atleast_1d(kwargs["true_axis_ratio"]) for _, kwargs in calls])
    assert walked.min() == pytest.approx(0.0) and walked.max() == pytest.approx(1.0)
    assert app.walk.cache.complete and len(app.walk.cache.grid) == GRID
    # The label's slider is the walk's slider: dragging shows the nearest frame, release makes the exact one.
    slider = app.conditions_panel.sliders["true_axis_ratio"]
    slider.value = 0.33
    assert app.walk.dragging and app.walk.requested == pytest.approx(0.33)
    cache = app.walk.cache
    release(slider, 0.33)
    settle(app)
    assert app.walk.cache is cache  # the same walk: only its exact frame is new
    assert app.walk.frame.position == pytest.approx(0.33) and app.galaxy_card.view.shown[1] == "exact"
    assert app.walk.frame.redshift == pytest.approx(1.3)  # a frame's redshift is a redshift, whatever the axis
    # The image says which label is at which value, and its redshift and scale are the walk's fixed redshift.
    assert app.galaxy_card.view.caption.text == "true_axis_ratio = 0.33 · exact frame"
    assert app.galaxy_card.overlay.redshift_label.text == "z = 1.30"
    assert "true_axis_ratio = 0.33 at z = 1.30" in app.galaxy_card.frame_status.object
    # Releasing the redshift slider walks the label again at the new redshift.
    app.set_redshift(2.0)
    settle(app)
    assert app.walk.cache.key.axis == "true_axis_ratio" and app.walk.cache.key.at_redshift == pytest.approx(2.0)


def test_the_guidance_scale_starts_at_the_checkpoint_default_and_a_change_is_a_new_walk(make_app,
                                                                                         morph_checkpoint):
    app = make_app(checkpoint=morph_checkpoint)
    default = app.walk.generator.default_guidance
    assert app.guidance == default and not app.controls.guidance.input.disabled
    first = app.walk.cache
    app.guidance = 2.5
    settle(app)
    assert app.walk.cache is not first and app.walk.cache.key.guidance == 2.5
    app.param.trigger("reset_guidance")  # the Default button
    assert app.guidance == default and app.walk.cache is first


def test_a_checkpoint_that_guides_its_labels_only_says_so(make_app, tmp_path):
    from galaxy_explorer.data.checkpoint import load_checkpoint, save_checkpoint
    from galaxy_explorer.diffusion.testing import make_tiny_checkpoint

    path = make_tiny_checkpoint(tmp_path / "labels-guided.safetensors", condition_names=("redshift", *LABELS),
                                condition_dropout=0.15)
    tensors, metadata = load_checkpoint(path)
    metadata = {k: v for k, v in metadata.items() if k not in ("format", "format_version")}
    save_checkpoint(path, tensors, {**metadata, "sampling": {"guidance_scale": 2.0, "guided_conditions": list(LABELS)}})
    app = make_app(checkpoint=path)
    assert app.guidance == 2.0 and app.walk.generator.default_guided == LABELS
    assert "bulge fraction, axis ratio b/a only, not the redshift" in app.controls.guidance.note.object


def test_guidance_is_disabled_and_explained_without_condition_dropout(make_app, strict_checkpoint):
    app = make_app(checkpoint=strict_checkpoint)
    assert app.guidance == 1.0
    assert app.controls.guidance.input.disabled and app.controls.guidance.reset.disabled
    assert "without condition dropout" in app.controls.guidance.note.object


def test_a_redshift_only_checkpoint_shows_no_label_widgets(make_app):
    app = make_app()
    assert app.conditions_panel.sliders == {} and app.conditions_panel._layout.objects == []
    assert app.walk.cache.key.axis == "redshift" and app.walk.cache.key.conditions == ()
    assert not any(key.startswith("c.") or key == "walk" for key in app.url_query())


def test_the_url_reopens_the_view(make_app, morph_checkpoint):
    query = {"seed": "11", "z": "1.25", "band": "i", "sampler": "ddim", "steps": "3", "guidance": "1.5",
             "c.true_bulge_fraction": "any", "c.true_axis_ratio": "0.7", "walk": "true_axis_ratio"}
    app = make_app(checkpoint=morph_checkpoint, query=query)
    assert (app.seed, app.redshift, app.band, app.sampler, app.steps, app.guidance) == (11, 1.25, "i", "ddim", 3, 1.5)
    key = app.walk.cache.key
    assert key.axis == "true_axis_ratio" and key.condition_dict == {"true_bulge_fraction": None}
    assert app.walk.requested == pytest.approx(0.7)
    assert app.link.problems == []
    assert app.url_query() == query


def test_bad_values_in_the_url_are_named_and_the_defaults_kept(make_app, morph_checkpoint):
    query = {"seed": "-4", "z": "far", "steps": "2.5", "band": "x", "c.true_axis_ratio": "7",
             "c.colour_index": "0.1", "walk": "sideways", "unrelated": "kept out of it"}
    app = make_app(checkpoint=morph_checkpoint, query=query)
    defaults = type(app).param
    assert app.seed == defaults.seed.default and app.band == defaults.band.default
    assert app.redshift == defaults.redshift.default
    assert app.walk.cache.key.axis == "redshift"
    assert app.walk.cache.key.condition_dict["true_axis_ratio"] is None  # the first page's default: free
    warnings = " ".join(app.link.problems)
    assert app.messages.notice.level == "warning" and "Link:" in app.messages.notice.text
    for named in ("seed='-4'", "z='far'", "steps='2.5'", "band='x'", "c.true_axis_ratio=7", "'colour_index'",
                  "walk='sideways'"):
        assert named in warnings
    assert app.galaxy_card.view.shown[1] == "exact"  # and the app works


def test_parse_and_serialise_the_url_state():
    from galaxy_explorer.app import GalaxyExplorer
    from galaxy_explorer.app_parts.state.url_state import checked_conditions, parse_query, query_of, to_query

    state = parse_query(query_of("?seed=5&z=0.5&guidance=inf&c.a=any&c.b=0.25&walk=b&band=g"), GalaxyExplorer.param)
    assert state.values == {"seed": 5, "redshift": 0.5, "band": "g"}
    assert len(state.problems) == 1 and "guidance='inf'" in state.problems[0]
    values, axis, problems = checked_conditions(state, {"a": (0, 1), "b": (0, 1)}, True, {"a": 0.5, "b": 0.5})
    assert (values, axis, problems) == ({"a": None, "b": 0.25}, "b", [])
    values, axis, problems = checked_conditions(state, {"a": (0, 1), "b": (0, 1)}, False, {"a": 0.5, "b": 0.5})
    assert values == {"a": 0.5, "b": 0.25} and "free" in problems[0]
    query = to_query({"seed": 5, "redshift": 0.5, "band": "g", "sampler": "ddim", "steps": 20, "guidance": 1.0},
                     {"a": None, "b": 0.25}, "b")
    assert query == {"seed": "5", "z": "0.5", "band": "g", "sampler": "ddim", "steps": "20", "guidance": "1",
                     "c.a": "any", "c.b": "0.25", "walk": "b"}


# Every header card must fit whole: astropy warns (and here fails) where it would cut a comment short.
@pytest.mark.filterwarnings("error::astropy.io.fits.verify.VerifyWarning")
def test_a_label_walk_is_exported_and_its_fits_header_says_which_label_moves(make_app, morph_checkpoint):
    from astropy.io import fits

    app = make_app(checkpoint=morph_checkpoint)
    app.set_redshift(0.8)
    app.conditions_panel.free_boxes["true_bulge_fraction"].value = True
    app.conditions_panel.mode.value = "true_axis_ratio"
    settle(app)
    assert app.export.start_input.label == "start" and "axis ratio" in app.export.axis_note.object
    assert (app.export.walk_start, app.export.walk_stop) == (0.0, 1.0)  # the label's whole range
    app.export.param.update(frames=GRID, format="fits")  # the walk's own grid: every frame is baked already
    app.export.button.clicks += 1
    settle(app)
    assert app.export.download.filename == "galaxy-seed7-true_axis_ratio0.00-1.00-z0.80.fits"
    with fits.open(app.export.download.file) as hdus:
        header, table = hdus[0].header, hdus["REDSHIFT"].data
        assert header["WALKAXIS"] == "true_axis_ratio" and header["ZFIXED"] == pytest.approx(0.8)
        assert header["FREE"] == "true_bulge_fraction"
        np.testing.assert_allclose(table["true_axis_ratio"], np.linspace(0.0, 1.0, GRID))
        np.testing.assert_allclose(table["redshift"], 0.8)
        np.testing.assert_array_equal(hdus[0].data[2], app.walk.cache.get(table["true_axis_ratio"][2]).image)


def test_a_label_walks_animation_frames_say_the_moving_label_and_the_fixed_redshift(make_app, morph_checkpoint):
    from galaxy_explorer.app_parts.components.export_panel import export_captions

    app = make_app(checkpoint=morph_checkpoint)
    app.set_redshift(0.8)
    app.conditions_panel.mode.value = "true_axis_ratio"
    settle(app)
    app.export.param.update(frames=3, format="gif")
    assert export_captions(app.export.request(), app.walk.cache.key) == [
        "true_axis_ratio = 0.00\nz = 0.80", "true_axis_ratio = 0.50\nz = 0.80", "true_axis_ratio = 1.00\nz = 0.80"]
    app.conditions_panel.mode.value = "redshift"
    settle(app)
    app.export.param.update(walk_start=0.5, walk_stop=1.5, frames=2)
    assert export_captions(app.export.request(), app.walk.cache.key) == ["z = 0.50", "z = 1.50"]


def test_a_label_walk_export_outside_the_label_range_is_refused(make_app, morph_checkpoint):
    app = make_app(checkpoint=morph_checkpoint)
    app.conditions_panel.mode.value = "true_bulge_fraction"
    settle(app)
    app.export.param.update(walk_start=0.0, walk_stop=1.5, format="gif")
    app.export.button.clicks += 1
    assert "true_bulge_fraction stop = 1.5 is outside" in app.banners.problem.object
