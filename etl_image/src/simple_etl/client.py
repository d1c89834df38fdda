"""Random User API client: one HTTP session, retries with backoff, strict acceptance.

A response is accepted only when it is JSON of the API's shape and carries as many
results as its `info.results` says; the live API sometimes answers 200 with an empty
or short `results`, which is a transient fault like a 503 and is retried the same way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter

from simple_etl import __version__
from simple_etl.config import Settings
from simple_etl.errors import SourceError
from simple_etl.log import JsonLogger

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Page:
    number: int
    records: list[Any]


class TransientError(Exception):
    """A failure worth another attempt; `retry_after` is the server's wish, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RandomUserClient:
    def __init__(
        self,
        settings: Settings,
        log: JsonLogger,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._log = log
        self._sleep = sleep
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
        attempts = self._settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return Page(number, self._request(number))
            except TransientError as error:
                if attempt == attempts:
                    raise SourceError(
                        f"page {number} failed after {attempts} attempts: {error}; "
                        "check SIMPLE_ETL_API_URL or retry later"
                    ) from None
                delay = self._delay(attempt, error.retry_after)
                self._log.warning(
                    "extract.retry", page=number, attempt=attempt, delay=delay, reason=str(error)
                )
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _request(self, number: int) -> list[Any]:
        s = self._settings
        params = {"results": s.page_size, "page": number, "seed": s.seed, "format": "json"}
        if s.nat:
            params["nat"] = s.nat
        try:
            response = self._session.get(s.api_url, params=params, timeout=s.http_timeout)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientError(f"{type(error).__name__}: {error}") from None
        except requests.RequestException as error:
            raise SourceError(f"request for page {number} failed: {error}") from None
        if response.status_code in RETRYABLE_STATUS:
            raise TransientError(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code != 200:
            raise SourceError(
                f"page {number}: HTTP {response.status_code} from {s.api_url}; "
                "the request itself is wrong, retrying will not help"
            )
        return _accept(response, number, s.page_size)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        s = self._settings
        if retry_after is not None:
            return min(retry_after, s.backoff_max)
        # Exponential backoff with jitter, so parallel shards do not retry in lockstep.
        ceiling = min(s.backoff_base * 2 ** (attempt - 1), s.backoff_max)
        return round(ceiling / 2 + self._jitter.uniform(0, ceiling / 2), 3)


def _accept(response: requests.Response, number: int, expected: int) -> list[Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as error:
        raise TransientError(
            f"page {number}: body is not valid JSON (truncated or not the API): {error}"
        ) from None
    if not isinstance(body, dict) or "error" in body:
        detail = body.get("error") if isinstance(body, dict) else type(body).__name__
        raise TransientError(f"page {number}: API answered an error: {detail}")
    results, info = body.get("results"), body.get("info")
    if not isinstance(results, list) or not isinstance(info, dict):
        raise TransientError(f"page {number}: body lacks the results list or the info block")
    if info.get("results") != len(results) or len(results) != expected:
        raise TransientError(
            f"page {number}: got {len(results)} results, info says {info.get('results')}, asked {expected}"
        )
    return results


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
