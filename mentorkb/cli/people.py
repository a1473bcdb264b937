"""`mentorkb handoffs ...` and `mentorkb users ...`: the human side, from the command line."""

from __future__ import annotations

import json

import click


def _stores(ctx: click.Context):
    from mentorkb.app import build

    app = build(ctx.obj["settings"])
    return app.handoffs(), app.users()


def _stamp(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _as_dict(h) -> dict:
    return {
        "ref": h.ref, "category": h.category, "requested_by": h.requested_by, "status": h.status,
        "summary": h.summary, "contact": h.contact, "created_at": _stamp(h.created_at),
        "claimed_by": h.claimed_by, "claimed_at": _stamp(h.claimed_at), "resolved_at": _stamp(h.resolved_at),
        "resolution_note": h.resolution_note, "notified": h.notified,
        "transcript": [{"role": r, "text": t} for r, t in h.transcript],
        "replies": [{"author": r.author, "text": r.text, "created_at": _stamp(r.created_at)} for r in h.replies],
    }


def _show(h) -> None:
    click.echo(f"{h.ref}  {h.status}  {'URGENT  ' if h.urgent else ''}{h.label}")
    click.echo(f"  created {_stamp(h.created_at)}, requested by {h.requested_by}")
    if h.claimed_by:
        click.echo(f"  claimed by {h.claimed_by} at {_stamp(h.claimed_at)}")
    if h.resolved_at:
        click.echo(f"  resolved {_stamp(h.resolved_at)}: {h.resolution_note}")
    click.echo(f"  contact: {h.contact or '(none given)'}")
    click.echo(f"  raised by: {h.trigger or '(no message)'}")
    click.echo("  transcript:")
    for role, text in h.transcript:
        click.echo(f"    {'mentee' if role == 'user' else 'assistant'}: {text}")
    click.echo("  replies (the mentee reads them by the reference):" if h.replies else "  replies: none yet")
    for r in h.replies:
        click.echo(f"    {r.author}, {_stamp(r.created_at)}: {r.text}")


def _mentor(ctx: click.Context, name: str) -> str:
    """The acting mentor must have an account."""
    _, accounts = _stores(ctx)
    return accounts.get(name).name


@click.group()
def handoffs() -> None:
    """Questions handed to human mentors: list, show, claim, reply, resolve.

    \b
    mentorkb handoffs list --status open
    mentorkb handoffs claim MKB-7K2QXA --as alice
    mentorkb handoffs reply MKB-7K2QXA --as alice --text "Happy to talk: I'll be free Friday at 10."
    mentorkb handoffs resolve MKB-7K2QXA --as alice --note "Called, follow-up Friday"
    """


@handoffs.command("list")
@click.option("--status", type=click.Choice(["open", "claimed", "resolved", "all"]), default="open",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.option("--page", type=click.IntRange(min=1), default=None, help="Only this page (default: every handoff).")
@click.option("--per-page", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_context
def list_handoffs(ctx: click.Context, status: str, as_json: bool, page: int | None, per_page: int) -> None:
    """Handoffs in queue order: waiting ones first (crisis, then the longest waiting), then resolved, newest first.

    Every matching handoff is listed unless --page asks for one page of them."""
    store, _ = _stores(ctx)
    wanted = None if status == "all" else status
    found = store.list(wanted, per_page, (page - 1) * per_page) if page else store.list(wanted)
    for h in found:
        if as_json:
            click.echo(json.dumps(_as_dict(h), ensure_ascii=False))
        else:
            who = f" ({h.claimed_by})" if h.claimed_by else ""
            click.echo(f"{h.ref}  {_stamp(h.created_at)}  {h.status:8}{who}  {h.summary}")
    if not found and not as_json:
        click.echo(f"No {status if status != 'all' else ''} handoffs.".replace("  ", " "), err=True)


@handoffs.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show_handoff(ctx: click.Context, ref: str, as_json: bool) -> None:
    """One handoff with its transcript."""
    store, _ = _stores(ctx)
    h = store.get(ref)
    click.echo(json.dumps(_as_dict(h), ensure_ascii=False)) if as_json else _show(h)


@handoffs.command("claim")
@click.argument("ref")
@click.option("--as", "mentor", required=True, help="The claiming mentor's account name.")
@click.pass_context
def claim_handoff(ctx: click.Context, ref: str, mentor: str) -> None:
    """Take an open handoff."""
    store, _ = _stores(ctx)
    h = store.claim(ref, _mentor(ctx, mentor))
    click.echo(f"{h.ref} claimed by {h.claimed_by}")


@handoffs.command("reply")
@click.argument("ref")
@click.option("--as", "mentor", required=True, help="The replying mentor's account name.")
@click.option("--text", required=True, help="The reply the mentee reads under “Check my request”.")
@click.pass_context
def reply_handoff(ctx: click.Context, ref: str, mentor: str, text: str) -> None:
    """Reply to a handoff; the mentee reads it by the reference code. Claims an open one."""
    store, _ = _stores(ctx)
    h = store.reply(ref, _mentor(ctx, mentor), text)
    click.echo(f"{h.ref}: reply stored ({len(h.replies)} in all); the mentee reads it under “Check my request”")


@handoffs.command("resolve")
@click.argument("ref")
@click.option("--as", "mentor", required=True, help="The resolving mentor's account name.")
@click.option("--note", required=True, help="How it was resolved.")
@click.pass_context
def resolve_handoff(ctx: click.Context, ref: str, mentor: str, note: str) -> None:
    """Close a handoff with a note."""
    store, _ = _stores(ctx)
    h = store.resolve(ref, _mentor(ctx, mentor), note)
    click.echo(f"{h.ref} resolved by {h.claimed_by}")


@click.group()
def users() -> None:
    """Mentor and admin accounts for the web workspace.

    \b
    mentorkb users add alice --role mentor      (prompts for the password)
    mentorkb users list
    mentorkb users signout alice                (ends her web sessions everywhere)
    """


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["mentor", "admin"]), required=True)
@click.password_option(envvar="MENTORKB_NEW_PASSWORD", help="Prompted for when not given.")
@click.pass_context
def add_user(ctx: click.Context, name: str, role: str, password: str) -> None:
    """Create an account; the password is stored only as an Argon2 hash."""
    _, accounts = _stores(ctx)
    user = accounts.add(name, role, password)
    click.echo(f"added {user.role} {user.name}")


@users.command("list")
@click.pass_context
def list_users(ctx: click.Context) -> None:
    _, accounts = _stores(ctx)
    for user in accounts.list():
        click.echo(f"{user.name}\t{user.role}\t{_stamp(user.created_at)}")


@users.command("remove")
@click.argument("name")
@click.pass_context
def remove_user(ctx: click.Context, name: str) -> None:
    """Delete an account; its web sessions end with it."""
    _, accounts = _stores(ctx)
    accounts.remove(name)
    click.echo(f"removed {name}")


@users.command("passwd")
@click.argument("name")
@click.password_option(envvar="MENTORKB_NEW_PASSWORD")
@click.pass_context
def set_password(ctx: click.Context, name: str, password: str) -> None:
    """Set a new password; every web session of the account ends (signed out everywhere)."""
    _, accounts = _stores(ctx)
    accounts.set_password(name, password)
    click.echo(f"password changed for {name}")


@users.command("signout")
@click.argument("name")
@click.pass_context
def sign_out(ctx: click.Context, name: str) -> None:
    """End every web session of an account: each browser must sign in again."""
    _, accounts = _stores(ctx)
    ended = accounts.end_sessions(name)
    click.echo(f"{ended} web session{'' if ended == 1 else 's'} ended for {name}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.pass_context
def purge(ctx: click.Context, dry_run: bool) -> None:
    """Enforce data retention: delete old chat logs and feedback
    (MENTORKB_CHAT_LOG_DAYS) and long-resolved handoffs
    (MENTORKB_HANDOFF_RETENTION_DAYS). Open and claimed handoffs are kept.
    """
    from datetime import timedelta

    from mentorkb.app import build
    from rag.people.db import now

    settings = ctx.obj["settings"]
    log_cutoff = now() - timedelta(days=settings.chat_log_days)
    handoff_cutoff = now() - timedelta(days=settings.handoff_retention_days)
    if dry_run:
        click.echo(f"would delete chat logs before {_stamp(log_cutoff)} and handoffs resolved before "
                   f"{_stamp(handoff_cutoff)}")
        return
    app = build(settings)
    counts = app.activity().purge(log_cutoff)
    counts["resolved_handoffs"] = app.handoffs().purge_resolved(handoff_cutoff)
    click.echo(", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()) + " deleted")
