"""Offline stand-in for the Random User API 1.4 (`simple-etl fake-api`).

Same protocol, JSON shape and data quirks as randomuser.me 1.4, deterministic for a
seed and page, with fault knobs for tests and drills. Standard library only: the
server needs neither requests nor psycopg2.

    generate(seed, page, results, nat=None, gender=None) -> list of people
    FakeApiServer(host, port, faults, rate_limit=...)    -> in-process server for tests
    serve(host, port, faults, rate_limit)                -> blocking, until SIGTERM/SIGINT
    Faults(schedule, rate, corrupt, cut_at, ...)         -> what goes wrong, and when
    RateLimit(people=20000, window_seconds=300)          -> the source's limit (default on)
    add_arguments(parser) / run(args)                    -> the CLI subcommand

What the source does and the stand-in copies (see params.py and generator.py): people go
out gzip-compressed in chunks; the page seed is the seed with the page number appended
(page 1: the bare seed); uuids and coordinates do not depend on `nat`; an 18-character
seed carries a nationality in its last two characters (not a hex index: 500); pages
above 10 000 are page 1; an unknown `nat` means every nationality; repeated parameters
take the first value; `results` is read like parseInt (above 5000: 1); one client gets
20 000 people per fixed 5-minute window, then 429 without Retry-After; other methods
than GET get a JSON 405. Fault kinds (FAULT_KINDS) add what the source does now and
then: "429" (with Retry-After), "500", "503", "empty", "slow", "truncated", "garbage",
"cut" (the chunked gzip transfer drops after `cut_at` of the body) and "wrongpage"
(another page's people, and info.page says so).
"""

from simple_etl.fakeapi.cli import add_arguments, run
from simple_etl.fakeapi.faults import FAULT_KINDS, Faults
from simple_etl.fakeapi.generator import generate
from simple_etl.fakeapi.ratelimit import RateLimit
from simple_etl.fakeapi.server import FakeApiServer, serve

__all__ = ["FAULT_KINDS", "FakeApiServer", "Faults", "RateLimit", "add_arguments", "generate", "run", "serve"]
