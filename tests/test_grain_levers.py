"""The grain-lever table of docs/experiments.md is what benchmarks/grain_levers.py measured: every row comes from
benchmarks/results/grain_levers.json, each lever there was run with the settings the script now names, and its
recorded command is one a user can run."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.support.scripts import load_script

REPO_DIR = Path(__file__).resolve().parents[1]
RESULTS = REPO_DIR / "benchmarks" / "results" / "grain_levers.json"


@pytest.fixture(scope="module")
def script():
    return load_script("benchmarks/grain_levers.py")


@pytest.fixture(scope="module")
def results():
    return json.loads(RESULTS.read_text())


def test_the_experiments_page_shows_the_table_of_the_recorded_results(script, results):
    experiments = (REPO_DIR / "docs" / "experiments.md").read_text()
    assert script.markdown_table(results) in experiments, (
        "docs/experiments.md's lever table differs from 'python benchmarks/grain_levers.py --table'")


def test_every_recorded_lever_ran_with_the_settings_the_script_gives_it(script, results):
    assert results["levers"], "no lever recorded"
    for name, lever in results["levers"].items():
        assert name in script.LEVERS, f"{name!r} is recorded but the script has no such lever"
        assert lever["settings"] == script.LEVERS[name], name
        assert lever["command"] == script.lever_command(script.LEVERS[name], results["n"], results["seed"])


def test_each_recorded_command_parses_as_the_evaluation_the_lever_ran(script, results):
    """The command beside a lever gives the evaluation config the lever ran (what a user would rerun)."""
    from galaxy_explorer.cli import build_parser

    for name, lever in results["levers"].items():
        words = shlex.split(lever["command"])
        assert words[:2] == ["galaxy-explorer", "evaluate"]
        args = build_parser().parse_args(words[1:])
        for key, value in lever["settings"].items():
            assert getattr(args, key) == value, f"{name}: {key}"
        assert (args.n, args.seed, args.labels_free) == (results["n"], results["seed"], True)


def test_the_default_lever_is_the_generators_default(script, results):
    from galaxy_explorer.diffusion.samplers import DEFAULT_DENOISE_STEP

    defaults = [name for name in script.LEVERS if name.endswith("(the default)")]
    assert len(defaults) == 1 and script.LEVERS[defaults[0]]["denoise_step"] == DEFAULT_DENOISE_STEP
    assert defaults[0] in results["levers"]
