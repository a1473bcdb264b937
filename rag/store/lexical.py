"""The lexical index: BM25 over each chunk's title, heading path and text, in Tantivy.

One index directory per generation, beside its manifest. Tantivy keeps the postings
in immutable segments on disk that every process memory-maps, so all web workers
search the same files and nothing is copied into a process's memory; a commit is
atomic (a new `meta.json`), and readers see it when they reopen, which they do when
CURRENT changes. Its top-k search skips the documents that cannot reach the top k
(block-max WAND) rather than scoring every chunk holding any query word, as SQLite's
FTS5 does, so BM25 stays fast at 100,000 chunks (docs/scaling.md).

Only the indexing process writes (the writer lock), and it opens a Tantivy writer
for each change, so no lock outlives a write.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from rag.core.types import Chunk

# One searched field: the title 4 times, the heading path 3 times and the text twice,
# so a word counts 2 : 1.5 : 1 in them, the column weights the fusion was tuned with
# (on SQLite FTS5, whose BM25 weights each column's term count). It ranks as well as
# separate fields with those boosts on the dev split (docs/evaluation.md, "Before the learned ranker").
_REPEATS = (("title", 4), ("section", 3), ("text", 2))
_TEXTS = ("title", "section", "text")
_KEYS = ("chunk_id", "content_hash", "source", "mentor")
_WRITER_HEAP = 50_000_000


def _schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
    # Exact-match keys: a text's chunks are deleted and relabelled by content hash.
    for name in ("chunk_id", "content_hash"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw")
    for name in ("source", "mentor"):
        builder.add_text_field(name, stored=True, index_option="basic", tokenizer_name="raw")
    for name in _TEXTS:  # stored only (UTF-8): what is searched is the body
        builder.add_bytes_field(name, stored=True)
    builder.add_integer_field("page", stored=True)
    return builder.build()


def _analyzer():
    """The `en_stem` tokenizer of the body field, to look words up as indexed."""
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


class Lexicon:
    """BM25 search over chunks, and the writes that keep it equal to the manifest.

    Args:
        path: the index directory (created if missing).
    """

    def __init__(self, path: Path) -> None:
        import tantivy

        self._tantivy = tantivy
        path.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(_schema(), path=str(path), reuse=True)
        self.index.config_reader(reload_policy="Manual")
        self.index.reload()
        self._searcher = self.index.searcher()
        self._analyzer = _analyzer()

    def search(self, words: Sequence[str], k: int) -> list[tuple[Chunk, float]]:
        """The k chunks best matching any of `words` by BM25, best first, with a score > 0.

        Each word's weight is the IDF of FTS5's BM25, log((N - n + 0.5) / (n + 0.5)),
        instead of Tantivy's log(1 + that): a word in over half the chunks counts for
        (almost) nothing, as the fusion's tuning assumes. A word the tokenizer
        splits ("don't") is a phrase.
        """
        Query, schema = self._tantivy.Query, self.index.schema
        searcher = self._searcher
        total = searcher.num_docs
        clauses = []
        for word in dict.fromkeys(words):
            terms = [t for t in self._analyzer.analyze(word)]
            if not terms or not total or k <= 0:
                continue
            # (Document frequencies count replaced chunks until their segment merges.)
            n = min(total, *(searcher.doc_freq("body", t) for t in terms))
            ratio = (total - n + 0.5) / (n + 0.5)
            weight = max(math.log(ratio), 1e-6) / math.log1p(ratio)
            query = (Query.term_query(schema, "body", terms[0]) if len(terms) == 1
                     else Query.phrase_query(schema, "body", terms))
            clauses.append((self._tantivy.Occur.Should, Query.boost_query(query, weight)))
        if not clauses:
            return []
        hits = searcher.search(Query.boolean_query(clauses), k, count=False).hits
        return [(_chunk(searcher.doc(address)), score) for score, address in hits if score > 0]

    def by_id(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Chunks by id (those indexed), in index order: one search for any of the ids,
        cheaper than Chroma's `get` (figures in docs/design-notes.md). An OR of term
        queries finds them in less than half the time of Tantivy's term-set query."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        Query, schema, should = self._tantivy.Query, self.index.schema, self._tantivy.Occur.Should
        query = Query.boolean_query([(should, Query.term_query(schema, "chunk_id", i)) for i in ids])
        searcher = self._searcher
        hits = searcher.search(query, len(ids), count=False).hits
        addresses = sorted((a for _, a in hits), key=lambda a: (a.segment_ord, a.doc))
        return {c.chunk_id: c for c in (_chunk(searcher.doc(a)) for a in addresses)}

    def chunks(self) -> list[Chunk]:
        """Every chunk, in chunk id order."""
        return sorted(self._matching(self._tantivy.Query.all_query()), key=lambda c: c.chunk_id)

    def of_text(self, content_hash: str) -> list[Chunk]:
        """The chunks of one text, in chunk id order."""
        query = self._tantivy.Query.term_query(self.index.schema, "content_hash", content_hash)
        return sorted(self._matching(query), key=lambda c: c.chunk_id)

    def hashes(self) -> set[str]:
        """The content hashes of the texts indexed."""
        all_docs = self._tantivy.Query.all_query()  # counts live documents, not deleted ones
        return {term for term, n in self._searcher.terms_with_prefix("content_hash", "", all_docs) if n}

    def replace(self, texts: Mapping[str, Sequence[Chunk]]) -> None:
        """Index each text's chunks in place of any held under its content hash."""
        self._write(texts, ())

    def drop(self, hashes: Iterable[str]) -> None:
        """Delete the chunks of these texts."""
        self._write({}, hashes)

    def relabel(self, content_hash: str, source: str) -> None:
        """Credit a text's chunks to another source holding the same text."""
        chunks = [_with_source(c, source) for c in self.of_text(content_hash)]
        if chunks:
            self._write({content_hash: chunks}, ())

    def _matching(self, query) -> list[Chunk]:
        searcher = self._searcher
        n = searcher.num_docs
        if not n:
            return []
        return [_chunk(searcher.doc(a)) for _, a in searcher.search(query, n, count=False).hits]

    def _write(self, texts: Mapping[str, Sequence[Chunk]], dropped: Iterable[str]) -> None:
        writer = self.index.writer(heap_size=_WRITER_HEAP, num_threads=1)
        try:
            # A delete applies to documents added before it, so each text's old chunks go
            # and its new ones stay: all in one atomic commit.
            for content_hash in [*texts, *dropped]:
                writer.delete_documents_by_term("content_hash", content_hash)
            for chunks in texts.values():
                for c in chunks:
                    writer.add_document(_document(self._tantivy, c))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        writer.wait_merging_threads()
        self.index.reload()
        self._searcher = self.index.searcher()


def _document(tantivy, c: Chunk):
    fields = {name: getattr(c, name) for name in _KEYS}
    fields.update((name, getattr(c, name).encode()) for name in _TEXTS)
    fields["body"] = "\n".join(getattr(c, name) for name, times in _REPEATS for _ in range(times))
    if c.page is not None:
        fields["page"] = int(c.page)
    return tantivy.Document(**fields)


def _chunk(doc) -> Chunk:
    get = doc.get_first
    texts = {name: (get(name) or b"").decode() for name in _TEXTS}
    return Chunk(
        chunk_id=get("chunk_id"), source=get("source") or "", page=get("page"),
        mentor=get("mentor") or "", content_hash=get("content_hash") or "", **texts,
    )


def _with_source(c: Chunk, source: str) -> Chunk:
    return replace(c, source=source)
