"""`mentorkb eval` over several corpora, run for real (ingest, MiniLM, Chroma, Tantivy,
bm25s) on a tiny gold corpus and a tiny BEIR folder whose rankings leave no doubt, and
checked against figures computed by hand below."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from mentorkb.cli import cli
from mentorkb.tools import report
from mentorkb.tools.baselines import rrf
from mentorkb.tools.corpora import load_config
from rag.core.errors import InvalidInput

# One sentence each, so an extractive answer can only quote that sentence.
DOCS = {
    "sourdough.md": "# Sourdough starter\n\nFeed the sourdough starter every day with equal weights of flour and water.\n",
    "kayak.md": "# Kayak strokes\n\nIn the forward stroke, rotate your torso and keep the kayak paddle close to the hull.\n",
    "chess.md": "# Chess openings\n\nThe Sicilian Defence answers the king's pawn opening with a pawn on c5.\n",
}
QUESTIONS = [
    # found first; one key phrase of two in the top passage
    {"id": "a1", "question": "How often should I feed my sourdough starter?", "kind": "answerable",
     "gold": ["sourdough.md"], "answer_keywords": ["flour and water", "zebra"], "split": "dev"},
    # two gold sources, one of them not in the corpus: found (recall 1), half the gold (0.5)
    {"id": "a2", "question": "What is the Sicilian Defence in chess?", "kind": "answerable",
     "gold": ["chess.md", "missing.md"], "answer_keywords": ["Sicilian"], "split": "heldout"},
    # the gold source is not in the corpus: nothing found, but the key phrase is quoted
    {"id": "a3", "question": "How do I rotate my torso when paddling a kayak?", "kind": "answerable",
     "gold": ["missing.md"], "answer_keywords": ["torso"], "split": "dev"},
    {"id": "o1", "question": "What is the capital city of Peru?", "kind": "out_of_scope", "gold": [],
     "answer_keywords": [], "split": "dev"},
]
BEIR_DOCS = [
    {"_id": "b1", "title": "Sourdough starter", "text": "Feed a sourdough starter daily with flour and water."},
    {"_id": "b2", "title": "Baking bread at home", "text": "Home bread needs flour, salt and an oven; sourdough loaves rise slowly."},
    {"_id": "b3", "title": "Kayak strokes", "text": "The forward stroke moves a kayak: rotate the torso, paddle close to the hull."},
    {"_id": "b4", "title": "Chess openings", "text": "The Sicilian Defence answers the king's pawn with c5."},
]
BEIR_QUERIES = [{"_id": "q1", "text": "how do I feed a sourdough starter"},
                {"_id": "q2", "text": "canoe rowing movement"},
                {"_id": "q9", "text": "not judged, so not asked"}]
# q1: b1 is surely first and b2 (the only other one with "sourdough") second, but b2 is
# judged the more relevant. q2 shares no word with any document: only meaning finds b3.
QRELS = [("q1", "b1", 1), ("q1", "b2", 2), ("q2", "b3", 1)]

NDCG_Q1 = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))


def _write(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    beir = tmp_path / "tiny-beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in BEIR_DOCS), encoding="utf-8")
    (beir / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in BEIR_QUERIES), encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\r\n" + "".join(f"{q}\t{d}\t{g}\r\n" for q, d, g in QRELS), encoding="utf-8")
    config = tmp_path / "corpora.toml"
    config.write_text('[[corpus]]\nname = "tiny"\ndocuments = "docs"\nquestions = "questions.jsonl"\n\n'
                      '[[corpus]]\nname = "tiny-beir"\nbeir = "tiny-beir"\n\n'
                      '[[corpus]]\nname = "elsewhere"\nbeir = "no/such/folder"\n', encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    config = _write(tmp_path_factory.mktemp("eval-corpora"))
    result = CliRunner().invoke(cli, ["eval", "--corpora", str(config), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# Rankings alone: they never abstain or cite. "retriever" is MentorKB's own before triage.
BASELINES = ("dense", "bm25s", "rrf", "bm25-mentorkb", "retriever")


def test_gold_corpus_metrics_match_hand_computed_values(run) -> None:
    tiny = run["corpora"]["tiny"]
    assert (tiny["documents"], tiny["questions"]) == (3, 4)
    assert tiny["by_kind"] == {"answerable": 3, "out_of_scope": 1, "sensitive": 0, "injection": 0}
    for system in ("mentorkb", *BASELINES):
        figures = tiny["systems"][system]["all"]
        # a1 and a2 found first, a3's gold absent: recall@5 and MRR@5 (1 + 1 + 0) / 3
        assert figures["recall@5"] == figures["mrr@5"] == pytest.approx(2 / 3, abs=1e-4), system
        assert figures["gold_found@5"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4), system
        # key phrases: a1 one of two, a2 and a3 all
        assert figures["keyword_coverage"] == pytest.approx((0.5 + 1 + 1) / 3, abs=1e-4), system
        assert figures["false_abstain"] == figures["false_handoff"] == 0.0, system
        assert 0 < figures["latency_ms_p50"] <= figures["latency_ms_p95"], system
        # the held-out split is a2 alone
        held = tiny["systems"][system]["heldout"]
        assert (held["questions"], held["recall@5"], held["gold_found@5"]) == (1, 1.0, 0.5), system
    mentorkb = tiny["systems"]["mentorkb"]["all"]
    assert mentorkb["out_of_scope_abstain"] == 1.0 and mentorkb["out_of_scope_answered"] == 0.0
    assert mentorkb["citation_validity"] == 1.0
    assert tiny["systems"]["mentorkb"]["misses"] == ["a3"] and tiny["systems"]["mentorkb"]["not_answered"] == []
    for system in BASELINES:  # a baseline never abstains and cites nothing
        figures = tiny["systems"][system]["all"]
        assert (figures["out_of_scope_abstain"], figures["out_of_scope_answered"]) == (0.0, 1.0), system
        assert figures["citation_validity"] is None, system


def test_beir_corpus_metrics_match_hand_computed_values(run) -> None:
    beir = run["corpora"]["tiny-beir"]
    assert (beir["kind"], beir["documents"], beir["queries"]) == ("beir", 4, 2)
    for system in ("mentorkb", "retriever", "dense", "rrf"):  # meaning finds q2's document first
        assert beir["systems"][system]["ndcg@10"] == pytest.approx((NDCG_Q1 + 1) / 2, abs=1e-4), system
        assert beir["systems"][system]["recall@100"] == 1.0, system
    for system in ("bm25s", "bm25-mentorkb"):  # words cannot find it
        assert beir["systems"][system]["ndcg@10"] == pytest.approx(NDCG_Q1 / 2, abs=1e-4), system
        assert beir["systems"][system]["recall@100"] == 0.5, system


def test_means_over_corpora_and_skipped_corpora(run) -> None:
    assert list(run["skipped"]) == ["elsewhere"] and run["skipped"]["elsewhere"].startswith("not found: ")
    mean = run["mean"]["bm25s"]
    # one gold corpus and one BEIR corpus: each mean is that corpus's figure
    assert mean["recall@5"] == run["corpora"]["tiny"]["systems"]["bm25s"]["all"]["recall@5"]
    assert mean["ndcg@10"] == run["corpora"]["tiny-beir"]["systems"]["bm25s"]["ndcg@10"]
    two = {"a": {"kind": "gold", "systems": {"s": {"all": {k: 0.0 for k in report.MEAN_GOLD}}}},
           "b": {"kind": "gold", "systems": {"s": {"all": {**{k: 1.0 for k in report.MEAN_GOLD},
                                                              "citation_validity": None}}}}}
    means = report.means(two)["s"]
    assert means["recall@5"] == 0.5 and means["citation_validity"] == 0.0 and means["ndcg@10"] is None


def test_table_has_every_corpus_system_and_the_published_figure(run) -> None:
    text = report.table(run)
    for heading in ("## tiny: 3 documents", "## tiny-beir (BEIR): 4 documents, 2 test queries", "## Mean over corpora"):
        assert heading in text
    assert text.count("| RRF k=60 (dense + bm25s) |") == 4  # tiny, its held-out part, tiny-beir, the mean
    assert "Skipped elsewhere: not found:" in text


def test_rrf_sums_reciprocal_ranks() -> None:
    # a and b both 1/61 + 1/62, c 1/63 (ties keep first-seen order); then with k = 1
    # a and c 1/2, b 1/3
    assert rrf([["a", "b", "c"], ["b", "a"]]) == ["a", "b", "c"]
    assert rrf([["a", "b"], ["c"]], k=1) == ["a", "c", "b"]


def test_bad_corpus_list_names_the_file_entry_and_field(tmp_path) -> None:
    path = tmp_path / "corpora.toml"
    path.write_text('[[corpus]]\nname = "x"\ndocuments = "d"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"corpora\.toml: corpus 1 \(x\): 'documents' needs 'questions'"):
        load_config(path)
    result = CliRunner().invoke(cli, ["eval", "--corpora", str(path)])
    assert result.exit_code == 1 and "corpora.toml: corpus 1 (x)" in result.output
    path.write_text('[[corpus]]\nname = "x"\nbeir = "b"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "--corpora", str(path), "--only", "y"])
    assert result.exit_code == 2 and "no corpus named y" in result.output


def test_baseline_vectors_come_from_the_cache_on_a_second_run(tmp_path, embedder) -> None:
    from mentorkb.tools.baselines import Baselines, Passage

    class Counting:
        name, dimension = embedder.name, embedder.dimension
        calls = 0

        def embed(self, texts):
            Counting.calls += len(texts)
            return embedder.embed(texts)

    passages = [Passage(d["_id"], d["title"] + " " + d["text"]) for d in BEIR_DOCS]
    first = Baselines(passages, Counting(), cache_dir=tmp_path)
    assert Counting.calls == 4
    again = Baselines(passages, Counting(), cache_dir=tmp_path)
    assert Counting.calls == 4 and (again.vectors == first.vectors).all()
    Baselines(passages[:3], Counting(), cache_dir=tmp_path)  # other texts: embedded anew
    assert Counting.calls == 7 and len(list(tmp_path.glob("*.npy"))) == 2
