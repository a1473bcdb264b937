"""Web logins: the cookie carries a session id; every check reads the database.

The cookie (Starlette's SessionMiddleware, signed with the server's secret key) holds
the user name and a random session id; the database keeps the id's hash, its user and
its start (`UserStore.start_session`). A session is refused once it is older than
`session_hours`, signed out, or ended by a new password, the account's removal or
`mentorkb users signout`; a copied cookie dies with it. The user's role is read afresh
on every request.
"""

from __future__ import annotations

import html
import os
import secrets
from urllib.parse import quote

from rag.core.errors import AccessDenied, NotFoundError
from rag.core.settings import Settings
from rag.people.accounts import User, UserStore
from ui.look import plain_page

SESSION_USER = "user"
SESSION_ID = "sid"  # the random id whose hash names the session's row in the database
VISITOR_KEY = "visitor"  # a random id the server gives each browser: per-visitor limits
CSRF_KEY = "csrf"  # the token every form of ours posts back


def ensure_visitor(session: dict) -> None:
    """Give this browser's session a visitor id if it has none (the cookie carries it)."""
    if not isinstance(session.get(VISITOR_KEY), str):
        session[VISITOR_KEY] = secrets.token_urlsafe(16)


def secret_key(settings: Settings) -> str:
    """MENTORKB_SECRET_KEY, or a random key created once in DATA_DIR/secret_key (mode 600)."""
    if given := settings.secret_key.get_secret_value():
        return given
    path = settings.secret_key_path
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server process won the race
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key)
    return key


def csrf_token(session: dict) -> str:
    """This browser session's form token (made on first use): our forms carry it back,
    and a form posted from another site cannot, since it cannot read our pages and the
    browser does not send our lax cookie with its POST."""
    if not isinstance(session.get(CSRF_KEY), str):
        session[CSRF_KEY] = secrets.token_urlsafe(32)
    return session[CSRF_KEY]


def csrf_valid(session: dict, token: str) -> bool:
    expected = session.get(CSRF_KEY)
    return isinstance(expected, str) and bool(token) and secrets.compare_digest(expected, token)


def max_age_s(settings: Settings) -> float:
    return settings.session_hours * 3600


def sign_in(session: dict, user: User, users: UserStore, settings: Settings) -> None:
    """Start a session for `user` in the database and put its id in a fresh cookie."""
    session_id = users.start_session(user, max_age_s(settings))
    session.clear()  # nothing from before the sign-in carries over
    session[SESSION_USER] = user.name
    session[SESSION_ID] = session_id


def signed_in(session: dict, users: UserStore, settings: Settings) -> User | None:
    """The session's user while its record lasts (see the module's docstring); an ended
    session is cleared from the cookie."""
    name, session_id = session.get(SESSION_USER), session.get(SESSION_ID)
    if not isinstance(name, str) or not isinstance(session_id, str):
        return None
    user = users.session_user(session_id, max_age_s(settings))
    if user is None or user.name != name:
        session.clear()
        return None
    return user


def sign_out(session: dict, users: UserStore, everywhere: bool = False) -> None:
    """End this browser's session in the database, or with `everywhere` every session of its
    account, and empty the cookie (even if the database fails)."""
    session_id = session.get(SESSION_ID)
    try:
        if isinstance(session_id, str):
            users.end_session(session_id, everywhere)
    finally:
        session.clear()


def require(users: UserStore, name: str | None, role: str = "mentor") -> User:
    """The user a Gradio handler runs for (from the auth dependency), with the role checked."""
    if not name:
        raise AccessDenied("please log in again")
    try:
        user = users.get(name)
    except NotFoundError:
        raise AccessDenied(f"{name}: this account no longer exists") from None
    if role == "admin" and not user.is_admin:
        raise AccessDenied(f"{name}: this page is for admins")
    return user


def safe_next(target: str | None, default: str = "/mentor/") -> str:
    """Only our own paths: never an absolute or protocol-relative URL (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


_FORM_CSS = """form { display: grid; gap: .8rem; min-width: 280px; }
input { padding: .55rem; font-size: 1rem; border: 1px solid #ccd; border-radius: 6px; }
button { padding: .6rem; font-size: 1rem; background: var(--color-accent); color: #fff; border: 0; border-radius: 6px; }
.error { color: #b91c1c; margin: 0; }
"""


def login_page(error: str = "", next_path: str = "/mentor/", token: str = "") -> str:
    """The sign-in form, a page of its own (not Gradio's), carrying the CSRF `token`:
    `error` and `next_path` are escaped once, by the standard library, for an HTML page
    that reads nothing as Markdown."""
    form = f"""<p>For mentors and admins. Mentees can <a href="/">ask questions</a> without an account.</p>
{_alert(error)}
<form method="post" action="/login">
<label>Name <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{html.escape(next_path)}">
{_csrf_field(token)}
<button type="submit">Sign in</button>
</form>"""
    return plain_page("MentorKB: sign in", "MentorKB sign in", form, _FORM_CSS)


def signout_everywhere_page(token: str, expired: bool = False) -> str:
    """A button that ends every session of the account (other browsers and devices too)."""
    form = f"""<p>This signs your account out on every browser and device, this one included.</p>
{_alert("That form had expired; press the button again." if expired else "")}
<form method="post" action="/logout">
<input type="hidden" name="everywhere" value="1">
{_csrf_field(token)}
<button type="submit">Sign out everywhere</button>
</form>
<p><a href="/mentor/">Back to the workspace</a></p>"""
    return plain_page("MentorKB: sign out everywhere", "Sign out everywhere", form, _FORM_CSS)


def _alert(error: str) -> str:
    return f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""


def _csrf_field(token: str) -> str:
    """The hidden field every form of ours posts its CSRF token in (`csrf_valid` checks it)."""
    return f'<input type="hidden" name="csrf_token" value="{html.escape(token)}">'


def login_url(path: str) -> str:
    return "/login?next=" + quote(path, safe="/")
