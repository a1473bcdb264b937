"""The README serves a newcomer: short, complete on settings and commands, links that resolve."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mentorkb.cli import cli
from rag.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def test_readme_is_short_and_names_every_setting_and_command() -> None:
    """The README names every command and links the full settings table, which names every setting."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "(docs/configuration.md)" in text
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [f"MENTORKB_{name.upper()}" for name in Settings.model_fields
               if f"| `MENTORKB_{name.upper()}` |" not in table]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
    commands = [name for name in cli.commands if not re.search(rf"mentorkb {name}\b|\| {name}\b", text)]
    assert not commands, f"commands missing from the README: {commands}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def test_no_lab_notebook_phrases_in_the_repo() -> None:
    """Docs and code speak to a reader, not to the session that wrote them."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    phrases = re.compile(r"this stop|a later stop|the issue's", re.I)
    hits = []
    for name in files:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".toml", ".txt", ".cfg"} or path == Path(__file__):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if phrases.search(line):
                hits.append(f"{name}:{n}")
    assert not hits, hits
