"""Chunks of the whole sample corpus fit the model and know where they come from."""

from __future__ import annotations

from ingest import loaders
from ingest.chunking import embedding_text, split_document, to_chunks
from ingest.document import LoadedDocument, Section
from tests.conftest import CORPUS


def corpus_chunks(embedder):
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and loaders.is_supported(path):
            doc = loaders.load(path, path.relative_to(CORPUS).as_posix())
            pieces = split_document(doc, embedder.count_tokens, 180, 24, embedder.max_tokens)
            yield doc, to_chunks(doc, pieces)


def test_no_chunk_exceeds_the_model_limit_or_is_empty(embedder) -> None:
    total = 0
    for doc, chunks in corpus_chunks(embedder):
        assert chunks, doc.source
        for chunk in chunks:
            total += 1
            assert chunk.text.strip()
            # What the model reads: title, heading path and text, plus [CLS] and [SEP].
            assert embedder.count_tokens(embedding_text(chunk)) + 2 <= embedder.max_tokens, chunk.chunk_id
    assert total > 100


def test_chunks_know_title_heading_path_and_page(embedder) -> None:
    chunks = {doc.source: c for doc, c in corpus_chunks(embedder)}
    feedback = chunks["giving-feedback.md"]
    assert all(c.title == "Giving Feedback That Lands" for c in feedback)
    assert sum(bool(c.section) for c in feedback) >= len(feedback) - 1  # all but an intro
    assert {c.page for c in chunks["promotion-readiness.pdf"]} >= {1, 2}
    assert "Giving Feedback That Lands > " in embedding_text(next(c for c in feedback if c.section))


def test_long_headings_are_shortened_to_leave_room_for_text(embedder) -> None:
    doc = LoadedDocument("x.md", "T " * 150, (Section("word " * 400, ("H " * 300,)),), "markdown")
    chunks = to_chunks(doc, split_document(doc, embedder.count_tokens, 180, 24, embedder.max_tokens))
    for chunk in chunks:
        assert embedder.count_tokens(embedding_text(chunk)) + 2 <= embedder.max_tokens
    assert "".join(c.text for c in chunks).count("word") >= 400
