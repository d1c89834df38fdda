"""The stand-in API on the wire, where it must behave like randomuser.me 1.4: the framing
of a cut transfer, the rate limit per client address, and its defaults.

Real HTTP against a FakeApiServer on a free port; raw sockets where the bytes on the wire
are the point (requests hides chunk framing).
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from simple_etl.fakeapi import FakeApiServer, Faults, RateLimit

QUERY = "/api/1.4/?results=2000&seed=wire&page=3"


def port_of(api: FakeApiServer) -> int:
    return int(api.base_url.rsplit(":", 1)[1].split("/")[0])


def raw_get(api: FakeApiServer, path: str = QUERY) -> tuple[bytes, bytes]:
    """Send one GET accepting gzip and read until the server closes: (head, body bytes)."""
    with socket.create_connection(("127.0.0.1", port_of(api)), timeout=10) as connection:
        connection.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n".encode()
        )
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body


def dechunk(body: bytes) -> tuple[bytes, bool]:
    """The payload of a chunked body, and whether its terminating 0-chunk arrived."""
    payload = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return payload, True
        payload += rest[:size]
        body = rest[size + 2 :]
    return payload, False


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer(rate_limit=None) as server:
        yield server


@pytest.mark.parametrize("cut_at", [0.05, 0.5, 0.95])
def test_a_cut_answer_is_a_prefix_of_the_gzip_stream_without_its_last_chunk(
    api: FakeApiServer, cut_at: float
) -> None:
    head, body = raw_get(api)
    full, complete = dechunk(body)
    assert complete and b"Content-Encoding: gzip" in head and b"Transfer-Encoding: chunked" in head
    assert json.loads(gzip.decompress(full))["info"]["page"] == 3

    api.faults = Faults(schedule=("cut",), cut_at=cut_at)
    head, body = raw_get(api)
    sent, complete = dechunk(body)
    assert b"200 OK" in head and not complete, "the connection drops before the 0-chunk"
    assert full.startswith(sent) and len(sent) == int(len(full) * cut_at)
    with pytest.raises((EOFError, zlib.error)):
        gzip.decompress(sent)


def test_requests_raises_while_reading_a_cut_body(api: FakeApiServer) -> None:
    api.faults = Faults(schedule=("cut",))
    with pytest.raises(
        (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            requests.exceptions.ConnectionError,
        )
    ):
        requests.get(api.base_url, params={"results": 2000, "seed": "wire"}, timeout=10)


def test_wrongpage_on_page_one_serves_page_two(api: FakeApiServer) -> None:
    api.faults = Faults(schedule=("wrongpage",))
    answer = requests.get(api.base_url, params={"results": 3, "seed": "w", "page": 1}, timeout=10).json()
    assert answer["info"]["page"] == 2


def status_from(api: FakeApiServer, source: str, results: int) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port_of(api), timeout=10, source_address=(source, 0))
    connection.request("GET", f"/api/1.4/?results={results}&seed=limit")
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_the_rate_limit_counts_people_per_client_address() -> None:
    with FakeApiServer(rate_limit=RateLimit(people=300, window_seconds=60)) as limited:
        assert [status_from(limited, "127.0.0.1", 100).status for _ in range(3)] == [200, 200, 200]
        refused = status_from(limited, "127.0.0.1", 1)
        assert refused.status == 429 and refused.getheader("Retry-After") is None
        assert status_from(limited, "127.0.0.2", 100).status == 200, "another address has its own quota"


def test_the_rate_limit_429_is_a_json_error() -> None:
    with (
        FakeApiServer(rate_limit=RateLimit(people=1, window_seconds=60)) as limited,
        requests.Session() as session,
    ):
        assert session.get(limited.base_url, params={"seed": "x"}, timeout=10).status_code == 200
        refused = session.get(limited.base_url, params={"seed": "x"}, timeout=10)
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert refused.headers["Content-Type"].startswith("application/json") and "error" in refused.json()


def test_the_sources_limit_is_on_by_default() -> None:
    with FakeApiServer() as default, requests.Session() as session:
        statuses = [
            session.get(
                default.base_url, params={"results": 5000, "seed": "d", "page": n}, timeout=30
            ).status_code
            for n in range(1, 6)
        ]
    assert statuses == [200, 200, 200, 200, 429], "20 000 people per 5 minutes, then 429"


def test_concurrent_requests_of_one_client_cannot_overshoot_the_limit() -> None:
    # The quota is taken when a request is admitted, not after its people are generated:
    # 20 requests of 5000 at once against 10 000 people get exactly two answers.
    with FakeApiServer(rate_limit=RateLimit(people=10000, window_seconds=60)) as limited:

        def fetch(n: int) -> int:
            params = {"results": 5000, "seed": "burst", "page": n}
            return requests.get(limited.base_url, params=params, timeout=30).status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = sorted(pool.map(fetch, range(1, 21)))
    assert statuses == [200] * 2 + [429] * 18


def test_people_a_refused_request_does_not_get_are_not_counted() -> None:
    with (
        FakeApiServer(rate_limit=RateLimit(people=10, window_seconds=60)) as limited,
        requests.Session() as s,
    ):
        for _ in range(3):  # 500s of a misread seed, 400s of an unserved format: nobody was sent
            assert (
                s.get(
                    limited.base_url, params={"results": 10, "seed": "x" * 16 + "zz"}, timeout=10
                ).status_code
                == 500
            )
            assert (
                s.get(limited.base_url, params={"results": 10, "format": "csv"}, timeout=10).status_code
                == 400
            )
        assert s.get(limited.base_url, params={"results": 10, "seed": "y"}, timeout=10).status_code == 200
        assert s.get(limited.base_url, params={"results": 1, "seed": "y"}, timeout=10).status_code == 429
