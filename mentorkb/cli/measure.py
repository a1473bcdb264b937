"""`mentorkb eval` and `mentorkb bench`: answer quality on labeled corpora, and speed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from mentorkb.cli.common import Progress, settings_of
from rag.core.settings import Settings

log = logging.getLogger(__name__)


@click.command("eval")
@click.argument("questions", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Documents to ingest before asking (needed with QUESTIONS).")
@click.option("--corpora", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file listing the corpora to run (default: evals/corpora.toml).")
@click.option("--only", multiple=True, metavar="NAME", help="Run only this corpus of the list (repeatable).")
@click.option("--beir", "beir_dirs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) to run instead (repeatable).")
@click.option("--retriever", type=click.Choice(["hybrid", "dense"]), default="hybrid", show_default=True,
              help="With QUESTIONS: 'dense' is MiniLM and Chroma alone.")
@click.option("--triage", "triage_set", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labeled triage messages (text, label, style); default with CORPUS: "
                   "evals/triage/dev.jsonl beside it, if there.")
@click.option("--followups", "followups", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Follow-up conversations (history, question, standalone, gold, kind, split) to ask "
                   "as typed, with their history and as rewritten; needs --corpus.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def evaluate(ctx: click.Context, questions: Path | None, corpus: Path | None, config: Path | None,
             only: tuple[str, ...], beir_dirs: tuple[Path, ...], retriever: str, triage_set: Path | None,
             followups: Path | None, as_json: bool) -> None:
    """Measure retrieval and answers over several corpora, beside baselines from the same run.

    With no arguments, runs every corpus listed in evals/corpora.toml that is on this
    machine (the sample corpus, the public dev corpus, SciFact and NFCorpus), each
    ingested into a temporary data dir, and puts the same questions to textbook
    baselines built from the same texts: MiniLM dense alone, BM25 alone (MentorKB's
    index and bm25s) and reciprocal-rank fusion (k = 60) of dense and bm25s. Prints
    per corpus and as the mean over corpora: recall@5 and MRR@5 over distinct
    documents, answer keyword coverage, abstain rates, citation validity and latency;
    for BEIR corpora nDCG@10 and recall@100. Progress goes to stderr.

    With QUESTIONS and --corpus, scores MentorKB alone on one gold set, overall, on dev
    and on held-out questions. With --triage, scores three triages on the same
    messages: the default (rules decide handoffs, the classifier adds check-ins), the
    classifier deciding alone (MENTORKB_TRIAGE_HANDOFF=classifier) and the rules alone.

    \b
    mentorkb eval
    mentorkb eval --beir ../shared/beir/scifact --json
    mentorkb eval --only sample --only dev-corpus
    mentorkb eval corpus/questions.jsonl --corpus corpus/
    mentorkb eval --triage ../shared/triage/dev.jsonl
    mentorkb eval --followups ../shared/followups/dev.jsonl --corpus ../shared/dev-corpus
    """
    import tempfile

    from mentorkb.app import build
    from mentorkb.tools import evaluate as ev

    if followups is not None:
        if corpus is None:
            raise click.UsageError("--followups needs --corpus, the documents to ingest")
        _eval_followups(ctx, followups, corpus, as_json)
        return
    if questions is None and triage_set is None:
        _eval_corpora(ctx, config, only, beir_dirs, as_json)
        return
    if questions is not None and corpus is None:
        raise click.UsageError("QUESTIONS needs --corpus, the documents to ingest")
    if questions is None:
        labeled = ev.load_triage_set(triage_set)
        settings = settings_of(ctx)
        report = {"triage": _triage_report(settings, build(settings).embedder, labeled, [])}
        click.echo(json.dumps(report, indent=2) if as_json else ev.triage_table(report["triage"]))
        return
    if triage_set is None and (corpus.parent / DEV_TRIAGE).is_file():
        triage_set = corpus.parent / DEV_TRIAGE
    gold = ev.load_gold(questions)
    labeled = ev.load_triage_set(triage_set) if triage_set else None
    settings = settings_of(ctx)
    with tempfile.TemporaryDirectory(prefix="mentorkb-eval-") as tmp:
        if not ctx.obj["data_dir_given"]:
            settings = settings.model_copy(update={"data_dir": Path(tmp)})
        app = build(settings)
        app.indexer().sync([corpus])
        assistant, embedder = app.assistant, app.embedder
        assistant.retriever.mode = retriever
        supports = ev.supports_check(embedder, settings.citation_min_support)
        report = ev.evaluate(lambda q: assistant.ask(q, record=False), gold, supports)
        if labeled is not None:
            report["triage"] = _triage_report(settings, embedder, labeled, gold)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(ev.table(report))
        if "triage" in report:
            click.echo("\n" + ev.triage_table(report["triage"]))


def _eval_corpora(ctx: click.Context, config: Path | None, only: tuple[str, ...],
                  beir_dirs: tuple[Path, ...], as_json: bool) -> None:
    """`mentorkb eval` over the corpora of a TOML list, or the BEIR folders given."""
    from mentorkb.app import build
    from mentorkb.tools import corpora as runs
    from mentorkb.tools.report import table

    if beir_dirs:
        chosen = [runs.Corpus(d.resolve().name, beir=d) for d in beir_dirs]
    else:
        chosen = runs.load_config(config or runs.DEFAULT_CONFIG)
    unknown = sorted(set(only) - {c.name for c in chosen})
    if unknown:
        raise click.UsageError(f"--only: no corpus named {', '.join(unknown)} "
                               f"(listed: {', '.join(c.name for c in chosen)})")
    chosen = [c for c in chosen if not only or c.name in only]
    settings = settings_of(ctx)
    result = runs.run_all(chosen, settings, build(settings).embedder, lambda m: click.echo(m, err=True),
                          Progress())
    click.echo(json.dumps(result, indent=2) if as_json else table(result))


def _eval_followups(ctx: click.Context, path: Path, corpus: Path, as_json: bool) -> None:
    """Ask every conversation of `path` three ways over `corpus` (see mentorkb.tools.followups)."""
    import tempfile

    from mentorkb.app import build
    from mentorkb.tools import followups as fu
    from mentorkb.tools.corpora import DEFAULT_CONFIG, Corpus, ingest_kept, load_config

    items = fu.load(path)
    settings = settings_of(ctx)
    with tempfile.TemporaryDirectory(prefix="mentorkb-eval-") as tmp:
        embedder = build(settings).embedder
        # A corpus listed in evals/corpora.toml keeps its exclusions (the dev corpus's licences).
        listed = {c.documents.resolve(): c for c in load_config(DEFAULT_CONFIG) if c.documents} \
            if DEFAULT_CONFIG.is_file() else {}
        chosen = listed.get(corpus.resolve(), Corpus(corpus.name, documents=corpus))
        mine, _ = ingest_kept(chosen, settings, embedder, Path(tmp), lambda m: click.echo(m, err=True))
        assistant = build(mine, embedder=embedder).assistant
        report = fu.summarize(fu.score(lambda q, h: assistant.ask(q, h, record=False), items))
    click.echo(json.dumps(report, indent=2) if as_json else fu.table(report))


DEV_TRIAGE = Path("evals/triage/dev.jsonl")


def _triage_report(settings: Settings, embedder, labeled: list[dict], gold: list[dict]) -> dict:
    """Triage scores of the trained triage and the old one, on the same messages."""
    from mentorkb.tools import evaluate as ev
    from rag.safety.triage import Triager
    from rag.safety.triage_legacy import LegacyTriager

    answerable = [g["question"] for g in gold if g["kind"] == "answerable"]
    sensitive = [g["question"] for g in gold if g["kind"] == "sensitive"]
    rules = settings.model_copy(update={"triage_handoff": "rules"})
    classifier = settings.model_copy(update={"triage_handoff": "classifier"})
    return {name: ev.triage_scores(triager.classify, labeled, answerable, sensitive)
            for name, triager in [("rules + classifier check-ins", Triager(rules, embedder)),
                                  ("classifier", Triager(classifier, embedder)),
                                  ("old: rules", LegacyTriager(settings, embedder))]}


def _positive_ints(what: str):
    """A click callback: comma-separated positive integers ("1000,10_000") as a tuple."""

    def parse(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
        try:
            numbers = tuple(int(v.replace("_", "")) for v in value.split(",") if v.strip())
        except ValueError:
            raise click.BadParameter(f"expected comma-separated {what}, got {value!r}") from None
        if not numbers or min(numbers) < 1:
            raise click.BadParameter(f"expected positive {what}, got {value!r}")
        return numbers

    return parse


_sizes = _positive_ints("chunk counts")
_counts = _positive_ints("client counts")


@click.command()
@click.option("--chunks", default="1000,10000,100000", show_default=True, callback=_sizes,
              help="Index sizes to measure the query path at (synthetic beyond the corpus).")
@click.option("--serve-at", type=int, default=10_000, show_default=True,
              help="Index size to run `mentorkb serve` at (cold start, memory, concurrent clients); 0 skips.")
@click.option("--queries", type=int, default=1000, show_default=True, help="Queries sent to the server.")
@click.option("--clients", default="20,50", show_default=True, callback=_counts,
              help="Simultaneous clients: a run over the JSON API and one over the chat for each count.")
@click.option("--workers", default="1,2", show_default=True, callback=_counts,
              help="`serve --workers` counts: the server runs with each in turn.")
@click.option("--rounds", type=int, default=3, show_default=True, help="Passes over the questions per size.")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("corpus"), show_default=True, help="Documents (and questions.jsonl) to build from.")
@click.option("--copies", type=int, default=3, show_default=True,
              help="Variants of each corpus document in the ingest run; 0 skips it.")
@click.option("--noop-docs", type=int, default=1000, show_default=True, help="Documents in the no-op re-ingest.")
@click.option("--gaps", type=click.IntRange(min=0), default=10_000, show_default=True,
              help="Logged questions to time the knowledge-gap report over; 0 skips it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench(chunks: tuple[int, ...], serve_at: int, queries: int, clients: tuple[int, ...], workers: tuple[int, ...],
          rounds: int, corpus: Path, copies: int, noop_docs: int, gaps: int, as_json: bool) -> None:
    """Measure speed against floors taken in the same run: ask latency against one
    encode, one raw Chroma query and one raw BM25 search, ingest against pure encode(), a
    no-op re-ingest, `mentorkb serve` (cold start, memory, and simultaneous clients over
    the JSON API and over the chat, against one in-process ask after another) and the
    knowledge-gap report over many logged questions.

    Indexes beyond the corpus's own chunks are synthetic (real vectors, perturbed).
    Progress goes to stderr; figures to stdout.

    \b
    mentorkb bench --json
    mentorkb bench --chunks 1000 --serve-at 1000 --queries 100 --clients 20
    """
    from mentorkb.tools import bench as benchmarks

    if queries < 1 or rounds < 1:
        raise click.UsageError("--queries and --rounds must be at least 1")
    result = benchmarks.run(
        corpus, copies, noop_docs, chunks, serve_at or None, queries, clients, rounds=rounds,
        progress=lambda message: click.echo(message, err=True), gaps=gaps, workers=workers,
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(benchmarks.table(result))
