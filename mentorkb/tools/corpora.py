"""`mentorkb eval` over several corpora: each one ingested through the normal pipeline
into a data dir of its own, asked its questions, and the same questions put to the
baselines (mentorkb.tools.baselines) built from the same texts in the same run.

Two kinds of corpus:
- gold: a folder of documents and a JSONL file of questions with gold sources and
  key phrases (see mentorkb.tools.evaluate); MentorKB answers each question in full
  (triage, retrieval, answer), and each baseline's answer is the first 120 words of
  its top passage;
- BEIR: `corpus.jsonl`, `queries.jsonl` and `qrels/test.tsv` in BEIR's own layout;
  each document becomes a text file (title line, then text), and only retrieval is
  scored (nDCG@10, recall@100), since BEIR queries are claims and topics, not
  questions a mentee asks.

The corpora are listed in a TOML file (evals/corpora.toml by default):

    [[corpus]]
    name = "dev-corpus"
    documents = "../../shared/dev-corpus"      # relative to the TOML file
    questions = "../../shared/dev-corpus/questions.jsonl"
    exclude = ["SOURCES.md", "licenses/*"]     # globs on source ids

    [[corpus]]
    name = "scifact"
    beir = "../../shared/beir/scifact"

A corpus whose files are not there is skipped with a note, so one file serves every
machine.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import re
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentorkb.tools import evaluate as ev
from rag.core.errors import InvalidInput

# The repository's list (an editable install, as `make` makes).
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "evals" / "corpora.toml"
# nDCG@10 of BM25 (Elasticsearch) in the BEIR paper (Thakur et al., 2021), table 2.
BEIR_PAPER_BM25 = {"scifact": 0.665, "nfcorpus": 0.325}
ANSWER_WORDS = 120
# Chunks asked of MentorKB's own BM25 index (enough distinct documents for recall@100).
LEXICAL_DEPTH = 300
SYSTEMS = {
    "mentorkb": "MentorKB",
    # The ranking MentorKB's retriever gives every question, before triage can hand it to
    # a person: what a retrieval change moves, apart from the triage's false handoffs.
    "retriever": "MentorKB's retriever alone (no triage)",
    "dense": "MiniLM dense alone",
    "bm25-mentorkb": "BM25 alone (MentorKB's Tantivy index)",
    "bm25s": "BM25 alone (bm25s)",
    "rrf": "RRF k=60 (dense + bm25s)",
}

Say = Callable[[str], None]


@dataclass(frozen=True)
class Corpus:
    """One corpus to evaluate on: `documents` and `questions` (gold), or `beir` (a BEIR folder)."""

    name: str
    documents: Path | None = None
    questions: Path | None = None
    beir: Path | None = None
    exclude: tuple[str, ...] = field(default_factory=tuple)

    def missing(self) -> str:
        """Why this corpus cannot run here, or ''."""
        need = [self.beir / "corpus.jsonl", self.beir / "queries.jsonl", self.beir / "qrels" / "test.tsv"] \
            if self.beir else [self.documents, self.questions]
        gone = [str(p) for p in need if not p.exists()]
        return f"not found: {', '.join(gone)}" if gone else ""


def load_config(path: Path) -> list[Corpus]:
    """The corpora listed in a TOML file; paths are relative to the file. A malformed
    entry is an error naming the file, the entry and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InvalidInput(f"{path}: {e}") from None
    entries = data.get("corpus")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"{path}: needs at least one [[corpus]] table")
    corpora, names = [], set()
    for i, entry in enumerate(entries, 1):
        where = f"{path}: corpus {i}"
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where}: needs a string field 'name'")
        if name in names:
            raise InvalidInput(f"{where}: name {name!r} used twice")
        names.add(name)
        for key in ("documents", "questions", "beir"):
            if key in entry and not isinstance(entry[key], str):
                raise InvalidInput(f"{where} ({name}): field {key!r} must be a path string")
        exclude = entry.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
            raise InvalidInput(f"{where} ({name}): field 'exclude' must be a list of globs")
        rel = {k: path.parent / entry[k] for k in ("documents", "questions", "beir") if k in entry}
        if ("beir" in rel) == ("documents" in rel or "questions" in rel):
            raise InvalidInput(f"{where} ({name}): give 'beir', or 'documents' and 'questions'")
        if "beir" not in rel and not ("documents" in rel and "questions" in rel):
            raise InvalidInput(f"{where} ({name}): 'documents' needs 'questions' and the other way round")
        corpora.append(Corpus(name, rel.get("documents"), rel.get("questions"), rel.get("beir"), tuple(exclude)))
    return corpora


