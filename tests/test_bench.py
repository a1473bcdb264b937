"""`mentorkb bench`: the synthetic index it measures on, and a small real run end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mentorkb.cli import cli
from mentorkb.tools.bench_serve import percentiles
from mentorkb.tools.synthetic import SyntheticIndex
from tests.conftest import CORPUS, gold_questions

pytestmark = pytest.mark.slow


def test_percentiles_are_nearest_rank_in_ms() -> None:
    samples = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentiles(samples) == {"p50_ms": 50.0, "p95_ms": 95.0}
    assert percentiles([0.004]) == {"p50_ms": 4.0, "p95_ms": 4.0}


def test_synthetic_copies_are_searchable_densely_and_by_bm25(tmp_path: Path, embedder) -> None:
    from rag.core.settings import load_settings
    from rag.retrieval.retrieve import HybridRetriever
    from rag.store.index import LiveIndex

    settings = load_settings(data_dir=tmp_path / "data")
    synthetic = SyntheticIndex(settings, embedder, CORPUS)
    real = synthetic.real_chunks
    synthetic.grow(real * 2 + 7)
    live = LiveIndex(settings, embedder)
    try:
        assert live.count() == synthetic.count == real * 2 + 7
        [vector] = embedder.embed(["How can I make our remote mentoring calls work better?"])
        dense = live.query(vector, 10)
        sources = {sc.chunk.source for sc in dense}
        # The real document and its perturbed copy both sit near the question.
        assert {"guides/remote-mentoring.html", "synthetic/copy00001/guides/remote-mentoring.html"} <= sources
        lexical = live.lexical(["walk", "talk"], 50)
        assert any(c.source.startswith("synthetic/copy0000") for c, _ in lexical)
        assert any(not c.source.startswith("synthetic/") for c, _ in lexical)
        found = HybridRetriever(embedder, live, 10).search("What is a walk and talk?")
        assert found[0].chunk.source.endswith("remote-mentoring.html")
    finally:
        live.close()


@pytest.fixture
def guides_corpus(tmp_path: Path) -> Path:
    """The four guides and the gold questions about them only: quick to embed."""
    target = tmp_path / "small-corpus"
    shutil.copytree(CORPUS / "guides", target / "guides")
    with (target / "questions.jsonl").open("w", encoding="utf-8") as f:
        for q in gold_questions():
            if q["kind"] == "answerable" and all(g.startswith("guides/") for g in q["gold"]):
                f.write(json.dumps(q) + "\n")
    return target


def test_bench_prints_every_figure_with_its_floor(
    guides_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["bench", "--json", "--corpus", str(guides_corpus), "--chunks", "300", "--serve-at", "300",
            "--queries", "24", "--clients", "4,6", "--workers", "1,2", "--rounds", "1", "--copies", "0", "--gaps", "300"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert "serve: cold start" in result.stderr  # progress goes to stderr
    [query] = out["query"]
    assert query["chunks"] == 300 and query["synthetic_chunks"] == 300 - query["real_chunks"] > 0
    assert query["routes"].get("answer", 0) > query["questions"] / 2
    assert 0 < query["floor"]["p50_ms"] <= query["floor"]["p95_ms"]
    assert 0 < query["ask"]["p50_ms"] <= query["ask"]["p95_ms"]
    assert query["ratio_p95"] == round(query["ask"]["p95_ms"] / query["floor"]["p95_ms"], 3)
    assert "ingest" not in out  # --copies 0 skips the (slow) ingest run
    serve = out["serve"]
    assert serve["in_process_qps"] == query["ask_qps"] > 0
    assert [server["workers"] for server in serve["servers"]] == [1, 2]
    for server in serve["servers"]:
        assert server["first_answer_route"] == "answer" and server["cold_start_s"] > 0
        assert server["rss_mb_after_load"] > 100 * server["workers"]
        assert server["peak_rss_mb"] >= server["rss_mb_after_load"] * 0.9
        # The API at a steady half of the in-process rate, then one run over the JSON API and
        # one over the chat for each client count, every one within its rate limits (a
        # refusal counts as an error).
        assert [(r["path"], r["clients"]) for r in server["runs"]] == [
            ("api-paced", 20), ("api", 4), ("chat", 4), ("api", 6), ("chat", 6)]
        for run in server["runs"]:
            assert run["errors"] == 0 and run["queries"] == 24, run
            assert run["throughput_qps"] > 0 and run["latency"]["p95_ms"] >= run["latency"]["p50_ms"] > 0
            assert run["ratio_to_in_process"] == pytest.approx(run["throughput_qps"] / serve["in_process_qps"],
                                                               abs=0.01)
        paced = server["runs"][0]
        assert paced["offered_qps"] == pytest.approx(serve["in_process_qps"] / 2, abs=0.01)
        assert paced["throughput_qps"] <= paced["offered_qps"] * 1.05  # paced, not as fast as it can
    history = out["followups"]
    assert history["chunks"] == 300 and history["asks_per_variant"] == query["questions"]
    for variant in ("question", "question_with_history", "follow_up", "follow_up_with_history"):
        assert 0 < history[variant]["p50_ms"] <= history[variant]["p95_ms"]
    assert history["follow_up_history_cost_p50_ms"] == round(
        history["follow_up_with_history"]["p50_ms"] - history["follow_up"]["p50_ms"], 2)
    names = " ".join(t["name"] for t in out["targets"])
    for figure in ("RSS", "cold start", "a follow-up after 3 turns", "errors with 6 chat clients, 2 worker(s)",
                   "20 api-paced clients, 1 worker(s): p95", "gap report over 300"):
        assert figure in names
    gaps = out["gaps"]
    assert gaps["questions"] == 300 and 0 < gaps["clusters"] < 300 and gaps["chunks"] == 300
    assert 0 < gaps["warm_s"] < gaps["cold_s"] and gaps["encode_floor_s"] > 0
