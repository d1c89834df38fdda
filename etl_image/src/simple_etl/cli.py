"""The `simple-etl` command line: migrate, run, check, retain, fake-api.

Each command ends with a one-line JSON summary on stdout; any failure is one JSON
line on stderr naming what is wrong and what to do, and a distinct exit code
(EXIT_CODES below, errors.py). SIGTERM and SIGINT stop `migrate`, `run`, `check` and
`retain` through that same path: rolled back, the failure recorded (`run`: in the
ledger), one line, exit 128 + the signal number.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn

from simple_etl import __version__, db, quality, retention
from simple_etl.config import Settings, require_database
from simple_etl.errors import ConfigError, EtlError, QualityError, Terminated
from simple_etl.log import JsonLogger
from simple_etl.migrate import migrate, verify
from simple_etl.pipeline import BatchRequest, run_batch

# Every Airflow run id fits (scheduled__2026-01-01T00:00:00+00:00, manual__…, and
# user-chosen ids: [A-Za-z0-9_.~:+-], up to 250); tabs, newlines and backslashes
# never reach the COPY stream.
BATCH_ID = re.compile(r"[\w.~:+@-]{1,250}", re.ASCII)
MAX_SHARDS = 64
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How long a stop signal waits for the main thread to handle it before the query that
# keeps the main thread in C is cancelled.
CANCEL_AFTER = 0.5

# What `simple-etl --help` shows; the README's table and the DAG's retry rule follow it.
EXIT_CODES = """\
exit codes (the DAG retries 1, 3, 4 and 143; 2 and 5 fail the task at once):
  0    done, or nothing to do
  1    unexpected error (a bug); the batch transaction was rolled back
  2    configuration, usage, database access or schema problem; nothing was done
  3    the source API failed after its retries; nothing was written
  4    the warehouse failed or is unreachable; the batch was rolled back
  5    the quality gate failed, naming the broken invariant
  143  terminated by SIGTERM (130: SIGINT); rolled back, the failure recorded
"""

Handler = Callable[[argparse.Namespace, Settings, JsonLogger], dict[str, Any]]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message}; see `{self.prog} --help`")


def _batch_id(value: str) -> str:
    if not BATCH_ID.fullmatch(value):  # match() with $ would let a final newline through
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a batch id (letters, digits, . ~ : + @ - _; at most 250)"
        )
    return value


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone; add Z or an offset")
    return parsed


def _migrate(args: argparse.Namespace, settings: Settings, log: JsonLogger) -> dict[str, Any]:
    require_database()
    conn = db.connect("simple-etl migrate", settings)
    try:
        with db.database_errors("migrating the schema"):
            applied = migrate(conn, settings.reader_role, log)
    finally:
        conn.close()
    return {"status": "succeeded", "applied": applied}


def _run(args: argparse.Namespace, settings: Settings, log: JsonLogger) -> dict[str, Any]:
    require_database()
    if not 0 <= args.shard < args.shards <= MAX_SHARDS:
        raise ConfigError(
            f"--shard {args.shard} --shards {args.shards}: need 0 ≤ shard < shards ≤ {MAX_SHARDS}"
        )
    # None: the batch's planned visited_at, or now for its first attempt (ledger.begin).
    request = BatchRequest(args.batch_id, args.shard, args.shards, args.visited_at)
    with _verified_connection("simple-etl run", settings):
        pass  # the load opens its own connections
    return run_batch(settings, request, log)


@contextmanager
def _verified_connection(application_name: str, settings: Settings) -> Iterator[Any]:
    """A connection on which, before any work, the schema is checked to be exactly this
    image's (migrate.verify), or exit 2; closed afterwards."""
    conn = db.connect(application_name, settings)
    try:
        with db.database_errors("reading the schema version"):
            verify(conn)
        yield conn
    finally:
        conn.close()


def _check(args: argparse.Namespace, settings: Settings, log: JsonLogger) -> dict[str, Any]:
    require_database()
    with (
        _verified_connection("simple-etl check", settings) as conn,
        db.database_errors("running the quality checks"),
        conn,
        conn.cursor() as cur,
    ):
        batch_id = args.batch_id or quality.latest_batch(cur)
        if batch_id is None:
            raise QualityError("the ledger is empty: no batch has run yet; run `simple-etl run` first")
        findings = quality.run_checks(cur, settings, batch_id)
    for finding in findings:
        log.log("INFO" if finding.ok else "ERROR", "check.result", **vars(finding), batch_id=batch_id)
    failed = [f for f in findings if not f.ok]
    if failed:
        raise QualityError(
            f"quality gate failed for batch {batch_id}: "
            + "; ".join(f"{f.check}: {f.detail}" for f in failed)
        )
    return {"status": "passed", "batch_id": batch_id, "checks": {f.check: f.detail for f in findings}}


