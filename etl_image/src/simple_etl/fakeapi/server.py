"""The offline Random User API: a threaded HTTP/1.1 server on the standard library.

Paths: `GET /api/1.4/` (also `/api/1.4`, and `/api/` or `/api`, which on the live
service mean "latest version", here 1.4); `GET /healthz` answers 200 "ok". Any other
path, including other API versions, is a 404 with a JSON error body; any other method
a JSON 405 with `Allow: GET`.

Like the live server, people go out gzip-compressed with chunked transfer encoding when
the client accepts gzip (requests does); errors carry Content-Length. HTTP/1.1
keep-alive works, so a `requests.Session` reuses one connection, also after most faults
(a "truncated" body is framed correctly, it just is not valid JSON); a "cut" answer
drops the connection in the middle of a chunk, as a broken transfer does.

A RateLimit (on by default, the live API's 20 000 people per client per 5 minutes)
answers 429 without Retry-After once a client's quota for the window is used up.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simple_etl.fakeapi.faults import FaultPlan, Faults, corrupt_records
from simple_etl.fakeapi.generator import FIELDS, generate
from simple_etl.fakeapi.params import MisreadSeed, UnsupportedFormat, parse_query, requested_people
from simple_etl.fakeapi.ratelimit import RateLimit, RateLimiter
from simple_etl.log import JsonLogger

VERSION = "1.4"
API_PATH = "/api/1.4/"
API_PATHS = frozenset({"/api/1.4/", "/api/1.4", "/api/", "/api"})
JSON_TYPE = "application/json; charset=utf-8"
CHUNK_BYTES = 16 * 1024
# A refused request's body up to this size is read and dropped to keep the connection.
MAX_REFUSED_BODY = 1024 * 1024
# Fast compression: the stand-in must outrun the live API; the ratio does not matter here.
GZIP_LEVEL = 1
# The live API's own limit, on unless a caller turns it off (rate_limit=None).
SOURCE_RATE_LIMIT = RateLimit()

# What a CDN or proxy in front of the API answers when the origin misbehaves.
_GARBAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The upstream server sent an invalid response.</p></body></html>\n"
)
_ERRORS = {
    429: "Too many requests: slow down and retry after the time in Retry-After.",
    "rate": "Too many requests. Please slow down.",
    500: "Something went wrong on our side. Please try again later.",
    503: "The service is overloaded. Please try again in a moment.",
}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    people: int = 0  # how many people it carries (what the rate limit counts)
    streamed: bool = False  # chunked (and gzip when accepted), as the live API sends people
    cut_at: float | None = None  # the share of the body sent before the connection drops


def api_response(query_string: str, fault: str | None, faults: Faults) -> Response:
    """The answer to one API request, given the fault (if any) chosen for it."""
    if fault in ("429", "500", "503"):
        status = int(fault)
        headers = (("Retry-After", str(faults.retry_after)),) if status == 429 else ()
        return _error(status, _ERRORS[status], headers)
    if fault == "garbage":
        return Response(200, _GARBAGE, "text/html; charset=utf-8")

    try:
        query = parse_query(parse_qs(query_string, keep_blank_values=True))
    except UnsupportedFormat as exc:
        return _error(400, str(exc))
    except MisreadSeed as exc:
        return _error(500, str(exc))
    page = query.page
    if fault == "wrongpage":  # what the live API does above page 10 000, on any page
        page = 2 if page == 1 else 1

    if fault == "empty":
        # The live API really does this now and then: 200, no people, info still says n.
        people: list[dict[str, Any]] = []
    else:
        people = generate(query.people_seed, page, query.results, query.nat, query.gender)
        if query.fields != FIELDS:
            people = [{field: person[field] for field in query.fields} for person in people]
        if faults.corrupt:
            corrupt_records(people, faults.corrupt)

    document: dict[str, Any] = {"results": people}
    if query.info:
        info = {"seed": query.seed, "results": query.results, "page": page, "version": VERSION}
        document["info"] = info
    if query.pretty:
        body = json.dumps(document, ensure_ascii=False, indent=2).encode()
    else:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    if fault == "truncated":
        return Response(200, body[: len(body) // 2], people=len(people))
    cut_at = faults.cut_at if fault == "cut" else None
    return Response(200, body, people=len(people), streamed=True, cut_at=cut_at)


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    # The live API's error bodies are a single "error" string.
    return Response(status, json.dumps({"error": message}).encode(), JSON_TYPE, headers)


class _State:
    """What the handler threads share: the fault plan, counters and open connections."""

    def __init__(self, faults: Faults, logger: JsonLogger | None, rate_limit: RateLimit | None) -> None:
        self.plan = FaultPlan(faults)
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        self.logger = logger
        self.requests_served = 0
        self.connections_opened = 0
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def count_request(self) -> None:
        with self._lock:
            self.requests_served += 1

    def connection_opened(self, connection: socket.socket) -> None:
        with self._lock:
            self.connections_opened += 1
            self._connections.add(connection)

    def connection_closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they exit."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The listen backlog: the default 5 drops connections of a few hundred concurrent clients.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is routine (timeouts, truncation tests).
        # Anything else still gets the default traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "simple-etl-fake-api"
    sys_version = ""
    # Headers and body go out in separate writes; without this, Nagle's algorithm and
    # the client's delayed ACK add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.state.connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.state.connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the access log, when wanted, is a JSON line written by do_GET

    def _not_allowed(self) -> None:
        self._discard_body()
        refusal = _error(405, f"{self.command} is not allowed; the API answers GET", (("Allow", "GET"),))
        self._send(refusal, with_body=self.command != "HEAD")  # a HEAD answer never has a body

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with an HTML 501, which no
        # JSON client can read; every method but GET (HEAD and unknown ones too) is a 405.
        if name.startswith("do_") and name != "do_GET":
            return self._not_allowed
        raise AttributeError(name)

    def _discard_body(self) -> None:
        """Read a refused request's body, so it is not taken for the next request on the
        kept-alive connection; a body that cannot be skipped safely closes it instead."""
        length = self.headers.get("Content-Length", "0").strip()
        skippable = length.isascii() and length.isdigit() and int(length) <= MAX_REFUSED_BODY
        if skippable and "Transfer-Encoding" not in self.headers:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(Response(200, b"ok", "text/plain; charset=utf-8"))
        elif url.path in API_PATHS:
            self._answer_api(url.query)
        else:
            self._send(_error(404, f"nothing at {url.path}; the API is at {API_PATH}"))

    def _answer_api(self, query_string: str) -> None:
        state = self.server.state
        started = time.monotonic()
        state.count_request()
        plan = state.plan  # one plan for the whole request, even if faults change meanwhile
        client = self.client_address[0]
        asked = requested_people(parse_qs(query_string, keep_blank_values=True))
        if state.limiter is not None and not state.limiter.take(client, asked):
            # The live API's 429 says nothing about when to come back.
            fault, response = "rate_limit", _error(429, _ERRORS["rate"])
        else:
            fault = plan.next_fault()
            if fault == "slow":
                state.stopping.wait(plan.faults.slow_seconds)  # returns early when the server stops
            response = api_response(query_string, fault, plan.faults)
            if state.limiter is not None and response.people < asked:
                state.limiter.give_back(client, asked - response.people)
        self._send(response)
        if state.logger is not None:
            state.logger.info(
                "fake_api.request",
                query=query_string,
                status=response.status,
                fault=fault,
                bytes=len(response.body),
                ms=round((time.monotonic() - started) * 1000, 1),
            )

    def _send(self, response: Response, *, with_body: bool = True) -> None:
        body = response.body
        compress = response.streamed and "gzip" in self.headers.get("Accept-Encoding", "")
        if compress:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        if response.streamed:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        if compress:
            self.send_header("Content-Encoding", "gzip")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Cache-Control", "no-cache")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if not with_body:
            return
        if response.streamed:
            self._write_chunks(body, response.cut_at)
        else:
            self.wfile.write(body)

    def _write_chunks(self, body: bytes, cut_at: float | None) -> None:
        # A cut lands inside a chunk: its size line promises more bytes than ever come.
        cut = len(body) if cut_at is None else int(len(body) * cut_at)
        for start in range(0, len(body), CHUNK_BYTES):
            chunk = body[start : start + CHUNK_BYTES]
            self.wfile.write(b"%x\r\n" % len(chunk))
            if start + len(chunk) > cut:
                self.wfile.write(chunk[: cut - start])
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


class FakeApiServer:
    """An in-process offline API for tests and drills.

        with FakeApiServer(faults=Faults(schedule=("429",))) as api:
            session.get(api.base_url, params={"results": 10, "seed": "x"})  # -> 429, then 200s

    `faults` may be replaced at any time, from any thread; the replacement restarts its
    schedule. `rate_limit` is the source's (RateLimit()) unless given; None turns it off.
    `requests_served` counts requests to the API path (not /healthz),
    `connections_opened` counts TCP connections (to check keep-alive).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        *,
        logger: JsonLogger | None = None,
        rate_limit: RateLimit | None = SOURCE_RATE_LIMIT,
    ) -> None:
        self.host = host
        self.port = port
        self._state = _State(faults or Faults(), logger, rate_limit)
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> Faults:
        return self._state.plan.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        # Swapping the whole plan is atomic; requests already running keep the old one.
        self._state.plan = FaultPlan(faults)

    @property
    def requests_served(self) -> int:
        return self._state.requests_served

    @property
    def connections_opened(self) -> int:
        return self._state.connections_opened

    @property
    def base_url(self) -> str:
        """e.g. http://127.0.0.1:54321/api/1.4/ (only known once started, for port 0)."""
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._httpd.server_address[1]}{API_PATH}"

    def start(self) -> FakeApiServer:
        """Bind and serve in a background thread. Raises OSError if the port is taken."""
        if self._httpd is not None:
            raise RuntimeError("the server is already started")
        self._state.stopping = threading.Event()
        self._httpd = _HttpServer((self.host, self.port), self._state)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._state.stopping.set()
        httpd.shutdown()
        self._state.close_connections()
        httpd.server_close()
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(
    host: str, port: int, faults: Faults | None = None, rate_limit: RateLimit | None = SOURCE_RATE_LIMIT
) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly and return.

    Logs `fake_api.listening` (with the URL), one `fake_api.request` per API request and
    `fake_api.stopped`, as JSON lines on stderr. Raises OSError if it cannot listen.
    Signal handlers can only be installed from the main thread; elsewhere it serves
    until the process ends.
    """
    logger = JsonLogger()
    server = FakeApiServer(host, port, faults, logger=logger, rate_limit=rate_limit)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, request_stop)
    try:
        server.start()
        logger.info(
            "fake_api.listening",
            url=server.base_url,
            faults=_describe(server.faults),
            rate_limit=None
            if rate_limit is None
            else {"people": rate_limit.people, "window_seconds": rate_limit.window_seconds},
        )
        # Wake up now and then: a signal handler only runs between bytecodes.
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    logger.info("fake_api.stopped", requests_served=server.requests_served)


def _describe(faults: Faults) -> dict[str, Any]:
    """Every knob of the running faults, for the `fake_api.listening` line."""
    return {
        "schedule": list(faults.schedule),
        "retry_after": faults.retry_after,  # of a "429" fault only: the rate limit's 429 has none
        "slow_seconds": faults.slow_seconds,
        "rate": faults.rate,
        "random_kinds": list(faults.random_kinds),
        "rate_seed": faults.rate_seed,
        "corrupt": faults.corrupt,
        "cut_at": faults.cut_at,  # share of the gzip body a "cut" answer sends before dropping
    }
