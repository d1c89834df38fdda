"""The offline Random User API: shape, quirks, determinism, parameters, faults, CLI.

Generator tests call `generate` directly; protocol tests speak real HTTP to an
in-process server through `requests`, the way the extractor does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from simple_etl.errors import ConfigError
from simple_etl.fakeapi import FakeApiServer, Faults, RateLimit, add_arguments, generate, run
from simple_etl.fakeapi.cli import faults_from_args

NATS = {
    "AU": "Australia",
    "BR": "Brazil",
    "CA": "Canada",
    "CH": "Switzerland",
    "DE": "Germany",
    "DK": "Denmark",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "United Kingdom",
    "IE": "Ireland",
    "IN": "India",
    "IR": "Iran",
    "MX": "Mexico",
    "NL": "Netherlands",
    "NO": "Norway",
    "NZ": "New Zealand",
    "RS": "Serbia",
    "TR": "Turkey",
    "UA": "Ukraine",
    "US": "United States",
}
STRING_POSTCODES = {
    "GB": r"[A-Z]{1,2}\d{1,2} \d[A-Z]{2}",
    "CA": r"[A-Z]\d[A-Z] \d[A-Z]\d",
    "NO": r"\d{4}",
}
NULL_ID_NATS = {"IR", "NZ", "TR", "UA"}
FIELDS = [
    "gender",
    "name",
    "location",
    "email",
    "login",
    "dob",
    "registered",
    "phone",
    "cell",
    "id",
    "picture",
    "nat",
]
STR, INT = str, int
SHAPE: dict[str, Any] = {
    "gender": STR,
    "name": {"title": STR, "first": STR, "last": STR},
    "location": {
        "street": {"number": INT, "name": STR},
        "city": STR,
        "state": STR,
        "country": STR,
        "postcode": (INT, STR),
        "coordinates": {"latitude": STR, "longitude": STR},
        "timezone": {"offset": STR, "description": STR},
    },
    "email": STR,
    "login": {k: STR for k in ("uuid", "username", "password", "salt", "md5", "sha1", "sha256")},
    "dob": {"date": STR, "age": INT},
    "registered": {"date": STR, "age": INT},
    "phone": STR,
    "cell": STR,
    "id": {"name": STR, "value": (STR, type(None))},
    "picture": {"large": STR, "medium": STR, "thumbnail": STR},
    "nat": STR,
}
ISO_MS_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
COORDINATE = re.compile(r"-?\d{1,3}\.\d{4}")


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def people() -> list[dict[str, Any]]:
    return generate("quirks", 1, 5000)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer(rate_limit=None) as running:  # the limit has tests of its own
        yield running


@pytest.fixture
def api(server: FakeApiServer) -> Iterator[FakeApiServer]:
    """The shared server, with no faults before and after the test."""
    server.faults = Faults()
    yield server
    server.faults = Faults()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def get(session: requests.Session, api: FakeApiServer, **params: Any) -> requests.Response:
    return session.get(api.base_url, params=params, timeout=10)


def assert_shape(value: Any, shape: Any, path: str = "") -> None:
    if isinstance(shape, dict):
        assert isinstance(value, dict), path
        assert list(value) == list(shape), f"{path}: keys {list(value)}"
        for key, sub_shape in shape.items():
            assert_shape(value[key], sub_shape, f"{path}.{key}")
    else:
        assert isinstance(value, shape) and not isinstance(value, bool), f"{path}: {value!r}"


def completed_years(iso: str) -> int:
    """Completed years today, as the live API counts ages (by the wall clock, in days)."""
    then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    now = datetime.now(UTC)
    return now.year - then.year - ((now.month, now.day) < (then.month, then.day))


# --- the generator: shape and quirks ------------------------------------------------


def test_every_person_has_exactly_the_api_1_4_shape_in_its_order(people: list[dict[str, Any]]) -> None:
    assert len(people) == 5000
    for person in people:
        assert list(person) == FIELDS
        assert_shape(person, SHAPE)


def test_values_look_like_the_live_api(people: list[dict[str, Any]]) -> None:
    for p in people:
        assert p["gender"] in ("male", "female")
        assert p["location"]["country"] == NATS[p["nat"]]
        assert 1 <= p["location"]["street"]["number"] <= 9999
        assert re.fullmatch(r"[+-]?\d{1,2}:\d{2}", p["location"]["timezone"]["offset"])
        login = p["login"]
        assert uuid.UUID(login["uuid"]).version == 4
        assert re.fullmatch(r"[a-z]+\d{3}", login["username"])
        assert re.fullmatch(r"[A-Za-z0-9]{8}", login["salt"])
        salted = (login["password"] + login["salt"]).encode()
        assert login["md5"] == hashlib.md5(salted, usedforsecurity=False).hexdigest()
        assert login["sha1"] == hashlib.sha1(salted, usedforsecurity=False).hexdigest()
        assert login["sha256"] == hashlib.sha256(salted).hexdigest()
        folder = "men" if p["gender"] == "male" else "women"
        number = re.fullmatch(
            rf"https://randomuser\.me/api/portraits/{folder}/(\d+)\.jpg", p["picture"]["large"]
        )
        assert number, p["picture"]
        assert p["picture"]["medium"] == f"https://randomuser.me/api/portraits/med/{folder}/{number[1]}.jpg"
        assert (
            p["picture"]["thumbnail"] == f"https://randomuser.me/api/portraits/thumb/{folder}/{number[1]}.jpg"
        )
    assert {p["nat"] for p in people} == set(NATS)


def test_coordinates_are_strings_with_four_decimals(people: list[dict[str, Any]]) -> None:
    for p in people:
        latitude, longitude = p["location"]["coordinates"].values()
        assert COORDINATE.fullmatch(latitude) and COORDINATE.fullmatch(longitude), (latitude, longitude)
        assert -90 <= float(latitude) <= 90 and -180 <= float(longitude) <= 180
    assert any(p["location"]["coordinates"]["latitude"].startswith("-") for p in people)


def test_postcode_is_a_string_for_some_nationalities_and_a_number_for_the_rest(
    people: list[dict[str, Any]],
) -> None:
    types_by_nat: dict[str, set[type]] = defaultdict(set)
    for p in people:
        postcode = p["location"]["postcode"]
        types_by_nat[p["nat"]].add(type(postcode))
        if p["nat"] in STRING_POSTCODES:
            assert re.fullmatch(STRING_POSTCODES[p["nat"]], postcode), (p["nat"], postcode)
    for nat, types in types_by_nat.items():
        assert types == ({str} if nat in STRING_POSTCODES else {int}), nat
    assert any(p["nat"] == "AU" and p["location"]["postcode"] < 1000 for p in people)  # "0800" -> 800


def test_id_value_is_null_with_an_empty_name_for_some_nationalities(people: list[dict[str, Any]]) -> None:
    for p in people:
        if p["nat"] in NULL_ID_NATS:
            assert p["id"] == {"name": "", "value": None}
        else:
            assert p["id"]["name"] and p["id"]["value"], p["id"]


def test_dates_carry_milliseconds_and_z_and_ages_match_them(people: list[dict[str, Any]]) -> None:
    for p in people:
        for block in ("dob", "registered"):
            assert ISO_MS_Z.fullmatch(p[block]["date"]), p[block]
            assert p[block]["age"] == completed_years(p[block]["date"]), p[block]
        assert p["registered"]["date"] > p["dob"]["date"]
    assert min(p["dob"]["age"] for p in people) >= 18


def test_names_use_other_scripts_but_emails_stay_ascii(people: list[dict[str, Any]]) -> None:
    def scripts(nat: str) -> set[str]:
        letters = "".join(p["name"]["first"] + p["name"]["last"] for p in people if p["nat"] == nat)
        return {unicodedata.name(ch).split()[0] for ch in letters if not ch.isascii()}

    assert "ARABIC" in scripts("IR")  # Persian names are written in Arabic script
    assert scripts("UA") == set(), "the live API transliterates Ukrainian names to ASCII"
    assert "LATIN" in scripts("DE")  # umlauts
    for p in people:
        assert p["email"].isascii() and p["email"] == p["email"].lower()
        assert p["email"].endswith("@example.com") and " " not in p["email"]


def test_email_is_first_dot_last(people: list[dict[str, Any]]) -> None:
    for p in people:
        if p["nat"] in ("US", "GB", "AU", "NZ", "IN"):  # plain ASCII names, one word each
            assert p["email"] == f"{p['name']['first']}.{p['name']['last']}@example.com".lower()
    emails = {p["email"] for p in people}
    assert any(e.startswith(("joseluis.", "juanpablo.", "mariajose.")) for e in emails)  # spaces dropped
    assert any("o'" in e for e in emails)  # apostrophes kept, as the live API does


def test_emails_and_usernames_repeat_but_uuids_are_unique(people: list[dict[str, Any]]) -> None:
    uuids_by_email: dict[str, set[str]] = defaultdict(set)
    for p in people:
        uuids_by_email[p["email"]].add(p["login"]["uuid"])
    assert sum(len(uuids) > 1 for uuids in uuids_by_email.values()) > 100
    assert Counter(p["login"]["username"] for p in people).most_common(1)[0][1] > 1
    assert len({p["login"]["uuid"] for p in people}) == len(people)


# --- the generator: determinism and arguments ---------------------------------------


def test_same_arguments_give_the_same_people_and_other_pages_other_people() -> None:
    assert generate("s", 2, 50) == generate("s", 2, 50)
    uuids = {page: {p["login"]["uuid"] for p in generate("s", page, 200)} for page in (1, 2)}
    assert not uuids[1] & uuids[2]
    assert not uuids[1] & {p["login"]["uuid"] for p in generate("other", 1, 200)}


def test_fewer_results_are_a_prefix_of_more_like_the_live_api() -> None:
    assert generate("s", 3, 10) == generate("s", 3, 40)[:10]


def test_nat_and_gender_restrict_who_is_generated() -> None:
    chosen = generate("s", 1, 300, nat=["IR", "NO"], gender="female")
    assert {p["nat"] for p in chosen} == {"IR", "NO"}
    assert {p["gender"] for p in chosen} == {"female"}
    assert {p["name"]["title"] for p in chosen} <= {"Ms", "Mrs", "Miss"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nat": ["XX"]}, "unknown nationalities"),
        ({"gender": "robot"}, "gender"),
        ({"results": -1}, "negative"),
    ],
)
def test_generate_rejects_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    arguments = {"seed": "s", "page": 1, "results": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(**arguments)


# --- the HTTP protocol ----------------------------------------------------------------


def test_response_has_results_and_the_info_block(api: FakeApiServer, session: requests.Session) -> None:
    response = get(session, api, results=7, page=3, seed="abc", format="json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["results", "info"]
    assert body["info"] == {"seed": "abc", "results": 7, "page": 3, "version": "1.4"}
    assert body["results"] == generate("abc", 3, 7)
    assert "\n" not in response.text  # compact, like JSON.stringify


def test_same_seed_and_page_give_identical_bytes(api: FakeApiServer, session: requests.Session) -> None:
    first = get(session, api, results=100, page=2, seed="bytes").content
    assert get(session, api, results=100, page=2, seed="bytes").content == first
    assert get(session, api, results=100, page=3, seed="bytes").content != first


def test_a_full_page_of_5000_is_served(api: FakeApiServer, session: requests.Session) -> None:
    body = get(session, api, results=5000, seed="full").json()
    assert len(body["results"]) == body["info"]["results"] == 5000
    assert len({p["login"]["uuid"] for p in body["results"]}) == 5000


@pytest.mark.parametrize("results", ["abc", "0", "-5", "5001", "", "nan"])
def test_invalid_results_fall_back_to_one_like_the_live_api(
    api: FakeApiServer, session: requests.Session, results: str
) -> None:
    body = get(session, api, results=results, seed="r").json()
    assert len(body["results"]) == body["info"]["results"] == 1


@pytest.mark.parametrize(("results", "served"), [("1e3", 1), ("2.5", 2), ("12abc", 12), (" 7", 7)])
def test_results_is_read_like_javascripts_parseint(
    api: FakeApiServer, session: requests.Session, results: str, served: int
) -> None:
    assert len(get(session, api, results=results, seed="r").json()["results"]) == served


@pytest.mark.parametrize("page", ["x", "0", "-1", "10001", ""])
def test_invalid_page_falls_back_to_page_one(
    api: FakeApiServer, session: requests.Session, page: str
) -> None:
    body = get(session, api, results=3, page=page, seed="p").json()
    assert body["info"]["page"] == 1
    assert body["results"] == generate("p", 1, 3)


def test_missing_seed_gets_a_fresh_16_hex_seed(api: FakeApiServer, session: requests.Session) -> None:
    seeds = {get(session, api, results=1).json()["info"]["seed"] for _ in range(3)}
    assert len(seeds) == 3
    assert all(re.fullmatch(r"[0-9a-f]{16}", seed) for seed in seeds)
    assert get(session, api, results=1, seed="").json()["info"]["seed"] not in ("", None)


def test_nat_filter_is_case_insensitive_and_has_an_alias(
    api: FakeApiServer, session: requests.Session
) -> None:
    body = get(session, api, results=200, seed="n", nat="gb,Us").json()
    assert {p["nat"] for p in body["results"]} == {"GB", "US"}
    body = get(session, api, results=50, seed="n", nationality="fr").json()
    assert {p["nat"] for p in body["results"]} == {"FR"}


def test_one_unknown_nat_drops_the_whole_filter_like_the_live_api(
    api: FakeApiServer, session: requests.Session
) -> None:
    body = get(session, api, results=300, seed="n", nat="gb,xx").json()
    assert len({p["nat"] for p in body["results"]}) > 10


def test_gender_applies_only_without_a_seed_like_the_live_api(
    api: FakeApiServer, session: requests.Session
) -> None:
    unseeded = get(session, api, results=100, gender="female").json()["results"]
    assert {p["gender"] for p in unseeded} == {"female"}
    seeded = get(session, api, results=100, gender="female", seed="g").json()["results"]
    assert {p["gender"] for p in seeded} == {"female", "male"}


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"inc": "nat,name"}, ["name", "nat"]),
        ({"inc": "Name, NAT"}, ["name", "nat"]),
        ({"exc": "login,id"}, [f for f in FIELDS if f not in ("login", "id")]),
        ({"inc": "name,login", "exc": "login"}, ["name"]),
        ({"inc": "nonsense"}, []),
    ],
)
def test_inc_and_exc_choose_top_level_fields(
    api: FakeApiServer, session: requests.Session, params: dict[str, str], fields: list[str]
) -> None:
    people = get(session, api, results=5, seed="f", **params).json()["results"]
    assert len(people) == 5
    assert all(list(p) == fields for p in people)


def test_noinfo_drops_the_info_block(api: FakeApiServer, session: requests.Session) -> None:
    body = get(session, api, results=2, seed="i", noinfo="").json()
    assert list(body) == ["results"] and len(body["results"]) == 2


@pytest.mark.parametrize("fmt", ["csv", "yaml", "XML"])
def test_formats_other_than_json_are_refused_with_a_json_error(
    api: FakeApiServer, session: requests.Session, fmt: str
) -> None:
    response = get(session, api, results=2, format=fmt)
    assert response.status_code == 400
    assert fmt.lower() in response.json()["error"]


def test_pretty_format_is_indented_and_unknown_formats_are_json(
    api: FakeApiServer, session: requests.Session
) -> None:
    compact = get(session, api, results=2, seed="fmt").json()
    pretty = get(session, api, results=2, seed="fmt", format="pretty")
    assert "\n  " in pretty.text and pretty.json() == compact
    assert get(session, api, results=2, seed="fmt", format="foo").json() == compact


@pytest.mark.parametrize("path", ["/api/1.4/", "/api/1.4", "/api/", "/api"])
def test_api_paths(api: FakeApiServer, session: requests.Session, path: str) -> None:
    root = api.base_url.removesuffix("/api/1.4/")
    response = session.get(f"{root}{path}", params={"seed": "x", "results": 2}, timeout=10)
    assert response.status_code == 200 and len(response.json()["results"]) == 2


def test_healthz_and_unknown_paths(api: FakeApiServer, session: requests.Session) -> None:
    root = api.base_url.removesuffix("/api/1.4/")
    served = api.requests_served
    health = session.get(f"{root}/healthz", timeout=10)
    assert (health.status_code, health.text) == (200, "ok")
    missing = session.get(f"{root}/api/1.3/", timeout=10)
    assert missing.status_code == 404 and "error" in missing.json()
    assert api.requests_served == served  # only API requests are counted


def test_connections_are_kept_alive_even_across_faults(api: FakeApiServer, session: requests.Session) -> None:
    get(session, api, results=1)  # opens the connection
    opened = api.connections_opened
    served = api.requests_served
    api.faults = Faults(schedule=("429", "truncated", "500", "garbage", "empty"))
    statuses = [get(session, api, results=3).status_code for _ in range(7)]
    assert statuses == [429, 200, 500, 200, 200, 200, 200]
    assert api.connections_opened == opened
    assert api.requests_served == served + 7


# --- faults ---------------------------------------------------------------------------


def test_429_carries_retry_after_and_a_json_error(api: FakeApiServer, session: requests.Session) -> None:
    api.faults = Faults(schedule=("429",), retry_after=7)
    response = get(session, api, results=1)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]
    assert get(session, api, results=1).status_code == 200


@pytest.mark.parametrize("status", ["500", "503"])
def test_server_errors(api: FakeApiServer, session: requests.Session, status: str) -> None:
    api.faults = Faults(schedule=(status,))
    response = get(session, api, results=1)
    assert response.status_code == int(status) and response.json()["error"]


def test_empty_answers_200_with_no_results_while_info_says_n(
    api: FakeApiServer, session: requests.Session
) -> None:
    api.faults = Faults(schedule=("empty",))
    body = get(session, api, results=5, seed="e").json()
    assert body["results"] == [] and body["info"]["results"] == 5


def test_slow_delays_a_normal_answer(api: FakeApiServer, session: requests.Session) -> None:
    api.faults = Faults(schedule=("slow",), slow_seconds=0.3)
    started = time.monotonic()
    body = get(session, api, results=2, seed="slow").json()
    assert time.monotonic() - started >= 0.3
    assert len(body["results"]) == 2
    with pytest.raises(requests.Timeout):
        api.faults = Faults(schedule=("slow",), slow_seconds=1.0)
        session.get(api.base_url, params={"results": 1}, timeout=0.2)


def test_truncated_sends_half_the_body_with_a_matching_length(
    api: FakeApiServer, session: requests.Session
) -> None:
    full = get(session, api, results=20, seed="t").content
    api.faults = Faults(schedule=("truncated",))
    response = get(session, api, results=20, seed="t")
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) == len(full) // 2
    assert full.startswith(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_garbage_is_an_html_page(api: FakeApiServer, session: requests.Session) -> None:
    api.faults = Faults(schedule=("garbage",))
    response = get(session, api, results=1)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_schedule_runs_in_order_and_restarts_when_faults_are_replaced(
    api: FakeApiServer, session: requests.Session
) -> None:
    api.faults = Faults(schedule=("500", "429"))
    assert [get(session, api, results=1).status_code for _ in range(3)] == [500, 429, 200]
    api.faults = Faults(schedule=("503",))
    assert [get(session, api, results=1).status_code for _ in range(2)] == [503, 200]


def test_random_faults_follow_the_rate_and_are_reproducible(
    api: FakeApiServer, session: requests.Session
) -> None:
    def statuses() -> list[int]:
        api.faults = Faults(rate=0.5, random_kinds=("500", "503"), rate_seed=42)
        return [get(session, api, results=1).status_code for _ in range(30)]

    first = statuses()
    assert first == statuses()
    assert {200, 500, 503} == set(first)
    api.faults = Faults(rate=1.0, random_kinds=("503",))
    assert {get(session, api, results=1).status_code for _ in range(5)} == {503}


def test_faults_are_handed_out_exactly_once_under_concurrency(api: FakeApiServer) -> None:
    api.faults = Faults(schedule=("500",) * 20)
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as s:
            for _ in range(5):
                status = get(s, api, results=1).status_code
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(statuses) == {500: 20, 200: 20}


def test_corrupt_breaks_each_chosen_record_in_exactly_one_way(
    api: FakeApiServer, session: requests.Session
) -> None:
    clean = get(session, api, results=12, seed="c").json()["results"]
    api.faults = Faults(corrupt=6)
    broken = get(session, api, results=12, seed="c").json()["results"]

    def how_broken(good: dict[str, Any], bad: dict[str, Any]) -> str | None:
        differing = [f for f in FIELDS if good.get(f) != bad.get(f)]
        if not differing:
            return None
        assert len(differing) == 1, differing
        field = differing[0]
        if field == "name":
            assert "name" not in bad
        elif field == "login":
            assert bad["login"] == {**good["login"], "uuid": "not-a-uuid"}
        elif field == "dob":
            assert bad["dob"] == {**good["dob"], "date": "yesterday"}
        elif field == "location":
            coordinates = {**good["location"]["coordinates"], "latitude": "north"}
            assert bad["location"] == {**good["location"], "coordinates": coordinates}
        else:
            assert (field, bad[field]) in (("nat", "XX1"), ("gender", "robot"))
        return field

    kinds = [how_broken(good, bad) for good, bad in zip(clean, broken, strict=True)]
    assert sorted(k for k in kinds if k) == sorted(["login", "name", "dob", "location", "nat", "gender"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"schedule": ("404",)},
        {"random_kinds": ("boom",)},
        {"rate": 1.5},
        {"corrupt": -1},
        {"retry_after": 1.5},
        {"cut_at": 0},
        {"cut_at": 1},
        {"cut_at": -0.5},
        {"cut_at": float("nan")},
        {"cut_at": "0.5"},
    ],
)
def test_invalid_faults_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Faults(**kwargs)


# --- lifecycle and CLI ----------------------------------------------------------------


def test_stop_closes_idle_keep_alive_connections() -> None:
    server = FakeApiServer().start()
    url = server.base_url
    with requests.Session() as s:
        assert s.get(url, params={"results": 1}, timeout=10).status_code == 200
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(requests.ConnectionError):
            s.get(url, timeout=2)
    server.stop()  # a second stop is harmless


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_options_become_faults() -> None:
    args = _parse(
        "--fault", "429", "--fault", "truncated", "--retry-after", "3", "--slow-seconds", "0.5",
        "--fault-rate", "0.1", "--corrupt", "2",
    )  # fmt: skip
    assert faults_from_args(args) == Faults(
        schedule=("429", "truncated"), retry_after=3, slow_seconds=0.5, rate=0.1, corrupt=2
    )
    assert faults_from_args(_parse()) == Faults()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fault", "nope"], "--fault 'nope'"),
        (["--port", "70000"], "--port 70000"),
        (["--port", "http"], "--port 'http'"),
        (["--host", " "], "--host"),
        (["--retry-after", "soon"], "--retry-after"),
        (["--slow-seconds", "-1"], "--slow-seconds"),
        (["--fault-rate", "1.5"], "--fault-rate"),
        (["--corrupt", "-1"], "--corrupt"),
    ],
)
def test_cli_rejects_bad_options_with_a_config_error(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        run(_parse(*argv))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_cli_reports_a_taken_port_as_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            run(_parse("--host", "127.0.0.1", "--port", str(port)))


SERVE = (
    "import argparse, sys\n"
    "from simple_etl.fakeapi import add_arguments, run\n"
    "parser = argparse.ArgumentParser()\n"
    "add_arguments(parser)\n"
    "sys.exit(run(parser.parse_args(sys.argv[1:])))\n"
)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_logs_its_url_and_exits_0_on_a_signal(stop_signal: signal.Signals) -> None:
    command = [sys.executable, "-c", SERVE, "--host", "127.0.0.1", "--port", "0", "--fault", "503"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stderr is not None
            listening = json.loads(process.stderr.readline())
            assert listening["event"] == "fake_api.listening"
            url = listening["url"]
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/1\.4/", url)
            assert requests.get(url, timeout=10).status_code == 503
            assert len(requests.get(url, params={"results": 3}, timeout=10).json()["results"]) == 3
            process.send_signal(stop_signal)
            assert process.wait(timeout=10) == 0
            events = [json.loads(line)["event"] for line in process.stderr.read().splitlines()]
            assert events[-1] == "fake_api.stopped"
        finally:
            if process.poll() is None:
                process.kill()


def test_the_package_needs_neither_requests_nor_psycopg2() -> None:
    check = (
        "import sys, simple_etl.fakeapi\n"
        "simple_etl.fakeapi.generate('s', 1, 1)\n"
        "loaded = {'requests', 'psycopg2'} & set(sys.modules)\n"
        "sys.exit(f'imported {loaded}' if loaded else 0)\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=30)


# --- the live API's rules the ETL must survive (issue 12) ----------------------------


def test_uuids_and_coordinates_do_not_depend_on_the_nationality_list() -> None:
    iranians, germans = generate("pool", 3, 50, ["IR"]), generate("pool", 3, 50, ["DE"])
    assert [p["login"]["uuid"] for p in iranians] == [p["login"]["uuid"] for p in germans]
    assert [p["location"]["coordinates"] for p in iranians] == [p["location"]["coordinates"] for p in germans]
    assert {p["nat"] for p in iranians} == {"IR"} and {p["nat"] for p in germans} == {"DE"}


def test_the_page_seed_is_the_seed_with_the_page_number_appended() -> None:
    assert generate("simple-etl2", 5, 20) == generate("simple-etl", 25, 20)
    assert generate("simple-etl", 2, 20) != generate("simple-etl", 3, 20)


def test_an_18_character_seed_carries_a_nationality(api: FakeApiServer, session: requests.Session) -> None:
    seed = "0123456789abcdef"
    chosen = {p["nat"] for p in get(session, api, results=30, seed=seed + "0a", nat="us").json()["results"]}
    assert len(chosen) == 1, "the last two hex characters pick one nationality, whatever nat says"
    refused = get(session, api, results=3, seed=seed + "zz")
    assert refused.status_code == 500 and "error" in refused.json()


def test_repeated_parameters_take_the_first_value(api: FakeApiServer, session: requests.Session) -> None:
    body = session.get(f"{api.base_url}?results=2&results=7&seed=x&page=3&page=9", timeout=10).json()
    assert body["info"]["results"] == 2 and body["info"]["page"] == 3


def test_people_come_gzip_compressed_in_chunks(api: FakeApiServer, session: requests.Session) -> None:
    answer = get(session, api, results=500, seed="framing")
    assert answer.headers["Content-Encoding"] == "gzip"
    assert answer.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in answer.headers
    assert len(answer.json()["results"]) == 500


@pytest.mark.parametrize("cut_at", [0.01, 0.5, 0.99])
def test_a_cut_transfer_breaks_the_body_mid_chunk(
    api: FakeApiServer, session: requests.Session, cut_at: float
) -> None:
    api.faults = Faults(schedule=("cut",), cut_at=cut_at)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        get(session, api, results=500, seed="cut")
    assert get(session, api, results=5, seed="cut").status_code == 200, "the next request is served"


def test_wrongpage_serves_another_page_and_says_so(api: FakeApiServer, session: requests.Session) -> None:
    api.faults = Faults(schedule=("wrongpage",))
    body = get(session, api, results=3, seed="w", page=7).json()
    assert body["info"]["page"] == 1 and body["results"] == generate("w", 1, 3)


def test_other_methods_get_a_json_405(api: FakeApiServer, session: requests.Session) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = session.request(method, api.base_url, timeout=10)
        assert answer.status_code == 405 and answer.headers["Allow"] == "GET", method
        assert "error" in answer.json()


def test_the_rate_limit_answers_429_without_retry_after_until_the_window_ends() -> None:
    limit = RateLimit(people=1000, window_seconds=1.5)
    with FakeApiServer(rate_limit=limit) as limited, requests.Session() as client:
        assert [get(client, limited, results=500, seed="r").status_code for _ in range(2)] == [200, 200]
        refused = get(client, limited, results=500, seed="r")
        assert refused.status_code == 429 and "Retry-After" not in refused.headers
        time.sleep(1.6)
        assert get(client, limited, results=500, seed="r").status_code == 200


def test_two_hundred_concurrent_clients_are_all_answered(api: FakeApiServer) -> None:
    def fetch(n: int) -> int:
        return requests.get(api.base_url, params={"results": 1, "seed": n}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=200) as pool:
        assert set(pool.map(fetch, range(200))) == {200}


def test_the_live_apis_data_flaws(people: list[dict[str, Any]]) -> None:
    by_nat = defaultdict(list)
    for p in people:
        by_nat[p["nat"]].append(p)
    assert all(isinstance(p["location"]["postcode"], int) for p in by_nat["NL"])
    assert all(re.fullmatch(r"NaNNA\d{3}undefined", p["id"]["value"]) for p in by_nat["FI"])
    assert any(re.search(r"[A-Z]", p["phone"]) for p in by_nat["UA"])
    assert all(re.search(r"[A-Z]", p["phone"]) for p in by_nat["CA"])
    assert {p["name"]["title"] for p in by_nat["FR"]} <= {"Mr", "Mrs", "Miss", "Ms"}
    trailing = sum(p["location"]["street"]["name"].endswith(" ") for p in people)
    assert 5000 / 60 < trailing < 5000 / 15, "about one street name in 30 ends with a space"
    assert any(p["login"]["password"] == "" for p in people)
    offsets = {p["location"]["timezone"]["offset"] for p in people}
    assert len(offsets) == 30 and {"+4:30", "+11:00", "-11:00", "-12:00"} <= offsets
    assert max(p["registered"]["date"] for p in people) < "2023"
    assert any("'" in p["email"] for p in people) and any("-" in p["email"].split("@")[0] for p in people)
    assert all(re.search(r"[A-Z]", p["phone"]) and re.search(r"[A-Z]", p["cell"]) for p in by_nat["UA"])
    assert all(f"{p['name']['first']}{p['name']['last']}".isascii() for p in by_nat["UA"]), "transliterated"
    assert all(re.search(r"[\u0400-\u04ff]", p["location"]["city"]) for p in by_nat["UA"]), "Cyrillic places"


# --- closer to the live source (RandomAPI/Randomuser.me-Node, api/1.4/api.js) ------------


def test_page_one_is_seeded_with_the_bare_seed_like_the_live_api() -> None:
    # seedRNG appends the page only when it is not 1: seed "x12" page 1 is seed "x" page 12.
    assert generate("x12", 1, 20) == generate("x", 12, 20)
    assert generate("x", 1, 20) != generate("x1", 1, 20)


def test_an_18_character_seed_is_read_as_16_characters_and_an_index_into_the_nationalities(
    api: FakeApiServer, session: requests.Session
) -> None:
    body = get(session, api, results=20, seed="0123456789abcdef0a", nat="us").json()
    assert {p["nat"] for p in body["results"]} == {"IE"}, "0x0a: the 11th nationality, alphabetically"
    assert body["info"]["seed"] == "0123456789abcdef0a", "info.seed echoes the request"
    unseeded = generate("0123456789abcdef", 1, 20)
    assert [p["login"]["uuid"] for p in body["results"]] == [p["login"]["uuid"] for p in unseeded]
    assert {p["nat"] for p in get(session, api, results=20, seed="0123456789abcdef14").json()["results"]} == {
        "US"
    }
    for tail in ("15", "ff", "zz", "a-"):  # past the 21 nationalities, or not hex: the live server crashes
        refused = get(session, api, results=1, seed=f"0123456789abcdef{tail}")
        assert refused.status_code == 500 and "error" in refused.json(), tail


def test_head_and_unknown_methods_get_a_json_405_too(api: FakeApiServer, session: requests.Session) -> None:
    head = session.head(api.base_url, timeout=10)
    assert head.status_code == 405 and head.headers["Allow"] == "GET" and head.content == b""
    for method in ("OPTIONS", "TRACE", "PROPFIND"):
        answer = session.request(method, api.base_url, timeout=10)
        assert answer.status_code == 405 and answer.headers["Allow"] == "GET", method
        assert answer.headers["Content-Type"].startswith("application/json") and "error" in answer.json()
    assert get(session, api, results=2, seed="after-head").status_code == 200, (
        "the connection is still usable"
    )


def test_a_refused_post_body_does_not_poison_the_kept_alive_connection(
    api: FakeApiServer, session: requests.Session
) -> None:
    opened = api.connections_opened
    posted = session.post(api.base_url, data=b"GET /healthz HTTP/1.1\r\n\r\n" * 50, timeout=10)
    assert posted.status_code == 405
    answer = get(session, api, results=2, seed="after-post")
    assert answer.status_code == 200 and len(answer.json()["results"]) == 2
    assert api.connections_opened == opened + 1, "the same connection served both"


def test_without_accept_encoding_people_come_chunked_but_plain(api: FakeApiServer) -> None:
    with socket.create_connection(
        ("127.0.0.1", int(api.base_url.split(":")[2].split("/")[0])), timeout=10
    ) as s:
        s.sendall(b"GET /api/1.4/?results=3&seed=plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Content-Encoding" not in head
    assert body.endswith(b"\r\n0\r\n\r\n") and b'"results":[' in body


@pytest.mark.parametrize(
    "kwargs",
    [{"people": True}, {"people": 0}, {"people": 2.5}, {"window_seconds": 0},
     {"window_seconds": float("inf")}, {"window_seconds": float("nan")}, {"window_seconds": "300"},
     {"window_seconds": True}],
)  # fmt: skip
def test_invalid_rate_limits_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimit(**kwargs)


def test_cli_options_become_the_rate_limit_and_the_cut() -> None:
    from simple_etl.fakeapi.cli import rate_limit_from_args

    assert rate_limit_from_args(_parse()) == RateLimit(20000, 300.0), "the live API's limit by default"
    args = _parse("--rate-limit-people", "500", "--rate-limit-window", "2.5", "--cut-at", "0.25")
    assert rate_limit_from_args(args) == RateLimit(500, 2.5)
    assert faults_from_args(args) == Faults(cut_at=0.25)
    assert rate_limit_from_args(_parse("--rate-limit-people", "0")) is None, "0 turns the limit off"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate-limit-people", "-1"], "--rate-limit-people"),
        (["--rate-limit-people", "1_000"], "--rate-limit-people '1_000'"),
        (["--rate-limit-people", "+500"], "--rate-limit-people '+500'"),
        (["--rate-limit-people", "\u0665\u0660\u0660"], "--rate-limit-people"),  # Arabic-Indic 500
        (["--rate-limit-window", "0"], "--rate-limit-window"),
        (["--rate-limit-window", "inf"], "--rate-limit-window"),
        (["--rate-limit-window", "1_0"], "--rate-limit-window '1_0'"),
        (["--cut-at", "1"], "--cut-at"),
        (["--cut-at", "0"], "--cut-at"),
        (["--cut-at", "nan"], "--cut-at"),
        (["--port", "8_080"], "--port '8_080'"),
    ],
)
def test_cli_rejects_bad_rate_limits_and_cuts_with_a_config_error(argv: list[str], message: str) -> None:
    from simple_etl.fakeapi.cli import options_from_args

    with pytest.raises(ConfigError) as raised:  # not run(): an accepted value would serve forever
        options_from_args(_parse(*argv))
    assert message in str(raised.value) and "\n" not in str(raised.value)
