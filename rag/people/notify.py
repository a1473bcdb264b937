"""Telling mentors about a new handoff: a Slack-compatible webhook, off the request path."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from rag.people.handoffs import Handoff

log = logging.getLogger(__name__)


class WebhookNotifier:
    """POSTs a Slack-compatible message about each new handoff, off the request path.

    The message carries the reference, category and time; the summary and transcript
    only with `include_transcript`. Each delivery is tried `attempts` times with
    exponential backoff; failures are logged and recorded on the handoff.
    """

    def __init__(
        self,
        url: str,
        *,
        include_transcript: bool = False,
        attempts: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.include_transcript = include_transcript
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._threads: list[threading.Thread] = []

    def payload(self, handoff: Handoff) -> dict[str, Any]:
        urgent = "🚨 " if handoff.category == "crisis" else ""
        text = (
            f"{urgent}New MentorKB handoff {handoff.ref}: {handoff.label} "
            f"(requested by {handoff.requested_by}). Claim it in the mentor workspace "
            f"or with `mentorkb handoffs claim {handoff.ref}`."
        )
        body: dict[str, Any] = {
            "text": text,
            "ref": handoff.ref,
            "category": handoff.category,
            "requested_by": handoff.requested_by,
            "created_at": handoff.created_at.isoformat(),
        }
        if self.include_transcript:
            body["summary"] = handoff.summary
            body["transcript"] = [{"role": r, "text": t} for r, t in handoff.transcript]
        return body

    def notify(self, handoff: Handoff, done) -> None:
        """Deliver in a background thread; `done(handoff, "sent"|"failed")` afterwards."""
        thread = threading.Thread(target=self._deliver, args=(handoff, done), daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for deliveries in flight (tests, shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout_s)

    def _deliver(self, handoff: Handoff, done) -> None:
        body = self.payload(handoff)
        for attempt in range(1, self.attempts + 1):
            try:
                response = httpx.post(self.url, json=body, timeout=self.timeout_s)
                response.raise_for_status()
                done(handoff, "sent")
                return
            except httpx.HTTPError as e:
                log.warning("handoff %s webhook attempt %d/%d failed: %s", handoff.ref, attempt, self.attempts,
                            _http_reason(e))
                if attempt < self.attempts:
                    time.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.error("handoff %s: webhook gave up after %d attempts; the handoff is stored", handoff.ref,
                  self.attempts)
        done(handoff, "failed")


def _http_reason(e: httpx.HTTPError) -> str:
    if isinstance(e, httpx.HTTPStatusError):
        return f"HTTP {e.response.status_code}"
    return type(e).__name__
