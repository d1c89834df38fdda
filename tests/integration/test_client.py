"""Acceptance, through real HTTP and a real Postgres: every way an answer can break is
retried, a wrong echo is never loaded, the API is asked for the pool's seed, and a seed
the API would refuse is refused before any request."""

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from simple_etl.client import RandomUserClient
from simple_etl.config import Settings
from simple_etl.errors import SourceError
from simple_etl.fakeapi import Faults, generate
from simple_etl.log import JsonLogger
from simple_etl.plan import batch_pages

SOURCE_ERROR, CONFIG_ERROR = 3, 2


def page_of_batch(etl, batch_id, index, **settings):
    """The page number the batch fetches in position `index`."""
    return batch_pages(Settings.from_env({**etl.settings, **settings}), batch_id)[index]


def assert_nothing_loaded(warehouse):
    counts = warehouse.table_counts()
    assert counts.pop("warehouse.batches") <= 1
    assert set(counts.values()) == {0}, counts


@pytest.mark.parametrize("cut_at", [0.01, 0.3, 0.5, 0.9, 0.99])
def test_a_chunked_gzip_body_cut_off_is_retried_and_the_batch_loads(etl, cut_at):
    etl.api.faults = Faults(schedule=("ok", "cut"), cut_at=cut_at)
    result = etl.run("batch-1")
    assert result.exit_code == 0, result.stderr
    assert result.summary["loaded"] == 5000
    (retry,) = [entry for entry in result.logs if entry["event"] == "extract.retry"]
    assert retry["page"] == page_of_batch(etl, "batch-1", 1)
    assert not retry["rate_limited"]
    assert etl.warehouse.raw_records() == 5000


def test_a_body_cut_off_on_every_attempt_fails_naming_the_page(etl):
    # Page 3 of 10 is cut off on each of its 4 attempts: nothing of the batch is written.
    etl.api.faults = Faults(schedule=("ok",) * 2 + ("cut",) * 4, cut_at=0.5)
    result = etl.run("batch-1")
    assert result.exit_code == SOURCE_ERROR
    page = page_of_batch(etl, "batch-1", 2)
    assert result.error.startswith(f"page {page} failed after 4 attempts: ")
    assert "broke off mid-transfer" in result.error or "not valid JSON" in result.error
    assert result.stdout == ""
    assert_nothing_loaded(etl.warehouse)
    # The same batch id loads once the source recovers.
    assert etl.run("batch-1").summary["loaded"] == 5000


def test_a_wrong_page_echo_is_retried_and_the_batch_loads(etl):
    etl.api.faults = Faults(schedule=("wrongpage",))
    result = etl.run("batch-1")
    assert result.exit_code == 0, result.stderr
    (retry,) = [entry for entry in result.logs if entry["event"] == "extract.retry"]
    assert "(info.page)" in retry["reason"]
    assert result.summary["loaded"] == 5000


def test_a_wrong_page_on_every_attempt_fails_naming_both_pages(etl):
    etl.api.faults = Faults(schedule=("wrongpage",) * 4)
    result = etl.run("batch-1")
    assert result.exit_code == SOURCE_ERROR
    page = page_of_batch(etl, "batch-1", 0)
    assert result.error.startswith(
        f"page {page} failed after 4 attempts: page {page}: the API answered page "
    )
    assert "(info.page)" in result.error
    assert_nothing_loaded(etl.warehouse)


def uuids(records):
    return [record["login"]["uuid"] for record in records]


def test_the_api_is_asked_for_the_pools_seed_not_the_seed_setting(etl):
    settings = {"SIMPLE_ETL_BATCH_SIZE": "1000", "SIMPLE_ETL_NAT": "fr,de"}
    assert etl.run("batch-1", **settings).exit_code == 0
    api_seed = Settings.from_env({**etl.settings, **settings}).api_seed
    page = page_of_batch(etl, "batch-1", 0, **settings)
    landed = etl.warehouse.scalar(
        "SELECT payload FROM raw.pages WHERE batch_id = 'batch-1' AND page = %s", (page,)
    )
    # uuids depend on seed, page and position only, so they tell which seed was sent.
    assert uuids(landed) == uuids(generate(api_seed, page, 500, ["DE", "FR"]))
    assert uuids(landed) != uuids(generate("simple-etl", page, 500, ["DE", "FR"]))


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ("visitors-" * 30, "SIMPLE_ETL_SEED is 270 characters long"),  # the API answers 414
        ("besöker", "SIMPLE_ETL_SEED='besöker' must be printable ASCII"),
        ("tab\there", "must be printable ASCII"),
    ],
)
def test_a_seed_the_api_would_refuse_is_one_line_exit_2_and_nothing_written(etl, seed, message):
    result = etl.run("batch-1", SIMPLE_ETL_SEED=seed)
    assert result.exit_code == CONFIG_ERROR
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.error
    assert result.stdout == ""
    assert etl.api.requests_served == 0
    assert set(etl.warehouse.table_counts().values()) == {0}