def training_parser(doc: str, model: Path) -> argparse.ArgumentParser:
    """A model build's command line, with the options every build takes: `--workdir`,
    `--out` (default `model`) and `--corpora`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="keep the ingested corpora here")
    parser.add_argument("--out", type=Path, default=model)
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CONFIG)
    return parser


def first_words(text: str, n: int = ANSWER_WORDS) -> str:
    return " ".join(text.split()[:n])


def _ranked(hits) -> list[str]:
    return list(dict.fromkeys(chunk.source for chunk, _ in hits))


def corpus_files(corpus: Corpus) -> list:
    """A gold corpus's documents that a loader reads, less its excluded sources."""
    from ingest import loaders
    from ingest.discovery import discover

    return [f for f in discover([corpus.documents]) if not f.error and loaders.is_supported(f.path)
            and not any(fnmatch.fnmatch(f.source, g) for g in corpus.exclude)]


def run_gold(corpus: Corpus, settings, embedder, say: Say, ingest_progress=None,
             cache_dir: Path | None = None) -> dict[str, Any]:
    """Ingest, ask and score one gold corpus with MentorKB and every baseline."""
    from ingest import loaders
    from ingest.indexer import Indexer
    from mentorkb.app import build
    from mentorkb.tools.baselines import Baselines, distinct_sources, split_passages
    from rag.core.errors import MentorKBError
    from rag.retrieval.retrieve import query_words

    gold = ev.load_gold(corpus.questions)
    files = corpus_files(corpus)
    say(f"{corpus.name}: ingesting {len(files)} documents")
    report = Indexer(settings, embedder).add([(f.path, f.source) for f in files], progress=ingest_progress)
    for source, reason in report.failed:
        say(f"{corpus.name}: error: {source}: {reason}")
    assistant = build(settings, embedder=embedder).assistant
    supports = ev.supports_check(embedder, settings.citation_min_support)
    say(f"{corpus.name}: asking MentorKB {len(gold)} questions")
    rows: dict[str, list[dict]] = {name: [] for name in SYSTEMS}
    rows["mentorkb"] = ev.answer_rows(assistant.ask, gold, supports)
    texts = {}
    for f in files:
        try:
            texts[f.source] = loaders.load(f.path, f.source).text
        except MentorKBError:
            pass  # MentorKB could not read it either (reported above)
    passages = split_passages(texts)
    say(f"{corpus.name}: building the baselines over {len(passages)} chunks")
    baselines = Baselines(passages, embedder, cache_dir=cache_dir)
    for item in gold:
        question = item["question"]
        [vector], encode_ms = ev.timed(embedder.embed, [question])
        for name, (ranking, ms) in baselines.search(question, vector, encode_ms).items():
            top = first_words(passages[ranking[0]].text) if ranking else ""
            rows[name].append(ev.score_row(item, distinct_sources(passages, ranking), top, ms=ms))
        found, ms = ev.timed(assistant.retriever.search, question, vector)
        top = first_words(found[0].chunk.text) if found else ""
        rows["retriever"].append(ev.score_row(item, ev.ranked_sources(found), top, ms=encode_ms + ms))
        hits, ms = ev.timed(assistant.store.lexical, query_words(question), LEXICAL_DEPTH)
        top = first_words(hits[0][0].text) if hits else ""
        rows["bm25-mentorkb"].append(ev.score_row(item, _ranked(hits), top, ms=ms))
    return {
        "kind": "gold", "documents": len(texts), "questions": len(gold),
        "by_kind": {k: sum(i["kind"] == k for i in gold) for k in ev.KINDS},
        "systems": {name: ev.by_split(r) for name, r in rows.items()},
    }


