"""build_mentor_app(...) -> gr.Blocks: the mentor workspace at /mentor. Handlers come from
module-level factories; the builder lays out the tabs and wires them.

Every handler names its user from the request (the session, through the mount's
auth dependency) and checks the role again; the Workspace checks ownership.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import gradio as gr
from gradio.utils import get_upload_folder

from rag.core.errors import MentorKBError
from rag.core.protocols import Workspace
from rag.core.settings import Settings
from rag.people.accounts import UserStore
from rag.people.handoffs import VIEWS, Handoff, HandoffStore
from ui import auth, look
from ui.gaps import gaps_panel, wire_gaps
from ui.render import markdown, transcript_html, when

if TYPE_CHECKING:
    from rag.people.gaps import GapFinder

log = logging.getLogger(__name__)

DOC_HEADERS = ["Document", "Title", "Tags", "Notes", "Chunks", "Updated"]
QUEUE_HEADERS = ["Reference", "Urgency", "Created", "Status", "Category", "Summary", "Claimed by"]
VIEW_NAMES = {"waiting": "waiting", "mine": "claimed by you", "all": "in all"}
QUEUE_REFRESH_S = 30  # the queue refreshes itself this often while the page is open
QUEUE_PAGE = 50  # handoffs a queue page shows; the queue pages, it never truncates
UPLOAD_TTL_S = 3600  # uploads never handled (a closed tab) are swept after an hour
# Uploads handled at once (Gradio runs one at a time by default, so one slow file held up
# every mentor); the Workspace shares its parsing workers fairly among them.
UPLOADS_AT_ONCE = 8


def _failed(e: Exception) -> str:
    return markdown("**Error:** {}", e)


def _tags(text: str) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _temp_path(f) -> Path:
    """Where Gradio says an uploaded file is (a path string or a file object)."""
    return Path(f if isinstance(f, str) else getattr(f, "path", None) or f.name)


def _held_lines(held: list[str]) -> list[str]:
    """Markdown lines telling a mentor which sentences were held back, one `{}` each: they
    should know, and can reword any that is ordinary advice."""
    if not held:
        return []
    n = len(held)
    head = "**1 sentence held back**: it reads" if n == 1 else f"**{n} sentences held back**: they read"
    return ["", f"{head} as instructions to readers or to the assistant, so not stored or quoted. "
            "Reword any that is ordinary advice.", ""] + [
        "- Held back: {}"] * n


def _paths(files) -> tuple[list[tuple[str, Path]], list[str]]:
    """Gradio's uploaded temp files as (client name, temp path), and a refusal for each
    file that is not one: anything outside Gradio's upload folder (a server path, `..`,
    a symlink out of it) or not a regular file (`/dev/zero`). Refusals are logged."""
    root = Path(get_upload_folder()).resolve()
    out, refused = [], []
    for f in files or []:
        path = _temp_path(f)
        client = getattr(f, "orig_name", None) or path.name
        try:
            real = path.resolve(strict=True)
            uploaded = real.is_relative_to(root) and stat.S_ISREG(real.stat().st_mode)
        except (OSError, RuntimeError):
            uploaded = False
        if uploaded:
            out.append((client, real))
        else:
            log.warning("refused file data naming %r: not a file uploaded to %s", str(path)[:300], root)
            refused.append(f"{client}: not a file uploaded here")
    return out, refused


def _discard(files) -> None:
    """Delete Gradio's temp copies of these uploads once handled, and their folders once
    empty; nothing outside Gradio's upload folder is touched (a link is removed, never
    what it points to)."""
    root = Path(get_upload_folder()).resolve()
    for f in files or []:
        path = Path(os.path.normpath(_temp_path(f).absolute()))
        try:
            folder = path.parent.resolve()
            if folder.is_relative_to(root) and folder != root:
                path.unlink(missing_ok=True)
                if not any(folder.iterdir()):
                    folder.rmdir()
        except OSError as e:
            log.warning("could not delete the upload's temp copy %s: %s", path, e)
    _sweep(root)


def _sweep(root: Path, now: float | None = None) -> None:
    """Delete what Gradio leaves in its upload folder: uploads never handled (a closed
    tab) after UPLOAD_TTL_S, and the empty temp file its File component creates for
    every handled upload and never removes, after a minute."""
    now = time.time() if now is None else now
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        try:
            info = entry.lstat()
            if stat.S_ISDIR(info.st_mode) and len(entry.name) == 64 and now - info.st_mtime > UPLOAD_TTL_S:
                shutil.rmtree(entry)  # an upload's hash-named folder
            elif (stat.S_ISREG(info.st_mode) and entry.name.startswith("tmp") and info.st_size == 0
                  and now - info.st_mtime > 60):
                entry.unlink()
        except OSError as e:
            log.warning("could not clear %s from the upload folder: %s", entry, e)


def header_line(users: Callable[[], UserStore], role: str):
    """The line atop the workspace and admin pages: who is signed in, and the way out."""

    def who_am_i(request: gr.Request) -> str:
        user = acting_user(users, request, role)
        return markdown("Signed in as **{}** ({}) · [Chat](/) · [Sign out](/logout) · "
                        "[Sign out everywhere](/logout/everywhere)", user.name, user.role)

    return who_am_i


def acting_user(users: Callable[[], UserStore], request: gr.Request, role: str = "mentor"):
    """The signed-in user a handler acts for, checked against the accounts again: a
    mentor (or admin) by default, or an admin for `role="admin"`."""
    return auth.require(users(), request.username, role)


def document_lister(workspace: Workspace, users: Callable[[], UserStore]):
    """The mentor's own documents, as the table and the choices of the document picker."""

    def documents(request: gr.Request):
        docs = workspace.documents(acting_user(users, request))
        rows = [[d.source, d.title, ", ".join(d.tags), d.notes, d.chunks, when(d.ingested_at)] for d in docs]
        return gr.update(value=rows or [["", "", "", "", "", ""]]), gr.update(
            choices=[(f"{d.title} ({d.source})", d.source) for d in docs], value=None)

    return documents


