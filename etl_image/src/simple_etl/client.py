"""Random User API client: one HTTP session, retries with backoff, strict acceptance.

A response is accepted only when it is JSON of the API's shape, echoes the page and
seed that were asked for, and carries as many results as its `info.results` says; the
live API sometimes answers 200 with an empty or short `results`, which is a transient
fault like a 503 and is retried the same way.

The retry rules:
- Every way an answer can break is transient: connection failures and timeouts, 5xx,
  a body cut off mid-transfer (chunked framing, gzip decoding, a reset mid-body), a
  body that is not the API's JSON, a short page, a wrong page or seed echo. Each one
  counts toward SIMPLE_ETL_MAX_RETRIES, with exponential backoff and jitter (a
  5xx's Retry-After is honoured up to SIMPLE_ETL_BACKOFF_MAX); when they run out,
  SourceError (exit 3) names the page and the last fault.
- A 429 is the source's rate limit, not a fault, and it does NOT use up those retries:
  it has its own budget of SIMPLE_ETL_MAX_RETRIES waits per page, and each wait is the
  server's Retry-After or, when there is none (the real API sends none), a whole
  window, SIMPLE_ETL_RATE_LIMIT_WAIT seconds (default 300: randomuser.me counts 20 000
  people per 5 minutes). So the client never gives up inside the window; it gives up
  only when the limit is still exhausted after that many full windows.
- SIMPLE_ETL_DEADLINE_SECONDS (the DAG task's timeout) bounds everything: no request
  timeout and no wait reaches past it. When the next wait would, the client fails at
  once with SourceError, instead of being killed mid-wait with nothing recorded.
"""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from simple_etl import __version__, jsontext
from simple_etl.config import Settings
from simple_etl.errors import SourceError
from simple_etl.log import JsonLogger

# The CLI imports this module as it starts, so this is when the run began, as near as
# Python can tell: SIMPLE_ETL_DEADLINE_SECONDS counts from here, not from the first page.
PROCESS_STARTED = time.monotonic()
RETRYABLE_STATUS = {500, 502, 503, 504}
RATE_LIMITED = 429
# Raised while the body is read: requests wraps most of urllib3's (ProtocolError and its
# IncompleteRead, DecodeError, ReadTimeoutError) but not on every path, and a reset
# socket can surface as a bare OSError. All of them mean "this answer broke", so retry.
BODY_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.DecodeError,
    urllib3.exceptions.ReadTimeoutError,
    http.client.IncompleteRead,
    OSError,
)


@dataclass(frozen=True)
class Page:
    number: int
    records: list[Any]


class TransientError(Exception):
    """A failure worth another attempt; `retry_after` is the server's wish, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """HTTP 429: the source's rate limit. Waited out, with its own budget (module docstring)."""


