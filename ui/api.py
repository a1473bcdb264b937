"""The plain JSON API beside the web chat: `POST /api/ask`.

A FastAPI route on the same server as the Gradio pages, but not through Gradio's
queue: one request, one answer, from any worker (it keeps no state between
requests). It runs the same `Assistant.ask` as the chat, so the same triage,
handoff, logging and rate limits apply: `ui.edge.RateGuard` counts each call
against the caller's request and question budgets and answers 429 when one is
spent. FastAPI documents it at /api/openapi.json.
"""

from __future__ import annotations

from typing import Literal

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rag.service import MAX_HISTORY_TURNS, Assistant, clean
from ui.app import ASKS_AT_ONCE
from ui.edge import caller_of, question_counted


class Turn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    """A question, and optionally the conversation it follows (oldest first)."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, description="The message as typed; cut to MENTORKB_MAX_QUESTION_CHARS.")
    history: list[Turn] = Field(
        default_factory=list,
        description=f"Earlier turns, oldest first; only the last {MAX_HISTORY_TURNS} are read.")


class CitationOut(BaseModel):
    n: int = Field(description="The number the answer's [n] markers use.")
    source: str
    title: str
    section: str
    page: int | None
    snippet: str
    score: float


class RetrievedOut(BaseModel):
    source: str
    chunk_id: str
    score: float
    similarity: float


class AskResponse(BaseModel):
    """The same object as `mentorkb ask --json`."""

    question: str
    resolved: str | None = Field(description="The question as searched and answered, when the history changed "
                                             "it (a follow-up); null when it was answered as typed.")
    route: Literal["answer", "abstain", "handoff", "refuse"] = Field(
        description="answer: from the documents, with citations; abstain: the documents do not say; "
                    "handoff: a human mentor takes it (sensitive or asked for); refuse: not something to answer.")
    answer: str
    category: str | None = Field(description="The triage category of a handoff, or why it was not answered.")
    handoff_ref: str | None = Field(description="The reference a mentee quotes to check on a handoff.")
    check_in: bool
    notice: str
    citations: list[CitationOut]
    retrieved: list[RetrievedOut]
    disclaimer: str
    timings_ms: dict[str, float]


class ErrorOut(BaseModel):
    error: str


def api_router(assistant: Assistant) -> APIRouter:
    """The /api routes, answering with `assistant`."""
    router = APIRouter(prefix="/api", tags=["api"])
    asking = anyio.CapacityLimiter(ASKS_AT_ONCE)  # binds to the server's event loop on first use

    limit = assistant.settings.max_question_chars

    @router.post("/ask", response_model=AskResponse, responses={
        422: {"model": ErrorOut, "description": "A field is missing or invalid (named in `error`)."},
        429: {"model": ErrorOut, "description": "Too many questions or requests; see Retry-After."},
        413: {"model": ErrorOut, "description": "The body is over MENTORKB_MAX_REQUEST_KB."}})
    async def ask(body: AskRequest, request: Request) -> dict:
        """Answer one question from the shared documents, or hand it to a human mentor.

        Answering runs on a worker thread, at most ASKS_AT_ONCE at a time, so it never
        blocks the event loop that serves everyone else."""
        question = clean(body.question, limit)
        if not question:
            return JSONResponse({"error": "question: empty after removing control characters"}, status_code=422)
        history = [(turn.role, turn.content) for turn in body.history]
        # RateGuard counted this call; counting it here again would halve the budget.
        caller = None if question_counted(request) else caller_of(request)
        answer = await anyio.to_thread.run_sync(
            lambda: assistant.ask(question, history, caller=caller), limiter=asking)
        return answer.as_dict()

    return router


def one_line_errors(server: FastAPI) -> None:
    """A request FastAPI cannot validate gets one line naming the field and the reason,
    rather than pydantic's nested list."""

    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        more = len(errors) - 1
        tail = f" (and {more} more)" if more > 0 else ""
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}{tail}"}, status_code=422)

    server.add_exception_handler(RequestValidationError, invalid)
