"""The live API's rate limit: people per client address per fixed window.

randomuser.me serves one client 20 000 people per 5 minutes; past that every request of
the window gets 429 with no Retry-After (the client cannot know when to come back).

Here a client is its IP address, and its window is fixed: it opens with the client's
first request and lasts `window_seconds`; the next request after it opens a fresh one.
The people a request asks for (`results`) are counted when it is admitted, and given
back if it gets fewer (an error, an "empty" fault).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    people: int = 20_000
    window_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not (isinstance(self.people, int) and not isinstance(self.people, bool) and self.people > 0):
            raise ValueError(f"people must be a whole number > 0, got {self.people!r}")
        seconds = self.window_seconds
        if not (
            isinstance(seconds, int | float)
            and not isinstance(seconds, bool)
            and math.isfinite(seconds)
            and seconds > 0
        ):
            raise ValueError(f"window_seconds must be a finite number of seconds > 0, got {seconds!r}")


class RateLimiter:
    """Counts people served per client in fixed windows; safe across handler threads."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # client -> (window start, people)
        self._lock = threading.Lock()

    def take(self, client: str, people: int) -> bool:
        """Admit a request for `people` if the window's quota is not used up yet, and count
        them at once: concurrent requests of one client cannot all slip in before any of
        them is counted. (A request is admitted while the quota lasts, so the last one
        of a window may go past it, as the live API's do.)"""
        with self._lock:
            start, used = self._current(client)
            if used >= self.limit.people:
                return False
            self._windows[client] = (start, used + people)
            return True

    def give_back(self, client: str, people: int) -> None:
        """Uncount people an admitted request did not get (an error, an empty answer)."""
        with self._lock:
            start, used = self._current(client)
            self._windows[client] = (start, max(0, used - people))

    def _current(self, client: str) -> tuple[float, int]:
        now = self._clock()
        start, used = self._windows.get(client, (now, 0))
        if now - start >= self.limit.window_seconds:
            start, used = now, 0
        self._windows[client] = (start, used)
        return start, used