class RandomUserClient:
    def __init__(
        self,
        settings: Settings,
        log: JsonLogger,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        started: float | None = None,
    ) -> None:
        """`started` is when the run began on `clock` (default: the process start); the
        deadline, SIMPLE_ETL_DEADLINE_SECONDS after it, is the run's, not this client's."""
        self._settings = settings
        self._log = log
        self._sleep = sleep
        self._clock = clock
        if started is None:
            started = PROCESS_STARTED if clock is time.monotonic else clock()
        self._deadline = started + settings.deadline_seconds if settings.deadline_seconds else None
        self._jitter = random.Random()  # noqa: S311 - jitter, not security
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"simple-etl/{__version__}"
        self._session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
        self._session.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=1))

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RandomUserClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch_page(self, number: int) -> Page:
        s = self._settings
        failures = waits = 0  # faults, and rate-limit waits: two budgets (module docstring)
        while True:
            try:
                return Page(number, self._request(number))
            except RateLimited as error:
                waits += 1
                if waits > s.max_retries:
                    raise SourceError(
                        f"page {number}: the source still answers 429 (rate limited) after "
                        f"{waits - 1} waits of its window; raise SIMPLE_ETL_RATE_LIMIT_WAIT to the source's "
                        "window, or lower SIMPLE_ETL_BATCH_SIZE or run less often"
                    ) from None
                delay = s.rate_limit_wait
                if error.retry_after is not None:  # the server's word, within reason
                    delay = min(error.retry_after, max(s.rate_limit_wait, s.backoff_max))
                self._wait(number, delay, str(error), attempt=waits, rate_limited=True)
            except TransientError as error:
                failures += 1
                if failures > s.max_retries:
                    raise SourceError(
                        f"page {number} failed after {failures} attempts: {error}; "
                        "check SIMPLE_ETL_API_URL or retry later"
                    ) from None
                delay = self._backoff(failures, error.retry_after)
                self._wait(number, delay, str(error), attempt=failures, rate_limited=False)

    def _wait(self, number: int, delay: float, reason: str, *, attempt: int, rate_limited: bool) -> None:
        if self._deadline is not None and self._clock() + delay > self._deadline:
            raise SourceError(
                f"page {number}: waiting {delay:g} s after '{reason}' would pass the deadline "
                f"(SIMPLE_ETL_DEADLINE_SECONDS={self._settings.deadline_seconds}); "
                "the source is not ready, retry the batch later"
            )
        self._log.warning(
            "extract.retry",
            page=number,
            attempt=attempt,
            delay=delay,
            reason=reason,
            rate_limited=rate_limited,
        )
        self._sleep(delay)

    def _timeout(self, number: int) -> float:
        """The request timeout, cut short so that it ends by the deadline. (requests'
        timeout bounds each connect and read, so a body trickling in can overrun it by
        one read; the next wait's check then fails the run.)"""
        timeout = self._settings.http_timeout
        if self._deadline is None:
            return timeout
        left = self._deadline - self._clock()
        if left <= 0:
            raise SourceError(
                f"page {number}: the deadline (SIMPLE_ETL_DEADLINE_SECONDS="
                f"{self._settings.deadline_seconds}) has passed; retry the batch later"
            )
        return min(timeout, left)

    def _request(self, number: int) -> list[Any]:
        s = self._settings
        seed = s.api_seed  # the pool's seed, never SIMPLE_ETL_SEED itself (Settings.api_seed)
        params = {"results": s.page_size, "page": number, "seed": seed, "format": "json"}
        if s.nat:
            params["nat"] = s.nat  # sorted and de-duplicated by the settings
        try:
            # stream=True: the body is read below, where a break mid-body is told apart
            # from a request that never got an answer.
            response = self._session.get(s.api_url, params=params, timeout=self._timeout(number), stream=True)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientError(_one_line(error)) from None
        except requests.RequestException as error:
            raise SourceError(f"request for page {number} failed: {_one_line(error)}") from None
        with response:
            content = _read_body(response, number)
        if response.status_code == RATE_LIMITED:
            raise RateLimited(f"HTTP {RATE_LIMITED}", _retry_after(response))
        if response.status_code in RETRYABLE_STATUS:
            retry_after = _retry_after(response)
            if retry_after is not None:
                retry_after = min(retry_after, s.backoff_max)
            raise TransientError(f"HTTP {response.status_code}", retry_after)
        if response.status_code != 200:
            raise SourceError(
                f"page {number}: HTTP {response.status_code} from {s.api_url}; "
                "the request itself is wrong, retrying will not help"
            )
        return _accept(content, number, s.page_size, seed)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        s = self._settings
        if retry_after is not None:
            return retry_after
        # Exponential backoff with jitter, so parallel shards do not retry in lockstep.
        ceiling = min(s.backoff_base * 2 ** (attempt - 1), s.backoff_max)
        return round(ceiling / 2 + self._jitter.uniform(0, ceiling / 2), 3)


def _read_body(response: requests.Response, number: int) -> bytes:
    """The whole body, un-gzipped; a body that breaks off on the way is a TransientError."""
    try:
        return response.content
    except BODY_ERRORS as error:
        raise TransientError(f"page {number}: the body broke off mid-transfer: {_one_line(error)}") from None


def _accept(content: bytes, number: int, expected: int, seed: str) -> list[Any]:
    try:
        body = jsontext.decode(content)
    except jsontext.DecodeError as error:
        raise TransientError(
            f"page {number}: body is not valid JSON (truncated or not the API): {error}"
        ) from None
    if not isinstance(body, dict) or "error" in body:
        detail = body.get("error") if isinstance(body, dict) else type(body).__name__
        raise TransientError(f"page {number}: API answered an error: {detail}")
    results, info = body.get("results"), body.get("info")
    if not isinstance(results, list) or not isinstance(info, dict):
        raise TransientError(f"page {number}: body lacks the results list or the info block")
    # Another page's or another seed's people would be loaded as this page's. Retried,
    # not final: it is what a stale cache or a lagging node in front of the API does,
    # and the next attempt may reach a good one; the retry budget bounds it, and the
    # final SourceError names both values. (Pages above 10 000, which the API serves
    # as page 1, are refused by the settings and never asked for.)
    if info.get("page") != number:
        raise TransientError(f"page {number}: the API answered page {info.get('page')!r} (info.page)")
    if info.get("seed") != seed:
        raise TransientError(f"page {number}: the API answered seed {info.get('seed')!r}, asked {seed!r}")
    if info.get("results") != len(results) or len(results) != expected:
        raise TransientError(
            f"page {number}: got {len(results)} results, info says {info.get('results')}, asked {expected}"
        )
    return results


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
