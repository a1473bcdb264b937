"""Chroma vector store. We always pass our own embeddings: Chroma's default
embedding function downloads a model, which cannot work offline.

Two ways to reach Chroma: a persistent folder inside each index generation
(one machine), or a Chroma server (`MENTORKB_CHROMA_URL`), where each generation
is its own collection, so several web workers on several hosts read the same one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rag.core.errors import ConfigError, EmbedderMismatchError, StoreError
from rag.core.types import Chunk, ScoredChunk

# chromadb shares one System per persistent path in a process and publishes it before
# starting it, without a lock: a client made on another thread in that moment, or while
# the last client on the path is closing, fails with "Could not connect to tenant
# default_tenant". The web server opens the index from several threads (the reader
# following CURRENT, an upload's writer), so clients are made and closed one at a time.
_CLIENTS = threading.Lock()

log = logging.getLogger(__name__)


@contextmanager
def chroma_errors(action: str) -> Iterator[None]:
    """Translate Chroma's exceptions into StoreError at this border."""
    import httpx
    from chromadb.errors import ChromaError

    try:
        yield
    except (ChromaError, httpx.HTTPError, OSError, RuntimeError, ValueError) as e:
        raise StoreError(f"vector store failed to {action}: {e}") from e


def _metadata(chunk: Chunk, index: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "source": chunk.source,
        "title": chunk.title,
        "section": chunk.section,
        "mentor": chunk.mentor,
        "content_hash": chunk.content_hash,
        "chunk_index": index,
    }
    if chunk.page is not None:
        meta["page"] = chunk.page
    return meta


def _chunk(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=chunk_id,
        text=text,
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        section=str(meta.get("section", "")),
        page=meta.get("page"),
        mentor=str(meta.get("mentor", "")),
        content_hash=str(meta.get("content_hash", "")),
    )


def http_client(url: str) -> Any:
    """A chromadb.HttpClient for `url`; raises ConfigError for a malformed URL."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        raise ConfigError(f"MENTORKB_CHROMA_URL: expected http(s)://host:port, got {url!r}")
    ssl = parts.scheme == "https"
    return chromadb.HttpClient(
        host=parts.hostname,
        port=parts.port or (443 if ssl else 8000),
        ssl=ssl,
        settings=ChromaSettings(anonymized_telemetry=False),
    )


def close_client(client: Any) -> None:
    """Close a Chroma client and the HTTP sessions of a server client.

    chromadb stops an HttpClient's systems (its own and its admin client's) on
    close() but leaves their httpx sessions open, leaking sockets.
    """
    servers = [getattr(c, "_server", None) for c in (client, getattr(client, "_admin_client", None))]
    with _CLIENTS:
        client.close()
    for server in servers:
        session = getattr(server, "_session", None)
        if session is not None and not getattr(server, "_running", True):
            session.close()


def sentences_collection(collection: str) -> str:
    """The collection holding the sentence vectors of `collection`'s chunks."""
    return f"{collection}-sentences"


def drop_collection(url: str, collection: str) -> None:
    """Delete a collection (and its sentences') from the Chroma server, if there."""
    from chromadb.errors import NotFoundError

    with chroma_errors(f"delete collection {collection!r}"):
        client = http_client(url)
        try:
            for name in (collection, sentences_collection(collection)):
                try:
                    client.delete_collection(name)
                except NotFoundError:
                    pass
        finally:
            close_client(client)


