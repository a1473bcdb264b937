"""Follow-up questions answered with their conversation, through the real `ask` path
(Chroma on disk, MiniLM, the trained triage) over the sample corpus, and through the
CLI's `ask --batch` and `eval --followups`."""

from __future__ import annotations

import json
from pathlib import Path

from mentorkb.tools.evaluate import ranked_sources
from tests.conftest import CORPUS
from tests.test_cli import run

AGREEMENT = [("user", "How do I write a mentoring agreement?"),
             ("assistant", "Write down goals, how often you meet and when you review it [1].")]
MEETING = [("user", "How often should a mentor and mentee meet?"),
           ("assistant", "Every two to four weeks suits most pairs [1].")]
FEEDBACK = [("user", "How do I give useful feedback to my mentee?"),
            ("assistant", "Be specific, timely and about behaviour, not the person [1].")]


def cited(answer) -> set[str]:
    return {c.chunk.source for c in answer.citations}


def test_a_pronoun_follow_up_is_answered_from_the_earlier_question(assistant) -> None:
    alone = assistant.ask("what if we want to change it later?", record=False)
    answer = assistant.ask("what if we want to change it later?", AGREEMENT, record=False)
    assert "mentoring-agreement.txt" not in cited(alone)
    assert answer.route == "answer" and "mentoring-agreement.txt" in cited(answer)
    assert answer.resolved == "How do I write a mentoring agreement? what if we want to change it later?"
    assert answer.question == "what if we want to change it later?"  # what the mentee typed is kept


def test_an_elliptical_follow_up_is_answered_from_the_earlier_question(assistant) -> None:
    alone = assistant.ask("and in the first month?", record=False)
    answer = assistant.ask("and in the first month?", MEETING, record=False)
    assert alone.route == "abstain"
    assert answer.route == "answer" and "first-meeting.md" in cited(answer)


def test_a_follow_up_answered_by_another_document_than_the_earlier_turn(assistant) -> None:
    answer = assistant.ask("and when I'm the one getting it?", FEEDBACK, record=False)
    assert ranked_sources(answer.retrieved)[0] == "receiving-feedback.txt"
    assert answer.route == "answer" and "receiving-feedback.txt" in cited(answer)


def test_an_unrelated_new_question_is_not_merged_with_the_history(assistant) -> None:
    question = "What should I do when imposter feelings come up at work?"
    alone = assistant.ask(question, record=False)
    answer = assistant.ask(question, MEETING, record=False)
    assert answer.resolved is None
    assert ranked_sources(answer.retrieved) == ranked_sources(alone.retrieved)
    assert cited(answer) == {"imposter-feelings.md"}


def test_triage_reads_the_follow_up_in_its_conversation(assistant) -> None:
    # Alone, "who should sign it?" reads as a legal question and goes to a person; after
    # a question about a mentoring agreement it is answered, with a person still offered.
    assert assistant.ask("who should sign it?", record=False).route == "handoff"
    answer = assistant.ask("who should sign it?", AGREEMENT, record=False)
    assert answer.route == "answer" and answer.check_in and "mentoring-agreement.txt" in cited(answer)
    # A harmless-looking follow-up to a message about harassment is the harassment's.
    history = [("user", "My manager keeps touching me and making comments about my body."),
               ("assistant", "…")]
    assert assistant.ask("should I put it in our agenda?", record=False).route == "answer"
    assert assistant.ask("should I put it in our agenda?", history, record=False).route == "handoff"
    # A possible crisis is never read away by its context (which can dilute it): found in the
    # message as typed, it goes to a person with help resources first.
    crisis = assistant.ask("honestly what's the point of any of this anymore", MEETING, record=False)
    assert crisis.route == "handoff" and crisis.category == "crisis"


def test_ask_batch_reads_each_records_history(corpus_data_dir: Path, tmp_path: Path) -> None:
    history = [{"role": role, "content": text} for role, text in MEETING]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join([
        json.dumps({"question": "and in the first month?", "history": history}),
        json.dumps({"question": "and in the first month?", "history": "yesterday"}),
        json.dumps({"question": "and in the first month?", "history": [{"role": "bot", "content": "hi"}]}),
        json.dumps({"question": "and in the first month?"}),
    ]) + "\n", encoding="utf-8")
    code, out, err = run("--data-dir", str(corpus_data_dir), "ask", "--batch", str(batch), "--json")
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(results) == 4
    assert f"{batch}:2: field 'history' must be a list" in err
    assert f"{batch}:3: field 'history' item 0: needs a 'role'" in err
    assert results[0]["route"] == "answer" and results[0]["resolved"].startswith("How often should")
    assert "first-meeting.md" in {c["source"] for c in results[0]["citations"]}
    assert results[3]["resolved"] is None and results[3]["route"] == "abstain"


def test_eval_followups_scores_typed_resolved_and_rewrite(tmp_path: Path) -> None:
    history = [{"role": role, "content": text} for role, text in MEETING]
    conversations = tmp_path / "followups.jsonl"
    conversations.write_text("\n".join(json.dumps(c) for c in [
        {"id": "a", "history": history, "question": "and in the first month?", "kind": "ellipsis",
         "standalone": "What should a mentor and mentee do in their first month?", "split": "dev",
         "gold": ["first-meeting.md"], "answer_keywords": ["first meeting"]},
        {"id": "b", "history": history, "question": "What should I do when imposter feelings come up at work?",
         "standalone": "What should I do when imposter feelings come up at work?", "split": "heldout",
         "gold": ["imposter-feelings.md"], "kind": "standalone_actually"},
    ]) + "\n", encoding="utf-8")
    code, out, err = run("--data-dir", str(tmp_path / "data"), "eval", "--followups", str(conversations),
                         "--corpus", str(CORPUS), "--json")
    assert code == 0, err
    report = json.loads(out)
    ellipsis = report["dev"]["by_kind"]["ellipsis"]
    assert ellipsis["typed"]["mrr@5"] < ellipsis["resolved"]["mrr@5"] == 1.0
    assert ellipsis["typed"]["keyword_coverage"] == 0.0  # as typed it abstains
    assert report["heldout"]["overall"]["resolved"]["recall@5"] == 1.0
    assert report["all"]["overall"]["conversations"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "and?", "standalone": "x", "history": [], "gold": []}) + "\n")
    code, _, err = run("eval", "--followups", str(bad), "--corpus", str(CORPUS))
    assert code != 0 and f"{bad}:1: field 'gold'" in err


def test_a_generative_backend_rewrites_the_follow_up_and_the_rewrite_is_triaged(assistant, embedder) -> None:
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from mentorkb.app import build
    from rag.answering.generative import GenerativeAnswerer

    def generative(*replies: str):
        model = GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))
        answerer = GenerativeAnswerer(model, embedder, 0.45, assistant.settings.min_relevance)
        return build(assistant.settings, embedder=embedder, store=assistant.store, answerer=answerer).assistant

    rewrite = "How can a mentoring agreement be changed later?"
    answer = generative(rewrite, "Agree on a review date in the agreement [1].").ask(
        "what if we want to change it later?", AGREEMENT, record=False)
    assert answer.resolved == rewrite and answer.route == "answer"
    assert ranked_sources(answer.retrieved)[0] == "mentoring-agreement.txt"
    # The model's rewrite is triaged like a message: here it says what the follow-up meant.
    meant = generative("My manager touches me and comments on my body: should I put that on our agenda?")
    assert meant.ask("should I put it in our agenda?", MEETING, record=False).route == "handoff"
