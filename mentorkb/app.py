"""The composition root: `build(settings)` wires MentorKB's parts, once, in one place.

The CLI, the web server and the tests all get their parts here; nothing else
constructs an embedder, a store or a database-backed service. Building is cheap:
the model, the index and the database each open on first use, so `mentorkb serve`
starts at once and the mentee chat keeps answering while the database is down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Generic, TypeVar

from rag.core.protocols import Embedder
from rag.core.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ingest.indexer import Indexer
    from mentorkb.workspace import Workspace
    from rag.people.accounts import UserStore
    from rag.people.activity import ActivityLog
    from rag.people.gaps import GapFinder
    from rag.people.handoffs import HandoffStore
    from rag.service import Assistant

T = TypeVar("T")


class Opener(Generic[T]):
    """Calls `make` on first use and keeps what it returns. A failure (the database
    cannot be opened) is raised to that caller and the next call tries again."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._make()
        return self._value


def _opener(given, make: Callable[[], T]) -> Opener[T]:
    return Opener(lambda: given) if given is not None else Opener(make)


def handoff_store(settings: Settings) -> HandoffStore:
    """Handoffs in the application database, with the webhook when one is set."""
    from rag.people.db import open_database
    from rag.people.handoffs import HandoffStore
    from rag.people.notify import WebhookNotifier

    url = settings.handoff_webhook.get_secret_value()
    notifier = WebhookNotifier(url, include_transcript=settings.handoff_webhook_transcript) if url else None
    return HandoffStore(open_database(settings), notifier)


def user_store(settings: Settings) -> UserStore:
    from rag.people.accounts import UserStore
    from rag.people.db import open_database

    return UserStore(open_database(settings))


def activity_log(settings: Settings) -> ActivityLog:
    from rag.people.activity import ActivityLog
    from rag.people.db import open_database

    return ActivityLog(open_database(settings), log_questions=settings.log_questions)


@dataclass
class App:
    """MentorKB's wired parts. `users`, `handoffs` and `activity` are openers: call
    them for the store (DatabaseError while the database cannot be opened). The
    Assistant, with its index and answerer, is built when first asked for, so a
    command that only indexes or manages accounts neither loads the answer models
    nor fails on a generative backend's settings."""

    settings: Settings
    embedder: Embedder
    users: Opener[UserStore]
    handoffs: Opener[HandoffStore]
    activity: Opener[ActivityLog]
    store: object = None  # the index to search; the live generation when None
    answerer: object = None  # chosen by `settings.answerer` when None

    @cached_property
    def index(self):
        """The index to search: the one given, else the live generation (one per app)."""
        from rag.store.index import LiveIndex

        return self.store or LiveIndex(self.settings, self.embedder)

    @cached_property
    def assistant(self) -> Assistant:
        """Triage, retrieve, answer (one per app)."""
        from rag.answering.generative import make_answerer
        from rag.service import Assistant

        store = self.index
        return Assistant(
            self.settings, self.embedder, store,
            self.answerer or make_answerer(self.settings, self.embedder, store),
            handoffs=self.handoffs, activity=self.activity,
        )

    @cached_property
    def gaps(self) -> GapFinder:
        """The knowledge-gap view over the question log (one per app)."""
        from rag.people.gaps import GapFinder

        return GapFinder(self.activity, self.embedder, self.index)

    @cached_property
    def workspace(self) -> Workspace:
        """Mentors' and admins' document actions over the index (one per app)."""
        from mentorkb.workspace import Workspace

        return Workspace(self.settings, self.indexer())

    def indexer(self) -> Indexer:
        """An indexer for a CLI ingest or reindex (the web app's goes through `workspace`)."""
        from ingest.indexer import Indexer

        return Indexer(self.settings, self.embedder)

    def server(self) -> FastAPI:
        """The web app: the mentee chat, the mentor workspace and the admin page."""
        from ui.server import create_server

        return create_server(self.assistant, self.settings, self.workspace, self.users, self.gaps)


def build(settings: Settings, *, embedder: Embedder | None = None, store=None, answerer=None,
          handoffs: HandoffStore | None = None, activity: ActivityLog | None = None,
          users: UserStore | None = None) -> App:
    """Wire the parts named by `settings`. A part given here (a shared embedder in
    tests, a store that fails on purpose) is used instead of the one settings name."""
    from rag.backends import make_embedder

    return App(
        settings, embedder or make_embedder(settings),
        users=_opener(users, lambda: user_store(settings)),
        handoffs=_opener(handoffs, lambda: handoff_store(settings)),
        activity=_opener(activity, lambda: activity_log(settings)),
        store=store, answerer=answerer,
    )
