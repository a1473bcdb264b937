"""The knowledge-gaps panel, shared by the mentor workspace and the admin page: what
mentees asked that the documents could not answer, grouped by `GapFinder`, with the
day-by-day volume and rates behind it.

`gaps_panel()` lays the panel out inside the page's Blocks, `wire_gaps` connects it,
and the handlers come from the module-level factories `gaps_reporter` and
`gaps_coverer`. Question text is user input: it goes through `ui.render.markdown` as
a value, so it shows as typed and never as HTML. The only question text shown is the
report's, which never holds a sensitive message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from rag.core.errors import MentorKBError
from rag.core.text import counted, day
from rag.people.accounts import UserStore
from rag.people.activity import NOT_HELPFUL
from ui import auth, look
from ui.render import markdown

if TYPE_CHECKING:
    from rag.people.gaps import Cluster, GapFinder, GapReport

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30
# `ActivityLog.daily` names the day's questions by route, and its not-helpful ratings
# NOT_HELPFUL: ratings, not questions.
RATED = NOT_HELPFUL
# Each rate on the line plot: the day's count of this route over the day's questions.
RATES = {"abstained": "abstain rate", "handed off": "handoff rate", RATED: "thumbs-down rate"}
UNCLUSTERED_SHOWN = 10


def volume_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Questions per day by route (columns day, route, count), for the stacked bars."""
    asked = [r for r in rows if r["route"] != RATED]
    frame = pd.DataFrame(asked, columns=["day", "route", "count"])
    frame["day"] = pd.to_datetime(frame["day"])  # a time axis: Vega spaces the days and thins the ticks
    return frame.sort_values(["day", "route"], ignore_index=True)


def rates_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Per day with questions, each of RATES as a share of that day's questions
    (columns day, measure, rate). A day without questions has no rate, so no row."""
    questions: dict[str, int] = {}
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[r["day"], r["route"]] = counts.get((r["day"], r["route"]), 0) + r["count"]
        if r["route"] != RATED:
            questions[r["day"]] = questions.get(r["day"], 0) + r["count"]
    out = [{"day": day, "measure": name, "rate": counts.get((day, route), 0) / n}
           for day, n in sorted(questions.items()) if n > 0 for route, name in RATES.items()]
    frame = pd.DataFrame(out, columns=["day", "measure", "rate"])
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def _days(since: Any) -> int:
    try:
        days = int(since)
    except (TypeError, ValueError):
        return DEFAULT_DAYS
    return days if days in PERIODS else DEFAULT_DAYS


def summary_html(report: GapReport) -> str:
    """One line: how many questions went unserved in the period, in how many clusters."""
    if not report.logging:
        return markdown("**Question text is not logged** (MENTORKB_LOG_QUESTIONS=0), so there are no gaps "
                        "to group. The plots below still count questions by route.")
    hidden = f" · {report.hidden_covered} covered, hidden" if report.hidden_covered else ""
    once = f" · {len(report.unclustered)} asked once" if report.unclustered else ""
    return markdown(f"**{counted(report.questions, 'question')}** abstained on or rated not helpful in the last "
                    f"{counted(report.since_days, 'day')} · **{counted(len(report.clusters), 'cluster')}**"
                    f"{hidden}{once}")


def cluster_html(c: Cluster) -> str:
    """One cluster as a card: its central question, size and reasons, terms, examples,
    the nearest document and whether it is covered. Every value is shown as text."""
    values: list[object] = []

    def field(value: object) -> str:  # a `{}` the value fills, in the order they are written
        values.append(value)
        return "{}"

    lines = [f"### “{field(c.label)}”", ""]
    size = field(counted(c.size, "question"))
    why = ", ".join(f"{field(n)} {field(reason)}" for reason, n in sorted(c.reasons.items()))
    lines.append(f"**{size}** ({why}) · last {field(day(c.last_at))} · `{field(c.id)}`")
    if c.terms:
        lines += ["", f"Terms: {field(', '.join(c.terms))}"]
    if c.examples:
        lines += ["", "Also asked:", ""] + [f"- “{field(e)}”" for e in c.examples]
    lines.append("")
    if c.closest:
        lines.append(f"Closest document: **{field(c.closest.title)}** ({field(c.closest.source)}), "
                     f"similarity {field(f'{c.closest.similarity:.2f}')}")
    else:
        lines.append("No document in the index is near it.")
    lines.append("")
    if c.covered_by:
        since = f", **{field(counted(c.new_since_covered, 'new question'))} since**" if c.new_since_covered else ""
        lines.append(f"Marked covered by {field(c.covered_by)} on {field(day(c.covered_at))}{since}")
    else:
        lines.append("_Not covered yet._")
    return f'<div class="mkb-gap">{markdown(chr(10).join(lines), *values)}</div>'


def clusters_html(report: GapReport) -> str:
    """Every cluster's card, biggest first, then a few questions like no other."""
    if not report.logging:
        return ""
    cards = "".join(cluster_html(c) for c in report.clusters)
    if not report.clusters:
        cards = markdown("No clusters: no two unserved questions in this period are alike.")
    shown = report.unclustered[:UNCLUSTERED_SHOWN]
    if shown:
        more = len(report.unclustered) - len(shown)
        lines = ["**Asked once** (like no other question):", ""] + ["- “{}”"] * len(shown)
        lines += ["", f"… and {more} more."] if more else []
        cards += markdown("\n".join(lines), *shown)
    return cards


