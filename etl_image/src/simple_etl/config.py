"""One typed settings object, built once from the environment.

The database is configured through libpq's own variables (PGHOST, PGPORT, PGDATABASE,
PGUSER, PGPASSWORD, PGSSLMODE), which psycopg2 reads itself; everything else lives
under the SIMPLE_ETL_ prefix. Unknown SIMPLE_ETL_ names are rejected so that a typo
never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from simple_etl.errors import ConfigError

PREFIX = "SIMPLE_ETL_"
MAX_PAGE_SIZE = 5000  # the Random User API's own ceiling per request
API_PATH = "/api/1.4/"  # the API version is part of the contract, not a setting
SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Plain ASCII numbers only: int() and float() also take "1_000", "+500" and other scripts' digits.
WHOLE = re.compile(r"[0-9]{1,12}").fullmatch
DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?").fullmatch
MAX_API_PAGE = 10_000  # the API serves any higher page as page 1
# A longer seed makes a URL that servers and proxies refuse (414 URI Too Long).
MAX_SEED_LENGTH = 200
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+").fullmatch
# The source's rate limit is counted per client over this window (randomuser.me: 5 minutes).
RATE_WINDOW_SECONDS = 300
MAX_RETENTION_DAYS = 36_500  # a century: "keep everything" without a special value
# The nationalities randomuser.me 1.4 knows; it answers an unknown code with all of them.
NATIONALITIES = frozenset(
    [
        "AU",
        "BR",
        "CA",
        "CH",
        "DE",
        "DK",
        "ES",
        "FI",
        "FR",
        "GB",
        "IE",
        "IN",
        "IR",
        "MX",
        "NL",
        "NO",
        "NZ",
        "RS",
        "TR",
        "UA",
        "US",
    ]
)


def _int(low: int, high: int | None = None) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        if not WHOLE(raw):
            raise ConfigError(f"{name}={raw!r} is not a whole number")
        value = int(raw)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name}={value} must be {bound}")
        return value

    return parse


def _float(low: float, high: float | None = None) -> Callable[[str, str], float]:
    def parse(name: str, raw: str) -> float:
        if not DECIMAL(raw):
            raise ConfigError(f"{name}={raw!r} is not a number")
        value = float(raw)
        if not low <= value <= (high if high is not None else float("inf")):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name}={value} must be {bound}")
        return value

    return parse


def _api_url(name: str, raw: str) -> str:
    url = raw.strip()
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # Never echoed: the value holds a secret, and errors reach the ledger and the logs.
        raise ConfigError(f"{name} carries credentials; the Random User API needs none, remove them")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}={raw!r} is not an http(s) URL")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a TCP port
    except ValueError:
        raise ConfigError(f"{name}={raw!r} has a port that is not a TCP port") from None
    if not parts.path.rstrip("/").endswith(API_PATH.rstrip("/")):
        raise ConfigError(f"{name}={raw!r} must point at the pinned API version, ending in {API_PATH}")
    return url.rstrip("/") + "/"


def _nationalities(name: str, raw: str) -> str:
    codes = [c.strip().upper() for c in raw.split(",") if c.strip()]
    if any(not re.fullmatch(r"[A-Z]{2}", c) for c in codes):
        raise ConfigError(f"{name}={raw!r} must be a comma-separated list of two-letter codes")
    unknown = sorted(set(codes) - NATIONALITIES)
    if unknown:
        raise ConfigError(
            f"{name}={raw!r}: the API does not know {', '.join(unknown)} and would serve every "
            f"nationality instead; known: {', '.join(sorted(NATIONALITIES))}"
        )
    # One canonical form: "us,de,de" and "DE,US" are the same pool of people.
    return ",".join(sorted(set(codes)))


def _seed(name: str, raw: str) -> str:
    _text(name, raw)
    if len(raw) > MAX_SEED_LENGTH:
        raise ConfigError(
            f"{name} is {len(raw)} characters long; the API's URL would be refused, "
            f"use at most {MAX_SEED_LENGTH}"
        )
    if not PRINTABLE_ASCII(raw):
        raise ConfigError(f"{name}={raw!r} must be printable ASCII (letters, digits, punctuation, spaces)")
    return raw


def _role(name: str, raw: str) -> str:
    if raw and not IDENTIFIER.fullmatch(raw):
        raise ConfigError(f"{name}={raw!r} is not a plain lower-case role name")
    return raw


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise ConfigError(f"{name} is empty; unset it to use the default")
    return raw


def _log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"{name}={raw!r} must be one of DEBUG, INFO, WARNING, ERROR")
    return level


@dataclass(frozen=True)
class Settings:
    """Every SIMPLE_ETL_ setting; the field name upper-cased is the variable's suffix."""

    api_url: str = "https://randomuser.me/api/1.4/"
    seed: str = "simple-etl"
    batch_size: int = 5000
    page_size: int = 500
    pool_pages: int = 300
    nat: str = ""
    http_timeout: float = 30.0
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    reader_role: str = "grafana_reader"
    max_reject_ratio: float = 0.05
    max_staleness: int = 3600
    log_level: str = "INFO"
    # Session safety on every warehouse connection (seconds; 0 turns one off).
    lock_timeout: int = 30
    statement_timeout: int = 600
    idle_in_transaction_timeout: int = 60
    client_check_interval: int = 5
    # A running attempt renews its ledger lease this often; past lease_seconds without
    # renewal the attempt counts as abandoned.
    lease_seconds: int = 120
    # The source's rate limit (randomuser.me: 20 000 people per client per 5 minutes,
    # then 429 without Retry-After) and what the schedule asks of it.
    rate_limit: int = 20_000  # people per 5 minutes; 0: the source has no limit
    schedule_seconds: int = 300  # how often the DAG runs a batch
    rate_limit_wait: float = 300.0  # wait after a 429 without Retry-After: the source's window
    deadline_seconds: int = 0  # wall-clock budget of the whole run (the DAG task's timeout); 0: none
    # Retention (`simple-etl retain`), in days of the batches' planned visit time. At the
    # default schedule a day is about 0.44 GB of raw pages and 0.3 GB of visits, so the
    # defaults fit the chart's 8 Gi volume with room for WAL and Airflow's database.
    raw_retention_days: int = 7
    visit_retention_days: int = 7
    # Records (visits, quarantined, raw) one retention transaction removes at most; whole
    # batch shards only, so a shard larger than this still goes in one transaction.
    retention_chunk_records: int = 50_000

    @property
    def pages_per_batch(self) -> int:
        return self.batch_size // self.page_size

    @property
    def api_seed(self) -> str:
        """The seed sent to the API: derived from the whole pool (seed and nationalities),
        so two pools can never share people by accident.

        The API's people depend on seed, page and position only, not on `nat`: the same
        seed with another nationality list gives other people the same uuids. Hashing
        the list into the seed makes every pool its own. Always 16 hex characters, so
        (a) the API's page seed, this seed with the page number appended, cannot collide
        across pools (equal length: "ab"+"12" never equals "ab1"+"2"), and (b) the API's
        rule that an 18-character seed carries a nationality in its last two hex
        characters can never apply. NUL separates the parts: it occurs in neither (the
        seed is printable ASCII, codes are letters).
        """
        nationalities = ",".join(sorted({c for c in self.nat.split(",") if c}))
        pool = f"{self.seed}\x00{nationalities}".encode()
        return hashlib.sha256(pool).hexdigest()[:16]

    @property
    def people_per_window(self) -> int:
        """People the schedule asks of the source in its 5-minute rate-limit window: a run
        every schedule_seconds fits ceil(300 / schedule_seconds) runs into one window."""
        return self.batch_size * math.ceil(RATE_WINDOW_SECONDS / self.schedule_seconds)

    @property
    def session_options(self) -> str:
        """libpq `options` for every warehouse session: a run that dies or waits on a lock
        can never hold rows, locks or a backend for longer than these bounds."""
        bounds = {
            "lock_timeout": self.lock_timeout,
            "statement_timeout": self.statement_timeout,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_timeout,
            # The server notices a vanished client (a killed pod) while a query runs.
            "client_connection_check_interval": self.client_check_interval,
        }
        return " ".join(f"-c {name}={seconds}s" for name, seconds in bounds.items())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        known = {f.name.upper() for f in fields(cls)}
        unknown = sorted(k for k in env if k.startswith(PREFIX) and k[len(PREFIX) :] not in known)
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]}; see the configuration table in README.md")
        values: dict[str, Any] = {}
        for name, parse in _PARSERS.items():
            var = PREFIX + name.upper()
            if var in env:
                values[name] = parse(var, env[var])
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        if self.batch_size % self.page_size:
            raise ConfigError(
                f"{PREFIX}BATCH_SIZE={self.batch_size} must be a multiple of "
                f"{PREFIX}PAGE_SIZE={self.page_size}"
            )
        if self.pool_pages < self.pages_per_batch:
            raise ConfigError(
                f"{PREFIX}POOL_PAGES={self.pool_pages} must be at least the pages per batch "
                f"({self.pages_per_batch}); raise it or lower {PREFIX}BATCH_SIZE"
            )
        if self.backoff_max < self.backoff_base:
            raise ConfigError(f"{PREFIX}BACKOFF_MAX must be at least {PREFIX}BACKOFF_BASE")
        if self.rate_limit and self.people_per_window > self.rate_limit:
            # Refused up front: past the limit the source answers 429 for the rest of its
            # window, so every run would spend its time waiting and the schedule would slip.
            raise ConfigError(
                f"{PREFIX}BATCH_SIZE={self.batch_size} every {PREFIX}SCHEDULE_SECONDS="
                f"{self.schedule_seconds} asks the source for {self.people_per_window} people per "
                f"{RATE_WINDOW_SECONDS} s, over {PREFIX}RATE_LIMIT={self.rate_limit}; lower the "
                "batch size, run less often, or raise the limit if the source allows more"
            )
        if self.raw_retention_days > self.visit_retention_days:
            # A batch retired at the visit window goes whole, its raw pages included.
            raise ConfigError(
                f"{PREFIX}RAW_RETENTION_DAYS={self.raw_retention_days} must not exceed "
                f"{PREFIX}VISIT_RETENTION_DAYS={self.visit_retention_days}: a batch's raw pages "
                "go with the rest of it at the visit window"
            )


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "api_url": _api_url,
    "seed": _seed,
    "batch_size": _int(1, 1_000_000),
    "page_size": _int(1, MAX_PAGE_SIZE),
    "pool_pages": _int(1, MAX_API_PAGE),
    "nat": _nationalities,
    "http_timeout": _float(0.1, 600),
    "max_retries": _int(0, 20),
    "backoff_base": _float(0, 600),
    "backoff_max": _float(0, 3600),
    "reader_role": _role,
    "max_reject_ratio": _float(0, 1),
    "max_staleness": _int(1),
    "log_level": _log_level,
    "lock_timeout": _int(0, 3600),
    "statement_timeout": _int(0, 86400),
    "idle_in_transaction_timeout": _int(0, 86400),
    "client_check_interval": _int(0, 3600),
    "lease_seconds": _int(10, 86400),
    "rate_limit": _int(0, 1_000_000_000),
    "schedule_seconds": _int(1, 31_536_000),
    "rate_limit_wait": _float(0, 3600),
    "deadline_seconds": _int(0, 604_800),
    "raw_retention_days": _int(1, MAX_RETENTION_DAYS),
    "visit_retention_days": _int(1, MAX_RETENTION_DAYS),
    "retention_chunk_records": _int(1, 10_000_000),
}


def require_database(environ: Mapping[str, str] | None = None) -> None:
    """Fail before any work when libpq would not know where the warehouse is."""
    env = os.environ if environ is None else environ
    if not env.get("PGHOST", "").strip():
        raise ConfigError("PGHOST is not set; point it at the warehouse Postgres server")
    port = env.get("PGPORT", "")
    if port and not (WHOLE(port) and 0 < int(port) < 65536):
        raise ConfigError(f"PGPORT={port!r} is not a TCP port")
    connect_timeout = env.get("PGCONNECT_TIMEOUT", "")
    if connect_timeout and not WHOLE(connect_timeout):
        raise ConfigError(f"PGCONNECT_TIMEOUT={connect_timeout!r} is not a whole number of seconds")
    sslmode = env.get("PGSSLMODE", "")
    if sslmode and sslmode not in SSL_MODES:
        raise ConfigError(f"PGSSLMODE={sslmode!r} must be one of {', '.join(sorted(SSL_MODES))}")
