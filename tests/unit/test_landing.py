import json

from simple_etl.client import Page
from simple_etl.landing import CREDENTIAL_KEYS, copy_lines, strip_credentials


def person(**login):
    return {"login": {"uuid": "7a0eed16-9430-4d68-901f-c0d4c1c3bf00", "username": "x", **login}}


def test_credentials_are_removed_and_the_rest_kept():
    record = strip_credentials(person(password="p", salt="s", md5="m", sha1="1", sha256="2"))
    assert record["login"] == {"uuid": "7a0eed16-9430-4d68-901f-c0d4c1c3bf00", "username": "x"}


def test_records_without_a_login_block_pass_through():
    assert strip_credentials({"login": None}) == {"login": None}
    assert strip_credentials(["not", "a", "record"]) == ["not", "a", "record"]


def test_copy_lines_round_trip_through_copy_text_escaping():
    tricky = {"name": {"first": 'Zoë "Z"', "last": "مهدی\\tab"}, **person(password="secret")}
    raw = copy_lines("batch-1", 2, Page(7, [tricky])).decode()
    assert raw.endswith("\n") and raw.count("\n") == 1
    batch_id, shard, page, seq, payload = raw[:-1].split("\t")
    assert (batch_id, shard, page, seq) == ("batch-1", "2", "7", "0")
    decoded = json.loads(payload.replace("\\\\", "\\"))  # undo COPY's backslash escaping
    assert decoded["name"] == {"first": 'Zoë "Z"', "last": "مهدی\\tab"}
    assert not set(decoded["login"]) & set(CREDENTIAL_KEYS)
