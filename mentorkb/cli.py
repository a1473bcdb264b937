"""mentorkb: a mentoring knowledge assistant that hands sensitive questions to humans.

Results go to stdout, progress and errors to stderr. Expected failures exit 1
with a one-line message and no traceback; usage errors exit 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from rag.backends.st import offline
from rag.core.errors import IndexLockedError, MentorKBError
from rag.core.settings import Settings, load_settings

log = logging.getLogger(__name__)


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _fail(error: MentorKBError) -> click.ClickException:
    return click.ClickException(str(error))


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where MentorKB keeps its state (overrides MENTORKB_DATA_DIR).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.version_option(package_name="mentorkb")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, verbose: bool) -> None:
    """MentorKB: answers mentees from mentors' documents, with citations,
    and hands anything sensitive to a human mentor.

    \b
    mentorkb ingest corpus/
    mentorkb ask "How often should I meet my mentor?"
    mentorkb serve
    """
    offline()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        ctx.obj = {"settings": load_settings(data_dir=data_dir), "data_dir_given": data_dir is not None}
    except MentorKBError as e:
        raise _fail(e) from e


def _indexer(settings: Settings):
    from ingest.indexer import Indexer
    from rag.backends import make_embedder

    return Indexer(settings, make_embedder(settings))


class _Progress:
    """A progress bar (documents/s, chunks written) on a terminal; plain lines otherwise."""

    def __init__(self) -> None:
        self.bar = None
        self.tty = sys.stderr.isatty()

    def __call__(self, i: int, n: int, source: str, status: str, chunks: int) -> None:
        if not self.tty:
            click.echo(f"[{i}/{n}] {status:9} {source}", err=True)
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=n, unit="doc", file=sys.stderr, dynamic_ncols=True)
        self.bar.set_postfix(chunks=chunks, refresh=False)
        self.bar.update(1)
        if i == n:
            self.bar.close()


def _report(ctx: click.Context, report, as_json: bool) -> None:
    """Print an IngestReport: errors to stderr, the result to stdout; exit 1 on failures."""
    for source, reason in report.skipped:
        click.echo(f"skipped: {source}: {reason}", err=True)
    for source, reason in report.failed:
        click.echo(f"error: {source}: {reason}", err=True)
    for source, sentence in report.flagged:
        click.echo(f"held back (reads as an instruction): {source}: {sentence}", err=True)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.summary())
    ctx.exit(1 if report.failed else 0)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Also remove indexed documents whose files are gone.")
@click.option("--title", help="Title for the documents given (overrides the files').")
@click.option("--mentor", help="Mentor/author for the documents given.")
@click.option("--tags", help="Comma-separated tags for the documents given.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], prune: bool, title: str | None,
           mentor: str | None, tags: str | None, as_json: bool) -> None:
    """Add or update documents from files or folders (recursive).

    A document's source id is its path relative to the folder given, or its file
    name when a file is given. Unchanged documents are not re-embedded; a changed
    one replaces its chunks. One bad file fails alone (exit 1), the rest go on.

    \b
    mentorkb ingest corpus/ extra/notes.md
    mentorkb ingest --mentor "Ana Ruiz" --tags feedback,growth notes.md
    """
    overrides = {
        "title": title,
        "mentor": mentor,
        "tags": tuple(t.strip() for t in tags.split(",") if t.strip()) if tags else None,
    }
    try:
        report = _indexer(_settings(ctx)).sync(
            list(paths), prune=prune, overrides=overrides if any(overrides.values()) else None,
            progress=_Progress(),
        )
    except MentorKBError as e:
        raise _fail(e) from e
    _report(ctx, report, as_json)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--full", is_flag=True, help="Rebuild everything into a new index, switched to when complete.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def reindex(ctx: click.Context, paths: tuple[Path, ...], full: bool, as_json: bool) -> None:
    """Re-read every indexed document from its file; drop those whose files are gone.

    With --full, everything is re-embedded into a new index generation. A running
    server keeps answering from the old one and switches when the rebuild is
    complete. If any file fails, the old index stays live.

    \b
    mentorkb reindex
    mentorkb reindex --full
    """
    indexer = _indexer(_settings(ctx))
    try:
        if full:
            report = indexer.rebuild(list(paths), progress=_Progress())
            if report.failed:
                click.echo("rebuild incomplete: the previous index stays live", err=True)
            else:
                from mentorkb.workspace import restore_upload_metadata

                restore_upload_metadata(_settings(ctx), indexer)
        else:
            report = indexer.refresh(progress=_Progress())
            if paths:
                more = indexer.sync(list(paths), progress=_Progress())
                for name in ("added", "updated", "unchanged", "skipped", "failed"):
                    getattr(report, name).extend(getattr(more, name))
                report.chunks_written += more.chunks_written
    except MentorKBError as e:
        raise _fail(e) from e
    _report(ctx, report, as_json)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.pass_context
def remove(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Delete documents from the index by source id (as `mentorkb list` shows them)."""
    try:
        gone = _indexer(_settings(ctx)).remove(list(sources))
    except MentorKBError as e:
        raise _fail(e) from e
    for source in sources:
        if source in gone:
            click.echo(f"removed {source}")
        else:
            click.echo(f"error: {source}: not in the index", err=True)
    ctx.exit(0 if len(gone) == len(sources) else 1)