class ChromaStore:
    """A Chroma collection bound to one embedder (name and dimension in its metadata).

    Beside it, a second collection holds each chunk's sentences with their vectors,
    embedded at ingest (rag.core.sentences.quotable), so the answerer compares sentences with
    the question without embedding them while the user waits.
    """

    def __init__(self, client: Any, collection: str, embedder_name: str, dimension: int) -> None:
        self.client = client
        with chroma_errors("open the collection"):
            self.collection = client.get_or_create_collection(
                collection,
                metadata={"embedder": embedder_name, "dimension": dimension},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
            self.sentences = client.get_or_create_collection(
                sentences_collection(collection),
                metadata={"embedder": embedder_name, "dimension": dimension},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        found = (self.collection.metadata or {}).get("embedder"), (self.collection.metadata or {}).get("dimension")
        if found != (embedder_name, dimension):
            raise EmbedderMismatchError(
                f"collection {collection!r} was built with embedder {found[0]} ({found[1]} dims), "
                f"but {embedder_name} ({dimension} dims) is configured; rebuild the index"
            )
        with chroma_errors("read its limits"):
            self.batch_size = int(client.get_max_batch_size())

    @classmethod
    def persistent(cls, path: Path, collection: str, embedder_name: str, dimension: int) -> ChromaStore:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            with _CLIENTS:
                client = chromadb.PersistentClient(
                    path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
                )
        except Exception as e:  # noqa: BLE001 - a failed open can also fail in Chroma's own cleanup
            cause = e.__context__ if isinstance(e, AttributeError) and e.__context__ else e
            raise StoreError(f"vector store failed to open {path}: {cause}") from e
        return cls(client, collection, embedder_name, dimension)

    @classmethod
    def http(cls, url: str, collection: str, embedder_name: str, dimension: int) -> ChromaStore:
        """A collection on the Chroma server at `url` (http://host:port)."""
        with chroma_errors(f"reach the Chroma server at {url}"):
            client = http_client(url)
        try:
            return cls(client, collection, embedder_name, dimension)
        except BaseException:
            close_client(client)
            raise

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        # Chunk indexes restart per document; keep them with the chunk for ordering.
        indexes: dict[str, int] = {}
        metas = []
        for chunk in chunks:
            index = indexes.get(chunk.content_hash, 0)
            indexes[chunk.content_hash] = index + 1
            metas.append(_metadata(chunk, index))
        with chroma_errors("write chunks"):
            self._write(self.collection, [c.chunk_id for c in chunks], [c.text for c in chunks], metas, vectors)

    def _write(self, collection: Any, ids: list[str], docs: list[str], metas: list[dict[str, Any]],
               vectors: Sequence[Sequence[float]]) -> None:
        """Upsert records into `collection` in batches of the client's largest size."""
        for start in range(0, len(ids), self.batch_size):
            end = start + self.batch_size
            collection.upsert(ids=ids[start:end], embeddings=[list(v) for v in vectors[start:end]],
                              documents=docs[start:end], metadatas=metas[start:end])

    def upsert_sentences(self, chunks: Sequence[Chunk], texts: Sequence[Sequence[str]],
                         vectors: Sequence[Sequence[float]]) -> None:
        """Store each chunk's sentences (`texts[i]` for `chunks[i]`) with their vectors,
        in order, replacing what the chunk had."""
        ids, docs, metas = [], [], []
        for chunk, said in zip(chunks, texts):
            for i, text in enumerate(said):
                ids.append(f"{chunk.chunk_id}#{i}")
                docs.append(text)
                metas.append({"chunk_id": chunk.chunk_id, "content_hash": chunk.content_hash})
        if len(ids) != len(vectors):
            raise ValueError("one vector per sentence is required")
        with chroma_errors("write sentences"):
            self.sentences.delete(where={"chunk_id": {"$in": [c.chunk_id for c in chunks]}})
            self._write(self.sentences, ids, docs, metas, vectors)

    def sentence_vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored vectors of the sentences of the chunks `ids`, by sentence text."""
        if not ids:
            return {}
        with chroma_errors("read sentences"):
            found = self.sentences.get(where={"chunk_id": {"$in": list(ids)}}, include=["documents", "embeddings"])
        return {t: v for t, v in zip(found["documents"], found["embeddings"])}

    def delete(self, content_hashes: Sequence[str]) -> None:
        if not content_hashes:
            return
        with chroma_errors("delete chunks"):
            self.collection.delete(where={"content_hash": {"$in": list(content_hashes)}})
            self.sentences.delete(where={"content_hash": {"$in": list(content_hashes)}})

    def query(self, vector: Sequence[float], k: int) -> list[ScoredChunk]:
        with chroma_errors("search"):
            found = self.collection.query(
                query_embeddings=[list(vector)],
                n_results=k,
                include=["documents", "metadatas", "distances"],
            )
        ids, docs, metas, dists = (found[key][0] for key in ("ids", "documents", "metadatas", "distances"))
        return [
            ScoredChunk(_chunk(i, d or "", m or {}), 1.0 - float(dist), 1.0 - float(dist))
            for i, d, m, dist in zip(ids, docs, metas, dists)
        ]

    def nearest(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        """The k nearest chunk ids with their cosine similarity, best first: `query`
        without reading texts and metadata, which cost most of a 100-result query."""
        with chroma_errors("search"):
            found = self.collection.query(query_embeddings=[list(vector)], n_results=k, include=["distances"])
        return [(i, 1.0 - float(dist)) for i, dist in zip(found["ids"][0], found["distances"][0])]

    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Stored chunks by id; ids not stored are left out."""
        if not ids:
            return {}
        with chroma_errors("read chunks"):
            found = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        return {i: _chunk(i, d or "", m or {}) for i, d, m in zip(found["ids"], found["documents"], found["metadatas"])}

    def vectors(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        """Stored embeddings by chunk id, each as Chroma returns it (a numpy row):
        turning them into lists of Python floats cost more than reading them."""
        if not ids:
            return {}
        with chroma_errors("read vectors"):
            found = self.collection.get(ids=list(ids), include=["embeddings"])
        return dict(zip(found["ids"], found["embeddings"]))

    def close(self) -> None:
        """Release the client, so a reopened one sees other processes' writes."""
        close_client(self.client)

    def relabel(self, content_hash: str, source: str) -> None:
        """Point a document's chunks at another of its sources (its first one was removed)."""
        with chroma_errors("relabel chunks"):
            found = self.collection.get(where={"content_hash": content_hash}, include=["metadatas"])
            if found["ids"]:
                metas = [{**m, "source": source} for m in found["metadatas"]]
                self.collection.update(ids=found["ids"], metadatas=metas)

    def count(self) -> int:
        with chroma_errors("count chunks"):
            return int(self.collection.count())

    def content_hashes(self) -> set[str]:
        """Every document hash that has chunks in the store."""
        with chroma_errors("list documents"):
            found = self.collection.get(include=["metadatas"])
        return {str(m.get("content_hash", "")) for m in found["metadatas"] or []}
