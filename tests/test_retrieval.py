"""Hybrid retrieval, the BM25 side index kept in step, follow-ups, and the service's
streaming and failure paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from ingest.indexer import Indexer
from mentorkb.app import build
from mentorkb.cli import cli
from mentorkb.tools import evaluate as ev
from rag.answering.generative import GenerativeAnswerer
from rag.core.errors import AnswererError
from rag.core.settings import load_settings
from rag.core.types import Chunk, ScoredChunk
from rag.retrieval.followup import is_follow_up, resolve
from rag.retrieval.langchain_retriever import MentorKBRetriever
from rag.retrieval.retrieve import diversify, lexical_evidence, query_words
from rag.service import Assistant
from rag.store.index import LiveIndex
from tests.conftest import gold_questions


def recall_at_5(assistant: Assistant, mode: str) -> float:
    assistant.retriever.mode = mode
    try:
        qs = [q for q in gold_questions() if q["kind"] == "answerable"]
        hits = [ev.recall_at(list(dict.fromkeys(r.chunk.source for r in assistant.retriever.search(q["question"]))),
                             q["gold"], 5) for q in qs]
    finally:
        assistant.retriever.mode = "hybrid"
    return sum(hits) / len(hits)


def test_hybrid_retrieval_beats_dense_alone(assistant) -> None:
    hybrid, dense = recall_at_5(assistant, "hybrid"), recall_at_5(assistant, "dense")
    assert hybrid >= 0.85 and hybrid > dense


def test_top_results_are_distinct_documents(assistant) -> None:
    results = assistant.retriever.search("how should I give feedback to my mentee?")
    sources = [r.chunk.source for r in results]
    assert len(set(sources[:10])) == 10
    # Then further passages of the first three documents only, for the answerer.
    assert len(results) > 10 and set(sources[10:]) <= set(sources[:5])
    assert len({r.chunk.chunk_id for r in results}) == len(results)
    assert all(-1.0 <= r.similarity <= 1.0 for r in results) and results[0].similarity > 0.3


def test_langchain_retriever_returns_documents(assistant) -> None:
    docs = MentorKBRetriever(retriever=assistant.retriever).invoke("what goes into a mentoring agreement?")
    assert docs and docs[0].metadata["source"] and docs[0].page_content
    assert "mentoring-agreement.txt" in [d.metadata["source"] for d in docs[:5]]


def test_lexical_index_follows_updates_and_deletes(tmp_path: Path, embedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    note = docs / "note.md"
    note.write_text("# Rituals\n\nWe open every session with a quokka check-in.\n", encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "data")
    indexer = Indexer(settings, embedder)
    indexer.sync([docs])
    live = LiveIndex(settings, embedder)
    assert [c.source for c, _ in live.lexical(["quokka"], 5)] == ["note.md"]
    note.write_text("# Rituals\n\nWe open every session with a wombat check-in.\n", encoding="utf-8")
    indexer.sync([docs])
    assert live.lexical(["quokka"], 5) == [] and len(live.lexical(["wombat"], 5)) == 1
    indexer.remove(["note.md"])
    assert live.lexical(["wombat"], 5) == []


def test_chunks_are_read_by_id_from_the_lexical_index_as_chroma_holds_them(assistant) -> None:
    store, manifest = assistant.store._current()
    ids = [chunk_id for chunk_id, _ in assistant.store.nearest(assistant.embedder.embed(["feedback"])[0], 30)]
    from_lexical = assistant.store.chunks([*ids, "no-such-chunk", ids[0]])
    assert from_lexical == store.chunks(ids)  # every field, and only chunks that exist
    assert len(from_lexical) == len(ids) == 30
    assert manifest.chunks_by_id([]) == {}


def test_query_words_drop_only_function_words() -> None:
    assert query_words("How do I give feedback to my mentor?") == ["give", "feedback", "mentor"]
    # Content words that a broader stoplist drops carry this question.
    assert query_words("Is it weird to ask what they don't want?") == ["weird", "ask", "don't", "want"]


def test_lexical_evidence_follows_bm25_order_not_its_scale() -> None:
    small = lexical_evidence({"a.md": 2.0, "b.md": 1.0, "c.md": 0.5}, 0.4, 0.5)
    large = lexical_evidence({"a.md": 40.0, "b.md": 20.0, "c.md": 10.0}, 0.4, 0.5)
    assert small == large
    assert small["a.md"] == 0.4 and small["b.md"] == pytest.approx(0.4 / 2**0.5)
    assert small["a.md"] > small["b.md"] > small["c.md"]


def _scored(source: str, n: int, score: float, similarity: float) -> ScoredChunk:
    return ScoredChunk(Chunk(f"{source}-{n}", f"text {n}", source, source), score, similarity)


def test_diversify_puts_distinct_documents_first_then_passages_of_the_leaders() -> None:
    ranked = [_scored("a", 0, 1.0, 0.6), _scored("a", 1, 1.0, 0.5), _scored("a", 2, 1.0, 0.4),
              _scored("a", 3, 1.0, 0.3), _scored("b", 0, 0.9, 0.7), _scored("b", 1, 0.9, 0.2),
              _scored("c", 0, 0.8, 0.5), _scored("c", 1, 0.8, 0.4)]
    out = diversify(ranked, k=3, per_doc=1, passage_docs=2, passages_per_doc=3)
    assert [sc.chunk.chunk_id for sc in out] == ["a-0", "b-0", "c-0", "a-1", "a-2", "b-1"]
    scores = [sc.score for sc in out]
    assert scores == sorted(scores, reverse=True)  # capped so the list still reads as a ranking
    assert [sc.similarity for sc in out][3:] == [0.5, 0.4, 0.2]  # similarities are left alone
    assert [sc.chunk.chunk_id for sc in diversify(ranked, 3, 1)] == ["a-0", "b-0", "c-0"]


def test_follow_ups_are_made_standalone() -> None:
    history = [("user", "What should we cover in our first meeting?"), ("assistant", "…")]
    assert is_follow_up("and how often should we meet after that?")
    assert not is_follow_up("How do I write a mentoring agreement with clear goals?")
    assert resolve("and how often?", history) == "What should we cover in our first meeting? and how often?"
    assert resolve("How should I prepare for a promotion conversation?", history) == \
        "How should I prepare for a promotion conversation?"
    longer = [turn for n in range(1, 6) for turn in (("user", f"Question {n} about goals?"), ("assistant", "…"))]
    assert resolve("and who signs it?", longer) == "Question 3 about goals? Question 4 about goals? " \
        "Question 5 about goals? and who signs it?"  # the last three earlier questions, oldest first


def test_follow_up_question_is_answered_in_context(assistant) -> None:
    history = [("user", "How do I write a mentoring agreement?"), ("assistant", "…")]
    answer = assistant.ask("what about the review date?", history)
    assert answer.route == "answer"
    assert "mentoring-agreement.txt" in {c.chunk.source for c in answer.citations}


def test_generative_backend_streams_drafts_then_a_validated_answer(assistant, embedder) -> None:
    reply = ("Agree on a term and a review date in the agreement [1]. "
             "Bananas are an excellent source of potassium [1].")
    model = GenericFakeChatModel(messages=iter([AIMessage(reply)]))
    generative = build(assistant.settings, embedder=embedder, store=assistant.store,
                           answerer=GenerativeAnswerer(model, embedder, 0.45, assistant.settings.min_relevance)).assistant
    answers = list(generative.ask_stream("what goes into a mentoring agreement?"))
    drafts, final = answers[:-1], answers[-1]
    assert len(drafts) > 1 and not any(d.final for d in drafts)
    assert final.final and final.route == "answer"
    assert "Bananas" not in final.text and "[1]" in final.text  # the unsupported claim was dropped


def test_backend_failure_becomes_an_honest_abstain(assistant, embedder) -> None:
    class Down(GenerativeAnswerer):
        def stream(self, *args, **kwargs):
            raise AnswererError("the LLM backend is unavailable (connection refused)")
            yield ""

    broken = build(assistant.settings, embedder=embedder, store=assistant.store,
                       answerer=Down(GenericFakeChatModel(messages=iter([])), embedder, 0.45, 0.3)).assistant
    answer = broken.ask("what goes into a mentoring agreement?")
    assert answer.route == "abstain" and answer.category == "unavailable"
    assert "human mentor" in answer.text


def test_eval_command_reports_every_metric(corpus_data_dir: Path, tmp_path: Path) -> None:
    gold = [q for q in gold_questions()]
    subset = [q for q in gold if q["kind"] == "answerable"][:6] + [q for q in gold if q["kind"] != "answerable"][:4]
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in subset) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--data-dir", str(corpus_data_dir), "eval", str(path),
                                      "--corpus", str(Path(__file__).parent.parent / "corpus"), "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    overall = report["all"]
    assert overall["questions"] == 10
    for key in ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "keyword_coverage", "citation_validity"):
        assert 0.0 <= overall[key] <= 1.0, key
    assert overall["citation_validity"] == 1.0
    assert overall["latency_ms_p95"] >= overall["latency_ms_p50"] > 0
    assert report["dev"]["questions"] + report["heldout"]["questions"] == 10


def test_hybrid_results_are_whole_chunks_and_match_a_full_read(assistant) -> None:
    """Dense candidates are ids and similarities; the chunks returned are read in full."""
    question = "how do I end a mentorship well?"
    results = assistant.retriever.search(question)
    live = assistant.retriever.index
    [vector] = assistant.embedder.embed([question])
    full = {sc.chunk.chunk_id: sc for sc in live.query(vector, 100)}
    assert {cid: round(sim, 6) for cid, sim in live.nearest(vector, 100)} == {
        cid: round(sc.similarity, 6) for cid, sc in full.items()}
    for sc in results:
        assert sc.chunk.text and sc.chunk.title and "/" not in sc.chunk.chunk_id
        assert live.chunks([sc.chunk.chunk_id])[sc.chunk.chunk_id] == sc.chunk
        if sc.chunk.chunk_id in full:
            assert sc.chunk == full[sc.chunk.chunk_id].chunk