def _choices(report: GapReport) -> list[tuple[str, str]]:
    """The clusters a mentor may mark covered: those not covered now."""
    def short(label: str) -> str:
        return label if len(label) <= 70 else label[:69] + "…"

    return [(f"{short(c.label)} ({c.size})", c.id) for c in report.clusters if not c.covered]


def gaps_reporter(finder: GapFinder, users: Callable[[], UserStore], role: str = "mentor"):
    """The panel's summary, cluster cards, cluster picker and the two plots' data."""

    def report(since, include_covered, request: gr.Request):
        auth.require(users(), request.username, role)
        days = _days(since)
        try:
            found = finder.report(days, include_covered=bool(include_covered))
            daily = finder.daily(days)
        except MentorKBError as e:
            return (markdown("**Error:** {}", e), "", gr.update(choices=[], value=None), volume_frame([]),
                    rates_frame([]))
        return (summary_html(found), clusters_html(found), gr.update(choices=_choices(found), value=None),
                volume_frame(daily), rates_frame(daily))

    return report


def gaps_coverer(finder: GapFinder, users: Callable[[], UserStore], role: str = "mentor"):
    """Marks the chosen cluster covered, under the signed-in user's name."""

    def cover(cluster_id, since, request: gr.Request):
        if not cluster_id:
            return "Choose a cluster first."
        try:
            user = auth.require(users(), request.username, role)
            cluster = finder.cover(cluster_id, user.name, _days(since))
        except MentorKBError as e:
            return markdown("**Error:** {}", e)
        return markdown("Marked “{}” covered: it leaves the list until new questions land in it.", cluster.label)

    return cover


def gaps_panel() -> SimpleNamespace:
    """The panel's components, laid out inside the surrounding Blocks (a tab or a section)."""
    with gr.Row(equal_height=True):
        since = gr.Radio([(f"{n} days", n) for n in PERIODS], value=DEFAULT_DAYS, label="Period",
                         elem_id="gaps-since")
        covered = gr.Checkbox(label="Show covered", elem_id="gaps-covered")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100, elem_id="gaps-refresh")
    summary = gr.HTML(elem_id="gaps-summary")
    with gr.Row(equal_height=True):
        pick = gr.Dropdown(label="A cluster a document now answers", choices=[], scale=3, elem_id="gaps-pick")
        cover = gr.Button("Mark covered", scale=1, elem_id="gaps-cover")
    status = gr.HTML(elem_id="gaps-status", elem_classes=look.STATUS)
    clusters = gr.HTML(elem_id="gaps-clusters")
    with gr.Row():
        volume = gr.BarPlot(x="day", y="count", color="route", x_bin="1d", y_aggregate="sum",
                            label="Questions per day, by route", x_title="Day", y_title="Questions",
                            color_title="Route", x_axis_format="%b %d", elem_id="gaps-volume")
        rates = gr.LinePlot(x="day", y="rate", color="measure", label="Rates per day", x_title="Day",
                            y_title="Share of the day's questions", color_title="Rate", x_axis_format="%b %d",
                            y_axis_format=".0%", elem_id="gaps-rates")
    return SimpleNamespace(since=since, covered=covered, refresh=refresh, summary=summary, volume=volume,
                           rates=rates, clusters=clusters, pick=pick, cover=cover, status=status)


def wire_gaps(panel: SimpleNamespace, finder: GapFinder, users: Callable[[], UserStore], role: str,
              *triggers) -> None:
    """Fill the panel on each of `triggers` (the page's load, a tab's select) and on its
    own controls; "Mark covered" marks the chosen cluster, then fills it again."""
    report = gaps_reporter(finder, users, role)
    private = {"api_visibility": "private"}
    inputs = [panel.since, panel.covered]
    outputs = [panel.summary, panel.clusters, panel.pick, panel.volume, panel.rates]
    for event in (*triggers, panel.refresh.click, panel.since.input, panel.covered.input):
        event(report, inputs, outputs, **private)
    panel.cover.click(gaps_coverer(finder, users, role), [panel.pick, panel.since], panel.status, **private).then(
        report, inputs, outputs, **private)
