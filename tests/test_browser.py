"""The web app in a real Chromium (Debian's /usr/bin/chromium, driven by Playwright),
against `mentorkb serve` on 127.0.0.1 with its own data dir: the sample corpus plus a
poisoned document, a mentor and an admin account.

The tests of this module share one server and run in order: the mentee flows, then
the mentor's upload and delete, the handoff queue and the admin page. Screenshots
for the README go to docs/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.serving import add_user, post_login, serve

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# The README's screenshots are refreshed by `make screenshots` (MENTORKB_SCREENSHOTS=1); otherwise they go
# to a temporary folder, so that `make test` leaves the working tree clean.
DOCS = ROOT / "docs" if os.environ.get("MENTORKB_SCREENSHOTS") == "1" else Path(tempfile.mkdtemp(prefix="mkb-shots-"))
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
MENTOR, MENTOR_PW = "ana", "ana-password-123"
ADMIN, ADMIN_PW = "root", "root-password-123"
TIMEOUT_MS = 90_000

POISON = """---
title: "Zebra Crossings <img src=x onerror=\\"window.__pwned=1\\">"
mentor: "<script>window.__pwned=2</script>Mallory"
---
# Zebra Crossings <b id="injected">bold</b>

## Greeting the zebra keeper

At the weekly zebra review, greet the zebra keeper warmly <img src=x onerror="window.__pwned=3"> before
you talk about stripes. <script>window.__pwned=4</script> The zebra keeper values a calm greeting
and a short update on the herd's stripes.
"""

# Characters a person types and documents hold, which must show exactly as typed.
TITLE = 'Quokka Check-ins: It\'s "#1" & *not emphasis* [no link](http://evil.example/) <script>window.__pwned=5</script>'
MENTOR_NAME = "Zoë O'Brien & co"
GREETING = 'the quokka keeper\'s greeting is "It\'s #1 & we\'re glad you\'re here" <script>window.__pwned=6</script> 😀.'
WELCOME = "The quokka keeper welcomes each mentee with Привет, 你好 and مرحبا, never in a hurry."
QUOTED = f"""---
title: {json.dumps(TITLE)}
mentor: {json.dumps(MENTOR_NAME)}
---
# Quokka Check-ins

## Greeting at the quokka check-in

At every quokka check-in, {GREETING}
{WELCOME}
"""
TYPED = 'It\'s "#1" & <script>window.__pwned=7</script> 😀 Привет 你好 مرحبا \\ *not emphasis* [no link](http://evil.example/)'
# What a person must never see: entities escaped twice, or Markdown's backslash escapes.
ESCAPED = ("&#x27;", "&#39;", "&amp;", "&quot;", "&lt;", "&gt;", "\\#", "\\*", "\\[")
# Elements that document or user text must never create in a message or a panel.
NOT_OURS = "a, em, h1, h4, h5, h6, img, script, iframe"

UPLOAD = """# Alpaca Retreats for Mentors

## What happens on an alpaca retreat

An alpaca retreat pairs each mentee with a calm alpaca for an afternoon walk in the hills.
Mentors say the alpaca walk makes hard career conversations easier, because nobody has to
hold eye contact while an alpaca sets the pace.
"""


@pytest.fixture(scope="module")
def data_dir(corpus_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A private copy of the ingested corpus with a poisoned document, and two accounts."""
    from ingest.indexer import Indexer
    from rag.core.settings import load_settings

    data = tmp_path_factory.mktemp("browser") / "data"
    # The index only: copying the session's SQLite file would close this process's
    # descriptors on it, which drops SQLite's POSIX locks for the connections still open.
    shutil.copytree(corpus_data_dir, data, ignore=shutil.ignore_patterns("mentorkb.sqlite3*"))
    poison, quoted = data.parent / "zebra-crossings.md", data.parent / "quokka-check-ins.md"
    poison.write_text(POISON, encoding="utf-8")
    quoted.write_text(QUOTED, encoding="utf-8")
    report = Indexer(load_settings(data_dir=data), embedder).sync([poison, quoted])
    assert sorted(report.added) == ["quokka-check-ins.md", "zebra-crossings.md"], report.as_dict()
    add_user(data, MENTOR, "mentor", MENTOR_PW)
    add_user(data, ADMIN, "admin", ADMIN_PW)
    return data


