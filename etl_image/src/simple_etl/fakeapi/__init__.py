"""Offline stand-in for the Random User API 1.4 (`simple-etl fake-api`).

Same protocol, JSON shape and data quirks as randomuser.me 1.4, deterministic for a
seed and page, with fault knobs for tests and drills. Standard library only: the
server needs neither requests nor psycopg2.

    generate(seed, page, results, nat=None, gender=None) -> list of people
    FakeApiServer(host, port, faults, rate_limit=...)    -> in-process server for tests
    serve(host, port, faults, rate_limit)                -> blocking, until SIGTERM/SIGINT
    RateLimit(people, window_seconds)                    -> the source's limit (default on)
    add_arguments(parser) / run(args)                    -> the CLI subcommand
"""

from simple_etl.fakeapi.cli import add_arguments, run
from simple_etl.fakeapi.faults import FAULT_KINDS, Faults
from simple_etl.fakeapi.generator import generate
from simple_etl.fakeapi.ratelimit import RateLimit
from simple_etl.fakeapi.server import FakeApiServer, serve

__all__ = ["FAULT_KINDS", "FakeApiServer", "Faults", "RateLimit", "add_arguments", "generate", "run", "serve"]