def _retain(args: argparse.Namespace, settings: Settings, log: JsonLogger) -> dict[str, Any]:
    require_database()
    with _verified_connection("simple-etl retain", settings) as conn:
        summary = retention.retain(conn, settings, args.now or datetime.now(UTC), log)
    return {"status": "succeeded", **summary}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="simple-etl",
        description="Random User API visitors → Postgres warehouse.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"simple-etl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser("migrate", help="apply schema migrations and grants").set_defaults(handler=_migrate)

    run = commands.add_parser("run", help="extract, transform and load one batch (shard)")
    run.add_argument(
        "--batch-id", required=True, type=_batch_id, help="idempotency key, e.g. the Airflow run id"
    )
    run.add_argument("--shard", type=int, default=0, help="this pod's shard number (default 0)")
    run.add_argument("--shards", type=int, default=1, help="how many shards the batch is split into")
    run.add_argument(
        "--visited-at",
        type=_timestamp,
        help="the visits' timestamp (default: the batch's planned one; now for its first attempt)",
    )
    run.set_defaults(handler=_run)

    check = commands.add_parser("check", help="the data-quality gate")
    check.add_argument("--batch-id", type=_batch_id, help="batch to check (default: the latest)")
    check.set_defaults(handler=_check)

    retain = commands.add_parser(
        "retain",
        help="delete what is past the retention windows (SIMPLE_ETL_RAW_/VISIT_RETENTION_DAYS)",
    )
    retain.add_argument(
        "--now",
        type=_timestamp,
        help="the instant the windows are measured back from (default: now), e.g. for a drill",
    )
    retain.set_defaults(handler=_retain)

    from simple_etl import fakeapi  # the stand-in server is not needed by the other commands

    fake = commands.add_parser("fake-api", help="serve the offline Random User API stand-in")
    fakeapi.add_arguments(fake)
    fake.set_defaults(handler=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    log = JsonLogger()
    command = "simple-etl"
    try:
        args = build_parser().parse_args(argv)
        command = args.command
        if args.handler is None:
            from simple_etl import fakeapi

            return fakeapi.run(args)
        settings = Settings.from_env()
        log = JsonLogger(settings.log_level, command=command)
        with _stop_signals_raise_terminated():
            summary = args.handler(args, settings, log)
    except EtlError as error:
        log.error(f"{command}.failed", kind=error.kind, error=str(error), exit_code=error.exit_code)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    print(json.dumps({"command": command, **summary}, default=str, ensure_ascii=False), flush=True)
    return 0


@contextmanager
def _stop_signals_raise_terminated() -> Iterator[None]:
    """While a command works, SIGTERM and SIGINT raise Terminated in the main thread, so
    the open transaction rolls back and the pipeline's `except EtlError` records the
    failure in the ledger, as for any other error.

    Python runs a handler only between bytecodes, never while psycopg2 waits for a query
    (a lock wait, a long COPY): that could outlast the pod's grace period. So a watcher
    thread, woken by the signal itself, cancels the running query when the main thread
    has not handled the signal within CANCEL_AFTER; the query fails, and the handler runs.
    """
    if threading.current_thread() is not threading.main_thread():  # signals need the main thread
        yield
        return
    handled = threading.Event()
    # The watcher never cancels once the handler ran: the failure is being recorded then.
    # Re-entrant: a second signal may interrupt the handler while it holds the lock.
    decided = threading.RLock()

    def stop(signum: int, _frame: object) -> None:
        with decided:
            handled.set()
        # Only the first signal raises: a second one, while the failure is being
        # recorded, takes the default action and ends the process at once.
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_DFL)
        raise Terminated(signum)

    def watch(wakeup: socket.socket) -> None:
        while (byte := wakeup.recv(1)) and byte[0] not in STOP_SIGNALS:
            if byte[0] == 0:  # the command ended
                return
        # Other signals with a Python handler also write their number; they are skipped.
        if byte and not handled.wait(CANCEL_AFTER):
            with decided:
                if not handled.is_set():
                    db.cancel_running_queries()

    wakeup, notify = socket.socketpair()
    notify.setblocking(False)  # set_wakeup_fd's requirement: a signal handler never blocks
    watcher = threading.Thread(target=watch, args=(wakeup,), name="simple-etl-stop", daemon=True)
    watcher.start()
    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(notify.fileno(), warn_on_full_buffer=False)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        notify.send(b"\0")
        watcher.join(timeout=CANCEL_AFTER + 1)
        wakeup.close()
        notify.close()


if __name__ == "__main__":
    sys.exit(main())
