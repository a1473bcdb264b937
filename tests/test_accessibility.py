"""Accessibility in the real browser: axe-core (bundled by PyPI `axe-playwright-python`) on
every page state a mentee, mentor or admin meets, at a desktop and a phone width, and the
chat driven by the keyboard alone, as a screen-reader user would.

Shares the server of tests/test_browser.py (same data dir, accounts and helpers).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import test_browser as shared
from tests.test_browser import ADMIN, ADMIN_PW, MENTOR, MENTOR_PW, ask, open_chat, sign_in

pytestmark = pytest.mark.browser
# The data dir, server and browser of tests/test_browser.py, as this module's fixtures too.
data_dir, base, browser, page, phone = shared.data_dir, shared.base, shared.browser, shared.page, shared.phone

# WCAG 2.0, 2.1 and 2.2 at levels A and AA, and axe's best practices (landmarks, heading order).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}


def audit(page, state: str, found: list[str]) -> None:
    """Run axe on the page as it stands; add one line per violated rule to `found`."""
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_timeout(300)  # let Gradio's transitions settle
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]})
    for v in results.response["violations"]:
        for node in v["nodes"][:4]:
            why = " ".join(check["message"] for check in node["any"][:1]) or node.get("failureSummary", "")
            found.append(f"{state}: {v['impact']} {v['id']} at {' '.join(map(str, node['target']))}: {why}")


def open_tab(page, name: str) -> None:
    """Open a tab of the mentor workspace; on a phone the last ones sit behind "More tabs"."""
    tab = page.get_by_role("tab", name=name)
    if tab.is_visible():
        tab.click()
    else:
        page.get_by_role("button", name="More tabs").click()
        page.locator(".overflow-dropdown button", has_text=name).click()


@pytest.fixture(scope="module")
def gaps(data_dir) -> None:
    """Unanswered questions on three topics, so the gaps view shows cluster cards and plots."""
    from mentorkb.app import activity_log
    from rag.core.settings import load_settings
    from tests.test_gaps import seed

    seed(activity_log(load_settings(data_dir=data_dir)))


@pytest.fixture(params=list(WIDTHS))
def sized(browser, gaps, request):
    """A page at each width (test_browser's, which also fails the test on a script error)."""
    for page in shared._page(browser, *WIDTHS[request.param]):
        yield request.param, page


def test_every_page_state_passes_axe(sized, base: str) -> None:
    width, page = sized
    found: list[str] = []
    open_chat(page, base)
    audit(page, f"{width} chat empty", found)
    ask(page, "What should we agree on in a first meeting?")
    audit(page, f"{width} chat answered", found)
    page.locator("#sources label").first.click()
    page.locator("#source-panel .mkb-source").wait_for()
    audit(page, f"{width} chat source opened", found)
    page.locator("#human").click()
    audit(page, f"{width} chat human form", found)
    page.locator("#human-send").click()
    page.locator("#handoff-status").get_by_text("MKB-").first.wait_for()
    audit(page, f"{width} chat handoff sent", found)
    page.locator("#check").get_by_text("Check my request").click()
    page.locator("#check-ref textarea, #check-ref input").first.fill("MKB-AAAAAA")
    page.locator("#check-send").click()
    page.locator("#check-result").get_by_text("MKB-AAAAAA").wait_for()
    audit(page, f"{width} chat request checked", found)
    page.goto(base + "/login", wait_until="load")
    audit(page, f"{width} login", found)

    sign_in(page, base, MENTOR, MENTOR_PW)
    audit(page, f"{width} mentor upload", found)
    open_tab(page, "My documents")
    page.locator("#documents").wait_for()
    audit(page, f"{width} mentor documents", found)
    open_tab(page, "Handoff queue")
    expect(page.locator("#queue")).to_contain_text("MKB-")
    audit(page, f"{width} mentor queue", found)
    page.locator("#handoff-pick input").click()
    page.get_by_role("option").first.click()
    page.locator("#handoff-detail").get_by_text("Raised by").wait_for()
    audit(page, f"{width} mentor handoff opened", found)
    open_tab(page, "Knowledge gaps")
    page.locator("#gaps-clusters .mkb-gap h3").first.wait_for()
    audit(page, f"{width} mentor gaps", found)
    page.goto(base + "/logout", wait_until="load")

    sign_in(page, base, ADMIN, ADMIN_PW, "/admin/")
    page.locator("#index-stats").get_by_text("documents").wait_for()
    audit(page, f"{width} admin", found)
    assert not found, "\n".join(found)


def live_region_of(page, selector: str) -> str | None:
    """The live-region role or politeness around the first element matching `selector`, if any."""
    return page.evaluate("""s => {
        const at = document.querySelector(s);
        const region = at && at.closest('[role=status], [role=alert], [aria-live=polite], [aria-live=assertive]');
        return region ? (region.getAttribute('role') || region.getAttribute('aria-live')) : null;
    }""", selector)


def focused(page) -> str:
    """What has the keyboard focus: its id, else its nearest block's id, and its tag."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const block = el.closest('[id]');
        return `${block ? block.id : ''} ${el.tagName.toLowerCase()} ${el.type || ''}`;
    }""")


def tab_to(page, where: str, presses: int = 40) -> None:
    """Press Tab until the focus is inside the element with id `where`."""
    for _ in range(presses):
        if focused(page).split()[0] == where or page.evaluate(
                "w => !!document.getElementById(w)?.contains(document.activeElement)", where):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{where}; the focus ended on {focused(page)}")


def test_the_chat_works_with_the_keyboard_alone(page, base: str) -> None:
    open_chat(page, base)
    assert focused(page).startswith("question textarea")  # the question box has the focus on arrival
    page.keyboard.type("What should we agree on in a first meeting?")
    page.keyboard.press("Enter")
    page.locator("#sources input[type=radio]").first.wait_for()
    expect(page.locator("#announce")).to_contain_text("pick one under Sources")

    tab_to(page, "sources")  # one Tab stop for the whole group, then the arrow keys move in it
    assert focused(page).endswith("input radio")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#source-panel .mkb-source")).to_have_attribute("data-n", "2")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#source-panel .mkb-source")).to_have_attribute("data-n", "3")
    page.keyboard.press("Tab")
    assert "sources" not in focused(page).split()[0]  # Tab leaves the group, not the next option

    page.keyboard.press("Shift+Tab")
    tab_to(page, "human")
    page.keyboard.press("Enter")
    tab_to(page, "contact")
    page.keyboard.type("mentee@example.org")
    tab_to(page, "human-send")
    page.keyboard.press("Enter")
    expect(page.locator("#handoff-status")).to_contain_text("contact you at mentee@example.org")


def test_the_handoff_reference_and_a_crisis_reply_are_announced(phone, base: str) -> None:
    page = phone
    open_chat(page, base)
    ask(page, "How do I give feedback to my mentee?")
    page.locator("#human").click()
    page.locator("#human-send").click()
    page.locator("#handoff-status").get_by_text("MKB-").first.wait_for()
    assert live_region_of(page, "#handoff-status strong") == "status"
    assert live_region_of(page, "#announce p") == "status"
    # Gradio's own status line no longer reads out the translation key "common.complete".
    assert "common." not in page.locator(".sr-only[role=status]").first.inner_text()

    ask(page, "I don't want to be alive anymore")
    assert live_region_of(page, "#announce-urgent p") == "alert"  # read at once, before anything queued
    expect(page.locator("#announce-urgent")).to_contain_text("MKB-")