def _questions(batch: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, question, error) for each non-blank line of a JSONL file."""
    with batch.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                yield number, None, f"invalid JSON ({e.msg})"
                continue
            question = item.get("question") if isinstance(item, dict) else None
            if not isinstance(question, str) or not question.strip():
                yield number, None, "missing a non-empty string field 'question'"
                continue
            yield number, question, None


def _print_answer(answer, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(answer.as_dict(), ensure_ascii=False))
        return
    if answer.notice:
        click.echo(f"{answer.notice}\n")
    click.echo(answer.text)
    if answer.citations:
        click.echo("\nSources:")
        for c in answer.citations:
            where = " > ".join(p for p in (c.chunk.title, c.chunk.section) if p)
            page = f", p. {c.chunk.page}" if c.chunk.page else ""
            click.echo(f"  [{c.n}] {where} ({c.chunk.source}{page})")
    click.echo(f"\n{answer.disclaimer}")


@cli.command()
@click.argument("question", required=False)
@click.option("--batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A JSONL file with a 'question' field per line; one result per line.")
@click.option("--json", "as_json", is_flag=True, help="Print each result as one JSON object.")
@click.pass_context
def ask(ctx: click.Context, question: str | None, batch: Path | None, as_json: bool) -> None:
    """Ask a question; the answer cites its sources as [n].

    \b
    mentorkb ask "What should we agree on in a first meeting?"
    mentorkb ask --batch corpus/questions.jsonl --json
    """
    if (question is None) == (batch is None):
        raise click.UsageError("give either a QUESTION or --batch FILE")
    from rag.service import Assistant

    failed = False
    try:
        assistant = Assistant(_settings(ctx))
        if question is not None:
            _print_answer(assistant.ask(question), as_json)
            return
        for number, text, error in _questions(batch):
            if error:
                failed = True
                click.echo(f"error: {batch}:{number}: {error}", err=True)
                if as_json:
                    click.echo(json.dumps({"line": number, "error": error}))
                continue
            _print_answer(assistant.ask(text), as_json)
    except MentorKBError as e:
        raise _fail(e) from e
    ctx.exit(1 if failed else 0)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def list_documents(ctx: click.Context, as_json: bool) -> None:
    """Show indexed documents with their chunk counts and dates."""
    import datetime as dt

    from rag.store.index import current_generation
    from rag.store.manifest import Manifest

    live = current_generation(_settings(ctx).data_dir)
    records = Manifest.of(live).all() if live else []
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in records], indent=2))
        return
    for r in records:
        ingested = dt.datetime.fromtimestamp(r.ingested_at).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{r.source}\t{r.chunks} chunks\tdated {r.date or '-'}\tingested {ingested}\t{r.title}")
    click.echo(f"{len(records)} documents", err=True)


@cli.command()
@click.option("--host", help="Address to bind (default MENTORKB_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default MENTORKB_PORT or 7860).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web app: the mentee chat at /, the mentor workspace at /mentor,
    the admin page at /admin (sign in at /login; accounts from `mentorkb users add`).
    """
    from rag.service import Assistant

    settings = _settings(ctx)
    # Gradio keeps uploads in GRADIO_TEMP_DIR (read when gradio is imported): under the
    # data dir, with the rest of the state, and a folder the upload handler may sweep.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(settings.data_dir / "tmp" / "gradio"))
    try:
        assistant = Assistant(settings)  # builds nothing heavy: each part loads on first use
    except MentorKBError as e:
        raise _fail(e) from e
    # Load the model and the triage exemplars while the web app is imported and built,
    # so the first question finds them ready. On ONNX Runtime that takes ~0.5 s; on the
    # torch runtime, or the first time a data dir's model is exported, importing torch and
    # sentence-transformers is the longest part of the start, so it begins first.
    _background(assistant.warm_up_model, "warm-up")

    import uvicorn

    from mentorkb.workspace import Workspace
    from ui.server import create_server

    try:
        workspace = Workspace(settings, assistant.embedder)
        try:
            indexed, dropped = workspace.recover()  # finish what a crash interrupted
            if indexed or dropped:
                click.echo(f"recovered uploads: {len(indexed)} indexed, {len(dropped)} dropped", err=True)
        except IndexLockedError:
            click.echo("another process is writing the index; uploads are checked at the next start", err=True)
        server = create_server(assistant, settings, workspace)
        # Open the index (importing Chroma, 0.5-0.9 s) now, while the model still loads,
        # rather than after the model on the warm-up thread, where the first question
        # waited for it. A small gain: 0.57 s on average over 20 paired runs (standard
        # error 0.39 s), within the noise of a single run.
        _background(assistant.warm_up_index, "open-index")
    except MentorKBError as e:
        raise _fail(e) from e
    host, port = host or settings.host, port or settings.port
    click.echo(f"MentorKB on http://{host}:{port} (mentors and admins: http://{host}:{port}/login)", err=True)
    uvicorn.run(server, host=host, port=port, log_level="warning")


