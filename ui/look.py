"""The look the three pages share: the theme, the CSS, each page's head, the favicon, and
the plain pages (403, 503) the server answers with before any Gradio app runs.

Everything here works offline. The theme names system font stacks only, so no page
fetches a font file or a web font: Gradio's default theme names fonts of its own
(Source Sans Pro, IBM Plex Mono), and bold headings showed some capitals in a fallback
font. Gradio's page template carries its own name and "Click to try out the app!" in
og:/twitter: meta tags, with no parameter to change them, so `page_head` rewrites the
head of a served page.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

FAVICON = Path(__file__).with_name("static") / "favicon.svg"
A11Y_SCRIPT = FAVICON.with_name("a11y.js")
# elem_classes that make a component a live region (ui/static/a11y.js gives it the role):
# STATUS is read politely when its content changes, ALERT at once.
STATUS = ["mkb-status"]
ALERT = ["mkb-alert"]
# Generic families stay unquoted (a quoted 'system-ui' would name a font called that).
SANS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Noto Sans", "DejaVu Sans", "Helvetica Neue",
        "Arial", "sans-serif")
MONO = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "DejaVu Sans Mono", "Liberation Mono", "monospace")
GENERIC = {"system-ui", "-apple-system", "ui-monospace", "sans-serif", "monospace", "serif"}

CSS = """
.mkb-source h2 { margin: 0 0 .4rem; font-size: 1.15rem; }
.mkb-facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .8rem; margin: 0 0 .6rem; }
.mkb-facts dt { font-weight: 600; }
.mkb-facts dd { margin: 0; }
.mkb-passage { margin: 0; padding: .6rem .8rem; border-left: 3px solid var(--color-accent); max-height: 360px; overflow: auto; }
/* Shown once Gradio has laid the page out (ui/static/a11y.js): nothing shifts after load. */
html:not(.mkb-ready) .gradio-container .main { visibility: hidden; }
/* Read by screen readers, not shown: the answer and crisis announcers. */
.mkb-sr { position: absolute !important; width: 1px; height: 1px; padding: 0 !important; margin: -1px;
          overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0 !important; }
