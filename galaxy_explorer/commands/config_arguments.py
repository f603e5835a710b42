"""Argparse arguments built from a settings class's ``option(...)`` fields (``galaxy_explorer.options``), and the
parsed values turned back into the class's keyword arguments: the one place where ``galaxy-explorer train``,
``galaxy-explorer evaluate`` and ``train/gpu_run.py`` get their options from ``TrainConfig`` and ``EvaluationConfig``.

Checks of the values stay in the settings class (``__post_init__`` or ``check``); the value types of
``commands.arguments`` (a seed, a positive integer) refuse a malformed value while the command line is parsed.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Mapping, Optional

from galaxy_explorer.commands import arguments
from galaxy_explorer.options import Option, field_default, options_of


@dataclass(frozen=True)
class ConfigArguments:
    """The options of one settings class on one parser: which fields, under which flags, with which defaults.

    Every field declared with ``option`` is an argument unless ``exclude`` names it (a setting the caller decides
    itself) or ``only`` leaves it out, so that a new field reaches every parser without a change there.
    ``unset_defaults``: an option not given is None in the parsed arguments and is left out of ``kwargs``, so the
    class's own default applies (``train/gpu_run.py``'s recipe); the help still shows that default.
    """

    config_class: type
    exclude: Collection[str] = ()
    only: Optional[Collection[str]] = None
    flags: Mapping[str, str] = field(default_factory=dict)  # field -> flag, where this parser names it otherwise
    defaults: Mapping[str, Any] = field(default_factory=dict)  # field -> this parser's default
    help: Mapping[str, str] = field(default_factory=dict)  # field -> help, where this parser means it otherwise
    unset_defaults: bool = False

    def __post_init__(self):
        declared = options_of(self.config_class)
        named = set(self.exclude) | set(self.only or ()) | set(self.flags) | set(self.defaults) | set(self.help)
        unknown = sorted(named - set(declared))
        if unknown:  # a misspelt name would silently leave an option out or in
            raise ValueError(f"{self.config_class.__name__} declares no option {', '.join(unknown)}")

    def options(self) -> dict[str, Option]:
        """{field name: Option} of the fields on this parser, in the class's field order."""
        return {name: declared for name, declared in options_of(self.config_class).items()
                if name not in self.exclude and (self.only is None or name in self.only)}

    def flag(self, name: str) -> str:
        return self.flags.get(name) or self.options()[name].flag or "--" + name.replace("_", "-")

    def dest(self, name: str) -> str:
        """The parsed arguments' attribute of a field: the declared one, else the flag's name."""
        declared = self.options()[name]
        if declared.dest and name not in self.flags:
            return declared.dest
        return self.flag(name).lstrip("-").replace("-", "_")

    def add_to(self, parser) -> None:
        """Add one argument per field to ``parser`` (an ArgumentParser or an argument group)."""
        hints = typing.get_type_hints(self.config_class)
        for name, declared in self.options().items():
            parser.add_argument(self.flag(name), **self._argument(name, declared, hints[name]))

    def kwargs(self, args: argparse.Namespace) -> dict[str, Any]:
        """The settings class's keyword arguments from the parsed ``args`` (unset ones left out with
        ``unset_defaults``)."""
        out = {}
        for name, declared in self.options().items():
            value = getattr(args, self.dest(name))
            if value is None and self.unset_defaults:
                continue
            out[name] = declared.to_config(value) if declared.to_config and value is not None else value
        return out

    def _argument(self, name: str, declared: Option, hint: Any) -> dict[str, Any]:
        """The keywords of ``add_argument`` for one field."""
        config_default = field_default(self.config_class, name)
        value_type, is_bool = _value_type(declared, hint)
        action = declared.action or ("store_true" if is_bool else None)
        keywords: dict[str, Any] = {"dest": self.dest(name), "help": self.help.get(name, declared.help)}
        if name in self.defaults:
            keywords["default"] = self.defaults[name]
        elif config_default is dataclasses.MISSING:
            keywords["required"] = True
        elif self.unset_defaults:
            keywords["default"] = None
            # The help shows what an unset option means: the class's default.
            keywords["help"] = keywords["help"].replace("%(default)s", _shown(config_default))
        elif action == "append":
            keywords["default"] = []  # the values given, which ``to_config`` turns into the field's value
        elif action not in ("store_true", "store_false"):
            keywords["default"] = config_default
        if action:
            keywords["action"] = action
        if action not in ("store_true", "store_false"):
            for key in ("metavar", "choices", "nargs"):
                if getattr(declared, key) is not None:
                    keywords[key] = getattr(declared, key)
            if value_type is not None and value_type is not str:
                keywords["type"] = value_type
        return keywords


def _value_type(declared: Option, hint: Any) -> tuple[Any, bool]:
    """(the callable that parses one value, whether the field is a bool): the declared value type, else the
    field's type with Optional and tuple[...] unwrapped."""
    while typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) in (tuple, list):
        hint = typing.get_args(hint)[0] if typing.get_args(hint) else str
    if isinstance(declared.value_type, str):
        return getattr(arguments, declared.value_type), hint is bool
    if declared.value_type is not None:
        return declared.value_type, hint is bool
    if hint in (int, float, str, Path):
        return hint, False
    return None, hint is bool


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)
