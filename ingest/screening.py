"""Documents are data: sentences in them that read as instructions to an assistant
("ignore previous instructions…") are held back before anything is embedded or
stored, and reported to whoever ingested them."""

from __future__ import annotations

import dataclasses
import logging
import re

from ingest.report import IngestReport
from rag.core.text import sentences
from rag.safety.injection import Detector

log = logging.getLogger(__name__)


def hold_back(pending: list, detector: Detector, report: IngestReport) -> None:
    """Drop every sentence that reads as an instruction from the pending chunks, before
    they are embedded or stored: retrieved text is data, so no answerer, extractive or
    generative, ever reads it. Each is reported once per document.

    Args:
        pending: the indexer's pending documents; their `chunks` lose the sentences held back.
        detector: tells which sentences read as instructions.
        report: gets one `flagged` entry per document and sentence.
    """
    split = {c.chunk_id: sentences(c.text) for p in pending for c in p.chunks}
    ordered = sorted({s for found in split.values() for s in found})
    flagged = {s for s, bad in zip(ordered, detector.flagged(ordered)) if bad}
    if not flagged:
        return
    for p in pending:
        held = []
        kept = []
        for chunk in p.chunks:
            bad = [s for s in split[chunk.chunk_id] if s in flagged]
            if not bad:
                kept.append(chunk)
                continue
            text = chunk.text
            for sentence in bad:  # its words, whatever whitespace the chunk has between them
                text = re.sub(r"\s+".join(map(re.escape, sentence.split())), " ", text, count=1)
            held += bad
            text = "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()
            if text:  # a chunk of nothing but instructions is not stored at all
                kept.append(dataclasses.replace(chunk, text=text))
        p.chunks[:] = kept
        for sentence in dict.fromkeys(held):
            report.flagged.append((p.doc.source, sentence))
            log.info("held back from %s, reads as an instruction: %s", p.doc.source, sentence)