/* On a phone the question box shows on the first screen: the chat is shorter than its desktop 460px. */
@media (max-width: 640px) { #chat { height: 32vh !important; min-height: 220px; } }
.mkb-passage:focus-visible, .mkb-sources:focus-visible { outline: 2px solid var(--color-accent); outline-offset: 2px; }
.mkb-passage mark { background: #fde68a; }
#disclaimer { opacity: .75; font-size: .85em; }
/* An answer's Sources list scrolls in a box of its own, so the answer above it stays in view;
   the chat keeps line breaks of a message's HTML source, which this list does not want. */
.mkb-sources { max-height: 9.5em; overflow-y: auto; margin-top: .5em; padding: .2em .6em;
               border-left: 3px solid #e5e7eb; font-size: .92em; white-space: normal; }
.mkb-sources p { margin: .2em 0; }
.mkb-sources ol { margin: 0; padding-left: 1.6em; }
/* A knowledge-gap cluster: a card; long questions wrap on a phone. */
.mkb-gap { border: 1px solid #e5e7eb; border-radius: 8px; padding: .2rem .9rem; margin: 0 0 .7rem;
           overflow-wrap: anywhere; }
.mkb-gap h3 { margin: .5rem 0 .2rem; }
.mkb-gap p, .mkb-gap ul { margin: .25rem 0; }
"""


@dataclass(frozen=True)
class Page:
    """What a page's head says about it."""

    title: str
    description: str


PAGES = {
    "/": Page("MentorKB", "Ask about mentoring and get answers drawn from documents shared by mentors, "
                          "each with its sources."),
    "/mentor/": Page("MentorKB: mentor workspace", "Upload and manage mentoring documents and answer "
                                                   "mentees' requests for a human mentor."),
    "/admin/": Page("MentorKB: admin", "Index statistics, recent questions and feedback for MentorKB."),
}
# Gradio's own meta tags: its name, "Click to try out the app!" and a picture on a remote host.
_FOREIGN_META = re.compile(r'\s*<meta\s+(?:property|name)="(?:og|twitter):[^"]*"\s+content="[^"]*"\s*/?>')
_CHARSET = re.compile(r"<meta charset=[^>]*>", re.IGNORECASE)


# The project's colours, each checked against WCAG 2.2 AA: text 4.5:1, controls and focus
# rings 3:1. Gradio's default theme puts white on orange-500 (2.8:1) and greys of 1.9-2.8:1.
ACCENT = "#c2410c"        # orange-700: white text on it 5.2:1; as text on white 5.2:1
ACCENT_HOVER = "#9a3412"  # orange-800
DANGER = "#b91c1c"        # red-700: white text on it 6.5:1
DANGER_HOVER = "#991b1b"
SUBDUED = "#4b5563"       # gray-600: hints, placeholders and "- or -", 7.6:1 on white, 6.9:1 on gray-100


def theme():
    """Gradio's default theme with system font stacks and colours that meet WCAG AA (built
    when asked: Gradio loads lazily). Dark mode gets the same accents, on dark greys."""
    import gradio as gr

    def stack(names: tuple[str, ...]) -> list:
        return [name if name in GENERIC else gr.themes.Font(name) for name in names]

    def both(**values: str) -> dict:
        return {**values, **{f"{key}_dark": value for key, value in values.items()}}

    return gr.themes.Default(primary_hue="orange", font=stack(SANS), font_mono=stack(MONO)).set(
        **both(button_primary_background_fill=ACCENT, button_primary_background_fill_hover=ACCENT_HOVER,
               button_primary_border_color=ACCENT, button_primary_border_color_hover=ACCENT_HOVER,
               button_primary_text_color="#ffffff", button_primary_text_color_hover="#ffffff",
               button_cancel_background_fill=DANGER, button_cancel_background_fill_hover=DANGER_HOVER,
               button_cancel_border_color=DANGER, button_cancel_border_color_hover=DANGER_HOVER,
               button_cancel_text_color="#ffffff", button_cancel_text_color_hover="#ffffff"),
        color_accent=ACCENT, border_color_accent=ACCENT, link_text_color=ACCENT, link_text_color_hover=ACCENT_HOVER,
        link_text_color_visited=ACCENT_HOVER, link_text_color_active=ACCENT_HOVER,
        body_text_color_subdued=SUBDUED, block_info_text_color=SUBDUED, input_placeholder_color=SUBDUED,
    )


def i18n():
    """Gradio's screen-reader status says `common.complete` after every event: the key has no
    English string in Gradio 6.31. A blank one silences it; our own live regions say what happened."""
    import gradio as gr

    return gr.I18n(en={"common.complete": " "})


def head_script() -> str:
    """The accessibility mends (`static/a11y.js`) for a Gradio page's head."""
    return f"<script>\n{A11Y_SCRIPT.read_text(encoding='utf-8')}</script>"


def head_tags(page: Page) -> str:
    """The title, description and icon of a page, as HTML."""
    title, description = html.escape(page.title), html.escape(page.description)
    return (f"<title>{title}</title>\n"
            f'<meta name="description" content="{description}">\n'
            f'<meta property="og:title" content="{title}">\n'
            f'<meta property="og:description" content="{description}">\n'
            '<link rel="icon" href="/favicon.ico" type="image/svg+xml">\n')


def page_head(document: str, page: Page) -> str:
    """A Gradio page with its foreign meta tags dropped and ours put after the charset."""
    document = _FOREIGN_META.sub("", document)
    match = _CHARSET.search(document)
    at = match.end() if match else document.find("<head>") + len("<head>")
    return document[:at] + "\n" + head_tags(page) + document[at:]


_PLAIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
{head}<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root {{ --color-accent: {accent}; }}  /* the name Gradio's theme gives it */
body {{ font-family: {sans}; background: #f6f7f9; color: #1f2937; display: grid; place-items: center;
       min-height: 100vh; margin: 0; }}
main {{ background: #fff; padding: 2rem 2.5rem; border-radius: 12px; box-shadow: 0 2px 12px #0001;
        max-width: 32rem; margin: 1rem; }}
h1 {{ margin: 0 0 .8rem; font-size: 1.4rem; }}
a {{ color: var(--color-accent); }}
{css}</style></head>
<body><main>
<h1>{heading}</h1>
{body}
</main></body></html>"""


def plain_page(title: str, heading: str, body: str, css: str = "") -> str:
    """A page of its own (not Gradio's): the sign-in form, 403 and 503. `body` is our own
    HTML; `css` adds rules of the page's own."""
    sans = ", ".join(name if name in GENERIC else f'"{name}"' for name in SANS)
    head = head_tags(Page(title, heading))
    return _PLAIN.format(head=head, sans=sans, accent=ACCENT, heading=html.escape(heading), body=body, css=css)


def forbidden_page(user: str) -> str:
    """The 403 page a signed-in mentor gets for the admin page."""
    return plain_page(
        "MentorKB: admins only", "This page is for admins",
        f"<p>You are signed in as <strong>{html.escape(user)}</strong>, a mentor. "
        "The admin page needs an admin account.</p>\n"
        '<p><a href="/mentor/">Go to the mentor workspace</a> · <a href="/">Open the chat</a> · '
        '<a href="/logout">Sign out</a></p>')


def unavailable_page() -> str:
    """The 503 page when the accounts cannot be read."""
    return plain_page(
        "MentorKB: unavailable", "Accounts are unavailable right now",
        "<p>Sign-in cannot be checked just now. Try again in a minute; if this goes on, "
        "tell whoever runs this MentorKB.</p>\n"
        '<p><a href="/">Open the chat</a></p>')
