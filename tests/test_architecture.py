"""The one-way rule between rooms, read from the source (every import, including
those inside functions and under TYPE_CHECKING).

Data flows documents -> ingest -> store -> retrieve -> answer -> ui. A room may
import only rooms of a lower rank: `rag.core` is below everything, the entry points
(`mentorkb`: the CLI, the composition root and the tools) are above everything, and
rooms of the same rank (ingest and retrieval; safety, people and backends) do not
import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RANKS = {
    "rag": 0,  # the package itself: its docstring and version
    "rag.core": 0,
    "rag.backends": 1,
    "rag.safety": 1,
    "rag.people": 1,
    "rag.store": 2,
    "ingest": 3,
    "rag.retrieval": 3,
    "rag.answering": 4,
    "rag.service": 5,
    "ui": 6,
    "mentorkb": 7,
}


def room(module: str) -> str | None:
    """The room a dotted module name belongs to: its longest prefix in RANKS."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in RANKS:
            return name
    return None


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, module) for every import of a MentorKB module in one file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # `from rag.answering import sentences` imports the submodule.
            out += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in out if room(name) is not None]


def violations(root: Path) -> list[str]:
    found = []
    for top in ("rag", "ingest", "ui", "mentorkb"):
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            mine = room(module)
            for line, name in imports(path, module):
                theirs = room(name)
                if theirs != mine and RANKS[theirs] >= RANKS[mine]:
                    found.append(f"{path.relative_to(root)}:{line}: {mine} imports {name} ({theirs})")
    return found


def test_imports_flow_one_way():
    assert violations(ROOT) == []


def test_rag_has_few_top_level_modules():
    assert len(list((ROOT / "rag").glob("*.py"))) <= 6


@pytest.mark.parametrize("bad", [
    ("rag/core/extra.py", "from rag.store.index import LiveIndex\n"),
    ("rag/store/extra.py", "def f():\n    from rag.retrieval import retrieve\n"),
    ("ingest/extra.py", "from rag.retrieval.ranker import LearnedRanker\n"),
    ("rag/answering/extra.py", "from ..service import Assistant\n"),
])
def test_a_backward_import_is_caught(tmp_path, bad):
    """Copies the tree, adds one module that imports upward, and expects it named."""
    for top in ("rag", "ingest", "ui", "mentorkb"):
        for path in (ROOT / top).rglob("*.py"):
            target = tmp_path / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    rel, source = bad
    (tmp_path / rel).write_text(source)
    found = violations(tmp_path)
    assert len(found) == 1 and found[0].startswith(rel), found
