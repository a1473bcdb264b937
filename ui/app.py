"""build_app(assistant, settings) -> gr.Blocks: the mentee chat. Each handler comes from a
module-level factory given what it needs; build_app lays out the components and wires them.
Rendering is in ui.render, the answers and records in rag.

The chat keeps three pieces of per-browser state: the raw turns (for follow-ups
and handoff transcripts), the final Answer behind each assistant message (for
its sources and feedback), and the id of the last rating (so a comment can be
added to it).
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import gradio as gr

from rag.core.errors import DatabaseError, InvalidInput, NotFoundError, RateLimitedError
from rag.core.settings import Settings
from rag.core.types import Answer
from rag.people.limits import Caller
from rag.retrieval.starters import starter_questions
from rag.safety.triage import CRISIS_RESOURCES
from rag.service import Assistant, clean
from ui import look
from ui.edge import caller_of, question_counted
from ui.render import announcement, answer_html, citation_label, markdown, request_html, source_html, text

log = logging.getLogger(__name__)

TITLE = "MentorKB"
# Questions the chat answers at once in one worker. Answering is CPU-bound, but much of
# it (the encoder, the vector and BM25 searches) runs in native code outside the GIL,
# so a few at once overlap. The JSON API (ui.api) answers at most as many at once.
ASKS_AT_ONCE = 4
INTRO = (
    "Ask about mentoring: first meetings, feedback, goals, career growth and more. "
    "Answers come from documents shared by mentors, with numbered sources: pick one to read it in context."
)
HUMAN_FORM = (
    "A human mentor will read this conversation. If you want them to contact you, say how; otherwise "
    "they reply here, and you read it with the reference code you get next."
)
PANEL_EMPTY = '<p class="mkb-hint">Pick a source under “Sources” to read the passage it comes from.</p>'


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def _caller(request: gr.Request | None) -> Caller | None:
    """Who is asking, from the HTTP request itself (`ui.edge.caller_of`), never from what
    the client puts in the queue payload (its `session_hash` is its own choice)."""
    return caller_of(getattr(request, "request", None) if request is not None else None)


def _sources_update(answer: Answer | None) -> dict:
    choices = [(citation_label(c), c.n) for c in answer.citations] if answer else []
    return gr.update(choices=choices, value=None, visible=bool(choices))


def chat_responder(assistant: Assistant):
    """The chat's send handler: streams replies, keeps the raw turns and each final Answer.
    A message is cut to MENTORKB_MAX_QUESTION_CHARS before it is shown or read."""

    def respond(message: str, chat: list[dict[str, Any]], turns: list[tuple[str, str]],
                answers: dict[int, Answer], request: gr.Request | None = None):
        message = clean(message or "", assistant.settings.max_question_chars)
        if not message:
            yield chat, "", turns, answers, *[gr.skip()] * 5
            return
        shown = chat + [{"role": "user", "content": markdown("{}", message)}]
        answer = None
        for answer in assistant.ask_stream(message, turns, session=_session(request), caller=_caller(request)):
            if not answer.final:
                reply = {"role": "assistant", "content": answer_html(answer)}
                yield shown + [reply], "", turns, answers, *[gr.skip()] * 5
        chat = shown + [{"role": "assistant", "content": answer_html(answer)}]
        answers = {**answers, len(chat) - 1: answer}
        turns = turns + [("user", message), ("assistant", answer.text)]
        # Read out once complete: at once (an alert) in a crisis, politely otherwise.
        said = announcement(answer)
        polite, urgent = ("", said) if answer.category == "crisis" else (said, "")
        yield chat, "", turns, answers, _sources_update(answer), PANEL_EMPTY, len(chat) - 1, polite, urgent

    return respond


def api_asker(assistant: Assistant):
    """The public `/ask` endpoint: one question in, the answer as JSON out."""

    def ask(question: str, request: gr.Request) -> dict:
        """Answer one question; returns the same object as `mentorkb ask --json`."""
        # A direct call was counted (and refused with 429) by the server's edge; a queued one is counted here.
        caller = None if question_counted(getattr(request, "request", None)) else _caller(request)
        return assistant.ask(question, caller=caller).as_dict()

    return ask


def _message_index(evt: gr.EventData) -> int:
    """The chat index of the message a select or like event came from."""
    return evt.index if isinstance(evt.index, int) else evt.index[0]


def pick_answer(answers: dict[int, Answer], evt: gr.SelectData):
    """Clicking an assistant message shows that answer's sources."""
    index = _message_index(evt)
    answer = answers.get(index)
    if answer is None:
        return gr.skip(), gr.skip(), gr.skip()
    return _sources_update(answer), PANEL_EMPTY, index