@pytest.fixture(scope="module")
def base(data_dir: Path) -> Iterator[str]:
    with serve(data_dir, data_dir.parent / "serve.log") as url:
        yield url.rstrip("/")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _page(browser, width: int, height: int) -> Iterator:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))  # alert() ran
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def page(browser):
    yield from _page(browser, 1280, 900)


@pytest.fixture
def phone(browser):
    """A phone-sized page (390×844, an iPhone 12 to 15)."""
    yield from _page(browser, 390, 844)


def open_chat(page, base: str) -> None:
    page.goto(base + "/", wait_until="load")
    page.locator("#question textarea").wait_for()


def ask(page, question: str) -> str:
    """Send a question and return the text of the new assistant message."""
    bots = page.locator("#chat .bot-row")
    before = bots.count()
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .bot-row').length > n"
        " && document.querySelector('#question textarea').value === ''",
        arg=before, timeout=TIMEOUT_MS,
    )
    page.wait_for_function("() => !document.querySelector('#chat .pending')", timeout=TIMEOUT_MS)
    # The message's Markdown renders asynchronously: wait until its text stops changing.
    page.wait_for_function(
        """() => {
            const rows = document.querySelectorAll('#chat .bot-row');
            const text = rows[rows.length - 1].innerText.trim();
            const same = text !== '' && text === window.__lastReply;
            window.__lastReply = text;
            return same;
        }""", polling=250, timeout=TIMEOUT_MS,
    )
    return bots.last.inner_text()


def sign_in(page, base: str, name: str, password: str, where: str = "/mentor/") -> None:
    page.goto(base + where, wait_until="load")
    assert "/login" in page.url  # no session yet: the workspace sends us to the form
    page.locator("input[name=username]").fill(name)
    page.locator("input[name=password]").fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(base + where)
    page.locator("#who").get_by_text(name).wait_for()


def test_mentee_asks_sees_citations_and_opens_a_source(page, base: str) -> None:
    open_chat(page, base)
    assert page.locator("#starters button").count() >= 1  # drawn from the corpus
    assert "not a person" in page.locator("#disclaimer").inner_text()
    reply = ask(page, "How can I make our remote mentoring calls work better?")
    assert "[1]" in reply and "Sources" in reply and "remote-mentoring.html" in reply
    first = page.locator("#sources label").first
    expect(first).to_contain_text("[1] Remote and Hybrid Mentoring")
    first.click()
    panel = page.locator("#source-panel")
    panel.locator("mark").first.wait_for()
    text = panel.inner_text()
    assert "Remote and Hybrid Mentoring That Actually Works" in text
    assert "Freya Nilsson" in text and "Section" in text and "guides/remote-mentoring.html" in text
    assert "unstructured" in " ".join(panel.locator("mark").all_inner_texts())  # the cited sentences
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "chat-sources.png"), full_page=True)


def test_starter_question_gets_a_cited_answer(page, base: str) -> None:
    open_chat(page, base)
    button = page.locator("#starters button").first
    question = button.inner_text()
    button.click()
    page.locator("#sources label").first.wait_for()
    assert question in page.locator("#chat .user-row").last.inner_text()
    assert "[1]" in page.locator("#chat .bot-row").last.inner_text()


def test_a_follow_up_is_read_with_the_earlier_question_and_says_so(page, base: str) -> None:
    open_chat(page, base)
    assert "Answering:" not in ask(page, "How do I write a mentoring agreement?")
    reply = ask(page, "what if we want to change it later?")
    assert "Answering: How do I write a mentoring agreement? what if we want to change it later?" in reply
    assert "mentoring-agreement.txt" in reply


