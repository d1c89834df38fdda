"""The live API's rate limit: people per client address per fixed window.

randomuser.me serves one client 20 000 people per 5 minutes; past that every request of
the window gets 429 with no Retry-After (the client cannot know when to come back).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    people: int = 20_000
    window_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not (isinstance(self.people, int) and self.people > 0):
            raise ValueError(f"people must be a whole number > 0, got {self.people!r}")
        if not self.window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {self.window_seconds!r}")


class RateLimiter:
    """Counts people served per client in fixed windows; safe across handler threads."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # client -> (window start, people)
        self._lock = threading.Lock()

    def admits(self, client: str) -> bool:
        """Whether the client may have an answer now: the window's quota is not used up."""
        with self._lock:
            return self._current(client)[1] < self.limit.people

    def served(self, client: str, people: int) -> None:
        with self._lock:
            start, used = self._current(client)
            self._windows[client] = (start, used + people)

    def _current(self, client: str) -> tuple[float, int]:
        now = self._clock()
        start, used = self._windows.get(client, (now, 0))
        if now - start >= self.limit.window_seconds:
            start, used = now, 0
        self._windows[client] = (start, used)
        return start, used