def _background(warm_up: Callable[[], None], name: str) -> None:
    """Run one of `serve`'s warm-ups in a thread. A failure there is only logged:
    the first question meets the same error and answers with it."""

    def run() -> None:
        try:
            warm_up()
        except Exception as e:  # noqa: BLE001 - never kill the server from a warm-up
            logging.getLogger("mentorkb").warning("%s: %s", name, e)

    threading.Thread(target=run, name=name, daemon=True).start()


@cli.command("eval")
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def evaluate(ctx: click.Context, questions: Path | None, corpus: Path | None, config: Path | None,
             only: tuple[str, ...], beir_dirs: tuple[Path, ...], retriever: str, triage_set: Path | None,
             as_json: bool) -> None:
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
    """
    import tempfile

    from mentorkb.tools import evaluate as ev
    from rag.backends import make_embedder
    from rag.service import Assistant

    if questions is None and triage_set is None:
        _eval_corpora(ctx, config, only, beir_dirs, as_json)
        return
    if questions is not None and corpus is None:
        raise click.UsageError("QUESTIONS needs --corpus, the documents to ingest")
    if questions is None:
        try:
            labeled = ev.load_triage_set(triage_set)
            settings = _settings(ctx)
            report = {"triage": _triage_report(settings, make_embedder(settings), labeled, [])}
        except ValueError as e:
            raise click.ClickException(str(e)) from e
        except MentorKBError as e:
            raise _fail(e) from e
        click.echo(json.dumps(report, indent=2) if as_json else ev.triage_table(report["triage"]))
        return
    if triage_set is None and (corpus.parent / DEV_TRIAGE).is_file():
        triage_set = corpus.parent / DEV_TRIAGE
    try:
        gold = ev.load_gold(questions)
        labeled = ev.load_triage_set(triage_set) if triage_set else None
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    settings = _settings(ctx)
    with tempfile.TemporaryDirectory(prefix="mentorkb-eval-") as tmp:
        if not ctx.obj["data_dir_given"]:
            settings = settings.model_copy(update={"data_dir": Path(tmp)})
        try:
            embedder = make_embedder(settings)
            from ingest.indexer import Indexer

            Indexer(settings, embedder).sync([corpus])
            assistant = Assistant(settings, embedder=embedder)
            assistant.retriever.mode = retriever
            supports = ev.supports_check(embedder, settings.citation_min_support)
            report = ev.evaluate(lambda q: assistant.ask(q), gold, supports)
            if labeled is not None:
                report["triage"] = _triage_report(settings, embedder, labeled, gold)
        except MentorKBError as e:
            raise _fail(e) from e
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(ev.table(report))
        if "triage" in report:
            click.echo("\n" + ev.triage_table(report["triage"]))


def _eval_corpora(ctx: click.Context, config: Path | None, only: tuple[str, ...],
                  beir_dirs: tuple[Path, ...], as_json: bool) -> None:
    """`mentorkb eval` over the corpora of a TOML list, or the BEIR folders given."""
    from mentorkb.tools import corpora as runs
    from mentorkb.tools.report import table
    from rag.backends import make_embedder

    try:
        if beir_dirs:
            chosen = [runs.Corpus(d.resolve().name, beir=d) for d in beir_dirs]
        else:
            chosen = runs.load_config(config or runs.DEFAULT_CONFIG)
        unknown = sorted(set(only) - {c.name for c in chosen})
        if unknown:
            raise click.UsageError(f"--only: no corpus named {', '.join(unknown)} "
                                   f"(listed: {', '.join(c.name for c in chosen)})")
        chosen = [c for c in chosen if not only or c.name in only]
        settings = _settings(ctx)
        result = runs.run_all(chosen, settings, make_embedder(settings), lambda m: click.echo(m, err=True),
                              _Progress())
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    except MentorKBError as e:
        raise _fail(e) from e
    click.echo(json.dumps(result, indent=2) if as_json else table(result))


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


def _sizes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v.replace("_", "")) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated chunk counts, got {value!r}") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"expected positive chunk counts, got {value!r}")
    return sizes


@cli.command()
@click.option("--chunks", default="1000,10000,100000", show_default=True, callback=_sizes,
              help="Index sizes to measure the query path at (synthetic beyond the corpus).")
@click.option("--serve-at", type=int, default=10_000, show_default=True,
              help="Index size to run `mentorkb serve` at (cold start, memory, concurrent clients); 0 skips.")
@click.option("--queries", type=int, default=1000, show_default=True, help="Queries sent to the server.")
@click.option("--clients", type=int, default=20, show_default=True, help="Simultaneous clients.")
@click.option("--rounds", type=int, default=3, show_default=True, help="Passes over the questions per size.")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("corpus"), show_default=True, help="Documents (and questions.jsonl) to build from.")
@click.option("--copies", type=int, default=3, show_default=True,
              help="Variants of each corpus document in the ingest run; 0 skips it.")
@click.option("--noop-docs", type=int, default=1000, show_default=True, help="Documents in the no-op re-ingest.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench(chunks: tuple[int, ...], serve_at: int, queries: int, clients: int, rounds: int,
          corpus: Path, copies: int, noop_docs: int, as_json: bool) -> None:
    """Measure speed against floors taken in the same run: ask latency against one
    encode plus one raw Chroma query, ingest against pure encode(), a no-op
    re-ingest, and `mentorkb serve` (cold start, memory, concurrent clients).

    Indexes beyond the corpus's own chunks are synthetic (real vectors, perturbed).
    Progress goes to stderr; figures to stdout.

    \b
    mentorkb bench --json
    mentorkb bench --chunks 1000 --serve-at 1000 --queries 100
    """
    from mentorkb.tools import bench as benchmarks

    if clients < 1 or queries < 1 or rounds < 1:
        raise click.UsageError("--clients, --queries and --rounds must be at least 1")
    try:
        result = benchmarks.run(
            corpus, copies, noop_docs, chunks, serve_at or None, queries, clients, rounds,
            progress=lambda message: click.echo(message, err=True),
        )
    except MentorKBError as e:
        raise _fail(e) from e
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(benchmarks.table(result))


def _register() -> None:
    from mentorkb.people import handoffs, purge, users

    cli.add_command(handoffs)
    cli.add_command(users)
    cli.add_command(purge)


_register()


def main() -> None:
    cli(prog_name="mentorkb")


if __name__ == "__main__":
    sys.exit(main())