def test_poisoned_document_is_shown_as_text_and_never_runs(page, base: str) -> None:
    open_chat(page, base)
    reply = ask(page, "How should I greet the zebra keeper at the weekly zebra review?")
    assert "zebra-crossings.md" in reply
    label = page.locator("#sources label").filter(has_text="Zebra Crossings")
    assert "<img src=x" in label.inner_text()  # the title as text, not as an element
    label.click()
    page.locator("#source-panel mark").first.wait_for()
    panel = page.locator("#source-panel").inner_text()
    assert "<script>window.__pwned=2</script>Mallory" in panel
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("img[src=x], #injected, #chat script, #source-panel script").count() == 0


def assert_as_typed(shown: str, *typed: str) -> None:
    """`shown` (what a person sees) holds each typed string exactly, and no escaping of ours."""
    for expected in typed:
        assert expected in shown, (expected, shown)
    assert not [e for e in ESCAPED if e in shown], shown


def assert_nothing_ran(page) -> None:
    assert page.evaluate("() => typeof window.__pwned") == "undefined"


def test_typed_characters_show_as_typed_in_the_chat_and_source_panel(page, base: str) -> None:
    open_chat(page, base)
    question = f"How does the quokka keeper greet each mentee at the quokka check-in? {TYPED}"
    reply = ask(page, question)
    assert_as_typed(page.locator("#chat .user-row").last.inner_text(), question)
    assert_as_typed(reply, GREETING, WELCOME, TITLE, MENTOR_NAME, "quokka-check-ins.md")
    message = page.locator("#chat .bot-row").last
    assert message.locator("strong").filter(has_text="[1]").count() >= 1  # our markers stay bold
    assert message.locator("strong").filter(has_text="Sources").count() == 1
    assert message.locator("ol li").count() >= 1  # and the Sources list a list
    assert page.locator("#chat").locator(NOT_OURS).count() == 0
    label = page.locator("#sources label").filter(has_text="Quokka")
    assert_as_typed(label.inner_text(), TITLE)
    label.click()
    panel = page.locator("#source-panel")
    panel.locator("mark").first.wait_for()
    assert_as_typed(panel.inner_text(), TITLE, MENTOR_NAME, GREETING, WELCOME)
    assert panel.locator(NOT_OURS).count() == 0
    assert_nothing_ran(page)


def code_in(shown: str) -> str:
    """The handoff reference code in a message; fails if there is none."""
    found = re.search(r"MKB-[A-Z2-9]{6}", shown)
    assert found, shown
    return found[0]


def reference_in(locator) -> str:
    locator.get_by_text("MKB-").first.wait_for()
    return code_in(locator.inner_text())


def send_to_a_mentor(page, contact: str | None) -> str:
    """Press "Talk to a human mentor", leave `contact` (or none) and send; the reference."""
    page.locator("#human").click()
    if contact is not None:
        page.locator("#contact textarea, #contact input").first.fill(contact)
    page.locator("#human-send").click()
    return reference_in(page.locator("#handoff-status"))


def test_talk_to_a_human_mentor_asks_for_a_contact_and_promises_only_what_happens(page, base: str,
                                                                                data_dir: Path) -> None:
    from mentorkb.app import handoff_store
    from rag.core.settings import load_settings

    open_chat(page, base)
    ask(page, "What should we agree on in a first meeting?")
    expect(page.locator("#contact")).to_be_hidden()  # asked for only when a person is wanted
    ref = send_to_a_mentor(page, "mentee@example.org")
    assert "contact you at mentee@example.org" in page.locator("#handoff-status").inner_text()
    handoff = handoff_store(load_settings(data_dir=data_dir)).get(ref)
    assert handoff.status == "open" and handoff.contact == "mentee@example.org"
    assert handoff.transcript[0] == ("user", "What should we agree on in a first meeting?")


