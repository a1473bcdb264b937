"""What the web server does before any handler runs: it names the caller, caps
request bodies and counts action requests against the rate limits.

The caller comes from the request itself (`rag.people.limits.Caller`): the signed
session cookie's account or visitor id, else the client address. The address is the
peer's; uvicorn replaces it with X-Forwarded-For only when the peer is one of
MENTORKB_TRUSTED_PROXIES (`mentorkb serve` passes that list to uvicorn), so a
forged header from anyone else changes nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.core.settings import Settings
from rag.people.limits import Budget, Caller
from ui.auth import SESSION_USER, VISITOR_KEY

# Gradio's routes that act (run a handler or take a file), under any mount.
ACTION = re.compile(r"^(?:(?:/mentor|/admin)?/gradio_api/(?:queue/join|call/[^/]+|run/[^/]+|api/[^/]+|upload)"
                    r"|/api/ask)/?$")
# The public question endpoints, called directly (the JSON API, or the chat's `ask` through
# Gradio's call/run API): counted as a question here.
API_ASK = re.compile(r"^(?:/gradio_api/(?:call|run|api)/ask|/api/ask)/?$")
UPLOAD = re.compile(r"^/mentor/gradio_api/upload/?$")
COUNTED = "mentorkb_question_counted"  # set on a request whose question this layer counted


def caller_of(request: Request | None) -> Caller | None:
    """The caller of a Starlette request (a Gradio handler passes `gr.Request.request`)."""
    if request is None:
        return None
    session = request.scope.get("session") or {}
    user, visitor = session.get(SESSION_USER), session.get(VISITOR_KEY)
    address = request.client.host if request.client else None
    return Caller.of(user if isinstance(user, str) else None, visitor if isinstance(visitor, str) else None, address)


def question_counted(request: Request | None) -> bool:
    """Whether `RateGuard` already counted this request's question (a direct API call)."""
    return bool(request is not None and request.scope.get("state", {}).get(COUNTED))


def too_many(wait: float, what: str = "requests") -> JSONResponse:
    seconds = math.ceil(wait)
    return JSONResponse({"error": f"too many {what}; try again in {seconds} s"}, status_code=429,
                        headers={"Retry-After": str(seconds)})


class RateGuard:
    """ASGI middleware: every action POST counts against the caller's request budget,
    and a direct call of the chat's `ask` endpoint against its question budget too (the
    chat's own messages are counted by the assistant, which answers with a polite wait).
    Plain ASGI, so streamed replies pass through untouched."""

    def __init__(self, app: ASGIApp, requests: Budget, questions: Budget) -> None:
        self.app = app
        self.requests = requests
        self.questions = questions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and ACTION.match(scope["path"]):
            caller = caller_of(Request(scope))
            wait = self.requests.take(caller)
            if not wait and API_ASK.match(scope["path"]):
                if wait := self.questions.take(caller):
                    await too_many(wait, "questions")(scope, receive, send)
                    return
                scope.setdefault("state", {})[COUNTED] = True
            if wait:
                await too_many(wait)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyCap:
    """ASGI middleware: a request body larger than its route allows gets 413 before
    the app sees it (by Content-Length), or is cut off as it streams in (without one)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(limit, scope, receive, send)
            return
        state = {"received": 0, "over": False, "started": False}

        async def capped() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if state["over"]:
                return  # the app's reply to a body it never got whole; ours goes instead
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, capped, guarded)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _refuse(limit, scope, receive, send)


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    body = {"error": f"request body too large (over {limit // 1024} KiB)"}
    await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)


def body_limit(settings: Settings) -> Callable[[str], int]:
    """Bytes a request body may have on `path`: one upload's worth of files on the
    mentor workspace's upload route, MENTORKB_MAX_REQUEST_KB everywhere else."""
    files = int(settings.max_file_mb * 2**20) * settings.max_upload_files + 2**20
    other = settings.max_request_kb * 1024
    return lambda path: files if UPLOAD.match(path) else other


def trusted_proxies(settings: Settings) -> list[str]:
    """MENTORKB_TRUSTED_PROXIES as a list (what uvicorn's forwarded_allow_ips takes)."""
    return [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]

