"""The README's figure of the redshift range (docs/range-ends.png) is in step with the script that makes it, the
shipped checkpoint and the survey: what it was drawn from is recorded beside it (docs/range-ends.json), and each
part of that record is checked here without redrawing the figure (which takes about a minute)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.scripts import load_script

REPO_DIR = Path(__file__).resolve().parents[1]
FIGURE = REPO_DIR / "docs" / "range-ends.png"
RECORD = FIGURE.with_suffix(".json")
REMAKE = "run 'python benchmarks/make_range_figure.py'"


@pytest.fixture(scope="module")
def script():
    return load_script("benchmarks/make_range_figure.py")


@pytest.fixture(scope="module")
def record():
    assert FIGURE.is_file() and RECORD.is_file(), f"{FIGURE.name} or {RECORD.name} is missing: {REMAKE}"
    return json.loads(RECORD.read_text())


def test_the_figure_is_the_file_its_record_describes_and_is_small(record, script):
    png = FIGURE.read_bytes()
    assert hashlib.sha256(png).hexdigest() == record["png_sha256"], f"{FIGURE.name} was changed by hand: {REMAKE}"
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < script.MAX_BYTES


def test_the_figure_was_drawn_with_the_scripts_settings_from_the_shipped_checkpoint(record, script):
    from galaxy_explorer.paths import DEFAULT_DIFFUSION_CHECKPOINT

    assert {key: record[key] for key in script.settings()} == script.settings(), f"settings changed: {REMAKE}"
    assert record["seeds"][0] == 7 and record["redshifts"] == [0.02, 0.5, 1.0, 2.0, 3.0]
    shipped = hashlib.sha256(DEFAULT_DIFFUSION_CHECKPOINT.read_bytes()).hexdigest()
    assert record["checkpoint_sha256"] == shipped, f"the default checkpoint changed: {REMAKE}"


def test_the_survey_galaxies_are_still_those_nearest_each_redshift(record, script):
    from galaxy_explorer.data.survey import Survey, builtin_survey_path

    with Survey(builtin_survey_path("testing")) as survey:
        rows = [survey.nearest(z, script.SURVEY_PER_REDSHIFT).tolist() for z in script.REDSHIFTS]
    assert rows == record["survey_rows"], f"the built-in survey changed: {REMAKE}"


def test_seed_7_draws_today_what_the_figure_shows_at_both_ends_of_the_range(record, script):
    """The same checkpoint and settings could still draw other pixels (a sampler or network change): redraw seed 7
    at z = 0.02 and 3 and compare with the figure's fingerprint (up to float rounding between batch sizes)."""
    import torch

    from galaxy_explorer.diffusion import Generator

    torch.set_num_threads(script.THREADS)
    ends = [script.REDSHIFTS.index(0.02), script.REDSHIFTS.index(3.0)]
    frames = Generator.load().frames(7, [script.REDSHIFTS[k] for k in ends], sampler=script.SAMPLER,
                                     steps=script.STEPS, denoise_step=record["denoise_step"])
    expected = [record["fingerprint"]["7"][k] for k in ends]
    np.testing.assert_allclose(script.fingerprint(frames), expected, rtol=1e-3, atol=1e-3,
                               err_msg=f"seed 7 draws other pixels than the figure shows: {REMAKE}")


def test_the_readme_shows_the_figure():
    assert "](docs/range-ends.png)" in (REPO_DIR / "README.md").read_text()
