"""Value types for command-line options, shared by every command: each refuses a bad value while the command
line is parsed (before any work), naming the value and what was expected."""

from __future__ import annotations

import argparse
import math

MAX_SEED = 2 ** 63 - 1  # torch and NumPy seed generators take non-negative 63-bit integers


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def seed(text: str) -> int:
    """An integer from 0 to 2**63 - 1."""
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**63-1, got {text}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def denoise_step(text: str) -> int | None:
    """A training step >= 0 for the final denoising step, or 'none' for the sampler's own output."""
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        return non_negative_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a training step (an integer >= 0) or 'none', got {text!r}") \
            from None


def add_denoise_step_argument(parser) -> None:
    """``--denoise-step T|none``: the final denoising step after the sampler (default: the generator's)."""
    from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP, DENOISE_STEP_HELP

    parser.add_argument("--denoise-step", type=denoise_step, default=DEFAULT_DENOISE_STEP, metavar="T|none",
                        help=DENOISE_STEP_HELP)



def finite_float(text: str) -> float:
    """A finite number (not nan or inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (a guidance scale, for one)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def condition(text: str) -> tuple[str, float]:
    """'NAME=VALUE' with a finite VALUE -> (NAME, VALUE)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}")
    try:
        return name, finite_float(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"value of condition {name!r} must be a finite number (NAME=NUMBER), "
                                         f"got {value!r}") from None


def add_guidance_argument(parser, *aliases: str) -> None:
    """``--guidance G``: classifier-free guidance scale; None (not given) means the checkpoint's default."""
    parser.add_argument("--guidance", *aliases, dest="guidance", type=non_negative_float, default=None,
                        metavar="G", help="classifier-free guidance scale, a finite number >= 0 (default: the "
                                          "checkpoint's own; values other than 1 need a model trained with "
                                          "condition dropout)")


def add_guide_argument(parser) -> None:
    """``--guide CONDITION`` (repeatable): the conditions guidance pushes towards; None means the checkpoint's."""
    parser.add_argument("--guide", action="append", default=None, metavar="CONDITION",
                        help="a condition the guidance pushes towards (repeat for several; default: the "
                             "checkpoint's, all of its conditions unless an evaluation chose fewer). Guiding the "
                             "morphology labels alone keeps the redshift in the unconditional pass too")


def add_overwrite_argument(parser, what: str = "the output file") -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} if it exists (by default an existing file is never replaced)")
