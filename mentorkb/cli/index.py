"""`mentorkb ingest`, `reindex`, `remove` and `list`: the index from the command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from mentorkb.cli.common import Progress, indexer_for, print_report, settings_of
from rag.core.text import counted

log = logging.getLogger(__name__)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Also remove indexed documents whose files are gone.")
@click.option("--replace", is_flag=True,
              help="Let a file replace a document of the same source id that was read from another file.")
@click.option("--title", help="Title for the documents given (overrides the files').")
@click.option("--mentor", help="Mentor/author for the documents given.")
@click.option("--tags", help="Comma-separated tags for the documents given.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], prune: bool, replace: bool, title: str | None,
           mentor: str | None, tags: str | None, as_json: bool) -> None:
    """Add or update documents from files or folders (recursive).

    A document's source id is its path relative to the folder given, or its file
    name when a file is given. Unchanged documents are not re-embedded; a changed
    one replaces its chunks. A file from elsewhere under a source id already indexed
    from another file fails, and the document stays, unless --replace is given.
    One bad file fails alone (exit 1), the rest go on.

    \b
    mentorkb ingest corpus/ extra/notes.md
    mentorkb ingest --mentor "Ana Ruiz" --tags feedback,growth notes.md
    mentorkb ingest --replace other-folder/
    """
    overrides = {
        "title": title,
        "mentor": mentor,
        "tags": tuple(t.strip() for t in tags.split(",") if t.strip()) if tags else None,
    }
    report = indexer_for(settings_of(ctx)).sync(
        list(paths), prune=prune, overrides=overrides if any(overrides.values()) else None,
        progress=Progress(), replace=replace,
    )
    print_report(ctx, report, as_json)


@click.command()
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
    indexer = indexer_for(settings_of(ctx))
    if full:
        report = indexer.rebuild(list(paths), progress=Progress())
        if report.failed:
            click.echo("rebuild incomplete: the previous index stays live", err=True)
    else:
        report = indexer.refresh(progress=Progress())
        if paths:
            more = indexer.sync(list(paths), progress=Progress())
            for name in ("added", "updated", "unchanged", "skipped", "failed"):
                getattr(report, name).extend(getattr(more, name))
            report.chunks_written += more.chunks_written
    print_report(ctx, report, as_json)


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.pass_context
def remove(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Delete documents from the index by source id (as `mentorkb list` shows them)."""
    gone = indexer_for(settings_of(ctx)).remove(list(sources))
    for source in sources:
        if source in gone:
            click.echo(f"removed {source}")
        else:
            click.echo(f"error: {source}: not in the index", err=True)
    ctx.exit(0 if len(gone) == len(sources) else 1)


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def list_documents(ctx: click.Context, as_json: bool) -> None:
    """Show indexed documents with their chunk counts, dates, titles and the files they came from."""
    import datetime as dt

    from rag.store.index import current_generation
    from rag.store.manifest import Manifest

    live = current_generation(settings_of(ctx).data_dir)
    records = []
    if live is not None:
        with Manifest.of(live) as manifest:
            records = manifest.all()
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in records], indent=2))
        return
    for r in records:
        ingested = dt.datetime.fromtimestamp(r.ingested_at).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{r.source}\t{counted(r.chunks, 'chunk')}\tdated {r.date or '-'}\tingested {ingested}\t"
                   f"{r.title}\tfrom {r.path or '(unknown)'}")
    click.echo(counted(len(records), "document"), err=True)


@click.command()
@click.argument("dest", type=click.Path(path_type=Path))
@click.pass_context
def backup(ctx: click.Context, dest: Path) -> None:
    """Copy the index, uploads, key and database into DEST, a new folder usable as a data dir.

    Safe while `serve` runs: the index is copied under the writer lock (an ingest or
    upload meanwhile is told the index is busy; a backup during an ingest fails at
    once) and the database through SQLite's online backup. Restore by serving from
    the copy.
    """
    from mentorkb.backup import backup as run_backup

    report = run_backup(settings_of(ctx), dest)
    for item in report.copied:
        click.echo(f"copied {item}")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"backup in {report.dest}")
