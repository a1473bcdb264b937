"""The learned ranker: its numpy walk of the trees against LightGBM's own predictions,
its features on a hand-made case, and the shipped model loading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.core.errors import ConfigError
from rag.core.types import Chunk
from rag.retrieval.ranker import FEATURES, LearnedRanker, chunk_position, document_features


def test_numpy_walk_matches_lightgbm(tmp_path):
    import lightgbm  # in the test extra: training is not part of the app

    from mentorkb.tools.train_ranker import booster_arrays

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, len(FEATURES))).astype(np.float32)
    x[:, 13] = rng.integers(1, 6, size=600)  # a few repeated values, as counts have
    y = (x[:, 0] + 0.5 * x[:, 4] - 0.3 * x[:, 13] + rng.normal(scale=0.3, size=600) > 0.5).astype(int)
    y[::7] = 2
    model = lightgbm.LGBMRanker(n_estimators=30, num_leaves=7, min_child_samples=5, verbose=-1)
    model.fit(x, y, group=[20] * 30, feature_name=list(FEATURES))
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps({"features": list(FEATURES), "trees": booster_arrays(model.booster_)}))
    ranker = LearnedRanker(path)
    probe = rng.normal(size=(50, len(FEATURES))).astype(np.float32)
    probe[:5] = x[:5]  # values exactly on training points, where thresholds sit
    np.testing.assert_allclose(ranker.scores(probe), model.booster_.predict(probe), rtol=1e-9, atol=1e-9)


def test_shipped_model_loads_and_scores():
    ranker = LearnedRanker()
    scores = ranker.scores(np.zeros((3, len(FEATURES)), dtype=np.float32))
    assert scores.shape == (3,) and len(set(scores.tolist())) == 1


def test_model_of_other_features_is_refused(tmp_path):
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps({"features": ["cos1"], "trees": []}))
    with pytest.raises(ConfigError, match="ranker.json: the model's features"):
        LearnedRanker(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="ranker.json: cannot load"):
        LearnedRanker(path)


def test_features_of_a_small_case():
    a0 = Chunk("a-0000", "Giving feedback to a new hire.", "a.md", "Feedback", "Basics")
    a1 = Chunk("a-0001", "Schedule weekly one-on-ones.", "a.md", "Feedback", "Rhythm")
    b0 = Chunk("b-0003", "Feedback culture in teams.", "b.md", "Culture", "")
    dense = [("a-0001", 0.8), ("b-0003", 0.6)]
    lexical = [(b0, 4.0), (a0, 2.0)]
    sims = {"a-0001": 0.8, "b-0003": 0.6, "a-0000": 0.5}
    chunks = {c.chunk_id: c for c in (a0, a1, b0)}
    docs, x = document_features("feedback for a new hire?", dense, lexical, chunks, sims,
                                group=lambda c: c.split("-")[0], depth=10)
    assert docs == ["a", "b"]
    row = dict(zip(FEATURES, x[0].tolist()))
    assert row["cos1"] == pytest.approx(0.8) and row["cos2"] == pytest.approx(0.5)
    assert row["cos_gap"] == 0 and row["dense_rank"] == 0
    assert row["bm25_ratio"] == 0.5 and row["lexical_rank"] == pytest.approx(np.log(2))
    assert (row["dense_chunks"], row["lexical_chunks"]) == (1, 1)
    # terms: feedback, new, hire; a's closest chunk (a-0001) has "Feedback" in its title.
    assert row["question_terms"] == 3 and row["title_cover"] == pytest.approx(1 / 3)
    assert row["text_cover"] == pytest.approx(1.0)  # a-0000 holds all three
    assert row["position"] == 1 and chunk_position("b-0003") == 3
    assert row["rrf"] == pytest.approx(30 * (1 / 61 + 1 / 62))
    b = dict(zip(FEATURES, x[1].tolist()))
    assert b["cos_gap"] == pytest.approx(0.2) and b["bm25_ratio"] == 1.0 and b["bm25_z"] == 1.0


def test_learned_ranker_on_the_sample_corpus(corpus_data_dir, embedder):
    """Through the real index: recall@5 above dense alone, and the documents in the
    order of the model's scores of their features."""
    from mentorkb.tools import evaluate as ev
    from rag.core.settings import load_settings
    from rag.retrieval.retrieve import retriever_for, text_of
    from rag.store.index import LiveIndex
    from tests.conftest import gold_questions

    settings = load_settings(data_dir=corpus_data_dir, ranker="learned")
    index = LiveIndex(settings, embedder)
    retriever = retriever_for(settings, embedder, index)
    assert isinstance(retriever.ranker, LearnedRanker)
    dense = retriever_for(settings, embedder, index)
    dense.mode = "dense"
    qs = [q for q in gold_questions() if q["kind"] == "answerable"]
    learned = sum(ev.recall_at(ev.ranked_sources(retriever.search(q["question"])), q["gold"], 5) for q in qs) / len(qs)
    alone = sum(ev.recall_at(ev.ranked_sources(dense.search(q["question"])), q["gold"], 5) for q in qs) / len(qs)
    assert learned >= 0.85 and learned > alone

    question = "how should I give feedback to my mentee?"
    [vector] = embedder.embed([question])
    evidence = retriever.evidence(question, vector)
    docs, rows = document_features(question, *evidence, group=text_of, depth=retriever.fusion.candidates)
    scores = retriever.ranker.scores(rows)
    expected = [docs[i] for i in np.argsort(-scores, kind="stable")[:10]]
    results = retriever.search(question, vector)
    assert [text_of(r.chunk.chunk_id) for r in results[:10]] == expected
    assert len({r.chunk.source for r in results[:10]}) == 10


def test_rebuild_learns_from_a_gold_corpus(tmp_path, embedder):
    """The rebuild's own steps on the sample corpus: features from the product's
    retriever, labels from the gold sources, a model that ranks them first."""
    from mentorkb.tools.corpora import Corpus
    from mentorkb.tools.train_ranker import booster_arrays, corpus_rows, train
    from rag.core.settings import load_settings
    from tests.conftest import CORPUS

    corpus = Corpus("sample", documents=CORPUS, questions=CORPUS / "questions.jsonl")
    rows, labels = corpus_rows(corpus, load_settings(data_dir=tmp_path / "data"), embedder, tmp_path, lambda m: None)
    assert len(rows) == len(labels) > 20 and all(len(x) == len(y) for x, y in zip(rows, labels))
    assert all(y.sum() >= 1 for y in labels[:10])  # the gold document is among the candidates
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps({"features": list(FEATURES), "trees": booster_arrays(train(rows, labels))}))
    ranker = LearnedRanker(path)
    top_is_gold = [y[int(np.argmax(ranker.scores(x)))] > 0 for x, y in zip(rows, labels)]
    assert sum(top_is_gold) / len(top_is_gold) > 0.9  # on its own training queries
