"""create_server(...) -> FastAPI: the mentee chat at /, the mentor workspace at /mentor,
the admin page at /admin, with /login and /logout, and the JSON API at /api (`ui.api`).

Each Gradio app is mounted with its own auth dependency, which Gradio applies to
its page, config, API and queue routes. A middleware in front of /mentor and
/admin answers first: a page request without a session is redirected to the
login form, anything else (API, queue, files) gets 401, and a mentor asking for
/admin gets 403: an HTML page for the page itself, JSON for the rest. Handlers check
the role again before acting. A second middleware gives each Gradio page its own head
(`ui.look.page_head`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import gradio as gr
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.core.errors import DatabaseError
from rag.core.protocols import Workspace
from rag.core.settings import Settings
from rag.people.accounts import UserStore
from rag.people.limits import Budget, Caller
from rag.service import Assistant
from ui import api, auth, edge, look
from ui.admin import build_admin_app
from ui.app import build_app
from ui.mentor import build_mentor_app

if TYPE_CHECKING:
    from rag.people.gaps import GapFinder

log = logging.getLogger(__name__)

# Path prefix -> the role it needs.
PROTECTED = {"/mentor": "mentor", "/admin": "admin"}
# Gradio's routes that take or serve files (after the mount's prefix).
FILE_ROUTES = ("/gradio_api/upload", "/gradio_api/file=", "/gradio_api/file/", "/gradio_api/proxy=")


def create_server(assistant: Assistant, settings: Settings, workspace: Workspace,
                  user_store: Callable[[], UserStore], gaps: GapFinder) -> FastAPI:
    """The whole web app. Nothing is built until this is called. `gaps` builds the
    knowledge-gap view that mentors and admins see.

    `user_store` opens the accounts on first use (`mentorkb.app.build` wires it), as the
    Assistant does the handoffs: the mentee chat never depends on the database.
    """
    # The JSON API documents itself at /api/openapi.json; the pages are not part of it.
    server = FastAPI(title="MentorKB", summary="Answers from mentors' shared documents, or a human mentor.",
                     docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    api.one_line_errors(server)
    server.add_middleware(HeadWriter)  # added first, so it runs last, on Gradio's page only
    server.add_middleware(AccessGuard, settings=settings, user_store=user_store)
    budgets = assistant.budgets
    server.add_middleware(edge.RateGuard, requests=budgets["requests"], questions=budgets["questions"])
    # Added after the guards, so it runs before them and they can read request.session.
    server.add_middleware(
        SessionMiddleware,
        secret_key=auth.secret_key(settings),
        session_cookie="mentorkb_session",
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=False,
    )
    server.add_middleware(edge.BodyCap, limit_for=edge.body_limit(settings))  # outermost: before anything reads
    page = {"include_in_schema": False}
    server.get("/login", response_class=HTMLResponse, **page)(login_form)
    server.post("/login", **page)(login_handler(settings, user_store, budgets["logins"]))
    server.api_route("/logout", methods=["GET", "POST"], **page)(logout_handler(user_store))
    server.get("/logout/everywhere", response_class=HTMLResponse, **page)(signout_everywhere_form)
    server.include_router(api.api_router(assistant))  # before the mounts: "/" would take every path
    _mount_apps(server, assistant, settings, workspace, user_store, gaps)
    return server


def _user_for(request: Request, role: str, settings: Settings, user_store: Callable[[], UserStore]):
    """(the session's user or None, the HTTP status its access to a `role` page gets)."""
    user = auth.signed_in(request.session, user_store(), settings)
    if user is None:
        return None, 401
    if role == "admin" and not user.is_admin:
        return user, 403
    return user, 200


class AccessGuard:
    """ASGI middleware in front of every route: file routes only under /mentor, and the
    login check for /mentor, /admin (and the chat, when mentees must sign in).

    Plain ASGI rather than `@app.middleware("http")` (Starlette's BaseHTTPMiddleware),
    which runs every request's reply through a task group and a memory stream: on the
    JSON API that cost showed up on each of many small requests (docs/performance.md).
    """

    def __init__(self, app: ASGIApp, settings: Settings, user_store: Callable[[], UserStore]) -> None:
        self.app = app
        self.settings = settings
        self.user_store = user_store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(Request(scope)) if scope["type"] == "http" else None
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        """The reply that stops this request here, or None to let it through."""
        path = request.url.path
        if request.method == "GET" and path == "/":
            auth.ensure_visitor(request.session)
        if _file_route(path) and not path.startswith("/mentor/"):
            # Only the mentor workspace takes files: the chat and the admin page have
            # no upload route and serve no uploaded file, signed in or not.
            return JSONResponse({"error": "files are uploaded and served only in the mentor workspace"},
                                status_code=404)
        prefix = next((p for p in PROTECTED if path == p or path.startswith(p + "/")), None)
        if prefix is None and self.settings.mentee_login and not _public(path):
            prefix = "/"
        if prefix is None:
            return None
        is_page = request.method == "GET" and path.rstrip("/") == prefix.rstrip("/")
        try:
            user, status = _user_for(request, PROTECTED.get(prefix, "mentor"), self.settings, self.user_store)
        except DatabaseError as e:
            log.error("sign-in check: %s", e)
            if is_page:
                return HTMLResponse(look.unavailable_page(), status_code=503)
            return JSONResponse({"error": "accounts are unavailable right now"}, status_code=503)
        if status == 401 and is_page:
            return RedirectResponse(auth.login_url(prefix.rstrip("/") + "/"), status_code=303)
        if status == 403 and is_page:
            return HTMLResponse(look.forbidden_page(user.name), status_code=403)
        if status != 200:
            detail = "sign in at /login" if status == 401 else "this page is for admins"
            return JSONResponse({"error": detail}, status_code=status)
        return None


class HeadWriter:
    """ASGI middleware: Gradio's page for /, /mentor/ and /admin/ with our title,
    description and icon in its head instead of Gradio's own meta tags (Gradio has no
    parameter for those). Every other request passes straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = look.PAGES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if page is None:
            await self.app(scope, receive, send)
            return
        start: Message = {}
        body: list[bytes] = []

        async def held(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if not _html_ok(start):
                if start:
                    await send(start)
                    start = {}
                await send(message)
                return
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                content = look.page_head(b"".join(body).decode("utf-8"), page).encode("utf-8")
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(content)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, held)


def _html_ok(start: Message) -> bool:
    """Whether a reply's start is a 200 with an HTML body (one whose head we rewrite)."""
    if start.get("status") != 200:
        return False
    content_type = dict(start.get("headers", [])).get(b"content-type", b"")
    return content_type.startswith(b"text/html")


def login_form(request: Request, next: str = "/mentor/") -> str:
    """The sign-in page; `next` is where a successful sign-in goes (our own paths only)."""
    return auth.login_page(next_path=auth.safe_next(next), token=auth.csrf_token(request.session))


def login_handler(settings: Settings, user_store: Callable[[], UserStore], attempts: Budget):
    """The sign-in form's POST: its CSRF token checked, rate limited per name and per
    address, then a session or the form again."""

    def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/mentor/"),
              csrf_token: str = Form("")):
        def form(message: str, status: int, **headers: str) -> HTMLResponse:
            page = auth.login_page(message, auth.safe_next(next), auth.csrf_token(request.session))
            return HTMLResponse(page, status_code=status, headers=headers)

        if not auth.csrf_valid(request.session, csrf_token):
            # A form posted from another site (login CSRF) or one older than its session.
            log.warning("sign-in without a valid form token for %r", username[:64])
            return form("This sign-in form has expired; please sign in again.", 403)
        address = request.client.host if request.client else None
        name = f"name:{username.strip().lower()[:64]}"
        wait = attempts.take(Caller(name, address))
        if wait:
            log.warning("sign-in rate limit hit for %r from %s", username[:64], address)
            return form(f"Too many sign-in attempts. Try again in {max(1, round(wait / 60))} minute(s).", 429,
                        **{"Retry-After": str(round(wait))})
        try:
            user = user_store().authenticate(username.strip(), password) if username and password else None
        except DatabaseError as e:
            log.error("sign-in: %s", e)
            return form("Accounts are unavailable right now; try again later.", 503)
        if user is None:
            log.info("failed web login for %r", username[:64])
            return form("Wrong name or password.", 401)
        try:
            auth.sign_in(request.session, user, user_store(), settings)
        except DatabaseError as e:
            log.error("sign-in: %s", e)
            return form("Accounts are unavailable right now; try again later.", 503)
        target = auth.safe_next(next)
        if target.startswith("/admin") and not user.is_admin:
            target = "/mentor/"
        return RedirectResponse(target, status_code=303)

    return login


