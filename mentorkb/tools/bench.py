"""Benchmarks, reported as ratios to a floor measured in the same run.

Ingest: the full pipeline (load, chunk, embed, store, commit) against pure
`encode()` of the very same texts: the chunks, and their quotable sentences, whose
vectors ingest stores for the answerer. No-op: re-ingesting an unchanged tree,
model start excluded.

Query: `Assistant.ask` (triage, hybrid retrieval, extractive answer) against the
floor of one MiniLM query encode, one raw Chroma `query` on the same collection and
one raw BM25 search in the same Tantivy index, interleaved question by question. The large indexes are *synthetic*:
the sample corpus is ingested for real (real embeddings), then replicated, each
copy's vectors perturbed with Gaussian noise and renormalised, and written
straight into Chroma and the BM25 side index. Encoding 100,000 chunks for real
would make the benchmark far slower, and search cost depends on the number and
spread of vectors, not on how they were made.

Serve: `mentorkb serve` as a subprocess on a free local port: time from process
start to the first answer, resident memory after loading and after the queries,
and many simultaneous clients through Gradio's `/ask` API.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ingest import loaders
from ingest.chunking import embedding_text, split_document, to_chunks
from ingest.discovery import discover
from ingest.indexer import Indexer
from mentorkb.tools.bench_followups import bench_followups, followups_table
from mentorkb.tools.bench_gaps import bench_gaps
from mentorkb.tools.bench_serve import bench_serve, percentiles, serve_table, serve_targets
from mentorkb.tools.synthetic import SyntheticIndex
from rag.backends import make_embedder, make_store
from rag.core.jsonl import read_jsonl
from rag.core.protocols import Embedder
from rag.core.sentences import quotable
from rag.core.settings import Settings, load_settings
from rag.store import index

# The performance targets (docs/performance.md); `targets` in the output says which are met.
QUERY_RATIO_TARGET = 1.5  # ask p95 / floor p95, at QUERY_RATIO_AT chunks
QUERY_RATIO_AT = 10_000
QUERY_MS_TARGET = 100.0  # ask p95 at QUERY_MS_AT chunks
QUERY_MS_AT = 100_000
INGEST_RATIO_TARGET = 0.87
NOOP_S_TARGET = 2.0
RSS_MB_TARGET = 1536.0
COLD_START_S_TARGET = 10.0
GAPS_S_TARGET = 10.0  # a gap report over GAPS_AT logged questions, their vectors stored as logged
GAPS_AT = 10_000
HISTORY_MS_TARGET = 3.0  # ask p50 of a follow-up after three turns, over the same follow-up alone



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


def bench_ingest(settings: Settings, corpus: Path, copies: int, noop_docs: int, repeats: int = 5) -> dict:
    """Full ingest pipeline against encode() alone, and a no-op re-ingest; always on embedded Chroma."""
    settings = settings.model_copy(update={"chroma_url": ""})
    embedder = make_embedder(settings)
    embedder.embed(["warm up the model"] * 8)
    work = Path(tempfile.mkdtemp(prefix="mentorkb-bench-"))
    try:
        docs = work / "docs"
        _replicate(corpus, docs, copies)
        # Floor: encode() alone on exactly the texts the pipeline will embed: each
        # chunk, and each chunk's quotable sentences (stored for the answerer).
        texts, said = [], []
        for found in discover([docs]):
            doc = loaders.load(found.path, found.source)
            pieces = split_document(doc, embedder.count_tokens, settings.chunk_tokens,
                                    settings.chunk_overlap, embedder.max_tokens)
            chunks = to_chunks(doc, pieces)
            texts += [embedding_text(c) for c in chunks]
            said += [t for c in chunks for t in quotable(c.text)]
        # Alternate floor and pipeline runs and keep medians: this 2-core machine's
        # run-to-run noise is larger than the overhead being measured.
        encode_runs, pipeline_runs = [], []
        for i in range(repeats):
            start = time.perf_counter()
            embedder.embed(texts)
            embedder.embed(said)
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
            "sentences": len(said),
            "encode_only_chunks_per_s": round(len(texts) / encode_s, 1),
            "pipeline_chunks_per_s": round(len(texts) / pipeline_s, 1),
            "ratio_to_encode": round(encode_s / pipeline_s, 3),
            "repeats": repeats,
        },
        "noop_reingest": {"documents": noop_docs, "seconds": round(noop_s, 3)},
    }



def bench_questions(corpus: Path) -> list[str]:
    """The gold set's answerable questions: each runs the whole path (sensitive ones stop at triage)."""
    return [r["question"] for r in read_jsonl(corpus / "questions.jsonl") if r.get("kind") == "answerable"]


