"""MentorKB's own exceptions. Foreign errors are translated at the border.

The tree::

    MentorKBError                 base; its message is shown to the user as is
    ├── ConfigError               a setting is missing, malformed or unsupported
    ├── LoaderError               one document could not be read (names the file)
    ├── IndexLockedError          another process is writing the index
    ├── StoreError                the vector store failed or is unreachable
    │   └── EmbedderMismatchError the index was built with another embedder
    ├── EmbedderError             the embedding model could not be loaded or run
    ├── AnswererError             the answer backend (e.g. a remote LLM) failed
    ├── DatabaseError             the application database (handoffs, accounts) failed
    ├── NotFoundError             no handoff, user or document by that name
    ├── ConflictError             the action does not fit the record's state
    │                             (claiming a resolved handoff, adding an existing user)
    └── AccessDenied              the caller may not do this (wrong role, not the owner)
"""

from __future__ import annotations


class MentorKBError(Exception):
    """Base class; the message is meant for the user and fits on one line."""


class InvalidInput(MentorKBError):
    """A user's mistake: a bad field, file name, upload, transition or input file.
    The message names the field or file and the reason; nothing stored changed."""


class ConfigError(MentorKBError):
    """A setting is missing, malformed or names an unknown backend."""


class LoaderError(MentorKBError):
    """One document could not be loaded; the message starts with its path."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")

    def __reduce__(self):  # crosses process boundaries (ingest.sandbox) intact
        return (type(self), (self.source, self.reason))


class IndexLockedError(MentorKBError):
    """Another process holds the index's writer lock."""


class StoreError(MentorKBError):
    """The vector store failed; the foreign error is chained as __cause__."""


class EmbedderMismatchError(StoreError):
    """The collection was built by a different embedder than the one configured."""


class EmbedderError(MentorKBError):
    """The embedding model could not be loaded or failed to encode."""


class AnswererError(MentorKBError):
    """The answer backend failed."""


class DatabaseError(MentorKBError):
    """The application database failed; the foreign error is chained as __cause__."""


class NotFoundError(MentorKBError):
    """No record by that name or reference."""


class ConflictError(MentorKBError):
    """The action does not fit the record's current state."""


class AccessDenied(MentorKBError):
    """The caller's role or ownership does not allow this action."""


class RateLimitedError(MentorKBError):
    """Too many of one action from one visitor or address; `retry_after` in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
