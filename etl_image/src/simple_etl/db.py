"""Connections to the warehouse, configured by libpq's PG* environment variables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from psycopg2.extensions import connection

from simple_etl.config import Settings
from simple_etl.errors import LoadError


def connect(application_name: str, settings: Settings) -> connection:
    try:
        # An empty DSN lets libpq read PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE.
        return psycopg2.connect("", application_name=application_name, options=settings.session_options)
    except psycopg2.OperationalError as error:
        where = f"{os.environ.get('PGHOST', '?')}:{os.environ.get('PGPORT', '5432')}"
        raise LoadError(f"cannot connect to Postgres at {where}: {first_line(error)}") from None


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