def bench_query(settings: Settings, embedder: Embedder, questions: list[str], rounds: int) -> dict:
    """`ask` latency against the floor, interleaved question by question.

    The floor is what the issue-32 target names: one MiniLM encode of the question,
    one raw Chroma `query` (top_k, with texts) and one raw BM25 search in the same
    Tantivy index, of the question's words at the depth the product searches
    (`Fusion.candidates`): a plain OR of its terms, addresses and scores only. The
    old floor (encode and Chroma alone) is timed in the same calls, so
    `ratio_*_vector_floor` continues the figures measured before it.
    """
    from mentorkb.app import build
    from rag.retrieval.retrieve import Fusion, query_words
    from rag.store.lexical import _analyzer
    from rag.store.manifest import Manifest

    assistant = build(settings, embedder=embedder).assistant
    generation = index.current_generation(settings.data_dir)
    floor_store = make_store(settings, embedder, generation)
    collection, k = floor_store.collection, settings.top_k
    floor_manifest = Manifest.of(generation)
    bm25 = _raw_bm25(floor_manifest.lexical, _analyzer(), Fusion().candidates)

    def floor(question: str) -> float:
        """Times the whole floor; returns when its vector part ended."""
        [vector] = embedder.embed([question])
        collection.query(query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances"])
        vector_done = time.perf_counter()
        bm25(query_words(question))
        return vector_done

    try:
        routes: dict[str, int] = {}
        for q in questions:  # warm up: first touches load index files and caches
            floor(q)
            assistant.ask(q)
        floor_s, vector_s, ask_s = [], [], []
        for r in range(rounds):
            for q in questions:
                # Alternate which goes first, so neither always meets a warmer cache.
                for which in ((0, 1) if r % 2 == 0 else (1, 0)):
                    start = time.perf_counter()
                    if which == 0:
                        vector_done = floor(q)
                        floor_s.append(time.perf_counter() - start)
                        vector_s.append(vector_done - start)
                    else:
                        route = assistant.ask(q).route
                        ask_s.append(time.perf_counter() - start)
                        routes[route] = routes.get(route, 0) + 1
    finally:
        floor_store.close()
        floor_manifest.close()
        assistant.store.close()
    f, v, a = percentiles(floor_s), percentiles(vector_s), percentiles(ask_s)
    return {
        "questions": len(ask_s),
        "routes": routes,
        "floor": f,
        "vector_floor": v,
        "ask": a,
        "ratio_p50": round(a["p50_ms"] / f["p50_ms"], 3),
        "ratio_p95": round(a["p95_ms"] / f["p95_ms"], 3),
        "ratio_p50_vector_floor": round(a["p50_ms"] / v["p50_ms"], 3),
        "ratio_p95_vector_floor": round(a["p95_ms"] / v["p95_ms"], 3),
        "ask_qps": round(len(ask_s) / sum(ask_s), 2),  # one ask after another, in this process
    }


def _raw_bm25(lexicon, analyzer, depth: int) -> Callable[[list[str]], list]:
    """Plain BM25 in the lexicon's Tantivy index: each word's terms (a phrase for a word
    the tokenizer splits) OR'ed, Tantivy's own weights, the top `depth` hits'
    scores and addresses; no stored field is read."""
    import tantivy

    schema, searcher = lexicon.index.schema, lexicon.index.searcher()
    Query = tantivy.Query

    def search(words: list[str]) -> list:
        clauses = []
        for word in words:
            terms = analyzer.analyze(word)
            if terms:
                query = (Query.term_query(schema, "body", terms[0]) if len(terms) == 1
                         else Query.phrase_query(schema, "body", terms))
                clauses.append((tantivy.Occur.Should, query))
        return searcher.search(Query.boolean_query(clauses), depth, count=False).hits if clauses else []

    return search


def _targets(result: dict) -> list[dict]:
    """Each performance target, with the figure measured and whether it is met."""
    found = []

    def check(name: str, value, target, met: bool) -> None:
        found.append({"name": name, "value": value, "target": target, "met": met})

    by_size = {q["chunks"]: q for q in result.get("query", [])}
    if QUERY_RATIO_AT in by_size:
        v = by_size[QUERY_RATIO_AT]["ratio_p95"]
        check(f"ask p95 / floor p95 at {QUERY_RATIO_AT:,} chunks", v, f"<= {QUERY_RATIO_TARGET}", v <= QUERY_RATIO_TARGET)
    if QUERY_MS_AT in by_size:
        v = by_size[QUERY_MS_AT]["ask"]["p95_ms"]
        check(f"ask p95 at {QUERY_MS_AT:,} chunks (ms)", v, f"<= {QUERY_MS_TARGET:g}", v <= QUERY_MS_TARGET)
    if "ingest" in result:
        v = result["ingest"]["ratio_to_encode"]
        check("ingest chunks/s / encode() chunks/s", v, f">= {INGEST_RATIO_TARGET}", v >= INGEST_RATIO_TARGET)
        v = result["noop_reingest"]["seconds"]
        check(f"no-op re-ingest of {result['noop_reingest']['documents']:,} documents (s)", v,
              f"< {NOOP_S_TARGET:g}", v < NOOP_S_TARGET)
    if "serve" in result:
        s = result["serve"]
        one = s["servers"][0]  # memory and cold start: the first server (one worker by default)
        v = max(one["rss_mb_after_load"], one["rss_mb_after_queries"], one["peak_rss_mb"] or 0)
        check(f"serve peak RSS at {s['chunks']:,} chunks (MB)", v, f"<= {RSS_MB_TARGET:g}", v <= RSS_MB_TARGET)
        check("cold start to first answer (s)", one["cold_start_s"], f"<= {COLD_START_S_TARGET:g}",
              one["cold_start_s"] <= COLD_START_S_TARGET)
        for name, value, target, met in serve_targets(s):
            check(name, value, target, met)
    if "followups" in result:
        v = result["followups"]["follow_up_history_cost_p50_ms"]
        check("ask p50: a follow-up after 3 turns minus the same alone (ms)", v, f"<= {HISTORY_MS_TARGET:g}",
              v <= HISTORY_MS_TARGET)
    if "gaps" in result:
        v = result["gaps"]["warm_s"]
        check(f"gap report over {result['gaps']['questions']:,} logged questions (s)", v,
              f"< {GAPS_S_TARGET:g}", v < GAPS_S_TARGET)
    return found


def run(
    corpus: Path = Path("corpus"),
    copies: int = 3,
    noop_docs: int = 1000,
    chunks: tuple[int, ...] = (1_000, 10_000, 100_000),
    serve_at: int | None = 10_000,
    queries: int = 1000,
    clients: tuple[int, ...] = (20, 50),
    workers: tuple[int, ...] = (1, 2),
    rounds: int = 3,
    progress: Callable[[str], None] = lambda message: None,
    gaps: int = GAPS_AT,
) -> dict:
    """Every benchmark, each in a temporary folder. Ingest is skipped when `copies` is 0,
    serve when `serve_at` is None.

    Args:
        corpus: the documents to replicate (and their questions.jsonl).
        copies: variants of each text document in the ingest run.
        noop_docs: documents in the no-op re-ingest.
        chunks: index sizes the query path is measured at.
        serve_at: index size the server is measured at (added to `chunks` if missing).
        queries: questions sent to the server by all clients together, in each run.
        clients: simultaneous clients: one run over the JSON API and one over the chat for each.
        workers: `serve --workers` counts to run the server with, one after another.
        rounds: passes over the questions at each size.
        progress: told what runs next.
        gaps: logged questions the gap view is measured over (at the largest index); 0 skips it.
    """
    started = time.perf_counter()
    settings = load_settings()
    # Its own collection name, so a shared Chroma server (MENTORKB_CHROMA_URL) is never touched.
    # Every temporary data dir, and the server, shares the configured data dir's export of
    # the embedding model: the serve figures are a server's steady state, not its first
    # start ever (which exports the model once, see rag/backends/onnx.py).
    settings = settings.model_copy(update={"collection": f"mentorkb-bench-{os.getpid()}",
                                           "models_dir": settings.models_path})
    result: dict = {"machine": _machine(settings)}
    embedder = make_embedder(settings)
    if copies:
        progress(f"ingest: {copies} copies of the text documents, against encode()")
        result.update(bench_ingest(settings, corpus, copies, noop_docs))
    questions = bench_questions(corpus)
    sizes = sorted(set(chunks) | ({serve_at} if serve_at else set()))
    work = Path(tempfile.mkdtemp(prefix="mentorkb-bench-query-"))
    qsettings = settings.model_copy(update={"data_dir": work / "data"})
    try:
        synthetic = SyntheticIndex(qsettings, embedder, corpus)
        result["query"] = []
        for size in sizes:
            progress(f"query: building {size:,} chunks")
            result["query"].append(_query_at(synthetic, size, qsettings, embedder, questions, rounds, progress))
            if size == sizes[0]:
                progress(f"follow-ups: {rounds} x {len(questions)} questions with and without a 3-turn history")
                result["followups"] = {"chunks": synthetic.count,
                                       **bench_followups(qsettings, embedder, questions, rounds)}
            if size == serve_at:
                counts = ", ".join(map(str, clients))
                progress(f"serve: cold start, then {queries} queries from {counts} clients over the API and "
                         f"the chat at {size:,} chunks, with {', '.join(map(str, workers))} worker(s)")
                result["serve"] = {"chunks": synthetic.count, **bench_serve(
                    qsettings, questions, queries, clients, work / "serve.log", result["query"][-1]["ask_qps"],
                    workers)}
        if gaps:
            progress(f"gaps: a gap report over {gaps:,} logged questions, at {synthetic.count:,} chunks")
            result["gaps"] = {"chunks": synthetic.count, **bench_gaps(
                qsettings.model_copy(update={"data_dir": work / "gaps"}), embedder,
                index.LiveIndex(qsettings, embedder), questions,
                [s for _, pieces in synthetic.docs for c in pieces for s in quotable(c.text)], gaps)}
    finally:
        for generation in (work / "data" / index.GENERATIONS).glob("gen-*"):
            index.discard(generation, qsettings)
        shutil.rmtree(work, ignore_errors=True)
    result["targets"] = _targets(result)
    result["total_s"] = round(time.perf_counter() - started, 1)
    return result


def _machine(settings: Settings) -> dict:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "store": "chroma server" if settings.chroma_url else "chroma persistent (embedded)",
        "embed_runtime": settings.embed_runtime,
    }