def test_a_slow_answer_is_cut_short_by_the_deadline(etl):
    # The answer would take 30 s and HTTP_TIMEOUT allows 20; the 3-second budget of the
    # run bounds the request, and the next wait would pass it: exit 3 now, not at 30 s.
    etl.api.faults = Faults(schedule=("slow",) * 10, slow_seconds=30)
    started = time.monotonic()
    result = etl.run("batch-1", SIMPLE_ETL_HTTP_TIMEOUT="20", SIMPLE_ETL_DEADLINE_SECONDS="3")
    assert time.monotonic() - started < 15
    assert result.exit_code == SOURCE_ERROR
    page = page_of_batch(etl, "batch-1", 0)
    assert result.error.startswith(f"page {page}: ")
    assert "deadline (SIMPLE_ETL_DEADLINE_SECONDS=3)" in result.error
    assert_nothing_loaded(etl.warehouse)


class BreakingServer:
    """A raw HTTP/1.1 server that answers as the live API does (gzip, chunked) and breaks
    its first `breaks` answers `cut` of the way through: with a plain close (FIN) or a
    connection reset (RST). Independent of the stand-in, so the client's reading of a
    broken body is tested on the wire itself."""

    def __init__(self, cut: float, how: str, breaks: int = 1, echo_seed: str | None = None) -> None:
        self.cut, self.how, self.breaks = cut, how, breaks
        self.echo_seed = echo_seed  # info.seed to answer with, when not the one asked for
        self.requests = 0
        self._socket = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/api/1.4/"

    def close(self) -> None:
        self._socket.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:  # closed
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        query = parse_qs(urlsplit(head.split(b" ")[1].decode()).query)
        page, seed, results = int(query["page"][0]), query["seed"][0], int(query["results"][0])
        info = {"seed": self.echo_seed or seed, "results": results, "page": page, "version": "1.4"}
        body = gzip.compress(json.dumps({"results": generate(seed, page, results), "info": info}).encode())
        self.requests += 1
        broken = self.requests <= self.breaks
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
            b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        sent = body[: int(len(body) * self.cut)] if broken else body
        for start in range(0, len(sent), 1024):
            chunk = sent[start : start + 1024]
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if not broken:
            conn.sendall(b"0\r\n\r\n")
        elif self.how == "reset":  # linger 0: close() sends RST, not FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


@pytest.fixture
def breaking(request) -> Iterator[BreakingServer]:
    server = BreakingServer(*request.param)
    yield server
    server.close()


def client_settings(server: BreakingServer, **extra: str) -> Settings:
    env = {"SIMPLE_ETL_API_URL": server.url, "SIMPLE_ETL_PAGE_SIZE": "100", "SIMPLE_ETL_BATCH_SIZE": "1000"}
    return Settings.from_env(
        {**env, "SIMPLE_ETL_BACKOFF_BASE": "0.01", "SIMPLE_ETL_BACKOFF_MAX": "0.05", **extra}
    )


@pytest.mark.parametrize(
    "breaking",
    [(cut, how) for cut in (0.0, 0.05, 0.5, 0.95) for how in ("close", "reset")],
    indirect=True,
)
def test_the_client_retries_a_body_broken_on_the_wire(breaking):
    settings = client_settings(breaking)
    with RandomUserClient(settings, JsonLogger("ERROR")) as client:
        page = client.fetch_page(7)
    assert len(page.records) == 100
    assert uuids(page.records) == uuids(generate(settings.api_seed, 7, 100))
    assert breaking.requests == 2


@pytest.mark.parametrize("breaking", [(0.5, "reset", 99)], indirect=True)
def test_the_client_gives_up_on_a_body_that_always_breaks_naming_the_page(breaking):
    settings = client_settings(breaking, SIMPLE_ETL_MAX_RETRIES="2")
    with RandomUserClient(settings, JsonLogger("ERROR")) as client, pytest.raises(SourceError) as raised:
        client.fetch_page(7)
    assert str(raised.value).startswith(
        "page 7 failed after 3 attempts: page 7: the body broke off mid-transfer"
    )
    assert "\n" not in str(raised.value)
    assert breaking.requests == 3


@pytest.mark.parametrize("breaking", [(1.0, "close", 0, "simple-etl")], indirect=True)
def test_an_answer_for_another_seed_is_never_accepted(breaking):
    # E.g. a cache in front of the API keyed without the seed: another pool's people.
    settings = client_settings(breaking, SIMPLE_ETL_MAX_RETRIES="1")
    with RandomUserClient(settings, JsonLogger("ERROR")) as client, pytest.raises(SourceError) as raised:
        client.fetch_page(7)
    answered = f"the API answered seed 'simple-etl', asked '{settings.api_seed}'"
    assert str(raised.value).startswith(f"page 7 failed after 2 attempts: page 7: {answered}")