def test_without_a_contact_the_mentee_gets_a_code_to_follow_up_on_a_phone(phone, base: str, data_dir: Path) -> None:
    from mentorkb.app import handoff_store
    from rag.core.settings import load_settings

    open_chat(phone, base)
    ask(phone, "Can a mentor help me plan my first quarter goals?")
    ref = send_to_a_mentor(phone, None)
    said = phone.locator("#handoff-status").inner_text()
    assert "no one can reach out to you" in said and "Check my request" in said and "get in touch" not in said
    assert handoff_store(load_settings(data_dir=data_dir)).get(ref).contact is None
    phone.locator("#check").get_by_text("Check my request").click()
    assert phone.locator("#check-ref textarea, #check-ref input").first.input_value() == ref  # filled in for them
    phone.locator("#check-send").click()
    expect(phone.locator("#check-result")).to_contain_text("waiting for a mentor")
    # On a phone the columns stack: the answer, then its sources, and the disclaimer last.
    top = {name: phone.locator(name).bounding_box()["y"] for name in ("#chat", "#sources", "#disclaimer")}
    assert top["#chat"] < top["#sources"] < top["#disclaimer"], top
    phone.locator("#sources label").first.click()
    phone.locator("#source-panel mark").first.wait_for()
    phone.screenshot(path=str(DOCS / "chat-phone.png"), full_page=True)


def test_thumbs_and_comment_are_stored_with_the_answer(page, base: str, data_dir: Path) -> None:
    from mentorkb.app import activity_log
    from rag.core.settings import load_settings

    open_chat(page, base)
    ask(page, "How do I give feedback that lands?")
    page.locator("#chat button[aria-label=Dislike]").last.click()
    page.locator("#feedback-comment textarea, #feedback-comment input").first.fill("Too long for me")
    page.locator("#feedback-send").click()
    page.locator("#feedback-status").get_by_text("comment was saved").wait_for()
    stats = activity_log(load_settings(data_dir=data_dir)).stats()
    assert stats["feedback_down"] >= 1
    [comment] = [c for c in stats["feedback_comments"] if c["comment"] == "Too long for me"]
    assert comment["rating"] == -1 and comment["question"] == "How do I give feedback that lands?"


def test_a_mentee_cannot_open_the_mentor_workspace_or_admin_page(page, base: str) -> None:
    page.goto(base + "/mentor/", wait_until="load")
    assert page.url.startswith(base + "/login")
    assert page.locator("input[name=password]").count() == 1
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as http:
        for path in ("/mentor", "/mentor/", "/admin/"):
            response = http.get(path)
            assert response.status_code == 303 and "/login" in response.headers["location"], path
        for path in ("/mentor/config", "/mentor/gradio_api/info", "/admin/config", "/mentor/gradio_api/upload"):
            assert http.get(path).status_code == 401, path
        joined = http.post("/mentor/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"})
        assert joined.status_code == 401
        assert post_login(http, MENTOR, "wrong-password").status_code == 401
        assert post_login(http, MENTOR, MENTOR_PW).status_code == 303
        assert http.get("/mentor/config").status_code == 200  # the session cookie now opens it
        assert http.get("/admin/").status_code == 403  # a mentor is not an admin
        assert http.get("/admin/config").status_code == 403
        http.get("/logout")
        assert http.get("/mentor/config").status_code == 401
        # The post-login redirect never leaves the site.
        away = post_login(http, MENTOR, MENTOR_PW, next="//evil.example/")
        assert away.headers["location"] == "/mentor/"


def test_mentor_uploads_a_document_that_answers_cite_then_deletes_it(page, base: str, tmp_path: Path) -> None:
    upload = tmp_path / "alpaca-retreats.md"
    upload.write_text(UPLOAD, encoding="utf-8")
    sign_in(page, base, MENTOR, MENTOR_PW)
    page.locator("#upload-files input[type=file]").set_input_files(str(upload))
    page.locator("#upload-tags input, #upload-tags textarea").first.fill("wellbeing, outdoors")
    page.locator("#upload-notes textarea").fill("Try it in spring.")
    page.locator("#upload").click()
    page.locator("#upload-result").get_by_text("Searchable now").wait_for()
    page.get_by_role("tab", name="My documents").click()
    documents = page.locator("#documents")
    expect(documents).to_contain_text("uploads/ana/alpaca-retreats.md")
    expect(documents).to_contain_text("Try it in spring.")
    page.screenshot(path=str(DOCS / "mentor-workspace.png"), full_page=True)

    chat = page.context.new_page()
    open_chat(chat, base)
    question = "What happens on an alpaca retreat?"
    reply = ask(chat, question)
    assert "uploads/ana/alpaca-retreats.md" in reply and "by ana" in reply

    page.locator("#doc-pick input").click()
    page.get_by_role("option", name="Alpaca Retreats for Mentors (uploads/ana/alpaca-retreats.md)").click()
    page.locator("#delete").click()
    expect(page.locator("#delete-question")).to_contain_text("Delete uploads/ana/alpaca-retreats.md?")
    page.locator("#delete-no").click()  # nothing happens without the second click
    expect(page.locator("#delete-confirm").first).to_be_hidden()
    assert "alpaca-retreats.md" in ask(chat, question)
    page.locator("#delete").click()
    page.locator("#delete-yes").click()
    page.locator("#doc-status").get_by_text("no longer used in answers").wait_for()
    expect(documents).not_to_contain_text("alpaca-retreats.md")
    reply = ask(chat, question)
    assert "alpaca-retreats.md" not in reply


