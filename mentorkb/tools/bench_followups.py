"""`mentorkb bench`: what a conversation's history costs `ask`.

Each gold question is asked as it is and after a three-turn history (the three
questions before it, each with a short reply), and a short follow-up ("and how
often?") is asked alone and after the same history, interleaved so that no variant
always meets a warmer cache. A standalone question after history pays only for the
follow-up gate; a follow-up pays for its joined reading (one more encode, its triage,
a longer lexical query).
"""

from __future__ import annotations

import time

from mentorkb.tools.bench_serve import percentiles
from rag.core.settings import Settings

HISTORY_TURNS = 3
# Short follow-ups of each kind the gate knows: continuations, pointers back, fragments.
FOLLOW_UPS = ("and how often?", "what if they don't reply?", "who decides that?", "and for new managers?",
              "how long should it take?", "can you say more about that?")
VARIANTS = ("question", "question_with_history", "follow_up", "follow_up_with_history")


def bench_followups(settings: Settings, embedder, questions: list[str], rounds: int) -> dict:
    """p50 / p95 of each variant, and the history's cost at p50 in milliseconds."""
    from mentorkb.app import build

    assistant = build(settings, embedder=embedder).assistant
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cases = []
    for i, question in enumerate(questions):
        earlier = [questions[(i - n) % len(questions)] for n in range(HISTORY_TURNS, 0, -1)]
        history = [turn for q in earlier for turn in (("user", q), ("assistant", "A short reply. [1]"))]
        cases.append((question, FOLLOW_UPS[i % len(FOLLOW_UPS)], history))
    try:
        for question, follow_up, history in cases:  # warm up
            assistant.ask(follow_up, history, record=False)
        for r in range(rounds):
            for question, follow_up, history in cases:
                calls = {"question": (question, ()), "question_with_history": (question, history),
                         "follow_up": (follow_up, ()), "follow_up_with_history": (follow_up, history)}
                order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    start = time.perf_counter()
                    assistant.ask(*calls[variant], record=False)
                    times[variant].append(time.perf_counter() - start)
    finally:
        assistant.store.close()
    out: dict = {"asks_per_variant": len(times["question"]), **{v: percentiles(times[v]) for v in VARIANTS}}
    out["history_cost_p50_ms"] = round(out["question_with_history"]["p50_ms"] - out["question"]["p50_ms"], 2)
    out["follow_up_history_cost_p50_ms"] = round(
        out["follow_up_with_history"]["p50_ms"] - out["follow_up"]["p50_ms"], 2)
    return out


def followups_table(f: dict) -> list[str]:
    """Markdown rows for `bench_followups`' result."""
    lines = ["| asked | p50 / p95 ms |", "| --- | ---: |"]
    names = {"question": "a gold question", "question_with_history": "the same after 3 turns",
             "follow_up": "a short follow-up alone", "follow_up_with_history": "the same after 3 turns"}
    lines += [f"| {names[v]} | {f[v]['p50_ms']} / {f[v]['p95_ms']} |" for v in VARIANTS]
    return lines
