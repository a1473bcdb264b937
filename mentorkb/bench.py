"""Benchmarks, reported as ratios to a floor measured in the same run.

Ingest: the full pipeline (load, chunk, embed, store, commit) against pure
`encode()` of the very same chunk texts. No-op: re-ingesting an unchanged tree,
model start excluded.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ingest import loaders
from ingest.chunking import embedding_text, split_document, to_chunks
from ingest.indexer import Indexer, discover
from rag.backends import make_embedder
from rag.settings import Settings, load_settings


def _replicate(corpus: Path, target: Path, copies: int) -> None:
    """`copies` variants of each Markdown and text document (distinct text, so nothing deduplicates)."""
    for found in discover([corpus]):
        if not loaders.is_supported(found.path) or found.path.suffix not in {".md", ".txt"}:
            continue
        text = found.path.read_text(encoding="utf-8")
        for i in range(copies):
            out = target / f"copy{i}" / found.source
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + f"\n\nVariant {i} of this note.\n", encoding="utf-8")


def _small_docs(target: Path, n: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (target / f"doc-{i:05d}.md").write_text(
            f"---\ntitle: Note {i}\n---\n# Note {i}\n\nA short note number {i} on meeting rhythm.\n",
            encoding="utf-8",
        )


def bench_ingest(settings: Settings, corpus: Path, copies: int, noop_docs: int, repeats: int = 3) -> dict:
    embedder = make_embedder(settings)
    embedder.embed(["warm up the model"] * 8)
    work = Path(tempfile.mkdtemp(prefix="mentorkb-bench-"))
    try:
        docs = work / "docs"
        _replicate(corpus, docs, copies)
        # Floor: encode() alone on exactly the texts the pipeline will embed.
        texts = []
        for found in discover([docs]):
            doc = loaders.load(found.path, found.source)
            pieces = split_document(doc, embedder.count_tokens, settings.chunk_tokens,
                                    settings.chunk_overlap, embedder.max_tokens)
            texts += [embedding_text(c) for c in to_chunks(doc, pieces)]
        # Alternate floor and pipeline runs and keep medians: this 2-core machine's
        # run-to-run noise is larger than the overhead being measured.
        encode_runs, pipeline_runs = [], []
        for i in range(repeats):
            start = time.perf_counter()
            embedder.embed(texts)
            encode_runs.append(time.perf_counter() - start)
            indexer = Indexer(settings.model_copy(update={"data_dir": work / f"data{i}"}), embedder)
            start = time.perf_counter()
            report = indexer.sync([docs])
            pipeline_runs.append(time.perf_counter() - start)
            if report.chunks_written != len(texts) or report.failed:
                raise RuntimeError(f"benchmark ingest went wrong: {report.summary()}")
        encode_s, pipeline_s = statistics.median(encode_runs), statistics.median(pipeline_runs)

        small = work / "small"
        _small_docs(small, noop_docs)
        noop_indexer = Indexer(settings.model_copy(update={"data_dir": work / "noop"}), embedder)
        noop_indexer.sync([small])
        start = time.perf_counter()
        again = noop_indexer.sync([small])
        noop_s = time.perf_counter() - start
        if len(again.unchanged) != noop_docs:
            raise RuntimeError(f"no-op re-ingest changed something: {again.summary()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "ingest": {
            "documents": len(report.added),
            "chunks": len(texts),
            "encode_only_chunks_per_s": round(len(texts) / encode_s, 1),
            "pipeline_chunks_per_s": round(len(texts) / pipeline_s, 1),
            "ratio_to_encode": round(encode_s / pipeline_s, 3),
            "repeats": repeats,
        },
        "noop_reingest": {"documents": noop_docs, "seconds": round(noop_s, 3)},
    }


def run(data_dir: Path | None, corpus: Path, copies: int, noop_docs: int) -> dict:
    settings = load_settings(data_dir=data_dir)
    return bench_ingest(settings, corpus, copies, noop_docs)
