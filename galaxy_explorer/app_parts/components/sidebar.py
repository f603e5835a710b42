"""The sidebar's controls, on the app's own parameters: the seed, a new galaxy, the sampler and its steps, the
guidance scale, the band, and the model and survey to load.

``SidebarControls`` builds them and lays out the sidebar with the panels the app gives it (the conditions, the
display controls, the export, what is loaded). Two groups have behaviour of their own: the guidance scale
(``GuidanceControls``: the checkpoint's default, and a note saying what the scale does with it, or why it stays at
1 without condition dropout) and the model choice (``ModelChoice``: the shipped models by what they are conditioned
on; picking one fills in the checkpoint field and loads it).
"""

from __future__ import annotations

import panel as pn
import param

from galaxy_explorer.app_parts.components.conditions_panel import label_title
from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT, shipped_checkpoints, shipped_or_given

ANOTHER_FILE = "another file (path below)"


def shipped_model_options() -> dict[str, str]:
    """The shipped diffusion models (label -> the checkpoint field's value for it), then "another file"."""
    options = {}
    for conditioned_on, path in shipped_checkpoints().items():
        value = "" if path == DEFAULT_DIFFUSION_CHECKPOINT else path.name
        options[f"{path.stem}: {conditioned_on}"] = value
    return {**options, ANOTHER_FILE: ANOTHER_FILE}


class ModelChoice:
    """The shipped-model list, the checkpoint and survey fields and Load, on ``app``'s parameters ``checkpoint``,
    ``data`` and ``load`` (an event)."""

    def __init__(self, app: param.Parameterized):
        self._app = app
        p = app.param
        self.checkpoint_input = pn.widgets.TextInput.from_param(
            p.checkpoint, label="Checkpoint", placeholder=f"shipped: assets/{DEFAULT_DIFFUSION_CHECKPOINT.name}")
        self.data_input = pn.widgets.TextInput.from_param(
            p.data, label="Survey (HDF5)", placeholder="built-in SYNTHETIC survey, test split")
        self.load_button = pn.widgets.Button.from_param(p.load, label="Load", width=100, css_classes=["load-button"])
        self.select = pn.widgets.Select(label="Shipped model", options=shipped_model_options(),
                                        css_classes=["model-select"], width=280,
                                        description="The diffusion models that come with Galaxy Explorer, by what "
                                                    "they are conditioned on; pick one to load it")
        self.widgets = [self.select, self.checkpoint_input, self.data_input, self.load_button]  # in the sidebar
        self._show_choice()
        app.param.watch(self._show_choice, "checkpoint")
        self.select.param.watch(self._pick, "value")

    def _show_choice(self, *_events) -> None:
        """The list follows the checkpoint field: a shipped model's name, or "another file"."""
        given = self._app.checkpoint.strip()
        chosen = shipped_or_given(given) if given else DEFAULT_DIFFUSION_CHECKPOINT
        names = {str(shipped_or_given(value)) if value else str(DEFAULT_DIFFUSION_CHECKPOINT): value
                 for value in self.select.options.values() if value != ANOTHER_FILE}
        self.select.value = names.get(str(chosen), ANOTHER_FILE)

    def _pick(self, event) -> None:
        if event.new == ANOTHER_FILE or event.new == self._app.checkpoint.strip():
            return
        self._app.checkpoint = event.new
        self._app.param.trigger("load")


def guidance_note(generator) -> str:
    """What the scale does with ``generator``'s checkpoint, or why it is off."""
    if not generator.supports_guidance:
        return ("Guidance is off: this checkpoint was trained without condition dropout, so it has no unconditional "
                "model to guide with.")
    guided = tuple(generator.default_guided)
    towards = "its conditions" if guided == tuple(generator.condition_names) else \
        "its " + ", ".join(label_title(name) for name in guided) + \
        (" only, not the redshift" if "redshift" not in guided else " only")
    default = float(generator.default_guidance)
    return f"Checkpoint default: {default:g}. Above 1 the galaxy follows {towards} more strongly."


class GuidanceControls:
    """The guidance field, its Default button and its note, on ``app``'s ``guidance`` and ``reset_guidance``."""

    def __init__(self, app: param.Parameterized):
        self._app = app
        self._default: float | None = None  # the loaded checkpoint's default scale; None before one loads
        p = app.param
        self.input = pn.widgets.FloatInput.from_param(
            p.guidance, label="Guidance scale", step=0.1, width=130, css_classes=["guidance-input"],
            description="Classifier-free guidance: above 1 the image follows its conditions more strongly")
        self.reset = pn.widgets.Button.from_param(p.reset_guidance, label="Default", width=130,
                                                  css_classes=["guidance-reset"], align="end")
        self.note = pn.pane.HTML("", width=280, margin=(0, 10), css_classes=["guidance-note"])
        self.widgets = [pn.Row(self.input, self.reset), self.note]  # in the sidebar
        app.param.watch(self._reset, "reset_guidance")

    def show(self, generator, asked: float | None = None) -> list[str]:
        """A model has loaded: the scale at its checkpoint's default (or ``asked``, a shared link's), fixed at 1
        without condition dropout. Returns what of ``asked`` could not be used, for the person."""
        self._default = float(generator.default_guidance)
        problems = []
        if generator.supports_guidance:
            self._app.guidance = self._default if asked is None else float(asked)
        else:
            if asked is not None and asked != 1.0:
                problems.append(f"guidance={asked:g} in the URL: this checkpoint was trained without condition "
                                "dropout, so it samples without guidance (scale 1)")
            self._app.guidance = 1.0
        self.input.disabled = self.reset.disabled = not generator.supports_guidance
        self.note.object = f"<small>{guidance_note(generator)}</small>"
        return problems

    def _reset(self, *_events) -> None:
        if self._default is not None:
            self._app.guidance = self._default


class SidebarControls:
    """The sidebar's widgets on ``app``'s parameters (``seed``, ``new_galaxy``, ``sampler``, ``steps``, ``band``,
    ``guidance``, ``reset_guidance``, ``checkpoint``, ``data``, ``load``)."""

    def __init__(self, app: param.Parameterized):
        p = app.param
        self.seed_input = pn.widgets.IntInput.from_param(p.seed, label="Seed", width=130, css_classes=["seed-input"])
        self.new_galaxy_button = pn.widgets.Button.from_param(p.new_galaxy, label="New galaxy", color="primary",
                                                              width=130)
        self.sampler_select = pn.widgets.Select.from_param(p.sampler, label="Sampler", width=130)
        self.steps_input = pn.widgets.IntInput.from_param(p.steps, label="Steps", width=130,
                                                          css_classes=["steps-input"])
        self.band_toggle = pn.widgets.RadioButtonGroup.from_param(p.band, label="Show", color="default", width=280)
        self.guidance = GuidanceControls(app)
        self.model = ModelChoice(app)

    def layout(self, conditions, display, export, loaded) -> pn.Column:
        """The sidebar, with the app's ``conditions`` panel, ``display`` controls, ``export`` panel and what is
        ``loaded``."""
        return pn.Column(
            "### Galaxy", pn.Row(self.seed_input, self.new_galaxy_button), pn.Row(self.sampler_select, self.steps_input),
            *self.guidance.widgets, conditions, self.band_toggle, display,
            "### Export this walk", export,
            "### Model and data", *self.model.widgets, loaded,
            width=300,
        )
