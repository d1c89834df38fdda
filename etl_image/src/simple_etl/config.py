"""One typed settings object, built once from the environment.

The database is configured through libpq's own variables (PGHOST, PGPORT, PGDATABASE,
PGUSER, PGPASSWORD, PGSSLMODE), which psycopg2 reads itself; everything else lives
under the SIMPLE_ETL_ prefix. Unknown SIMPLE_ETL_ names are rejected so that a typo
never silently falls back to a default.
"""

from __future__ import annotations

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
    return ",".join(codes)


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

    @property
    def pages_per_batch(self) -> int:
        return self.batch_size // self.page_size

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


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "api_url": _api_url,
    "seed": _text,
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