def load_beir(folder: Path, split: str = "test") -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    """(documents, the split's queries by id, graded judgements by query id) of a BEIR
    folder; the split is the judgements' file, qrels/<split>.tsv."""
    docs = [d for _, d in ev.records(folder / "corpus.jsonl", "_id", "text")]
    queries = {q["_id"]: q["text"] for _, q in ev.records(folder / "queries.jsonl", "_id", "text")}
    qrels: dict[str, dict[str, int]] = {}
    path = folder / "qrels" / f"{split}.tsv"
    with path.open(encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if number == 1 and row[:1] == ["query-id"]:
                continue
            try:
                query, doc, grade = row
                qrels.setdefault(query, {})[doc] = int(grade)
            except ValueError:
                raise InvalidInput(f"{path}:{number}: expected query-id, corpus-id, score") from None
    unknown = sorted(set(qrels) - set(queries))
    if unknown:
        raise InvalidInput(f"{path}: {len(unknown)} query ids not in queries.jsonl (first: {unknown[0]})")
    return docs, {q: queries[q] for q in qrels}, qrels


_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,100}")


def write_beir_documents(docs: list[dict], folder: Path) -> dict[str, str]:
    """One text file per BEIR document (title line, blank line, text), for the normal
    ingest pipeline; returns document id by source id."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = {}
    for i, doc in enumerate(docs):
        name = f"{doc['_id']}.txt" if _SAFE.fullmatch(doc["_id"]) else f"doc-{i:07d}.txt"
        # The text loader takes the first line as the title.
        title = " ".join((doc.get("title") or "").split()) or doc["_id"]
        (folder / name).write_text(f"{title}\n\n{doc['text']}\n", encoding="utf-8")
        ids[name] = doc["_id"]
    return ids


def ingest_kept(corpus: Corpus, settings, embedder, workdir: Path, say: Say) -> tuple[Any, dict[str, str]]:
    """Ingest a corpus into workdir/<name>/data through the normal pipeline, skipping
    what is already there (for the tools that rerun over the same corpora); returns
    the settings of that data dir and, for BEIR, the document id by source."""
    from ingest.indexer import Indexer

    mine = settings.model_copy(update={"data_dir": workdir / corpus.name / "data"})
    indexer = Indexer(mine, embedder)
    if corpus.beir:
        docs, _, _ = load_beir(corpus.beir)
        ids = write_beir_documents(docs, workdir / corpus.name / "documents")
        say(f"{corpus.name}: ingesting {len(docs)} documents (skipped if already there)")
        indexer.sync([workdir / corpus.name / "documents"])
        return mine, ids
    files = corpus_files(corpus)
    say(f"{corpus.name}: ingesting {len(files)} documents (skipped if already there)")
    indexer.add([(f.path, f.source) for f in files])
    return mine, {}


def _beir_scores(rankings: list[list[str]], ms: list[float], queries: list[str],
                 qrels: dict[str, dict[str, int]]) -> dict[str, Any]:
    relevant = [[d for d, g in qrels[q].items() if g > 0] for q in queries]
    return {
        "ndcg@10": ev.mean([ev.ndcg_at(r, qrels[q], 10) for r, q in zip(rankings, queries)]),
        "recall@100": ev.mean([ev.share_found(r, rel, 100) for r, rel in zip(rankings, relevant)]),
        "latency_ms_p50": ev.percentile(ms, 0.5),
        "latency_ms_p95": ev.percentile(ms, 0.95),
    }


def run_beir(corpus: Corpus, settings, embedder, workdir: Path, say: Say, ingest_progress=None,
             cache_dir: Path | None = None) -> dict[str, Any]:
    """Ingest a BEIR corpus through the normal pipeline, search its test queries with
    MentorKB's retriever and every baseline, and score nDCG@10 and recall@100."""
    from ingest.indexer import Indexer
    from mentorkb.tools.baselines import Baselines, Passage, distinct_sources
    from rag.retrieval.retrieve import query_words, retriever_for
    from rag.store.index import LiveIndex

    docs, queries, qrels = load_beir(corpus.beir)
    ids = write_beir_documents(docs, workdir / "documents")
    say(f"{corpus.name}: ingesting {len(docs)} documents through the normal pipeline")
    report = Indexer(settings, embedder).sync([workdir / "documents"], progress=ingest_progress)
    for source, reason in report.failed:
        say(f"{corpus.name}: error: {source}: {reason}")
    store = LiveIndex(settings, embedder)
    retriever = retriever_for(settings, embedder, store, k=100)
    say(f"{corpus.name}: embedding {len(docs)} whole documents for the baselines")
    passages = [Passage(d["_id"], f"{d.get('title') or ''} {d['text']}".strip()) for d in docs]
    baselines = Baselines(passages, embedder, cache_dir=cache_dir,
                          progress=lambda done, total: say(f"  embedded {done}/{total}"))
    order = list(queries)
    ranked: dict[str, list[list[str]]] = {name: [] for name in SYSTEMS}
    ms: dict[str, list[float]] = {name: [] for name in SYSTEMS}
    say(f"{corpus.name}: searching {len(order)} test queries")
    for q in order:
        text = queries[q]
        [vector], encode_ms = ev.timed(embedder.embed, [text])
        found, search_ms = ev.timed(retriever.search, text, vector)
        ranked["mentorkb"].append([ids.get(s, s) for s in ev.ranked_sources(found)])
        ms["mentorkb"].append(encode_ms + search_ms)
        # No triage on BEIR: MentorKB is its retriever here.
        ranked["retriever"].append(ranked["mentorkb"][-1])
        ms["retriever"].append(ms["mentorkb"][-1])
        hits, lexical_ms = ev.timed(store.lexical, query_words(text), LEXICAL_DEPTH)
        ranked["bm25-mentorkb"].append([ids.get(s, s) for s in _ranked(hits)])
        ms["bm25-mentorkb"].append(lexical_ms)
        for name, (ranking, t) in baselines.search(text, vector, encode_ms).items():
            ranked[name].append(distinct_sources(passages, ranking))
            ms[name].append(t)
    return {
        "kind": "beir", "documents": len(docs), "queries": len(order),
        "published": {"bm25-beir-paper": BEIR_PAPER_BM25.get(corpus.beir.name.lower())},
        "systems": {name: _beir_scores(ranked[name], ms[name], order, qrels) for name in SYSTEMS},
    }