def uploader(workspace: Workspace, users: Callable[[], UserStore]):
    """Indexes the uploaded files with their description; reports what was refused or held back."""

    def upload(files, title, tags, notes, request: gr.Request, progress=gr.Progress()):
        try:
            user = acting_user(users, request)
            chosen, refused = _paths(files)
            progress(0, desc="Checking and indexing")
            indexed, errors, held = [], refused, []
            if chosen:
                result = workspace.upload(
                    chosen, user, title=title or "", tags=_tags(tags), notes=notes or "",
                    progress=lambda i, n, source: progress(i / n, desc=f"Indexed {i} of {n}"),
                )
                indexed, errors, held = list(result.indexed), refused + list(result.errors), list(result.held_back)
        except MentorKBError as e:
            return _failed(e), gr.skip()
        finally:
            _discard(files)
        lines = [f"**{len(indexed)} uploaded**, {len(errors)} refused.", ""]
        lines += ["- Searchable now: `{}`"] * len(indexed) + ["- Refused: {}"] * len(errors)
        return markdown("\n".join(lines + _held_lines(held)), *indexed, *errors, *held), None

    return upload


def deleter(workspace: Workspace, users: Callable[[], UserStore]):
    """Takes one of the mentor's documents out of the index."""

    def delete(source, request: gr.Request):
        if not source:
            return "Choose a document first."
        try:
            workspace.delete(source, acting_user(users, request))
        except MentorKBError as e:
            return _failed(e)
        return markdown("Deleted `{}`: it is no longer used in answers.", source)

    return delete


def delete_asker(source):
    """The first step of a delete: ask, naming the document; nothing is deleted yet."""
    if not source:
        return gr.update(visible=False), "", None, "Choose a document first."
    question = markdown("Delete `{}`? Mentees' answers will no longer use or cite it. This cannot be undone "
                        "here (upload it again to bring it back).", source)
    return gr.update(visible=True), question, source, ""


def replacer(workspace: Workspace, users: Callable[[], UserStore]):
    """Replaces one of the mentor's documents with a new version of the same file type."""

    def replace(source, file, request: gr.Request):
        if not source or not file:
            return "Choose a document and its new version first.", gr.skip()
        try:
            chosen, refused = _paths([file])
            if refused:
                return _failed(refused[0]), gr.skip()
            result = workspace.replace(source, chosen[0], acting_user(users, request))
        except MentorKBError as e:
            return _failed(e), gr.skip()
        finally:
            _discard([file])
        if result.errors:
            return _failed("; ".join(result.errors)), gr.skip()
        held = list(result.held_back)
        return markdown("\n".join(["Replaced `{}` with the new version."] + _held_lines(held)), source, *held), None

    return replace


