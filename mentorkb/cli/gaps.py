"""`mentorkb gaps`: the knowledge-gap view from the command line."""

from __future__ import annotations

import json

import click


def _lines(report) -> list[str]:
    """The report as text, biggest cluster first."""
    from rag.core.text import counted, day

    if not report.logging:
        return ["Question text is not logged (MENTORKB_LOG_QUESTIONS=0), so there are no gaps to group."]
    hidden = f" ({report.hidden_covered} covered, hidden: --all shows them)" if report.hidden_covered else ""
    out = [f"Knowledge gaps, last {counted(report.since_days, 'day')}: "
           f"{counted(report.questions, 'question')} abstained on or rated not helpful; "
           f"{counted(len(report.clusters), 'cluster')}{hidden}, {len(report.unclustered)} unclustered."]
    for c in report.clusters:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(c.reasons.items()))
        out += ["", f"{c.id}  {counted(c.size, 'question')} ({why}), last {day(c.last_at)}", f"  “{c.label}”"]
        if c.terms:
            out.append(f"  terms: {', '.join(c.terms)}")
        out += [f"  also: “{e}”" for e in c.examples]
        if c.closest:
            out.append(f"  closest document: {c.closest.title} ({c.closest.source}), "
                       f"similarity {c.closest.similarity:.2f}")
        if c.covered_by:
            since = f", {c.new_since_covered} new since" if c.new_since_covered else ""
            out.append(f"  marked covered by {c.covered_by} on {day(c.covered_at)}{since}")
    if report.unclustered:
        out += ["", "Unclustered (like no other question):"] + [f"  “{q}”" for q in report.unclustered[:20]]
        if len(report.unclustered) > 20:
            out.append(f"  … and {len(report.unclustered) - 20} more (--json lists them all)")
    return out


@click.command()
@click.option("--since", "since", type=click.IntRange(min=1), default=30, show_default=True,
              help="Look back this many days.")
@click.option("--all", "include_covered", is_flag=True, help="Include clusters marked covered.")
@click.option("--cover", metavar="ID", help="Mark a cluster covered (a document now answers it).")
@click.option("--as", "mentor", metavar="MENTOR", help="The mentor marking it (with --cover).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def gaps(ctx: click.Context, since: int, include_covered: bool, cover: str | None, mentor: str | None,
         as_json: bool) -> None:
    """What mentees asked that the documents could not answer: abstained questions and
    not-helpful ratings, grouped by meaning, biggest group first. Handed-off (sensitive)
    messages never appear.

    \b
    mentorkb gaps --since 7
    mentorkb gaps --json
    mentorkb gaps --cover gap-q42 --as mira
    """
    from mentorkb.app import build

    app = build(ctx.obj["settings"])
    if cover:
        if not mentor:
            raise click.UsageError("--cover needs --as MENTOR")
        name = app.users().get(mentor).name
        cluster = app.gaps.cover(cover, name, since)
        click.echo(f"{cluster.id} marked covered by {name}: it leaves the view until new questions land in it")
        return
    report = app.gaps.report(since, include_covered=include_covered)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else "\n".join(_lines(report)))
