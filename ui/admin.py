"""build_admin_app(...) -> gr.Blocks: the admin page at /admin. Handlers come from
module-level factories; the builder lays out the page and wires them. Each handler
checks the admin role again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import gradio as gr

from rag.core.errors import MentorKBError
from rag.core.protocols import Workspace
from rag.core.settings import Settings
from rag.people.accounts import UserStore
from rag.people.activity import ActivityLog
from ui import look
from ui.gaps import gaps_panel, wire_gaps
from ui.mentor import acting_user, header_line
from ui.render import markdown, when

if TYPE_CHECKING:
    from rag.people.gaps import GapFinder

QUESTION_HEADERS = ["When", "Question", "Route", "Category", "Latency (ms)"]


def overview_reporter(workspace: Workspace, activity: Callable[[], ActivityLog], users: Callable[[], UserStore],
                      settings: Settings):
    """The index stats, question counts, feedback summary and recent questions."""

    def overview(request: gr.Request):
        acting_user(users, request, "admin")
        index = workspace.stats()
        usage = activity().stats()
        index_md = (
            f"**{index.documents}** documents · **{index.chunks}** chunks · last full reindex "
            f"{when(index.built_at)} · last change {when(index.updated_at)}"
        )
        by_route = ", ".join(f"{route} {n}" for route, n in sorted(usage["by_route"].items())) or "none yet"
        p50 = usage["latency_p50_ms"]
        usage_md = (
            f"**{usage['questions']}** questions ({by_route}); median latency "
            f"{f'{p50:.0f} ms' if p50 is not None else '-'}"
        )
        lines = [f"Helpful **{usage['feedback_up']}** · Not helpful **{usage['feedback_down']}**", ""]
        values = []
        for c in usage["feedback_comments"]:
            lines.append(f"- {'Helpful' if c['rating'] > 0 else 'Not helpful'}: {{}} _(on “{{}}”, {{}})_")
            values += [c["comment"], c["question"][:80], when(c["created_at"])]
        feedback = markdown("\n".join(lines), *values)
        privacy = "" if settings.log_questions else "_Question text is not stored (MENTORKB_LOG_QUESTIONS=0)._"
        rows = [
            [when(q.created_at), q.question if q.question is not None else "(not stored)", q.route,
             q.category or "", round(q.latency_ms)]
            for q in activity().recent(50)
        ]
        return index_md, usage_md, feedback, privacy, rows or [["", "", "", "", ""]]

    return overview


def reindexer(workspace: Workspace, users: Callable[[], UserStore]):
    """Rebuilds the whole index from the stored documents."""

    def reindex(request: gr.Request, progress=gr.Progress()):
        try:
            user = acting_user(users, request, "admin")
            progress(0, desc="Rebuilding the index")
            return markdown("{}", workspace.reindex(user))
        except MentorKBError as e:
            return markdown("**Error:** {}", e)

    return reindex


def build_admin_app(workspace: Workspace, activity: Callable[[], ActivityLog], users: Callable[[], UserStore],
                    settings: Settings, gaps: GapFinder) -> gr.Blocks:
    """Index stats, recent questions, the feedback summary, the reindex button and the
    knowledge gaps (admins may mark a cluster covered too).

    `activity` and `users` open the application database on first use.
    """
    overview = overview_reporter(workspace, activity, users, settings)
    with gr.Blocks(title="MentorKB: admin", analytics_enabled=False) as app:
        gr.Markdown("# Admin")
        who = gr.HTML(elem_id="who")
        gr.Markdown("## Index")
        index_stats = gr.Markdown(elem_id="index-stats")
        with gr.Row():
            reindex_button = gr.Button("Rebuild the index", variant="secondary", elem_id="reindex", scale=0)
            reindex_result = gr.HTML(elem_id="reindex-result", elem_classes=look.STATUS)
        gr.Markdown("## Questions")
        usage = gr.Markdown(elem_id="usage")
        privacy = gr.Markdown()
        recent = gr.Dataframe(headers=QUESTION_HEADERS, interactive=False, wrap=True, elem_id="recent",
                              label="Recent questions", show_label=False)
        gr.Markdown("## Feedback")
        feedback = gr.HTML(elem_id="feedback-summary")
        refresh = gr.Button("Refresh", size="sm", elem_id="refresh")
        gr.Markdown("## Knowledge gaps")
        gap = gaps_panel()

        private = {"api_visibility": "private"}
        outputs = [index_stats, usage, feedback, privacy, recent]
        app.load(header_line(users, "admin"), None, who, **private)
        app.load(overview, None, outputs, **private)
        refresh.click(overview, None, outputs, **private)
        reindex_button.click(reindexer(workspace, users), None, reindex_result, **private).then(
            overview, None, outputs, **private)
        wire_gaps(gap, gaps, users, "admin", app.load)
    return app
