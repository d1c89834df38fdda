"""Connections to the warehouse, configured by libpq's PG* environment variables."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg2
from psycopg2.extensions import connection

from simple_etl.config import Settings
from simple_etl.errors import ConfigError, LoadError

# libpq does not hand psycopg2 the SQLSTATE of a failed connection (pgcode is None), so the
# refusals only a person can fix are told apart by the server's message: (fragment, what
# to check). Anything else (refused, unreachable, timed out, starting up, too many
# clients) stays a LoadError, which a retry may cure.
_REFUSALS: tuple[tuple[str, str], ...] = (
    # 28P01 invalid_password; with scram, an unknown role gets this answer too.
    ("password authentication failed", "check PGUSER and PGPASSWORD (the role and its password)"),
    ("no password supplied", "set PGPASSWORD (from the warehouse Secret)"),
    # 3D000 invalid_catalog_name (database "x" …), 28000 invalid_authorization_specification (role "x" …)
    ("does not exist", "check PGUSER and PGDATABASE, or create the role or database"),
    ("no pg_hba.conf entry", "check PGUSER, PGDATABASE and PGSSLMODE, or the server's pg_hba.conf"),
    ("authentication failed", "check PGUSER and how the server authenticates it"),  # 28000: ident, peer…
    # 42501 insufficient_privilege
    ("connect privilege", "check PGUSER and PGDATABASE, or GRANT CONNECT on the database to the role"),
    ("permission denied for database", "check PGUSER and PGDATABASE, or GRANT CONNECT on the database"),
    ("does not support ssl", "check PGSSLMODE against what the server offers"),
)


# Every connection this process opened and has not dropped, for `cancel_running_queries`.
_opened: weakref.WeakSet[connection] = weakref.WeakSet()


def connect(application_name: str, settings: Settings) -> connection:
    try:
        # An empty DSN lets libpq read PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE.
        conn = psycopg2.connect("", application_name=application_name, options=settings.session_options)
    except psycopg2.OperationalError as error:
        raise connect_error(error) from None
    _opened.add(conn)
    return conn


def cancel_running_queries() -> None:
    """Ask the server to cancel whatever each open connection is running; safe from any
    thread (libpq's cancel request travels on a connection of its own). A connection that
    runs nothing is unaffected."""
    for conn in list(_opened):
        if not conn.closed:
            with suppress(psycopg2.Error):  # the server is gone: nothing left to cancel
                conn.cancel()


def connect_error(error: psycopg2.OperationalError) -> ConfigError | LoadError:
    """A refusal that only a person can fix is a ConfigError (exit 2, not retried); the
    server being down or unreachable stays a LoadError (exit 4, retried)."""
    env = os.environ
    where = f"{env.get('PGHOST', '?')}:{env.get('PGPORT', '5432')}"
    # libpq's own defaults when unset: the OS user, and a database named like the user.
    user = env.get("PGUSER") or "(unset: the OS user)"
    dbname = env.get("PGDATABASE") or "(unset: named like the user)"
    reason = _server_reason(error)
    for fragment, advice in _REFUSALS:
        if fragment in reason.lower():
            # The server's reason names the user or database, never the password.
            return ConfigError(
                f"Postgres at {where} refused PGUSER={user} PGDATABASE={dbname}: {reason}; {advice}"
            )
    return LoadError(f"cannot connect to Postgres at {where}: {first_line(error)}")


def _server_reason(error: BaseException) -> str:
    """The reason without libpq's 'connection to server at … failed: FATAL:' preamble."""
    reason = first_line(error)
    for marker in ("FATAL:", "failed:"):
        if marker in reason:
            reason = reason.rsplit(marker, 1)[1]
            break
    return reason.strip()


@contextmanager
def database_errors(action: str) -> Iterator[None]:
    """Report any database failure as one LoadError line naming what we were doing."""
    try:
        yield
    except psycopg2.Error as error:
        raise LoadError(f"{action} failed: {first_line(error)}") from None


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
