"""The README is for users and stays short; the rest lives in docs/, and every link between them leads somewhere.

Issue 30: a newcomer finds how to run, train and evaluate on the README's first screen and the research record in
docs/. CI and users copy the README's two commands, so they must stay there word for word.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
README = REPO_DIR / "README.md"
DOCS_DIR = REPO_DIR / "docs"
MAX_README_LINES = 250
RUN_COMMAND = "pip install -e . && panel serve galaxy_explorer/app.py --warm --reuse-sessions warm"
TEST_COMMAND = 'pip install -e ".[dev]" && pytest -q'
# A screen of a rendered README: title, a few lines of introduction and the quick start.
FIRST_SCREEN_LINES = 40

# [text](target) and ![alt](target); a target ends at the first space (a title may follow) or closing bracket.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS_DIR.glob("*.md"))]


def prose(text: str) -> str:
    """The text a reader follows links in: code blocks and inline code hold examples, not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def relative_links(file: Path) -> list[str]:
    return [target for target in LINK.findall(prose(file.read_text()))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)]  # http:, https:, mailto:


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped (word characters, spaces and hyphens kept),
    spaces turned into hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(file: Path) -> set[str]:
    return {github_anchor(heading) for heading in HEADING.findall(FENCE.sub("", file.read_text()))}


def test_the_readme_is_at_most_250_lines():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, (f"README.md has {lines} lines, more than {MAX_README_LINES}: move detail "
                                       "into docs/ and link it")


def test_the_readme_holds_the_run_and_test_commands_word_for_word():
    readme = README.read_text()
    assert RUN_COMMAND in readme, f"README.md lost the run command {RUN_COMMAND!r}"
    assert TEST_COMMAND in readme, f"README.md lost the test command {TEST_COMMAND!r}"


def test_the_first_screen_shows_how_to_run_train_and_evaluate():
    first_screen = "\n".join(README.read_text().splitlines()[:FIRST_SCREEN_LINES])
    for command in (RUN_COMMAND, TEST_COMMAND, "galaxy-explorer train ", "galaxy-explorer evaluate "):
        assert command in first_screen, f"{command!r} is not in README.md's first {FIRST_SCREEN_LINES} lines"


def test_the_readme_keeps_its_caveats_above_the_pictures():
    readme = README.read_text()
    caveats = readme.find("Read this before you read the pictures")
    assert caveats != -1, "README.md lost its caveats"
    for caveat in ("is not the history of one galaxy", "The built-in survey is synthetic"):
        assert caveat in readme[caveats:caveats + 2000], f"README.md's caveats lost {caveat!r}"
    assert caveats < readme.find("docs/app-screenshot.png") and caveats < readme.find("docs/evolution.gif")


def test_the_readme_links_every_document_in_docs():
    linked = {(README.parent / target.split("#")[0]).resolve() for target in relative_links(README)}
    for document in sorted(DOCS_DIR.glob("*.md")):
        if document.name != "README.md":
            assert document.resolve() in linked, f"README.md does not link {document.relative_to(REPO_DIR)}"


@pytest.mark.parametrize("file", markdown_files(), ids=lambda file: str(file.relative_to(REPO_DIR)))
def test_every_relative_link_and_image_resolves(file):
    broken = []
    for target in relative_links(file):
        path, _, anchor = target.partition("#")
        destination = (file.parent / path).resolve() if path else file
        if not destination.exists():
            broken.append(f"{target} (no file {destination})")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target} (no heading #{anchor} in {destination.name})")
    assert not broken, f"{file.relative_to(REPO_DIR)} has broken links: " + "; ".join(broken)


def test_the_link_check_sees_links_and_headings_as_github_does(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# How good the shipped model is\n\n## Training on a GPU in one call\n\n### GPU sessions "
                    "(2026-11-27)\n\n```bash\n# not a heading [nor](a-link.md)\n```\n[a](other.md#x) ![b](pic.png) "
                    "[c](https://example.org/x) `[d](code.md)`\n")
    assert anchors(page) == {"how-good-the-shipped-model-is", "training-on-a-gpu-in-one-call",
                             "gpu-sessions-2026-11-27"}
    assert relative_links(page) == ["other.md#x", "pic.png"]
