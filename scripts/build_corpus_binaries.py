"""Regenerate the binary documents of the sample corpus (PDF and DOCX).

The original text of these documents lives here, as Python data, so the
binaries can be rebuilt at any time. Run from the repository root:

    .venv/bin/python scripts/build_corpus_binaries.py

Requires fpdf2 and python-docx (``pip install -e .[corpus]``). The output is
deterministic: fixed creation dates in the document metadata and fixed
timestamps inside the DOCX zip container, so rebuilding produces identical
bytes.

Document model: each document has a title, an author, a byline and a list of
sections. A section is ``(heading, blocks)``; a block is either a paragraph
(``str``) or a bulleted list (``list[str]``). A heading of ``None`` means an
untitled introduction. PDF text must stay within latin-1, because only the
core Helvetica font is used.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
import zipfile
from pathlib import Path

from docx import Document
from fpdf import FPDF

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT / "corpus"

FIXED_DATE = dt.datetime(2025, 6, 1, 9, 0, 0, tzinfo=dt.timezone.utc)
ZIP_TIMESTAMP = (2025, 6, 1, 9, 0, 0)

Block = str | list[str]
Section = tuple[str | None, list[Block]]


# ---------------------------------------------------------------------------
# PDF documents
# ---------------------------------------------------------------------------

PROMOTION = {
    "filename": "promotion-readiness.pdf",
    "title": "Preparing for Promotion: Building Your Case With a Mentor",
    "author": "Victor Almeida",
    "byline": "Victor Almeida, Stonebridge Cloud",
    "keywords": "promotion, career growth, career ladder, evidence, calibration",
    "sections": [
        (
            "Why promotion needs a plan",
            [
                "I have sat on promotion committees at Stonebridge Cloud for six years and "
                "mentored more than thirty people through a promotion cycle. The pattern I see "
                "most often is a talented person who assumes good work will speak for itself. "
                "It rarely does. Promotion committees look for evidence that you are already "
                "working at the next level, presented clearly by someone who can vouch for it. "
                "A mentor can help you gather that evidence, spot gaps early and prepare for "
                "the conversations that decide the outcome.",
                "This guide walks through the approach I use with mentees, usually starting "
                "six to nine months before the promotion cycle.",
            ],
        ),
        (
            "Understand how promotion really works here",
            [
                "Every company has a formal process and an informal one. Start with the formal "
                "part: read the career ladder, the level descriptions for your current level "
                "and the next one. Ask your manager who decides, when the cycle runs, what a "
                "promotion case looks like and how calibration works, where managers compare "
                "candidates across teams.",
                "Then the informal part, where a mentor is invaluable. Which kinds of evidence "
                "carry weight in calibration? Which senior people need to know your work? "
                "Mentors who have sat in those rooms can tell you what is actually discussed, "
                "within the bounds of confidentiality.",
                "Remember the principle: promotion usually recognises that you have already "
                "been operating at the next level for a sustained period. It is not a reward "
                "for effort or for time served.",
            ],
        ),
        (
            "Do a gap analysis against the ladder",
            [
                "Take each expectation of the next level and put it in a table with three "
                "columns: the expectation, your best evidence, and a rating of strong, partial "
                "or none. Be honest. Then ask your mentor to review the table and challenge "
                "your ratings; most people overrate the areas they enjoy and underrate their "
                "quieter strengths.",
                "Pick no more than two gaps to close. For each one, agree with your manager an "
                "opportunity that would demonstrate it, for example leading the design of a new "
                "service or mentoring a new joiner. Closing two gaps convincingly is better "
                "than touching all of them lightly.",
            ],
        ),
        (
            "Gather evidence as you go",
            [
                "Start a promotion case document now, not the month before the deadline. For "
                "each significant piece of work, write a short impact story in four parts: the "
                "context, what you personally did, the result, and who can confirm it. "
                "Quantify where you can: latency reduced, incidents avoided, customers "
                "onboarded, hours saved.",
                "Keep copies of design documents, positive messages from stakeholders and notes "
                "from feedback conversations. Ask people for written feedback shortly after a "
                "project ends, while the details are fresh. Your mentor can read drafts of your "
                "impact stories and tell you which ones sound like next-level work and which "
                "sound like doing your current job well.",
            ],
        ),
        (
            "Visibility without bragging",
            [
                "Committees can only weigh work they know about. Visibility does not mean "
                "self-promotion; it means making your work legible. Write up decisions in "
                "design documents, present at demo days, share what you learned after an "
                "incident, and keep your manager informed with a short monthly summary. A "
                "mentor from outside your team can suggest forums where your work would be "
                "useful to others.",
                "Sponsorship matters too. Someone senior who has seen your work first-hand can "
                "speak for you in calibration. Your manager is usually that person, but a "
                "skip-level leader or a senior peer who reviewed your designs can add weight.",
            ],
        ),
        (
            "The conversation with your manager",
            [
                "Ask your manager directly: 'What would you need to see from me to put me "
                "forward in the next cycle?' Ask for specifics, write the answer down and send "
                "a short summary afterwards so you both have the same record. Revisit it every "
                "month or two.",
                "Mentors can role-play this conversation with you. Practise asking clearly "
                "without apologising, and practise hearing a less positive answer without "
                "getting defensive.",
            ],
        ),
        (
            "When the answer is not yet",
            [
                "Many strong people are not promoted the first time they are put forward. If "
                "you hear 'not yet', ask for the specific gaps, ask what evidence would close "
                "them, and ask for a realistic timeline. Then take a few days before deciding "
                "how you feel about it.",
                "With your mentor, reflect on whether the gaps are fair and achievable. Most of "
                "the time they are, and the next cycle goes well. Occasionally the honest "
                "conclusion is that the role or team will not give you the opportunities you "
                "need, and the right move is a different team. Either way, a decision made "
                "calmly is better than one made in the week after a disappointment.",
            ],
        ),
    ],
}

SWITCHING_TRACKS = {
    "filename": "switching-tracks.pdf",
    "title": "Switching Tracks: Moving Between Engineering, Product and Management",
    "author": "Mei-Ling Chou",
    "byline": "Mei-Ling Chou, Bluepeak Software",
    "keywords": "career change, switching tracks, product management, people management, individual contributor",
    "sections": [
        (
            "What switching tracks means",
            [
                "At Bluepeak Software I have mentored people through almost every kind of "
                "track switch: engineers moving into product management, individual "
                "contributors becoming people managers, managers returning to hands-on "
                "technical work, and designers moving into research. A track switch is a "
                "lateral move into a different discipline or a different kind of role. It is "
                "often the most energising step in a career, and also the one people most "
                "often take for the wrong reasons.",
            ],
        ),
        (
            "Know why you want to switch",
            [
                "The first question I ask is whether the mentee is running towards something "
                "or away from something. Running away from a difficult manager, a boring "
                "project or a reorganisation is understandable, but those problems can often "
                "be solved without changing discipline. Running towards the work itself is a "
                "much stronger basis for a switch.",
                "A useful exercise is to write two lists. What would you miss about your "
                "current work? What specifically attracts you to the new track, described as "
                "day-to-day activities rather than job titles? If the second list is mostly "
                "about status, or about escaping the first, pause.",
            ],
        ),
        (
            "Test before you leap",
            [
                "You rarely have to make the switch blind. There are several low-risk ways to "
                "try out a new track first. Shadow a product manager for a week of customer "
                "calls and prioritisation meetings. Act as tech lead on a small project to see "
                "whether you enjoy coordinating others. Cover for a manager on leave as an "
                "interim lead. Ask about a rotation or secondment into another team for three "
                "months. Take on a side project in the new discipline with an owner who can "
                "give you feedback.",
                "Each experiment should end with an honest reflection with your mentor: what "
                "energised you, what drained you, and what surprised you.",
            ],
        ),
        (
            "Transferable skills and real gaps",
            [
                "Most people underestimate what they carry across. Engineers moving into "
                "product bring technical judgement and credibility with engineering teams. New "
                "managers bring the respect that comes from having done the work. But every "
                "switch has real gaps. Engineering to product usually means learning customer "
                "discovery, prioritisation under uncertainty and saying no to stakeholders. "
                "Individual contributor to manager means learning delegation, running "
                "one-to-ones, hiring and giving difficult feedback.",
                "List the gaps explicitly and build a learning plan for the first six months, "
                "just as you would for any other skill.",
            ],
        ),
        (
            "Making the move internally",
            [
                "Internal switches are usually easier than external ones, because people "
                "already know your work. Talk to your current manager early; a good manager "
                "would rather help you move internally than lose you to another company. Find "
                "someone in the target team who can advocate for you, and meet the hiring "
                "manager informally before any role is advertised.",
                "Where possible, agree a trial period of three to six months and an explicit "
                "return path: if the new track does not suit you, you can go back to your "
                "previous role without it being seen as a failure. Knowing the door is open "
                "makes it much easier to commit fully.",
            ],
        ),
        (
            "The first six months after switching",
            [
                "Expect to feel less competent for a while. You have gone from being good at "
                "something to being a beginner again, and that dip is normal. Many people "
                "misread it as proof that the switch was a mistake. Find a peer mentor in the "
                "new discipline who switched a year or two before you; they remember the dip "
                "and can tell you what helped.",
                "Keep a simple log of what you are learning. Looking back after three months "
                "shows how much progress you have made, even when it does not feel like it.",
            ],
        ),
        (
            "Switching back is not failure",
            [
                "Some of the best engineering leaders I know have moved between management and "
                "individual contributor work several times, and each swing made them better at "
                "both. If you try a track and decide it is not for you, you have gained skills "
                "and self-knowledge that most of your peers do not have. A good mentor will "
                "help you tell that story with confidence rather than apology.",
            ],
        ),
    ],
}

PDF_DOCUMENTS = [PROMOTION, SWITCHING_TRACKS]


# ---------------------------------------------------------------------------
# DOCX documents
# ---------------------------------------------------------------------------

MIDPOINT_REVIEW = {
    "filename": "midpoint-review.docx",
    "title": "The Mid-Point Review: Checking In on the Mentorship Itself",
    "author": "Samuel Achterberg",
    "byline": "Samuel Achterberg, Hollis & Grey",
    "keywords": "mid-point review, retrospective, mentoring relationship, check-in",
    "sections": [
        (
            None,
            [
                "At Hollis & Grey, every mentoring pair holds a mid-point review, usually "
                "around the three-month mark of a six-month term. It is a session about the "
                "mentorship itself rather than about the mentee's work: the moment to notice "
                "what is working, fix what is not, and decide deliberately how to use the "
                "remaining months.",
            ],
        ),
        (
            "Why review the relationship, not just the goals",
            [
                "Most pairs track the mentee's goals but never stop to ask whether the way "
                "they work together is helping. Small frustrations accumulate quietly: "
                "sessions that always run over, a mentor who talks too much, agendas that "
                "arrive late or never. Neither person wants to seem ungrateful or critical, so "
                "nobody says anything until the relationship quietly fades. A scheduled "
                "review makes it normal, even expected, to talk about the relationship openly.",
            ],
        ),
        (
            "When to hold it",
            [
                "Halfway through the agreed term is ideal. For a six-month mentorship that is "
                "month three; for a year-long one, month six. Put it in the calendar at the "
                "very start so that nobody has to raise it. If something feels clearly wrong "
                "earlier, do not wait for the mid-point.",
            ],
        ),
        (
            "Questions for the mentee",
            [
                "Which conversations have been most useful so far, and why? Is there anything "
                "you have been holding back from bringing to our sessions? Are the goals we "
                "set still the right ones? Is the meeting pattern working for you, in length "
                "and frequency? What would you like me to do more of, or less of?",
            ],
        ),
        (
            "Questions for the mentor",
            [
                "Am I seeing follow-through on what we discuss? Do I understand what the "
                "mentee needs from me? Am I still the right person for the goals as they stand "
                "now, or would someone else serve the mentee better? Is the time commitment "
                "sustainable for me?",
            ],
        ),
        (
            "A quick rating exercise",
            [
                "Before the session, each person privately rates the following on a scale of "
                "one to five, and then you compare notes. The differences between your ratings "
                "are usually more interesting than the numbers themselves.",
                [
                    "Usefulness of our sessions",
                    "Preparation before each session",
                    "Follow-through on agreed actions",
                    "Openness and honesty in our conversations",
                    "Progress towards the goals we set",
                ],
            ],
        ),
        (
            "Acting on what you find",
            [
                "The review should end with decisions, not just observations. Typical outcomes "
                "are: carry on as we are; change the cadence, for example from fortnightly to "
                "monthly; refocus on a different goal that has become more important; bring in "
                "a second mentor for a specific skill; or agree to end the mentorship early "
                "because it has done its job or is not the right fit. All of these are good "
                "outcomes if they are chosen deliberately.",
                "Update your mentoring agreement with any changes, so the second half of the "
                "term starts from a shared understanding.",
            ],
        ),
        (
            "Making it feel safe",
            [
                "Mentees in particular can find it hard to give their mentor honest feedback. "
                "Mentors should go first and name one thing they think they could do better. "
                "Thank the mentee for any criticism, and visibly act on it in the next session. "
                "A mid-point review handled well strengthens trust, because it proves that "
                "honesty in this relationship is welcome.",
            ],
        ),
    ],
}

FIRST_TIME_MANAGER = {
    "filename": "mentoring-new-managers.docx",
    "title": "Mentoring a First-Time Manager",
    "author": "Yasmin Farouk",
    "byline": "Yasmin Farouk, Tallgrass Retail Tech",
    "keywords": "new manager, first-time manager, delegation, one-to-ones, leadership transition",
    "sections": [
        (
            None,
            [
                "At Tallgrass Retail Tech most of our engineering and store-operations "
                "managers are promoted from within, and I have mentored around twenty "
                "first-time managers through their first year. The shift from individual "
                "contributor to manager is one of the biggest transitions in a career. It is "
                "also one of the loneliest, which is exactly why a mentor helps.",
            ],
        ),
        (
            "From doing to enabling",
            [
                "The hardest adjustment is that your output is now the output of your team. "
                "New managers often keep doing the work they were good at, because it feels "
                "productive and safe, and then wonder why they are exhausted and their team is "
                "not growing. Early in the mentorship I ask: 'What did you do this week that "
                "only a manager could do?' The answer is often 'not much', and that is the "
                "conversation to have.",
            ],
        ),
        (
            "The first ninety days",
            [
                "Encourage the new manager to hold a first one-to-one with every report within "
                "two weeks, asking what they enjoy, what frustrates them and how they like to "
                "receive feedback. Then comes a listening period before changing anything "
                "significant. New managers who reorganise everything in month one spend trust "
                "they have not yet earned.",
            ],
        ),
        (
            "Common first-time manager traps",
            [
                "These come up with almost every new manager I mentor:",
                [
                    "Keeping all the interesting technical work for themselves",
                    "Trying to be everyone's friend instead of a fair manager",
                    "Avoiding a difficult conversation until it becomes a crisis",
                    "Saying yes to every request from above without protecting the team",
                    "Cancelling one-to-ones whenever things get busy",
                ],
            ],
        ),
        (
            "Delegation",
            [
                "Delegating is not dumping. A good delegation conversation covers the outcome "
                "wanted, the constraints, who makes which decisions and when to check in. "
                "Mentors can help new managers pick one piece of work each week to delegate "
                "deliberately, and then debrief how it went, including the discomfort of "
                "watching someone else do it differently.",
            ],
        ),
        (
            "Managing former peers",
            [
                "Many first-time managers now lead people who were their teammates last month. "
                "Acknowledge the change openly in a one-to-one rather than pretending nothing "
                "is different. Be consistent and fair, and be careful with old lunch groups "
                "and private jokes that can start to look like favouritism.",
            ],
        ),
        (
            "Preparing for difficult conversations",
            [
                "Conversations about underperformance are where new managers most want help. "
                "Mentors can role-play them: the mentor plays the team member, and the mentee "
                "practises stating the issue clearly, listening, and agreeing next steps. "
                "Rehearsal makes the real conversation calmer and kinder.",
            ],
        ),
        (
            "What the mentor should not do",
            [
                "A mentor should not take sides about specific team members, or advise on "
                "formal performance processes, disciplinary action or anything involving "
                "employment law. Those belong with the new manager's own manager and HR. The "
                "mentor's job is to help the new manager think clearly, prepare well and look "
                "after themselves, so they can lead their team with confidence.",
            ],
        ),
    ],
}

DOCX_DOCUMENTS = [MIDPOINT_REVIEW, FIRST_TIME_MANAGER]


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def _check_latin1(doc: dict) -> None:
    """Core PDF fonts only cover latin-1; fail loudly rather than emit '?'."""
    texts = [doc["title"], doc["author"], doc["byline"], doc["keywords"]]
    for heading, blocks in doc["sections"]:
        if heading:
            texts.append(heading)
        for block in blocks:
            texts.extend(block if isinstance(block, list) else [block])
    for text in texts:
        try:
            text.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise SystemExit(f"{doc['filename']}: non latin-1 text: {text[:60]!r}") from exc


def build_pdf(doc: dict, out_dir: Path) -> Path:
    _check_latin1(doc)
    pdf = FPDF(format="A4")
    pdf.set_title(doc["title"])
    pdf.set_author(doc["author"])
    pdf.set_subject("Mentoring guide")
    pdf.set_keywords(doc["keywords"])
    pdf.set_creator("scripts/build_corpus_binaries.py")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)

    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.multi_cell(0, 9, doc["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", style="I", size=11)
    pdf.multi_cell(0, 6, doc["byline"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    for index, (heading, blocks) in enumerate(doc["sections"]):
        # Two sections per page: force a page break before every other section,
        # so each PDF spans several pages and chunks can straddle page edges.
        if index > 0 and index % 2 == 0:
            pdf.add_page()
        if heading:
            pdf.set_font("Helvetica", style="B", size=14)
            pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        for block in blocks:
            pdf.set_font("Helvetica", size=11)
            if isinstance(block, list):
                for item in block:
                    pdf.set_x(pdf.l_margin + 5)
                    pdf.multi_cell(0, 6, f"- {item}", new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.multi_cell(0, 6, block, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)

    path = out_dir / doc["filename"]
    pdf.output(str(path))
    return path


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps so the bytes are reproducible."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIMESTAMP)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def build_docx(doc: dict, out_dir: Path) -> Path:
    document = Document()
    props = document.core_properties
    props.title = doc["title"]
    props.author = doc["author"]
    props.last_modified_by = doc["author"]
    props.subject = "Mentoring guide"
    props.keywords = doc["keywords"]
    props.created = FIXED_DATE.replace(tzinfo=None)
    props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1

    document.add_heading(doc["title"], level=1)
    byline = document.add_paragraph()
    byline.add_run(doc["byline"]).italic = True

    for heading, blocks in doc["sections"]:
        if heading:
            document.add_heading(heading, level=2)
        for block in blocks:
            if isinstance(block, list):
                for item in block:
                    document.add_paragraph(item, style="List Bullet")
            else:
                document.add_paragraph(block)

    buffer = io.BytesIO()
    document.save(buffer)
    path = out_dir / doc["filename"]
    path.write_bytes(_normalise_zip(buffer.getvalue()))
    return path


def main() -> int:
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    for doc in PDF_DOCUMENTS:
        print(f"wrote {build_pdf(doc, CORPUS_DIR).relative_to(REPO_ROOT)}")
    for doc in DOCX_DOCUMENTS:
        print(f"wrote {build_docx(doc, CORPUS_DIR).relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
