"""build_app(assistant, settings) -> gr.Blocks. Event wiring only; rendering is in ui.render."""

from __future__ import annotations

from typing import Any

import gradio as gr

from rag.service import Assistant
from rag.settings import Settings
from ui.render import answer_markdown, escape

TITLE = "MentorKB"
INTRO = (
    "Ask about mentoring: first meetings, feedback, goals, career growth and more. "
    "Answers come from documents shared by mentors, with numbered sources."
)


def chat_responder(assistant: Assistant):
    """The chat's event handler: streams replies and keeps the raw turns for follow-ups."""

    def respond(message: str, chat: list[dict[str, Any]], turns: list[tuple[str, str]]):
        message = (message or "").strip()
        if not message:
            yield chat, "", turns
            return
        shown = chat + [{"role": "user", "content": escape(message)}]
        answer = None
        for answer in assistant.ask_stream(message, turns):
            yield shown + [{"role": "assistant", "content": answer_markdown(answer)}], "", turns
        yield (
            shown + [{"role": "assistant", "content": answer_markdown(answer)}],
            "",
            turns + [("user", message), ("assistant", answer.text)],
        )

    return respond


def build_app(assistant: Assistant, settings: Settings) -> gr.Blocks:
    """The mentee chat. Nothing is built until this is called."""
    respond = chat_responder(assistant)

    def ask(question: str) -> dict:
        """Answer one question; returns the same object as `mentorkb ask --json`."""
        return assistant.ask(question).as_dict()

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        chat = gr.Chatbot(label="Conversation", height=480, elem_id="chat", buttons=["copy"])
        with gr.Row():
            box = gr.Textbox(
                placeholder="Ask a question, e.g. How often should I meet my mentor?",
                show_label=False, scale=5, elem_id="question", autofocus=True,
            )
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        gr.Markdown(f"<small>{escape(settings.disclaimer)}</small>", elem_id="disclaimer")
        turns = gr.State([])
        box.submit(respond, [box, chat, turns], [chat, box, turns], api_visibility="private")
        send.click(respond, [box, chat, turns], [chat, box, turns], api_visibility="private")
        gr.api(ask, api_name="ask")
    return app