def logout_handler(user_store: Callable[[], UserStore]):
    """Sign out (GET, or POST), then go back to the chat. POSTed with `everywhere=1` and
    the form's CSRF token (the page at /logout/everywhere), it ends every session of the
    account; without the token it is refused, so no other site can sign someone out everywhere."""

    def logout(request: Request, everywhere: str = Form(""), csrf_token: str = Form("")):
        everywhere_asked = request.method == "POST" and everywhere == "1"
        if everywhere_asked and not auth.csrf_valid(request.session, csrf_token):
            return HTMLResponse(auth.signout_everywhere_page(auth.csrf_token(request.session), expired=True),
                                status_code=403)
        try:
            auth.sign_out(request.session, user_store(), everywhere=everywhere_asked)
        except DatabaseError as e:
            log.error("sign-out: %s", e)
            request.session.clear()  # this browser is signed out all the same
        return RedirectResponse("/", status_code=303)

    return logout


def signout_everywhere_form(request: Request) -> str:
    """The page whose button signs the account out on every device."""
    return auth.signout_everywhere_page(auth.csrf_token(request.session))


def role_dependency(role: str, settings: Settings, user_store: Callable[[], UserStore]):
    """A mounted Gradio app's auth dependency: the user name its handlers see, or None."""

    def current(request: Request) -> str | None:
        user, status = _user_for(request, role, settings, user_store)
        return user.name if status == 200 else None

    return current