def open_source(n: int | None, answers: dict[int, Answer], shown: int | None) -> str:
    """The passage behind source `n` of the answer whose sources are listed."""
    answer = answers.get(shown) if shown is not None else None
    cited = next((c for c in answer.citations if c.n == n), None) if answer else None
    return source_html(cited) if cited else PANEL_EMPTY


def human_requester(assistant: Assistant, settings: Settings):
    """The "Send to a mentor" handler: files a handoff with the conversation so far, then
    says what happens next, promising contact only when the mentee left a way to reach them."""

    def talk_to_human(contact: str, turns: list[tuple[str, str]], request: gr.Request):
        contact = (contact or "").strip()
        try:
            handoff = assistant.request_human(turns, contact=contact, session=_session(request),
                                              caller=_caller(request))
        except InvalidInput:
            return ("Write a message or leave a contact first, so a mentor knows what to help with "
                    "or how to reach you."), gr.skip(), gr.skip()
        except RateLimitedError as e:
            resources = settings.crisis_resources or CRISIS_RESOURCES
            message = markdown(resources) + markdown("A mentor can't be asked from here again just now ({}).", e)
            return message, gr.skip(), gr.skip()
        except DatabaseError as e:
            log.error("could not store a requested handoff: %s", e)
            return ("I couldn't pass this on automatically just now. Please contact a human mentor "
                    "or your programme lead directly."), gr.skip(), gr.skip()
        if handoff.contact:
            message = markdown("Sent. A human mentor will read this conversation and contact you at {}. "
                               "Your reference is **{}**: enter it under “Check my request” to read "
                               "a reply here too.", handoff.contact, handoff.ref)
        else:
            message = markdown("Sent, without a contact: no one can reach out to you, but a mentor can reply "
                               "here. Your reference is **{}**. Keep it, and enter it under “Check my request” "
                               "to read the reply. To be contacted instead, press “Talk to a human mentor” "
                               "again and leave a contact.", handoff.ref)
        return message, gr.update(visible=False), handoff.ref

    return talk_to_human


def request_checker(assistant: Assistant):
    """The "Check my request" handler: the handoff's state and replies, by reference code."""

    def check(ref: str, request: gr.Request) -> str:
        try:
            return request_html(assistant.check_request(ref, caller=_caller(request)))
        except (InvalidInput, NotFoundError, RateLimitedError) as e:
            return markdown("{}", str(e)[:1].upper() + str(e)[1:] + ".")
        except DatabaseError as e:
            log.error("could not look up a request: %s", e)
            return "Requests can't be checked just now; please try again later."

    return check


def feedback_rater(assistant: Assistant):
    """The chat's like/dislike handler: records the rating and offers a comment box."""

    def rate(answers: dict[int, Answer], evt: gr.LikeData, request: gr.Request):
        answer = answers.get(_message_index(evt))
        if answer is None:
            return None, gr.update(visible=False), ""
        liked = evt.liked is True or (isinstance(evt.liked, str) and evt.liked.lower() == "like")
        try:
            feedback_id = assistant.activity.record_feedback(answer, 1 if liked else -1,
                                                             session=_session(request))
        except DatabaseError as e:
            log.warning("feedback not stored: %s", e)
            return None, gr.update(visible=False), "Sorry, your rating could not be saved."
        return feedback_id, gr.update(visible=True), "Thanks for the rating. Anything to add? (optional)"

    return rate


def feedback_commenter(assistant: Assistant):
    """Adds the optional comment to the rating just given."""

    def comment(feedback_id: int | None, text: str, request: gr.Request):
        if feedback_id is None or not (text or "").strip():
            return gr.skip(), gr.skip(), gr.skip()
        try:
            assistant.activity.comment_feedback(feedback_id, text, session=_session(request))
        except DatabaseError as e:
            log.warning("feedback comment not stored: %s", e)
            return gr.skip(), gr.skip(), "Sorry, your comment could not be saved."
        return gr.update(visible=False), "", "Thanks, your comment was saved."

    return comment


def _human_panel() -> SimpleNamespace:
    """"Talk to a human mentor" (it opens a form asking for an optional contact), the
    handoff's status, and "Check my request"."""
    open_form = gr.Button("Talk to a human mentor", variant="secondary", elem_id="human")
    with gr.Group(visible=False, elem_id="human-form") as form:
        gr.Markdown(HUMAN_FORM)
        contact = gr.Textbox(label="How a mentor can reach you (optional)", placeholder="e.g. an email or chat handle",
                             elem_id="contact")
        with gr.Row():
            send = gr.Button("Send to a mentor", variant="primary", elem_id="human-send")
            cancel = gr.Button("Cancel", elem_id="human-cancel")
    status = gr.HTML(elem_id="handoff-status", elem_classes=look.STATUS)
    with gr.Accordion("Check my request", open=False, elem_id="check"):
        with gr.Row():
            ref = gr.Textbox(label="Your reference code", placeholder="e.g. MKB-7QK2PX", scale=3,
                             elem_id="check-ref")
            check = gr.Button("Check", scale=1, elem_id="check-send")
        result = gr.HTML(elem_id="check-result", elem_classes=look.STATUS)
    return SimpleNamespace(open=open_form, form=form, contact=contact, send=send, cancel=cancel, status=status,
                           ref=ref, check=check, result=result)