def _query_at(synthetic: SyntheticIndex, size: int, settings: Settings, embedder, questions: list[str],
              rounds: int, progress: Callable[[str], None]) -> dict:
    """Grow the synthetic index to `size` chunks, then time the query path on it."""
    began = time.perf_counter()
    synthetic.grow(size)
    built = time.perf_counter() - began
    progress(f"query: {rounds} x {len(questions)} questions at {synthetic.count:,} chunks")
    return {
        "chunks": synthetic.count,
        "real_chunks": synthetic.real_chunks,
        "synthetic_chunks": synthetic.count - synthetic.real_chunks,
        "build_s": round(built, 1),
        **bench_query(settings, embedder, questions, rounds),
    }


def table(result: dict) -> str:
    """The figures as Markdown tables, each beside its floor or target (for docs/performance.md)."""
    lines = []
    m = result["machine"]
    lines.append(f"{m['cpus']} CPUs, {m['platform']}, Python {m['python']}, {m['store']}, "
                 f"embedder on {m.get('embed_runtime', 'torch')}; "
                 f"load average at start {m['load_average_at_start']}; {result['total_s']} s in all")
    if result.get("query"):
        lines += ["", "| chunks (synthetic) | floor p50 / p95 ms | ask p50 / p95 ms | ratio p50 / p95 "
                  "| encode + Chroma only: p50 / p95 ms | its ratio p50 / p95 |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for q in result["query"]:
            v = q.get("vector_floor", {"p50_ms": "-", "p95_ms": "-"})
            lines.append(
                f"| {q['chunks']:,} ({q['synthetic_chunks']:,}) | {q['floor']['p50_ms']} / {q['floor']['p95_ms']} "
                f"| {q['ask']['p50_ms']} / {q['ask']['p95_ms']} | {q['ratio_p50']} / {q['ratio_p95']} "
                f"| {v['p50_ms']} / {v['p95_ms']} | {q.get('ratio_p50_vector_floor', '-')} / "
                f"{q.get('ratio_p95_vector_floor', '-')} |"
            )
    if "ingest" in result:
        i, n = result["ingest"], result["noop_reingest"]
        lines += ["", "| ingest chunks | encode() floor | full pipeline | ratio | no-op re-ingest |",
                  "| ---: | ---: | ---: | ---: | ---: |",
                  f"| {i['chunks']:,} | {i['encode_only_chunks_per_s']} chunks/s | {i['pipeline_chunks_per_s']} chunks/s "
                  f"| {i['ratio_to_encode']} | {n['seconds']} s ({n['documents']:,} documents) |"]
    if "serve" in result:
        lines += ["", *serve_table(result["serve"], result["serve"]["chunks"])]
    if "followups" in result:
        lines += ["", f"History, at {result['followups']['chunks']:,} chunks:", "",
                  *followups_table(result["followups"])]
    if "gaps" in result:
        g = result["gaps"]
        lines += ["", "| gap report: logged questions | clusters | encode() floor | cold (embeds all) | ratio "
                  "| warm (vectors stored as logged) |", "| ---: | ---: | ---: | ---: | ---: | ---: |",
                  f"| {g['questions']:,} | {g['clusters']:,} | {g['encode_floor_s']} s | {g['cold_s']} s "
                  f"| {g['cold_ratio_to_encode']} | {g['warm_s']} s |"]
    if result.get("targets"):
        lines += ["", "| target | measured | wanted | met |", "| --- | ---: | ---: | --- |"]
        lines += [f"| {t['name']} | {t['value']} | {t['target']} | {'yes' if t['met'] else 'NO'} |"
                  for t in result["targets"]]
    return "\n".join(lines)
