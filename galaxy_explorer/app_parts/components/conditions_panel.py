"""The morphology conditions of a checkpoint trained on more than redshift: one slider per label, an "any" box that
leaves a label free, what each label means and where it came from, and the walk mode (along the redshift with the
labels held, or along one label at the slider's redshift).

``ConditionsPanel`` is widgets only: its output parameters are what the app passes on to the walk controller.
``conditions`` (label -> value, None where left free) changes when a slider is released or a box is ticked;
``axis`` ('redshift' or a label) when the walk mode changes; ``moving`` follows the slider of the label being walked
while it is dragged (the page has shown the nearest frame already, as for the redshift slider).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

import panel as pn
import param

from galaxy_explorer.app_parts.state.walk import REDSHIFT_AXIS


@dataclass(frozen=True)
class LabelDescription:
    title: str  # a short name for the slider
    meaning: str  # what the value says about the galaxy
    source: str  # where the training values came from


# Labels the package's training data can carry (the built-in synthetic survey's truth columns, see
# synthetic/synthetic_survey.py). A checkpoint may be trained on any column; unknown ones get a generic line.
KNOWN_LABELS: dict[str, LabelDescription] = {
    "true_bulge_fraction": LabelDescription(
        "bulge fraction",
        "share of the galaxy's rest-frame r-band light in its bulge: 0 a pure disc, 1 a pure spheroid",
        "survey column true_bulge_fraction (the synthetic survey's truth catalogue)"),
    "true_axis_ratio": LabelDescription(
        "axis ratio b/a",
        "minor over major axis of the projected light: small is an edge-on disc or elongated galaxy, 1 is round",
        "survey column true_axis_ratio (the synthetic survey's truth catalogue)"),
    "true_has_arms": LabelDescription(
        "spiral arms",
        "1: drawn with spiral arms, 0: without; values between ask the model for a mixture of the two",
        "survey column true_has_arms (the synthetic survey's truth catalogue, 0 or 1)"),
    "true_has_clumps": LabelDescription(
        "star-forming clumps",
        "1: drawn with bright star-forming clumps, 0: smooth; values between mix the two",
        "survey column true_has_clumps (the synthetic survey's truth catalogue, 0 or 1)"),
    "true_population": LabelDescription(
        "population",
        "0: quiescent (red spheroid), 1: star-forming (blue disc)",
        "survey column true_population (the synthetic survey's truth catalogue, 0 or 1)"),
    "true_sersic_n": LabelDescription(
        "Sérsic index",
        "steepness of the light profile: 1 an exponential disc, 4 a de Vaucouleurs spheroid",
        "survey column true_sersic_n (the synthetic survey's truth catalogue)"),
}


def describe_label(name: str, value_range: tuple[float, float]) -> LabelDescription:
    """What ``name`` means and where it came from; for a column not in ``KNOWN_LABELS``, its name and range."""
    known = KNOWN_LABELS.get(name)
    if known is not None:
        return known
    low, high = value_range
    return LabelDescription(name, f"a condition this checkpoint was trained on, range {low:g}–{high:g}",
                            f"survey column {name}, range {low:g}–{high:g}")


def label_title(name: str) -> str:
    return KNOWN_LABELS[name].title if name in KNOWN_LABELS else name


class ConditionsPanel(pn.viewable.Viewer):
    """Sliders, "any" boxes and the walk mode for a checkpoint's further conditions; empty for a redshift-only
    checkpoint. ``show_labels`` (from the app, when a model loads) builds the widgets."""

    conditions = param.Dict(default={}, doc="Label -> value held by the walk; None: left free (null embedding)")
    axis = param.String(default=REDSHIFT_AXIS, doc="What the walk moves: 'redshift' or one label")
    moving = param.Number(default=None, allow_None=True,
                          doc="The walked label's slider while it is dragged (None at rest)")

    def __init__(self, **params):
        super().__init__(**params)
        self.sliders: dict[str, pn.widgets.FloatSlider] = {}
        self.free_boxes: dict[str, pn.widgets.Checkbox] = {}
        self.descriptions: dict[str, pn.pane.HTML] = {}
        self.mode = pn.widgets.Select(label="Walk", options={"redshift (labels held)": REDSHIFT_AXIS}, width=280,
                                      css_classes=["walk-mode"])
        self.mode.param.watch(self._mode_changed, "value")
        self._layout = pn.Column(margin=0)
        self._ranges: dict[str, tuple[float, float]] = {}

    def __panel__(self):
        return self._layout

    def show_labels(self, ranges: Mapping[str, tuple[float, float]], free_allowed: bool,
                    values: Mapping[str, float | None], axis: str = REDSHIFT_AXIS) -> None:
        """One slider per label in ``ranges`` starting at ``values`` (None: "any", only if ``free_allowed``: the
        checkpoint was trained with condition dropout), and the walk mode ``axis``. No labels: nothing shown."""
        self._ranges = {name: (float(low), float(high)) for name, (low, high) in ranges.items()}
        self.sliders, self.free_boxes, self.descriptions = {}, {}, {}
        rows = []
        for name, (low, high) in self._ranges.items():
            value = values.get(name)
            free = value is None and free_allowed
            start = 0.5 * (low + high) if value is None else min(max(float(value), low), high)
            description = describe_label(name, (low, high))
            slider = pn.widgets.FloatSlider(label=f"{description.title} ({name})", start=low, end=high, value=start,
                                            step=(high - low) / 100 or 0.01, width=200, disabled=free,
                                            show_value=not free,  # a free label has no value to show
                                            css_classes=["condition-slider", f"condition-{name}"])
            box = pn.widgets.Checkbox(label="any", value=free, disabled=not free_allowed, width=60,
                                      css_classes=["condition-any", f"condition-any-{name}"],
                                      align="end")
            # A change re-bakes, so a slider acts on release only; dragging the walked label scrubs its walk.
            slider.param.watch(self._released, "value_throttled")
            slider.param.watch(lambda event, name=name: self._dragged(name, event.new), "value")
            box.param.watch(self._released, "value")
            text = pn.pane.HTML(
                f"<small><b>{description.title}</b>: {description.meaning}. <i>From {description.source}.</i>"
                + ("" if free_allowed else " This checkpoint was trained without condition dropout, so every "
                   "label needs a value (no “any”).") + "</small>",
                width=280, margin=(0, 10, 8, 10), css_classes=["condition-description"])
            self.sliders[name], self.free_boxes[name], self.descriptions[name] = slider, box, text
            rows += [pn.Row(slider, box, margin=0), text]
        options = {"redshift (labels held)": REDSHIFT_AXIS}
        options.update({f"{label_title(name)} at fixed z": name for name in self._ranges})
        self.mode.options = options
        axis = axis if axis in self._ranges else REDSHIFT_AXIS
        self.mode.value = axis
        self._layout.objects = ([pn.pane.HTML("<b>Morphology conditions</b>", margin=(5, 10, 0, 10)), *rows,
                                 self.mode] if self._ranges else [])
        self.param.update(conditions=self._values(), axis=axis, moving=None)

    def _values(self) -> dict[str, float | None]:
        # The walked label always has its slider's value, "any" or not: a release there is a new position.
        return {name: None if self.free_boxes[name].value and name != self.axis else float(self.sliders[name].value)
                for name in self.sliders}

    def _released(self, _event=None) -> None:
        for name, slider in self.sliders.items():
            # The walked label is the walk's position, which needs a value: its "any" box is ignored meanwhile.
            free = self.free_boxes[name].value and name != self.axis
            slider.param.update(disabled=free, show_value=not free)
        self.param.update(conditions=self._values(), moving=None)

    def _dragged(self, name: str, value: float) -> None:
        if name == self.axis:
            self.moving = float(value)

    def _mode_changed(self, event) -> None:
        self.axis = event.new or REDSHIFT_AXIS
        self._released()

    def scrub_walk_with(self, code: str, args: dict) -> None:
        """In the browser, the walked label's slider shows the nearest frame while it is dragged, as the redshift
        slider does along the redshift: ``code`` and ``args`` are the main image's slider callback
        (``MainImageView.slider_js``), run only while that label is the walk mode."""
        for name, slider in self.sliders.items():
            label = next(text for text, value in self.mode.options.items() if value == name)
            # (Bokeh's Select holds the option's value, or in older Panel its label)
            guard = f"if (mode.value !== {json.dumps(name)} && mode.value !== {json.dumps(label)}) {{ return; }}\n"
            slider.jscallback(args={**args, "mode": self.mode}, value=guard + code)

    def position(self) -> float | None:
        """Where the walked label's slider is (None along the redshift)."""
        slider = self.sliders.get(self.axis)
        return None if slider is None else float(slider.value)