def _mount_apps(server: FastAPI, assistant: Assistant, settings: Settings, workspace: Workspace,
                user_store: Callable[[], UserStore], gaps: GapFinder) -> None:
    """The mentor workspace at /mentor, the admin page at /admin, the chat at /."""
    # Files larger than an upload may be are cut off by Gradio as they stream in.
    common = {"footer_links": [], "show_error": True, "max_file_size": int(settings.max_file_mb * 2**20),
              "theme": look.theme(), "css": look.CSS, "head": look.head_script(), "i18n": look.i18n()}
    apps = [build_mentor_app(workspace, lambda: assistant.handoffs, user_store, settings, gaps),
            build_admin_app(workspace, lambda: assistant.activity, user_store, settings, gaps),
            build_app(assistant, settings)]
    mentor = role_dependency("mentor", settings, user_store)
    gr.mount_gradio_app(server, apps[0], "/mentor", auth_dependency=mentor, **common)
    gr.mount_gradio_app(server, apps[1], "/admin", auth_dependency=role_dependency("admin", settings, user_store),
                        **common)
    # Mounted last: "/" matches every path.
    # The root mount serves /favicon.ico for every page (Gradio takes a favicon only at "/").
    gr.mount_gradio_app(server, apps[2], "/", auth_dependency=mentor if settings.mentee_login else None,
                        favicon_path=str(look.FAVICON), **common)
    for app in apps:
        # Gradio checks that file data names a file in its upload folder only once an
        # app "has launched", which mounting never marks: without this, a queue call
        # could hand a handler any server path as an "uploaded" file.
        app.has_launched = True


def _file_route(path: str) -> bool:
    """Gradio's routes that take or serve files, under any mount."""
    mount = next((p for p in PROTECTED if path.startswith(p + "/")), "")
    return path[len(mount):].startswith(FILE_ROUTES)


def _public(path: str) -> bool:
    """What a signed-out visitor may fetch when the chat itself needs a login."""
    return path in ("/login", "/logout", "/logout/everywhere", "/favicon.ico")
