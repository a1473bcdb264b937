"""A large index made from a small real one, for `mentorkb bench`.

The sample corpus is ingested for real (real embeddings), then replicated: each
copy's vectors perturbed with Gaussian noise and renormalised, and written straight
into Chroma and the BM25 side index. Search cost depends on the number and spread
of vectors, not on how they were made.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from ingest.indexer import Indexer
from rag.backends import make_store
from rag.core.protocols import Embedder
from rag.core.settings import Settings
from rag.store import index
from rag.store.lock import writer_lock
from rag.store.manifest import Manifest

# Spread of the synthetic copies around their real vector: about 0.85 cosine to it.
NOISE = 0.03


class SyntheticIndex:
    """A data dir whose live generation grows to any number of chunks.

    The corpus is ingested for real first; `grow(n)` then adds copies of its
    documents (new sources and content hashes, the same text, vectors perturbed
    by NOISE and renormalised) straight into the store and the BM25 side index.
    Each size extends the previous one, so building 100,000 after 10,000 adds 90,000.

    Args:
        settings: where to build (its data dir) and which store backend.
        embedder: embeds the real corpus once.
        corpus: the documents to replicate.
    """

    def __init__(self, settings: Settings, embedder: Embedder, corpus: Path) -> None:
        import numpy as np

        self.settings = settings
        self.embedder = embedder
        self.rng = np.random.default_rng(7)
        report = Indexer(settings, embedder).sync([corpus])
        if report.failed or not report.chunks_written:
            raise RuntimeError(f"benchmark corpus did not ingest: {report.summary()}")
        self.generation = index.current_generation(settings.data_dir)
        manifest = Manifest.of(self.generation)
        store = make_store(settings, embedder, self.generation)
        try:
            chunks = manifest.chunks()
            vectors = store.vectors([c.chunk_id for c in chunks])
            self.records = {r.content_hash: r for r in manifest.all()}
        finally:
            store.close()
            manifest.close()
        # Each document's chunks, and their real vectors as rows of one array.
        self.docs: list[tuple[str, list]] = []
        by_hash: dict[str, list] = {}
        for chunk in chunks:
            if chunk.content_hash not in by_hash:
                by_hash[chunk.content_hash] = []
                self.docs.append((chunk.content_hash, by_hash[chunk.content_hash]))
            by_hash[chunk.content_hash].append(chunk)
        self.rows, row = [], 0
        for _, pieces in self.docs:
            self.rows.append(list(range(row, row + len(pieces))))
            row += len(pieces)
        self.base = np.array([vectors[c.chunk_id] for _, pieces in self.docs for c in pieces], dtype=np.float32)
        self.real_chunks = self.count = len(chunks)
        self.copies = 0
        self.next_doc = len(self.docs)  # the next document to copy; starts a new copy at the end

    def _copy_documents(self, room: int, need: int) -> tuple[list, list, list[int]]:
        """The next copied documents: whole ones while they fit in `room` chunks, and at
        most `need` chunks (the document that reaches `need` is cut short). Returns their
        (record, chunks), all their chunks, and the rows of `base` their vectors copy."""
        items, rows = [], []
        while need > 0:
            if self.next_doc == len(self.docs):
                self.copies += 1
                self.next_doc = 0
            digest, pieces = self.docs[self.next_doc]
            take = pieces[:need]
            if len(take) > room:
                if items:
                    break
                take = take[:room]
            new_hash = hashlib.md5(f"{digest}:{self.copies}".encode()).hexdigest()
            record = self.records[digest]
            source = f"synthetic/copy{self.copies:05d}/{record.source}"
            chunks = [replace(c, chunk_id=f"{new_hash}-{i:04d}", source=source, content_hash=new_hash)
                      for i, c in enumerate(take)]
            items.append((replace(record, source=source, content_hash=new_hash, chunks=len(chunks)), chunks))
            rows += self.rows[self.next_doc][: len(take)]
            room -= len(take)
            need -= len(take)
            self.next_doc += 1
        return items, [c for _, chunks in items for c in chunks], rows

    def grow(self, n: int) -> None:
        """Add synthetic chunks until the live generation holds `n`.

        Whole documents go in batches of the store's largest write; each batch's noise is
        drawn in one call and its BM25 chunks written in one commit (`Manifest.put_many`).
        The store write is the store's own `upsert`, so the collection is built exactly as
        ingest builds it.
        """
        import numpy as np

        if n <= self.count:
            return
        settings = self.settings
        with writer_lock(settings.lock_path):
            store = make_store(settings, self.embedder, self.generation)
            manifest = Manifest.of(self.generation)
            manifest.db.execute("PRAGMA synchronous=OFF")  # a throwaway index: no fsync per batch
            try:
                while self.count < n:
                    items, chunks, rows = self._copy_documents(store.batch_size, n - self.count)
                    noisy = self.base[rows] + self.rng.normal(0, NOISE, (len(rows), self.base.shape[1])).astype(np.float32)
                    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
                    store.upsert(chunks, noisy.tolist())
                    manifest.put_many(items)
                    self.count += len(chunks)
            finally:
                manifest.close()
                store.close()
            index.activate(settings.data_dir, self.generation)  # readers reopen
