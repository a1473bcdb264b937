"""Suggested first questions, drawn from the titles of the indexed documents."""

from __future__ import annotations

from rag.core.settings import Settings
from rag.store.index import current_generation
from rag.store.manifest import Manifest


def starter_questions(settings: Settings, n: int) -> list[str]:
    """Up to `n` questions about the live index's biggest documents, one per document.

    A title's subtitle is its topic when it has one ("What Stays in the Room:
    Confidentiality Between Mentor and Mentee" asks about confidentiality).
    """
    live = current_generation(settings.data_dir)
    if live is None or n <= 0:
        return []
    manifest = Manifest.of(live)
    try:
        records = manifest.all()
    finally:
        manifest.close()
    records.sort(key=lambda r: (-r.chunks, r.source))
    questions: list[str] = []
    for record in records:
        topic = record.title.rsplit(":", 1)[-1].strip().rstrip("?.!")
        if not topic:
            continue
        question = f"What do mentors advise about {topic.lower()}?"
        if question not in questions:
            questions.append(question)
        if len(questions) == n:
            break
    return questions
