"""The `simple-etl fake-api` subcommand: options in, a running offline API out.

Options are declared as plain strings and validated here rather than by argparse, so
that a bad value raises ConfigError (one line, the configuration exit code) like every
other configuration mistake, instead of argparse's own usage error and exit.
"""

from __future__ import annotations

import argparse
import math
import re

from simple_etl.errors import ConfigError
from simple_etl.fakeapi.faults import FAULT_KINDS, NO_FAULT, Faults
from simple_etl.fakeapi.ratelimit import RateLimit
from simple_etl.fakeapi.server import SOURCE_RATE_LIMIT, serve

_WHOLE = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: %(default)s)")  # noqa: S104 - it serves a container's port
    parser.add_argument("--port", default="8080", help="TCP port, 0 for any free one (default: %(default)s)")
    parser.add_argument(
        "--fault",
        action="append",
        metavar="KIND",
        help="answer the next request with this fault; repeat for a sequence "
        f"({', '.join((*FAULT_KINDS, NO_FAULT))})",
    )
    parser.add_argument(
        "--retry-after", default="1", metavar="SECONDS", help="Retry-After of a 429 (default: %(default)s)"
    )
    parser.add_argument(
        "--slow-seconds",
        default="2.0",
        metavar="SECONDS",
        help="delay of a slow answer (default: %(default)s)",
    )
    parser.add_argument(
        "--fault-rate",
        default="0",
        metavar="P",
        help="probability of a random fault on any request after the --fault sequence (default: %(default)s)",
    )
    parser.add_argument(
        "--rate-limit-people",
        default=str(SOURCE_RATE_LIMIT.people),
        metavar="N",
        help="people one client may have per window, then 429 without Retry-After; 0: no limit "
        "(default: %(default)s, the live API's)",
    )
    parser.add_argument(
        "--rate-limit-window",
        default=f"{SOURCE_RATE_LIMIT.window_seconds:g}",
        metavar="SECONDS",
        help="the rate limit's window (default: %(default)s)",
    )
    parser.add_argument(
        "--cut-at",
        default="0.5",
        metavar="SHARE",
        help="share of the compressed body a 'cut' answer sends before dropping (default: %(default)s)",
    )
    parser.add_argument(
        "--corrupt",
        default="0",
        metavar="N",
        help="records per answer broken on purpose (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; 0 on a clean stop. Raises ConfigError for bad options."""
    host, port, faults, rate_limit = options_from_args(args)
    try:
        serve(host, port, faults, rate_limit)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return 0


def options_from_args(args: argparse.Namespace) -> tuple[str, int, Faults, RateLimit | None]:
    """Every option checked, before anything listens: (host, port, faults, rate limit)."""
    host = str(args.host).strip()
    if not host:
        raise ConfigError("--host must not be empty")
    port = _whole_number("--port", args.port, 0, 65535)
    return host, port, faults_from_args(args), rate_limit_from_args(args)


def faults_from_args(args: argparse.Namespace) -> Faults:
    unknown = [kind for kind in args.fault or [] if kind not in (*FAULT_KINDS, NO_FAULT)]
    if unknown:
        raise ConfigError(f"--fault {unknown[0]!r} is not one of {', '.join((*FAULT_KINDS, NO_FAULT))}")
    return Faults(
        schedule=tuple(args.fault or ()),
        retry_after=_whole_number("--retry-after", args.retry_after, 0, 86400),
        slow_seconds=_number("--slow-seconds", args.slow_seconds, 0.0, 3600.0),
        rate=_number("--fault-rate", args.fault_rate, 0.0, 1.0),
        corrupt=_whole_number("--corrupt", args.corrupt, 0, 5000),
        cut_at=_number("--cut-at", args.cut_at, 0.001, 0.999),
    )


def rate_limit_from_args(args: argparse.Namespace) -> RateLimit | None:
    people = _whole_number("--rate-limit-people", args.rate_limit_people, 0, 1_000_000_000)
    window = _number("--rate-limit-window", args.rate_limit_window, 0.001, 86400.0)
    return RateLimit(people, window) if people else None


def _whole_number(option: str, raw: object, low: int, high: int) -> int:
    # int() and float() alone would also take "1_000", "+5" and non-ASCII digits.
    text = str(raw).strip()
    if not _WHOLE.fullmatch(text):
        raise ConfigError(f"{option} {raw!r} is not a whole number")
    value = int(text)
    if not low <= value <= high:
        raise ConfigError(f"{option} {value} must be between {low} and {high}")
    return value


def _number(option: str, raw: object, low: float, high: float) -> float:
    text = str(raw).strip()
    if not _DECIMAL.fullmatch(text):
        raise ConfigError(f"{option} {raw!r} is not a number")
    value = float(text)
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{option} {value} must be between {low:g} and {high:g}")
    return value
