"""`mentorkb ask` and `mentorkb serve`: questions from the terminal, and the web app."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from mentorkb.cli.common import settings_of
from rag.core import jsonl
from rag.core.errors import IndexLockedError, InvalidInput
from rag.core.jsonl import rows

log = logging.getLogger(__name__)


def _questions(batch: Path) -> Iterator[tuple[int, str | None, list[tuple[str, str]], str | None]]:
    """(line number, question, history, error) for each non-blank line of a JSONL file;
    the error names the file, line and field."""
    for number, item in rows(batch, keep_going=True):
        if isinstance(item, InvalidInput):
            yield number, None, [], str(item)
            continue
        question = item.get("question") if isinstance(item, dict) else None
        if not isinstance(question, str) or not question.strip():
            yield number, None, [], f"{batch}:{number}: missing a non-empty string field 'question'"
            continue
        try:
            turns = jsonl.history(item.get("history", []))
        except ValueError as e:
            yield number, None, [], f"{batch}:{number}: field 'history' {e}"
            continue
        yield number, question, turns, None


def _print_answer(answer, as_json: bool, recorded: bool = True) -> None:
    if answer.route == "handoff" and not recorded:
        click.echo("note: no handoff was filed (run with --record to put it in the mentors' queue)", err=True)
    if as_json:
        click.echo(json.dumps(answer.as_dict(), ensure_ascii=False))
        return
    if answer.notice:
        click.echo(f"{answer.notice}\n")
    if answer.resolved:
        click.echo(f"(Answering: {answer.resolved})\n")
    click.echo(answer.text)
    if answer.citations:
        click.echo("\nSources:")
        for c in answer.citations:
            where = " > ".join(p for p in (c.chunk.title, c.chunk.section) if p)
            page = f", p. {c.chunk.page}" if c.chunk.page else ""
            click.echo(f"  [{c.n}] {where} ({c.chunk.source}{page})")
    click.echo(f"\n{answer.disclaimer}")


@click.command()
@click.argument("question", required=False)
@click.option("--batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A JSONL file with a 'question' field per line, and optionally the 'history' it "
                   "follows (a list of {\"role\", \"content\"}, oldest first); one result per line.")
@click.option("--json", "as_json", is_flag=True, help="Print each result as one JSON object.")
@click.option("--record", is_flag=True,
              help="File handoffs in the mentors' queue and log the questions, as the web chat does.")
@click.pass_context
def ask(ctx: click.Context, question: str | None, batch: Path | None, as_json: bool, record: bool) -> None:
    """Ask a question; the answer cites its sources as [n].

    Nothing is recorded unless --record is given: a question that would go to a
    human mentor gets the same reply, but no handoff is filed in the queue.

    \b
    mentorkb ask "What should we agree on in a first meeting?"
    mentorkb ask --batch corpus/questions.jsonl --json
    """
    if (question is None) == (batch is None):
        raise click.UsageError("give either a QUESTION or --batch FILE")
    from mentorkb.app import build

    failed = False
    assistant = build(settings_of(ctx)).assistant
    if question is not None:
        _print_answer(assistant.ask(question, record=record), as_json, record)
        return
    for number, text, history, error in _questions(batch):
        if error:
            failed = True
            click.echo(f"error: {error}", err=True)
            if as_json:
                click.echo(json.dumps({"line": number, "error": error}))
            continue
        _print_answer(assistant.ask(text, history, record=record), as_json, record)
    ctx.exit(1 if failed else 0)


@click.command()
@click.option("--host", help="Address to bind (default MENTORKB_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default MENTORKB_PORT or 7860).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes on the one port "
              "(default MENTORKB_WORKERS or 1); each loads its own model.")
@click.option("--peers", hidden=True, help="A worker's siblings' private ports (set by --workers).")
@click.option("--worker-index", type=int, hidden=True, help="Which of --peers this worker is.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None, peers: str | None,
          worker_index: int | None) -> None:
    """Serve the web app: the mentee chat at /, the mentor workspace at /mentor,
    the admin page at /admin (sign in at /login; accounts from `mentorkb users add`),
    and the JSON API at /api/ask (schema at /api/openapi.json).

    With --workers N, N processes share the port: the JSON API is answered by any of
    them, and each web page's requests go to the worker that served the page.
    """
    from mentorkb.app import build

    settings = settings_of(ctx)
    host, port = host or settings.host, port or settings.port
    workers = workers or settings.workers
    if peers is None and workers > 1:
        _supervise(ctx, settings, host, port, workers)
        return
    # Gradio keeps uploads in GRADIO_TEMP_DIR (read when gradio is imported): under the
    # data dir, with the rest of the state, and a folder the upload handler may sweep.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(settings.data_dir / "tmp" / "gradio"))
    app = build(settings)  # builds nothing heavy: each part loads on first use
    assistant = app.assistant
    # Load the model and the triage exemplars while the web app is imported and built,
    # so the first question finds them ready. On the torch runtime, or the first time a
    # data dir's model is exported, importing torch and sentence-transformers is the
    # longest part of the start, so it begins first.
    _background(assistant.warm_up_model, "warm-up")

    import uvicorn

    from ui.edge import trusted_proxies

    try:
        indexed, dropped = app.workspace.recover()  # finish what a crash interrupted
        if indexed or dropped:
            click.echo(f"recovered uploads: {len(indexed)} indexed, {len(dropped)} dropped", err=True)
    except IndexLockedError:
        click.echo("another process is writing the index; uploads are checked at the next start", err=True)
    server = app.server()
    # Open the index (importing Chroma) now, while the model still loads, rather than
    # after the model on the warm-up thread, where the first question would wait for it.
    _background(assistant.warm_up_index, "open-index")
    # X-Forwarded-For is believed only from MENTORKB_TRUSTED_PROXIES (none by default):
    # uvicorn's own default trusts it from 127.0.0.1, which lets any local client pick its address.
    proxies = trusted_proxies(settings)
    options = {"log_level": "warning", "proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}
    if peers is None:
        click.echo(f"MentorKB on http://{host}:{port} (mentors and admins: http://{host}:{port}/login)", err=True)
        uvicorn.run(server, host=host, port=port, **options)
        click.echo("MentorKB stopped", err=True)
        return
    from mentorkb.workers import private_socket, public_socket
    from ui.auth import secret_key
    from ui.sticky import StickyWorkers

    ports = [int(p) for p in peers.split(",")]
    sticky = StickyWorkers(server, worker_index, ports, secret_key(settings))
    sockets = [public_socket(host, port), private_socket(ports[worker_index])]
    uvicorn.Server(uvicorn.Config(sticky, **options)).run(sockets=sockets)


def _supervise(ctx: click.Context, settings, host: str, port: int, workers: int) -> None:
    """Start `workers` worker processes on (host, port) and keep them running."""
    from mentorkb.workers import supervise
    from ui.auth import secret_key

    secret_key(settings)  # made once here, not raced for by the workers
    if settings.rate_limit_storage.startswith("memory://"):
        click.echo(f"note: MENTORKB_RATE_LIMIT_STORAGE is memory://, so each of the {workers} workers counts "
                   "on its own and a caller may get up to that many times each limit; a redis:// URL "
                   "shares the counts (docs/scaling.md)", err=True)
    click.echo(f"MentorKB on http://{host}:{port} with {workers} workers "
               f"(mentors and admins: http://{host}:{port}/login)", err=True)
    try:
        status = supervise(settings.data_dir, host, port, workers, lambda line: click.echo(line, err=True))
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    click.echo("MentorKB stopped", err=True)
    ctx.exit(status)


def _background(warm_up: Callable[[], None], name: str) -> None:
    """Run one of `serve`'s warm-ups in a thread. A failure there is only logged:
    the first question meets the same error and answers with it."""

    def run() -> None:
        try:
            warm_up()
        except Exception as e:  # noqa: BLE001 - never kill the server from a warm-up
            logging.getLogger("mentorkb").warning("%s: %s", name, e)

    threading.Thread(target=run, name=name, daemon=True).start()