def build_app(assistant: Assistant, settings: Settings) -> gr.Blocks:
    """The mentee chat. Nothing is built until this is called."""
    respond = chat_responder(assistant)
    starters = starter_questions(settings, settings.starter_questions)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        turns = gr.State([])
        answers = gr.State({})
        shown = gr.State(None)  # the chat index of the answer whose sources are listed
        feedback_id = gr.State(None)
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Row():
            with gr.Column(scale=3):
                if starters:
                    with gr.Row(elem_id="starters"):
                        starter_buttons = [gr.Button(q, size="sm", variant="secondary") for q in starters]
                # Messages arrive as HTML from ui.render: Gradio's Markdown and LaTeX would read
                # document text a second time. Its sanitizer stays on; it never escapes text.
                # No copy button: it copies the message's HTML source, not what is shown.
                chat = gr.Chatbot(label="Conversation", height=460, elem_id="chat", buttons=[],
                                  render_markdown=False, latex_delimiters=[],
                                  feedback_options=("Like", "Dislike"))
                with gr.Row():
                    box = gr.Textbox(label="Your question", placeholder="e.g. How often should I meet my mentor?",
                                     scale=5, elem_id="question", autofocus=True,
                                     max_length=settings.max_question_chars)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                with gr.Row(visible=False, elem_id="feedback") as feedback_row:
                    feedback_text = gr.Textbox(label="What was good or missing? (optional)", scale=5,
                                               elem_id="feedback-comment")
                    feedback_send = gr.Button("Send comment", scale=1, elem_id="feedback-send")
                feedback_status = gr.Markdown(elem_id="feedback-status", elem_classes=look.STATUS)
                human = _human_panel()
            with gr.Column(scale=2):
                sources = gr.Radio(label="Sources", choices=[], visible=False, elem_id="sources",
                                   info="The sources of the answer you last got or clicked.")
                panel = gr.HTML(PANEL_EMPTY, elem_id="source-panel")
        # Under both columns: on a phone they stack, and the sources come before it.
        gr.HTML(text(settings.disclaimer), elem_id="disclaimer")
        # Screen readers hear a finished answer here; no one sees it.
        announce = gr.HTML(elem_id="announce", elem_classes=["mkb-sr", *look.STATUS])
        announce_urgent = gr.HTML(elem_id="announce-urgent", elem_classes=["mkb-sr", *look.ALERT])
        private = {"api_visibility": "private"}
        # Every way of asking shares one pool of ASKS_AT_ONCE (Gradio's default runs each
        # event one call at a time, so twenty mentees would queue behind one another).
        asking = {**private, "concurrency_id": "ask", "concurrency_limit": ASKS_AT_ONCE}
        outputs = [chat, box, turns, answers, sources, panel, shown, announce, announce_urgent]
        ask_inputs = [box, chat, turns, answers]
        box.submit(respond, ask_inputs, outputs, **asking)
        send.click(respond, ask_inputs, outputs, **asking)
        if starters:
            for button, question in zip(starter_buttons, starters):
                button.click(lambda q=question: q, None, box, **private).then(respond, ask_inputs, outputs, **asking)
        chat.select(pick_answer, [answers], [sources, panel, shown], **private)
        sources.change(open_source, [sources, answers, shown], panel, **private)
        human.open.click(lambda: (gr.update(visible=True), ""), None, [human.form, human.status], **private)
        human.cancel.click(lambda: gr.update(visible=False), None, human.form, **private)
        human.send.click(human_requester(assistant, settings), [human.contact, turns],
                         [human.status, human.form, human.ref], **private)
        for event in (human.check.click, human.ref.submit):
            event(request_checker(assistant), [human.ref], human.result, **private)
        chat.like(feedback_rater(assistant), [answers], [feedback_id, feedback_row, feedback_status], **private)
        feedback_send.click(feedback_commenter(assistant), [feedback_id, feedback_text],
                            [feedback_row, feedback_text, feedback_status], **private)
        gr.Markdown("<small>[Mentors and admins: sign in](/login)</small>")
        gr.api(api_asker(assistant), api_name="ask", concurrency_id="ask", concurrency_limit=ASKS_AT_ONCE)
    return app
