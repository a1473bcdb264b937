"""How the pages look, in Debian's Chromium at a desktop and a phone width: each page's
title and head, system fonts only (no web font asked for or used), the admin page
without emoji, and the HTML 403 page a mentor gets for /admin. One server for all."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving import add_user, form_token, serve
from tests.test_browser import browser  # noqa: F401 - fixture: Debian's Chromium, driven by Playwright

pytestmark = pytest.mark.browser

MENTOR, ADMIN, PASSWORD = "ana", "root", "a-long-password-123"
TITLES = {"/": "MentorKB", "/mentor/": "MentorKB: mentor workspace", "/admin/": "MentorKB: admin"}
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# A font file or a web-font stylesheet, wherever it would come from.
FONT_REQUEST = re.compile(r"fonts\.googleapis|fonts\.gstatic|/fonts/|\.(woff2?|ttf|otf)(\?|$)")
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]")
SYSTEM_FONT = re.compile(r"^system-ui, .*sans-serif$")


@pytest.fixture(scope="module")
def base(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("look") / "data"
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    add_user(data, MENTOR, "mentor", PASSWORD)
    add_user(data, ADMIN, "admin", PASSWORD)
    with serve(data, data.parent / "serve.log") as url:
        yield url.rstrip("/")


@pytest.fixture(params=list(VIEWPORTS))
def context(request, base: str):
    chromium = request.getfixturevalue("browser")  # test_browser's, imported above
    context = chromium.new_context(viewport=VIEWPORTS[request.param], base_url=base)
    context.set_default_timeout(90_000)
    yield context
    context.close()


def sign_in(context, name: str) -> None:
    """A session cookie for `name` in this browser context, through the sign-in form's POST."""
    token = form_token(context.request.get("/login").text())
    response = context.request.post("/login", form={"username": name, "password": PASSWORD, "next": "/",
                                                    "csrf_token": token}, max_redirects=0)
    assert response.status == 303, response.status


def head_without_scripts(document: str) -> str:
    """The served page's head, less its scripts (Gradio's config and API schema)."""
    head = document[:document.index("</head>")]
    return re.sub(r"<script\b.*?</script>", "", head, flags=re.DOTALL)


def test_pages_have_their_own_title_and_head_and_system_fonts_only(context, base: str) -> None:
    sign_in(context, ADMIN)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    for path, title in TITLES.items():
        response = page.goto(path, wait_until="load")
        assert response.status == 200, path
        page.locator("h1").first.wait_for()
        assert page.title() == title
        head = head_without_scripts(response.text())
        assert "Gradio" not in head and "Click to try out the app!" not in head, path
        assert f"<title>{title}</title>" in head and '<meta name="description" content="' in head
        assert 'rel="icon"' in head
        heading = page.locator("h1").first
        assert heading.evaluate("e => Number(getComputedStyle(e).fontWeight)") >= 600
        assert SYSTEM_FONT.match(heading.evaluate("e => getComputedStyle(e).fontFamily")), path
        # No web font is used, however it would have come.
        assert page.evaluate("() => [...document.fonts].filter(f => f.status !== 'unloaded').length") == 0
    assert not [url for url in requested if FONT_REQUEST.search(url)]
    assert [url for url in requested if not url.startswith(base)] == []  # nothing from elsewhere

    page.goto("/admin/", wait_until="load")
    page.locator("#feedback-summary").get_by_text("Not helpful").wait_for()
    assert not EMOJI.findall(page.locator("body").inner_text())


def test_a_mentor_gets_an_html_403_page_for_admin(context, base: str) -> None:
    sign_in(context, MENTOR)
    page = context.new_page()
    response = page.goto("/admin/", wait_until="load")
    assert response.status == 403 and response.headers["content-type"].startswith("text/html")
    assert page.title() == "MentorKB: admins only"
    assert page.get_by_role("heading", name="This page is for admins").is_visible()
    assert MENTOR in page.locator("main").inner_text()
    assert SYSTEM_FONT.match(page.locator("h1").evaluate("e => getComputedStyle(e).fontFamily"))
    page.get_by_role("link", name="Go to the mentor workspace").click()
    page.wait_for_url(base + "/mentor/")
    assert page.title() == TITLES["/mentor/"]
    # The admin page's API and queue calls still answer JSON.
    config = context.request.get("/admin/config")
    assert config.status == 403 and config.json() == {"error": "this page is for admins"}


def test_favicon_is_ours(base: str) -> None:
    response = httpx.get(base + "/favicon.ico", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert b"#ea580c" in response.content
