"""What the command groups share: the settings, one indexer, progress and reports."""

from __future__ import annotations

import json
import sys

import click

from rag.core.settings import Settings


def settings_of(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def indexer_for(settings: Settings):
    from mentorkb.app import build

    return build(settings).indexer()


class Progress:
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


def print_report(ctx: click.Context, report, as_json: bool) -> None:
    """Print an IngestReport: errors to stderr, the result to stdout; exit 1 on failures."""
    for source, reason in report.skipped:
        click.echo(f"skipped: {source}: {reason}", err=True)
    for source, reason in report.failed:
        click.echo(f"error: {source}: {reason}", err=True)
    for source, sentence in report.flagged:
        click.echo(f"held back (reads as an instruction): {source}: {sentence}", err=True)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.summary())
    ctx.exit(1 if report.failed else 0)
