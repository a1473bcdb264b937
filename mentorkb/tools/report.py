"""Tables and means of a multi-corpus `mentorkb eval` run (mentorkb.tools.corpora)."""

from __future__ import annotations

from typing import Any

from mentorkb.tools.evaluate import mean

# (column, key) of a gold corpus's figures, from mentorkb.tools.evaluate.summarize.
GOLD_COLUMNS = [
    ("recall@5", "recall@5"), ("MRR@5", "mrr@5"), ("all gold@5", "gold_found@5"),
    ("keyword coverage", "keyword_coverage"), ("abstain (out of scope)", "out_of_scope_abstain"),
    ("false abstain", "false_abstain"), ("false handoff", "false_handoff"),
    ("citation validity", "citation_validity"), ("p50 ms", "latency_ms_p50"), ("p95 ms", "latency_ms_p95"),
]
BEIR_COLUMNS = [("nDCG@10", "ndcg@10"), ("recall@100", "recall@100"), ("p50 ms", "latency_ms_p50"),
                ("p95 ms", "latency_ms_p95")]
# Averaged over corpora: a gold corpus's whole question set, a BEIR corpus's test queries.
MEAN_GOLD = ["recall@5", "mrr@5", "gold_found@5", "keyword_coverage", "out_of_scope_abstain", "false_abstain",
             "false_handoff", "citation_validity"]
MEAN_BEIR = ["ndcg@10", "recall@100"]


def _figures(result: dict[str, Any], system: str) -> dict[str, Any]:
    figures = result["systems"][system]
    return figures["all"] if result["kind"] == "gold" else figures


def means(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per system, each figure's plain mean over the corpora that have it (every corpus
    weighs the same, whatever its number of questions); None where none has it."""
    systems = next(iter(results.values()))["systems"] if results else {}
    out = {}
    for system in systems:
        row = {}
        for kind, keys in (("gold", MEAN_GOLD), ("beir", MEAN_BEIR)):
            for key in keys:
                values = [_figures(r, system)[key] for r in results.values() if r["kind"] == kind]
                row[key] = mean([v for v in values if v is not None])
        out[system] = row
    return out


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if key.startswith("latency") else f"{value:.3f}"


def _table(columns: list[tuple[str, str]], rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = ["| system | " + " | ".join(c for c, _ in columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {label} | " + " | ".join(_cell(key, figures.get(key)) for _, key in columns) + " |"
              for label, figures in rows]
    return lines


def table(run: dict[str, Any]) -> str:
    """Markdown: per corpus a table of every system (a gold corpus's held-out questions
    again on their own), then the means over corpora."""
    labels = run["systems"]
    lines: list[str] = []
    for name, result in run["corpora"].items():
        if result["kind"] == "gold":
            kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in result["by_kind"].items() if n)
            lines += [f"## {name}: {result['documents']} documents, {result['questions']} questions ({kinds})", ""]
            lines += _table(GOLD_COLUMNS, [(labels[s], f["all"]) for s, f in result["systems"].items()])
            held = next(iter(result["systems"].values()))["heldout"]["questions"]
            if held:
                lines += ["", f"Held-out questions only (n={held}):", ""]
                lines += _table(GOLD_COLUMNS[:4], [(labels[s], f["heldout"]) for s, f in result["systems"].items()])
        else:
            lines += [f"## {name} (BEIR): {result['documents']} documents, {result['queries']} test queries", ""]
            rows = [(labels[s], f) for s, f in result["systems"].items()]
            published = result["published"].get("bm25-beir-paper")
            if published is not None:
                rows.append(("BM25, BEIR paper (published, not run here)", {"ndcg@10": published}))
            lines += _table(BEIR_COLUMNS, rows)
        lines += ["", f"({result['seconds']} s)", ""]
    if run["corpora"]:
        gold = [n for n, r in run["corpora"].items() if r["kind"] == "gold"]
        beir = [n for n, r in run["corpora"].items() if r["kind"] == "beir"]
        lines += [f"## Mean over corpora (gold: {', '.join(gold) or 'none'}; BEIR: {', '.join(beir) or 'none'})", ""]
        columns = [c for c in GOLD_COLUMNS if c[1] in MEAN_GOLD] + [c for c in BEIR_COLUMNS if c[1] in MEAN_BEIR]
        lines += _table(columns, [(labels[s], row) for s, row in run["mean"].items()])
    for name, why in run["skipped"].items():
        lines.append(f"\nSkipped {name}: {why}")
    return "\n".join(lines).rstrip() + "\n"