def test_mentor_replies_the_mentee_reads_it_by_the_code_and_a_crisis_comes_first(page, phone, base: str) -> None:
    open_chat(phone, base)
    ref = code_in(ask(phone, "My manager keeps shouting at me and I feel harassed"))
    crisis_chat = page.context.browser.new_page()  # another mentee, another session
    open_chat(crisis_chat, base)
    crisis = code_in(ask(crisis_chat, "I don't want to be alive anymore"))
    crisis_chat.close()

    sign_in(page, base, MENTOR, MENTOR_PW)
    page.get_by_role("tab", name="Handoff queue").click()
    queue = page.locator("#queue")
    expect(queue).to_contain_text(ref)
    listed = queue.inner_text()
    codes = re.findall(r"MKB-[A-Z2-9]{6}", listed)
    assert codes[0] == crisis and ref in codes, listed  # the open crisis first, marked
    assert "URGENT" in listed[:listed.index(codes[1])], listed
    expect(page.locator("#queue-heading")).to_contain_text("1 urgent")
    page.locator("#handoff-pick input").click()
    page.get_by_role("option", name=f"{ref} · open · Abuse or harassment").click()
    detail = page.locator("#handoff-detail")
    detail.get_by_text("Raised by").wait_for()
    raised = detail.inner_text()
    assert raised.index("feel harassed") < raised.index("Conversation")  # the message that raised it on top
    assert "**" not in raised and "No contact left" in raised
    page.locator("#reply-text textarea").fill("I'm sorry that's happening. I'm free Friday at 10 to talk it through.")
    page.locator("#reply").click()
    page.locator("#queue-status").get_by_text("Reply stored").wait_for()
    detail.get_by_text(f"claimed by {MENTOR}").wait_for()  # replying claimed it
    expect(detail).to_contain_text("free Friday at 10")
    page.screenshot(path=str(DOCS / "handoff-queue.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(detail).to_contain_text("free Friday at 10")
    page.screenshot(path=str(DOCS / "handoff-queue-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#queue-view").get_by_text("Mine").click()
    expect(queue).to_contain_text(ref)
    expect(queue).not_to_contain_text(crisis)

    phone.locator("#check").get_by_text("Check my request").click()
    phone.locator("#check-ref textarea, #check-ref input").first.fill(ref.lower())
    phone.locator("#check-send").click()
    result = phone.locator("#check-result")
    expect(result).to_contain_text("free Friday at 10")
    assert f"Reply from {MENTOR}" in result.inner_text() and "a mentor is looking after it" in result.inner_text()
    assert "feel harassed" not in result.inner_text()  # the code shows replies, not the conversation
    phone.screenshot(path=str(DOCS / "reply-phone.png"), full_page=True)

    page.locator("#resolve-note textarea, #resolve-note input").first.fill("Called them; HR contact shared")
    page.locator("#resolve").click()
    page.locator("#queue-status").get_by_text(f"Resolved {ref}").wait_for()
    expect(queue).not_to_contain_text(ref)


def test_typed_characters_show_as_typed_to_mentors_and_admins(page, base: str) -> None:
    crisis = f"I keep thinking everyone would be better off without me. {TYPED}"
    contact = "Zoë O'Brien <zoe&co@example.org> #1"
    comment = f"Not what I needed: {TYPED}"
    open_chat(page, base)
    ask(page, f"How often should we meet? {TYPED}")  # an everyday question: logged as typed
    reply = ask(page, crisis)
    assert page.locator("#chat .bot-row").last.locator("strong").filter(has_text="988").count() == 1  # bold help
    assert "MKB-" in reply and "**" not in reply
    assert_as_typed(page.locator("#chat .user-row").last.inner_text(), crisis)
    page.locator("#chat button[aria-label=Dislike]").last.click()
    page.locator("#feedback-comment textarea, #feedback-comment input").first.fill(comment)
    page.locator("#feedback-send").click()
    page.locator("#feedback-status").get_by_text("comment was saved").wait_for()
    ref = send_to_a_mentor(page, contact)
    assert ref == code_in(reply)  # the same session's handoff, now with a contact
    assert_nothing_ran(page)

    sign_in(page, base, MENTOR, MENTOR_PW)
    page.get_by_role("tab", name="Handoff queue").click()
    queue = page.locator("#queue")
    expect(queue).to_contain_text(ref)
    page.locator("#handoff-pick input").click()
    page.get_by_role("option", name=re.compile(re.escape(ref))).click()
    detail = page.locator("#handoff-detail")
    detail.get_by_text(contact).wait_for()
    assert_as_typed(detail.inner_text(), crisis, f"Contact: {contact}", ref)
    assert "URGENT" in detail.inner_text() and "**" not in detail.inner_text()
    assert detail.locator(NOT_OURS).count() == 0
    assert_as_typed(queue.inner_text(), ref)
    assert_nothing_ran(page)

    page.context.clear_cookies()
    sign_in(page, base, ADMIN, ADMIN_PW, "/admin/")
    feedback = page.locator("#feedback-summary")
    feedback.get_by_text("Not what I needed").wait_for()
    assert_as_typed(feedback.inner_text(), comment, "[sensitive: crisis]")
    assert feedback.locator("em em, a, img, script").count() == 0  # each comment's note is ours, in italics
    recent = page.locator("#recent").inner_text()
    assert_as_typed(recent, f"How often should we meet? {TYPED}", f"[sensitive: crisis] → {ref}")
    # Only the handoff holds a crisis message: the admins' log and feedback never show it.
    assert "better off without me" not in recent and "better off without me" not in feedback.inner_text()
    assert_nothing_ran(page)


def test_admin_sees_stats_and_rebuilds_the_index(page, base: str) -> None:
    sign_in(page, base, ADMIN, ADMIN_PW, "/admin/")
    stats = page.locator("#index-stats")
    stats.get_by_text("documents").wait_for()
    assert "26 documents" in stats.inner_text().replace("*", "")  # the corpus and the two poisoned ones
    usage = page.locator("#usage").inner_text()
    assert "questions" in usage and "answer" in usage
    assert "How can I make our remote mentoring calls work better?" in page.locator("#recent").inner_text()
    assert "Too long for me" in page.locator("#feedback-summary").inner_text()
    # The README shows the page down to the question summary; the log below holds this
    # module's hostile test input, which is not what a newcomer should meet.
    summary = page.locator("#usage").bounding_box()
    page.screenshot(path=str(DOCS / "admin-page.png"),
                    clip={"x": 0, "y": 0, "width": 1280, "height": summary["y"] + summary["height"] + 24})
    page.set_viewport_size({"width": 390, "height": 844})
    bottom = page.evaluate("() => document.querySelector('#usage').getBoundingClientRect().bottom + window.scrollY")
    page.screenshot(path=str(DOCS / "admin-phone.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 390, "height": bottom + 24})
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#reindex").click()
    page.locator("#reindex-result").get_by_text("26 added").wait_for(timeout=240_000)


def gap_labels(page) -> list[str]:
    """The central question heading each cluster card, without its quotes."""
    page.locator("#gaps-clusters .mkb-gap").first.wait_for()
    return [h.strip("“” \n") for h in page.locator("#gaps-clusters .mkb-gap h3").all_inner_texts()]


def assert_gaps_shown(page, topics) -> None:
    """A cluster headed by one of each topic's questions, both plots drawn, no sensitive message."""
    from tests.test_gaps import SENSITIVE, TOPICS

    labels = gap_labels(page)
    for topic in topics:
        assert any(label in TOPICS[topic] for label in labels), (topic, labels)
    for plot in ("#gaps-volume", "#gaps-rates"):
        page.locator(f"{plot} .vega-embed").locator("canvas, svg").first.wait_for()
    # The admin page's question log shows "[sensitive: crisis]" by design; the gaps never do.
    shown = " ".join(page.locator(f"#gaps-{part}").inner_text() for part in ("summary", "clusters", "pick"))
    assert SENSITIVE not in shown and "end it all" not in shown and "sensitive" not in shown


def test_gaps_cluster_the_unanswered_questions_and_a_mentor_marks_one_covered(page, phone, base: str,
                                                                             data_dir: Path) -> None:
    from datetime import timedelta

    from sqlalchemy import func, select, update

    from mentorkb.app import activity_log
    from rag.core.settings import load_settings
    from rag.core.types import Answer
    from rag.people.db import now, questions
    from tests.test_gaps import SENSITIVE, TOPICS, seed

    log = activity_log(load_settings(data_dir=data_dir))
    with log.engine.connect() as conn:
        before = conn.execute(select(func.max(questions.c.id))).scalar() or 0
    seed(log)  # the three topics and three questions like no other, all abstained on
    log.record_answer(Answer(SENSITIVE, "handoff", "help text", category="crisis"), session="crisis")
    for n in range(24):
        log.record_answer(Answer("What makes a good mentor?", "answer", "x"), session=f"a{n}")
    with log.engine.begin() as conn:  # spread over the last week, for the plots
        for (row,) in conn.execute(select(questions.c.id).where(questions.c.id > before)).all():
            conn.execute(update(questions).where(questions.c.id == row)
                         .values(created_at=now() - timedelta(days=row % 6, hours=1)))
    sign_in(page, base, MENTOR, MENTOR_PW)
    page.get_by_role("tab", name="Knowledge gaps").click()
    assert_gaps_shown(page, TOPICS)
    assert "end it all" not in page.locator("body").inner_text()
    summary = page.locator("#gaps-summary").inner_text()
    assert re.search(r"\d+ questions abstained on or rated not helpful in the last 30 days · \d+ clusters", summary)
    page.screenshot(path=str(DOCS / "gaps-view.png"), full_page=True)

    page.locator("#gaps-pick input").click()
    page.get_by_role("option").filter(has_text="leave").first.click()
    page.locator("#gaps-cover").click()
    page.locator("#gaps-status").get_by_text("covered: it leaves the list").wait_for()
    page.wait_for_function("() => !/leave/.test(document.querySelector('#gaps-clusters').innerText)")
    expect(page.locator("#gaps-summary")).to_contain_text("1 covered, hidden")
    page.locator("#gaps-covered input").check()
    expect(page.locator("#gaps-clusters")).to_contain_text(f"Marked covered by {MENTOR}")

    sign_in(phone, base, ADMIN, ADMIN_PW, "/admin/")
    phone.locator("#gaps-since").get_by_text("7 days").click()
    assert_gaps_shown(phone, ["visa", "kubernetes"])
    assert not any(label in TOPICS["leave"] for label in gap_labels(phone))  # covered, so hidden
    wide = phone.evaluate("() => [...document.querySelectorAll('#gaps-clusters .mkb-gap')]"
                          ".map(e => e.getBoundingClientRect().right).filter(r => r > 390)")
    assert wide == [], wide  # the cards fit a phone's width
    top = phone.locator("#gaps-since").bounding_box()["y"] + phone.evaluate("() => window.scrollY") - 70
    bottom = phone.evaluate("() => document.documentElement.scrollHeight")
    phone.screenshot(path=str(DOCS / "gaps-phone.png"), full_page=True,
                     clip={"x": 0, "y": top, "width": 390, "height": bottom - top})
