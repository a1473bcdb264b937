"""Rate limits for every entry point, counted by the `limits` library.

Who is counted is a `Caller` the server established, never what a client claims:
the account of a signed-in mentor, else the visitor id the server put in a mentee's
signed cookie, else the client address. Every `Budget` counts the caller and, at a
larger allowance, the address too, so clearing cookies to get a fresh visitor id
gains nothing beyond the address's share.

Counts live in the storage `MENTORKB_RATE_LIMIT_STORAGE` names: `memory://` (the
default; each web process counts on its own) or `redis://host:6379` (pip install
redis) so that several workers share them. Windows are moving windows: at most
`limit` events in any `window_s` seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from rag.core.errors import InvalidInput
from rag.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """Who made a request, as the server knows it: `key` is "user:NAME",
    "visitor:ID" or "address:IP"; `address` is the client address (None off the web)."""

    key: str
    address: str | None = None

    @classmethod
    def of(cls, user: str | None, visitor: str | None, address: str | None) -> Caller:
        if user:
            return cls(f"user:{user}", address)
        if visitor:
            return cls(f"visitor:{visitor}", address)
        return cls(f"address:{address}", address)


class RateLimiter:
    """At most `limit` events per `window_s` seconds per key, in a moving window.

    `name` keeps this limiter's counts apart from others on the same `store` (a
    `limits` storage; a new memory storage when None).
    """

    def __init__(self, name: str, limit: int, window_s: float, store=None) -> None:
        from limits import RateLimitItemPerSecond
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.name = name
        self.item = RateLimitItemPerSecond(limit, max(1, round(window_s)))
        self._limiter = MovingWindowRateLimiter(store or MemoryStorage())

    def allow(self, key: str) -> bool:
        """Count one event for `key`; False (and not counted) when it is over the limit."""
        return self._limiter.hit(self.item, self.name, key)

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may act again (0 when it may now)."""
        stats = self._limiter.get_window_stats(self.item, self.name, key)
        return 0.0 if stats.remaining > 0 else max(0.0, stats.reset_time - time.time())


class Budget:
    """One kind of action, limited per caller and per address (`per_address` events;
    None for no address limit)."""

    def __init__(self, name: str, per_caller: int, window_s: float, per_address: int | None = None,
                 store=None) -> None:
        self.name = name
        self.per_caller = RateLimiter(f"{name}:caller", per_caller, window_s, store)
        self.per_address = RateLimiter(f"{name}:address", per_address, window_s, store) if per_address else None

    def take(self, caller: Caller) -> float:
        """Count one action for `caller`: 0 when allowed, else the seconds to wait."""
        checks = [(self.per_caller, caller.key)]
        if self.per_address is not None and caller.address:
            checks.append((self.per_address, caller.address))
        for limiter, key in checks:
            if not limiter.allow(key):
                log.warning("limit on %s hit for %s", self.name, key)
                return max(1.0, limiter.retry_after(key))
        return 0.0


def budgets(settings: Settings) -> dict[str, Budget]:
    """The product's budgets by name, on the configured storage: "questions" (chat and
    API), "requests" (every action request to the web app: queue calls, API calls,
    uploads), "handoff_requests" and "lookups" (mentees' "Talk to a human mentor" and
    "Check my request"), "logins" (per name and per address, 15 minutes)."""
    from limits.storage import storage_from_string

    url = settings.rate_limit_storage
    try:
        store = storage_from_string(url)
    except Exception as e:  # limits raises ConfigurationError or the driver's ImportError
        raise InvalidInput(f"MENTORKB_RATE_LIMIT_STORAGE: cannot use {url!r} ({e})") from e
    return {
        "questions": Budget("questions", settings.rate_limit_per_minute, 60,
                            settings.rate_limit_per_address_per_minute, store),
        "requests": Budget("requests", settings.requests_per_minute, 60,
                           settings.requests_per_address_per_minute, store),
        "handoff_requests": Budget("handoff_requests", settings.handoff_requests_per_hour, 3600,
                                   settings.handoff_requests_per_address_per_hour, store),
        "lookups": Budget("lookups", LOOKUPS_PER_HOUR, 3600, 4 * LOOKUPS_PER_HOUR, store),
        "logins": Budget("logins", settings.login_attempts, 15 * 60, settings.login_attempts, store),
    }


# "Check my request" lookups a visitor may make an hour (an address, four times as many):
# enough to check back often, too few to guess reference codes.
LOOKUPS_PER_HOUR = 30
