"""`mentorkb eval --followups`: follow-up questions asked with and without their conversation.

Each line: {"id", "history": [{"role", "content"}], "question" (the follow-up as
typed), "standalone" (a person's rewrite), "gold": [sources], "answer_keywords",
"kind", "split"}, as in ../shared/followups/dev.jsonl. Every conversation is asked
three ways through the real `ask` path: the follow-up alone, the follow-up with its
history (the product's resolution), and the standalone rewrite (the upper bound).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mentorkb.tools import evaluate as ev
from rag.core import jsonl
from rag.core.errors import InvalidInput
from rag.core.types import Answer

WAYS = ("typed", "resolved", "rewrite")
Ask = Callable[[str, Sequence[tuple[str, str]]], Answer]


def load(path: Path) -> list[dict[str, Any]]:
    """The conversations; a malformed line is an error naming the file, line and field."""
    items = []
    for number, item in ev.records(path, "question", "standalone"):
        try:
            item["turns"] = jsonl.history(item.get("history"))
        except ValueError as e:
            raise InvalidInput(f"{path}:{number}: field 'history' {e}") from None
        if not isinstance(item.get("gold"), list) or not item["gold"]:
            raise InvalidInput(f"{path}:{number}: field 'gold' must be a non-empty list of sources")
        item.setdefault("id", f"line{number}")
        item.setdefault("kind", "follow_up")
        item.setdefault("split", "dev")
        item.setdefault("answer_keywords", [])
        items.append(item)
    return items


def score(ask: Ask, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per conversation and way: recall@5, MRR@5 over distinct sources, keyword coverage."""
    rows = []
    for item in items:
        for way, question, turns in (("typed", item["question"], []), ("resolved", item["question"], item["turns"]),
                                     ("rewrite", item["standalone"], [])):
            answer = ask(question, turns)
            row = ev.score_row(item, ev.ranked_sources(answer.retrieved), answer.text, answer.route)
            rows.append({**row, "way": way, "resolved": answer.resolved})
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per split ("all", "dev", "heldout") and per kind within it: each way's metrics."""

    def metrics(part: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"conversations": len({r["id"] for r in part})}
        for way in WAYS:
            mine = [r for r in part if r["way"] == way]
            out[way] = {"recall@5": ev.mean([r["r5"] for r in mine]), "mrr@5": ev.mean([r["rr5"] for r in mine]),
                        "keyword_coverage": ev.mean([r["kw"] for r in mine if r["kw"] is not None]),
                        "handoff": ev.mean([float(r["route"] == "handoff") for r in mine])}
        return out

    report: dict[str, Any] = {}
    for split in ("all", "dev", "heldout"):
        part = [r for r in rows if split == "all" or r["split"] == split]
        if part:
            kinds = sorted({r["kind"] for r in part})
            report[split] = {"overall": metrics(part),
                             "by_kind": {k: metrics([r for r in part if r["kind"] == k]) for k in kinds}}
    return report


def table(report: dict[str, Any]) -> str:
    """Markdown: per split, a row per kind (then overall) and way."""
    lines = []
    for split, part in report.items():
        lines += [f"\n### {split}", "", "| kind | n | asked | recall@5 | MRR@5 | keyword coverage | handoff |",
                  "|---|---:|---|---:|---:|---:|---:|"]
        for kind, m in [*part["by_kind"].items(), ("overall", part["overall"])]:
            for way in WAYS:
                cells = [m[way][k] for k in ("recall@5", "mrr@5", "keyword_coverage", "handoff")]
                shown = " | ".join("-" if c is None else f"{c:.3f}" for c in cells)
                lines.append(f"| {kind} | {m['conversations']} | {way} | {shown} |")
    return "\n".join(lines).strip()
