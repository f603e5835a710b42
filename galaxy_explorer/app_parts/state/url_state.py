"""The view in the page's URL, so that it can be shared and reloaded: seed, redshift, band, sampler, steps, guidance,
the morphology conditions (``c.<label>=<value>`` or ``c.<label>=any``) and the walk mode (``walk=redshift`` or a
label). No Panel in here.

Reading is forgiving by design: a URL is typed, pasted and edited by people, so a value that cannot be used is
named in a message and the default is kept; it never raises. The app's own parameters are checked against their
definitions (type, bounds, choices); the conditions and walk mode depend on the checkpoint, so they are checked
once it has loaded (``checked_conditions``).
"""

from __future__ import annotations

import math
import urllib.parse
from dataclasses import dataclass, field
from typing import Mapping

import param

from galaxy_explorer.app_parts.state.walk import REDSHIFT_AXIS

# URL key -> the app's parameter.
FIELDS = {"seed": "seed", "z": "redshift", "band": "band", "sampler": "sampler", "steps": "steps",
          "guidance": "guidance"}
CONDITION_PREFIX = "c."
ANY = "any"
WALK = "walk"


@dataclass
class UrlState:
    """What a URL asks for, checked as far as it can be before a model is loaded."""

    values: dict[str, object] = field(default_factory=dict)  # the app's parameter -> value
    conditions: dict[str, float | None] = field(default_factory=dict)  # label -> value (None: any), unchecked
    walk: str | None = None  # the walk mode asked for, unchecked
    problems: list[str] = field(default_factory=list)


def query_of(search: str) -> dict[str, str]:
    """'?seed=7&z=0.5' -> {'seed': '7', 'z': '0.5'} (strings, as typed; the last of a repeated key)."""
    return dict(urllib.parse.parse_qsl(search.lstrip("?"), keep_blank_values=True))


def _parsed(text: str, definition: param.Parameter):
    """``text`` as a value of ``definition``, or raise ValueError saying what was expected."""
    if isinstance(definition, param.Selector):
        if text not in definition.objects:
            raise ValueError(f"one of {', '.join(map(str, definition.objects))}")
        return text
    if isinstance(definition, param.Integer):
        expected = "a whole number" + _bounds_text(definition.bounds)
        try:
            value = int(text)
        except ValueError:
            raise ValueError(expected) from None
    else:
        expected = "a number" + _bounds_text(definition.bounds)
        try:
            value = float(text)
        except ValueError:
            raise ValueError(expected) from None
        if not math.isfinite(value):
            raise ValueError(expected)
    low, high = definition.bounds or (None, None)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(expected)
    return value


def _bounds_text(bounds) -> str:
    if not bounds or bounds == (None, None):
        return ""
    low, high = bounds
    return f" from {low:g} to {high:g}"


def parse_query(query: Mapping[str, str], params: param.Parameters) -> UrlState:
    """The state ``query`` (URL key -> text) asks for, for an app with parameters ``params``; keys it does not
    know are left alone (they may be another tool's)."""
    state = UrlState()
    for key, text in query.items():
        if key in FIELDS:
            name = FIELDS[key]
            definition = params[name]
            try:
                state.values[name] = _parsed(text.strip(), definition)
            except ValueError as exc:
                state.problems.append(f"{key}={text!r} in the URL is not {exc}; using {key}={definition.default}")
        elif key.startswith(CONDITION_PREFIX):
            label = key[len(CONDITION_PREFIX):]
            if text.strip().lower() == ANY:
                state.conditions[label] = None
                continue
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if math.isfinite(value):
                state.conditions[label] = value
            else:
                state.problems.append(f"{key}={text!r} in the URL is not a number or '{ANY}'; using the default")
        elif key == WALK:
            state.walk = text.strip()
    return state


def checked_conditions(state: UrlState, ranges: Mapping[str, tuple[float, float]], free_allowed: bool,
                       defaults: Mapping[str, float]) -> tuple[dict[str, float | None], str, list[str]]:
    """(label -> value or None, walk axis, problems) for a loaded checkpoint whose further conditions have training
    ``ranges``: what the URL asked for where the checkpoint can do it, else ``defaults`` and 'redshift'."""
    values: dict[str, float | None] = dict(defaults)
    problems = []
    for label, value in state.conditions.items():
        if label not in ranges:
            known = ", ".join(ranges) or "none besides redshift"
            problems.append(f"the URL sets condition {label!r}, which this checkpoint does not have ({known})")
        elif value is None and not free_allowed:
            problems.append(f"the URL leaves {label!r} free ('{ANY}'), but this checkpoint was trained without "
                            "condition dropout; using the default value")
        elif value is not None and not ranges[label][0] <= value <= ranges[label][1]:
            low, high = ranges[label]
            problems.append(f"c.{label}={value:g} in the URL is outside the training range {low:g}–{high:g}; "
                            "using the default")
        else:
            values[label] = value
    axis = REDSHIFT_AXIS
    if state.walk is not None:
        if state.walk == REDSHIFT_AXIS or state.walk in ranges:
            axis = state.walk
        else:
            problems.append(f"walk={state.walk!r} in the URL is neither 'redshift' nor a condition of this "
                            "checkpoint; walking the redshift")
    return values, axis, problems


def to_query(values: Mapping[str, object], conditions: Mapping[str, float | None], axis: str) -> dict[str, str]:
    """The URL query of a view: ``values`` the app's parameters (as in ``FIELDS``), the conditions and walk mode
    (only for a checkpoint that has further conditions)."""
    query = {}
    for key, name in FIELDS.items():
        value = values[name]
        query[key] = f"{value:.6g}" if isinstance(value, float) else str(value)
    for label, value in conditions.items():
        query[CONDITION_PREFIX + label] = ANY if value is None else f"{value:.6g}"
    if conditions:
        query[WALK] = axis
    return query