def queue_lister(handoffs: Callable[[], HandoffStore], users: Callable[[], UserStore]):
    """The handoff queue's table, picker, heading and page number."""

    def queue(current: str | None, page: float | None, view: str | None, request: gr.Request):
        """A page of the chosen view (waiting, mine or all), crisis first, then the longest
        waiting; the chosen handoff stays chosen while listed."""
        mentor = acting_user(users, request).name
        view = view if view in VIEWS else "waiting"
        page = max(1, int(page or 1))
        items, total, crisis = handoffs().queue(view, mentor, QUEUE_PAGE, (page - 1) * QUEUE_PAGE)
        pages = max(1, -(-total // QUEUE_PAGE))
        if not items and page > 1:  # the queue shrank under this page: show the last one
            page = pages
            items, total, crisis = handoffs().queue(view, mentor, QUEUE_PAGE, (page - 1) * QUEUE_PAGE)
        rows = [[h.ref, _mark(h), when(h.created_at), h.status, h.label, h.summary, h.claimed_by or ""]
                for h in items]
        refs = [h.ref for h in items]
        urgent = f"{crisis} urgent (crisis), listed first" if crisis else "none urgent"
        heading = (f"**{total} {VIEW_NAMES[view]}** · {urgent} · page {page} of {pages}" if total
                   else f"No handoffs {VIEW_NAMES[view]}.")
        return (gr.update(value=rows or [[""] * len(QUEUE_HEADERS)]),
                gr.update(choices=[(f"{h.ref} · {_mark(h) or h.status} · {h.label}", h.ref) for h in items],
                          value=current if current in refs else None),
                heading, gr.update(value=page, maximum=pages))

    return queue


def _mark(h: Handoff) -> str:
    return "URGENT" if h.urgent else ""


def handoff_shower(handoffs: Callable[[], HandoffStore], users: Callable[[], UserStore]):
    """The chosen handoff: the message that raised it first, then its status, contact,
    the whole conversation and the replies the mentee can read."""

    def show(ref, request: gr.Request):
        acting_user(users, request)
        if not ref:
            return ""
        try:
            h = handoffs().get(ref)
        except MentorKBError as e:
            return _failed(e)
        created = when(h.created_at)
        urgent = "**URGENT: crisis.** Reach out first; the mentee was shown the help resources. \n"
        head = markdown("### {}: {}", h.ref, h.label) + markdown((urgent if h.urgent else "") + "**Raised by:** “{}”",
                                                                 h.trigger or "-")
        status = (markdown("Status: {}, claimed by {} · created {}", h.status, h.claimed_by, created)
                  if h.claimed_by else markdown("Status: {} · created {}", h.status, created))
        contact = markdown("Contact: {}", h.contact) if h.contact else markdown(
            "No contact left: the mentee reads replies by the reference code.")
        replies = "".join(markdown("**Reply from {}** ({}): {}", r.author, when(r.created_at), r.text)
                          for r in h.replies)
        return (head + status + contact + markdown("**Conversation**") + transcript_html(h.transcript)
                + markdown("**Replies**") + (replies or markdown("None yet.")))

    return show


def _with_text(handoffs: Callable[[], HandoffStore], users: Callable[[], UserStore],
               action: Callable[[HandoffStore, str, str, str], Handoff], done: str):
    """A handler running `action(store, ref, mentor, text)` on the chosen handoff, which
    says `done` (a template for the reference) and clears the text box when it worked."""

    def act(ref, text, request: gr.Request):
        if not ref:
            return "Choose a handoff first.", gr.skip()
        try:
            h = action(handoffs(), ref, acting_user(users, request).name, text or "")
        except MentorKBError as e:
            return _failed(e), gr.skip()
        return markdown(done, h.ref), ""

    return act


def replier(handoffs: Callable[[], HandoffStore], users: Callable[[], UserStore]):
    """Stores the mentor's reply to the chosen handoff, for the mentee to read by its code."""
    return _with_text(handoffs, users, HandoffStore.reply,
                      "Reply stored: the mentee reads it by entering **{}** under “Check my request”.")


def claimer(handoffs: Callable[[], HandoffStore], users: Callable[[], UserStore]):
    """Claims the chosen handoff for the signed-in mentor."""

    def claim(ref, request: gr.Request):
        if not ref:
            return "Choose a handoff first."
        try:
            h = handoffs().claim(ref, acting_user(users, request).name)
        except MentorKBError as e:
            return _failed(e)
        return markdown("You claimed **{}**.", h.ref)

    return claim


def resolver(handoffs: Callable[[], HandoffStore], users: Callable[[], UserStore]):
    """Resolves the chosen handoff with the mentor's note."""
    return _with_text(handoffs, users, HandoffStore.resolve, "Resolved **{}**.")


def _upload_tab() -> SimpleNamespace:
    with gr.Tab("Upload", elem_id="tab-upload"):
        gr.Markdown("## Upload documents")
        files = gr.File(label="Your documents (.md, .txt, .html, .pdf, .docx)", file_count="multiple",
                        elem_id="upload-files")
        with gr.Row():
            title = gr.Textbox(label="Title (optional; else the document's own)", elem_id="upload-title")
            tags = gr.Textbox(label="Tags (comma-separated)", elem_id="upload-tags")
        notes = gr.Textbox(label="Notes for other mentors (optional, not shown to mentees)", lines=2,
                           elem_id="upload-notes")
        button = gr.Button("Upload and index", variant="primary", elem_id="upload")
        result = gr.HTML(elem_id="upload-result", elem_classes=look.STATUS)
    return SimpleNamespace(files=files, title=title, tags=tags, notes=notes, button=button, result=result)


def _documents_tab() -> SimpleNamespace:
    with gr.Tab("My documents", elem_id="tab-documents"):
        gr.Markdown("## My documents")
        # The label names the table for screen readers (Gradio calls every table "Dataframe").
        table = gr.Dataframe(headers=DOC_HEADERS, interactive=False, elem_id="documents", wrap=True,
                             label="Your documents", show_label=False)
        pick = gr.Dropdown(label="Document", choices=[], elem_id="doc-pick")
        with gr.Row():
            new_version = gr.File(label="New version (same file type)", file_count="single",
                                  elem_id="replace-file")
            with gr.Column():
                replace = gr.Button("Replace with new version", elem_id="replace")
                delete = gr.Button("Delete", variant="stop", elem_id="delete")
        with gr.Group(visible=False, elem_id="delete-confirm") as confirm:
            question = gr.HTML(elem_id="delete-question")
            with gr.Row():
                yes = gr.Button("Yes, delete it", variant="stop", elem_id="delete-yes")
                no = gr.Button("Cancel", elem_id="delete-no")
        pending = gr.State(None)  # the document the question names, whatever the picker shows by then
        status = gr.HTML(elem_id="doc-status", elem_classes=look.STATUS)
    return SimpleNamespace(table=table, pick=pick, new_version=new_version, replace=replace, delete=delete,
                           confirm=confirm, question=question, yes=yes, no=no, pending=pending, status=status)


def _queue_tab() -> SimpleNamespace:
    with gr.Tab("Handoff queue", elem_id="tab-handoffs"):
        gr.Markdown("## Handoff queue")
        with gr.Row():
            heading = gr.Markdown(elem_id="queue-heading")
            view = gr.Radio([("Waiting", "waiting"), ("Mine", "mine"), ("All", "all")], value="waiting",
                            label="Show", show_label=False, elem_id="queue-view")
        table = gr.Dataframe(headers=QUEUE_HEADERS, interactive=False, elem_id="queue", wrap=True,
                             label="Handoffs", show_label=False)
        page = gr.Number(1, label="Page", precision=0, minimum=1, elem_id="queue-page")
        ref = gr.Dropdown(label="Handoff", choices=[], elem_id="handoff-pick")
        detail = gr.HTML(elem_id="handoff-detail")
        message = gr.Textbox(label="Reply to the mentee (they read it by the reference code)", lines=3,
                             elem_id="reply-text")
        with gr.Row():
            reply = gr.Button("Send reply", variant="primary", elem_id="reply")
            claim = gr.Button("Claim", elem_id="claim")
        with gr.Row():
            note = gr.Textbox(label="Resolution note (for mentors, not shown to the mentee)", scale=3,
                              elem_id="resolve-note")
            resolve = gr.Button("Resolve", elem_id="resolve")
        status = gr.HTML(elem_id="queue-status", elem_classes=look.STATUS)
        refresh = gr.Button("Refresh queue", size="sm", elem_id="refresh-queue")
        timer = gr.Timer(QUEUE_REFRESH_S)
    return SimpleNamespace(heading=heading, view=view, table=table, page=page, ref=ref, detail=detail,
                           message=message, reply=reply, claim=claim, note=note, resolve=resolve, status=status,
                           refresh=refresh, timer=timer)


def build_mentor_app(workspace: Workspace, handoffs: Callable[[], HandoffStore], users: Callable[[], UserStore],
                     settings: Settings, gaps: GapFinder) -> gr.Blocks:
    """The mentor workspace: uploads, the mentor's documents, the handoff queue and the
    knowledge gaps.

    `handoffs` and `users` open the application database on first use.
    """
    documents = document_lister(workspace, users)
    queue = queue_lister(handoffs, users)
    show = handoff_shower(handoffs, users)
    with gr.Blocks(title="MentorKB: mentor workspace", analytics_enabled=False) as app:
        gr.Markdown("# Mentor workspace")
        who = gr.HTML(elem_id="who")
        up = _upload_tab()
        docs = _documents_tab()
        q = _queue_tab()
        with gr.Tab("Knowledge gaps", elem_id="tab-gaps") as gaps_tab:
            gr.Markdown("## Knowledge gaps")
            gap = gaps_panel()

        private = {"api_visibility": "private"}
        doc_outputs = [docs.table, docs.pick]
        queue_inputs, queue_outputs = [q.ref, q.page, q.view], [q.table, q.ref, q.heading, q.page]
        app.load(header_line(users, "mentor"), None, who, **private)
        app.load(documents, None, doc_outputs, **private)
        app.load(queue, queue_inputs, queue_outputs, **private)
        up.button.click(uploader(workspace, users), [up.files, up.title, up.tags, up.notes], [up.result, up.files],
                        concurrency_limit=UPLOADS_AT_ONCE, **private).then(documents, None, doc_outputs, **private)
        docs.delete.click(delete_asker, [docs.pick], [docs.confirm, docs.question, docs.pending, docs.status],
                          **private)
        docs.no.click(lambda: (gr.update(visible=False), None), None, [docs.confirm, docs.pending], **private)
        docs.yes.click(deleter(workspace, users), [docs.pending], docs.status, **private).then(
            lambda: (gr.update(visible=False), None), None, [docs.confirm, docs.pending], **private).then(
            documents, None, doc_outputs, **private)
        docs.replace.click(replacer(workspace, users), [docs.pick, docs.new_version], [docs.status, docs.new_version],
                           concurrency_limit=UPLOADS_AT_ONCE, **private).then(documents, None, doc_outputs, **private)
        q.claim.click(claimer(handoffs, users), [q.ref], q.status, **private).then(
            queue, queue_inputs, queue_outputs, **private).then(show, [q.ref], q.detail, **private)
        q.resolve.click(resolver(handoffs, users), [q.ref, q.note], [q.status, q.note], **private).then(
            queue, queue_inputs, queue_outputs, **private).then(show, [q.ref], q.detail, **private)
        q.reply.click(replier(handoffs, users), [q.ref, q.message], [q.status, q.message], **private).then(
            queue, queue_inputs, queue_outputs, **private).then(show, [q.ref], q.detail, **private)
        q.ref.change(show, [q.ref], q.detail, **private)
        for event in (q.refresh.click, q.page.submit, q.view.change):
            event(queue, queue_inputs, queue_outputs, **private)
        q.timer.tick(queue, queue_inputs, queue_outputs, show_progress="hidden", **private)
        wire_gaps(gap, gaps, users, "mentor", gaps_tab.select)  # clustered when opened, not on load
    return app