def run_all(corpora: list[Corpus], settings, embedder, say: Say, ingest_progress=None) -> dict[str, Any]:
    """Every corpus that is there, each in a temporary data dir of its own; the mean
    of each system's figures over them (see mentorkb.tools.report). The baselines'
    vectors are kept in the data dir's cache/eval/ between runs."""
    import tempfile

    from mentorkb.tools.report import means

    results, skipped = {}, {}
    cache = settings.data_dir / "cache" / "eval"
    for corpus in corpora:
        why = corpus.missing()
        if why:
            say(f"{corpus.name}: skipped ({why})")
            skipped[corpus.name] = why
            continue
        with tempfile.TemporaryDirectory(prefix=f"mentorkb-eval-{corpus.name}-") as tmp:
            mine = settings.model_copy(update={"data_dir": Path(tmp) / "data"})
            start = time.perf_counter()
            if corpus.beir:
                results[corpus.name] = run_beir(corpus, mine, embedder, Path(tmp), say, ingest_progress, cache)
            else:
                results[corpus.name] = run_gold(corpus, mine, embedder, say, ingest_progress, cache)
            results[corpus.name]["seconds"] = round(time.perf_counter() - start, 1)
            say(f"{corpus.name}: done in {results[corpus.name]['seconds']:.0f} s")
    return {"corpora": results, "mean": means(results), "skipped": skipped, "systems": SYSTEMS}
