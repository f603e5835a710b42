"""Command-line options declared where the settings are: on the fields of a settings dataclass.

A settings class (``TrainConfig``, ``EvaluationConfig``) marks each field that a command line may set with
``option(...)``: its help text and, where the flag is not simply ``--field-name`` or the value not simply of the
field's type, the flag, metavar, choices, value type or argparse action. ``galaxy_explorer.commands.config_arguments``
builds the argparse arguments of every command line that sets such a class from these declarations, and turns the
parsed values back into the class's keyword arguments; so a new option is one field.

This module only describes options (it does not import argparse or the commands), so that the settings classes,
which live in lower layers than the command lines, can declare them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

OPTION_KEY = "galaxy_explorer.option"  # the key of a field's ``metadata`` that holds its ``Option``


@dataclass(frozen=True)
class Option:
    """How one field appears on a command line. ``help`` may use ``%(default)s`` (the default the parser shows)."""

    help: str
    flag: Optional[str] = None  # default: "--" + the field name with "-" for "_"
    metavar: Optional[str] = None
    choices: Optional[tuple] = None
    # A callable (int, float, Path) or the name of a value type in galaxy_explorer.commands.arguments ("seed",
    # "positive_int"), which refuses a bad value while the command line is parsed; default: the field's type.
    value_type: Union[Callable[[str], Any], str, None] = None
    action: Optional[str] = None  # default: "store_true" for a bool field, else storing the value
    nargs: Optional[str] = None
    dest: Optional[str] = None  # the parsed arguments' attribute; default: the flag's name, "_" for "-"
    to_config: Optional[Callable[[Any], Any]] = None  # a parsed value (not None) -> the field's value


def option(default: Any = dataclasses.MISSING, *, help: str, default_factory: Any = dataclasses.MISSING,
           **details: Any) -> Any:
    """A dataclass field that a command line may set (``Option``'s attributes as keywords)."""
    metadata = {OPTION_KEY: Option(help, **details)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def options_of(config_class: type) -> dict[str, Option]:
    """{field name: Option} of the fields that a command line may set, in the class's field order."""
    return {f.name: f.metadata[OPTION_KEY] for f in dataclasses.fields(config_class) if OPTION_KEY in f.metadata}


def field_default(config_class: type, name: str) -> Any:
    """A field's default value (``dataclasses.MISSING`` when it has none)."""
    for item in dataclasses.fields(config_class):
        if item.name == name:
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
            return item.default
    raise KeyError(f"{config_class.__name__} has no field {name!r}")
