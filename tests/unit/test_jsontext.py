"""The one JSON codec: what orjson refuses still decodes, and everything decoded writes back."""

import orjson
import pytest

from simple_etl import jsontext
from simple_etl.fakeapi import generate

DEEP_LIST = b"[" * 1030 + b"]" * 1030  # deeper than orjson reads (1024)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b'{"first": "Ma\\ud800ral"}', "unencodable_text: first"),
        (b'{"first": "\\udfff"}', "unencodable_text: first"),
        (b'{"first": "\xed\xa0\x80 not UTF-8"}', "unencodable_text: first"),
        (b'{"postcode": 1e400}', "non_finite_number: postcode"),
        (b'{"postcode": -1E+999}', "non_finite_number: postcode"),
        (b'{"postcode": ' + b"9" * 400 + b"}", "non_finite_number: postcode"),
        (b'{"deep": ' + DEEP_LIST + b"}", "too_deep: deep[0][0][0]"),
    ],
    ids=[
        "lone-high-surrogate",
        "lone-low-surrogate",
        "bad-utf8",
        "1e400",
        "-1e999",
        "400-digits",
        "1030-deep",
    ],
)
def test_what_orjson_refuses_decodes_and_is_marked_as_poison(text, reason):
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)  # the fast path refuses it ...
    value = jsontext.decode(text)  # ... the codec does not
    marked = jsontext.marked(value)
    assert marked[jsontext.POISON].startswith(reason)  # a deep path is cut short
    # ... and what it lands is JSON that orjson (and Postgres) read back.
    assert orjson.loads(jsontext.encode_records([marked]))[0]["record"].keys() == value.keys()


def test_storable_changes_only_what_cannot_be_written_and_says_so():
    value = jsontext.decode(b'{"a": "x\\ud800y", "b": 1e400, "c": [1, 2.5, "ok"], "d": null}')
    fixed, problem = jsontext.storable(value)
    assert fixed == {"a": "x\ufffdy", "b": "1e400", "c": [1, 2.5, "ok"], "d": None}
    assert problem == "unencodable_text: a"
    assert jsontext.storable({"c": [1, "ok"]}) == ({"c": [1, "ok"]}, None)


def test_encode_never_raises_for_a_decoded_value():
    for text in (b'["\\ud800"]', b"[1e400]", DEEP_LIST, b'[{"k\\udc00": 1}]'):
        value = jsontext.decode(text)
        assert orjson.loads(jsontext.encode(value))  # JSON orjson reads, whatever went in


def test_nesting_orjson_reads_but_cannot_write_is_cut_to_text():
    value = jsontext.decode(b"[" * 600 + b"]" * 600)  # orjson reads it, writes at most 254
    assert isinstance(value, list)
    fixed, problem = jsontext.storable(value)
    assert problem.startswith("too_deep: [0][0]")
    inner = fixed
    for _ in range(jsontext.MAX_DEPTH):
        inner = inner[0]
    assert inner == "[" * (600 - jsontext.MAX_DEPTH) + "]" * (600 - jsontext.MAX_DEPTH)


def test_integers_read_as_orjson_reads_them_on_either_path():
    fast = jsontext.decode(b"[18446744073709551615, 18446744073709551616, -9223372036854775809]")
    slow = jsontext.decode(b'[18446744073709551615, 18446744073709551616, -9223372036854775809, "\\ud800"]')
    assert fast == slow[:3] == [2**64 - 1, float(2**64), float(-(2**63) - 1)]


def test_text_that_is_not_json_is_still_refused():
    for text in (b'{"results": [', b"", b"nope", b'{"a": 1}}', b"[" * 50_000 + b"]" * 50_000):
        with pytest.raises(jsontext.DecodeError):
            jsontext.decode(text)


def test_one_poison_record_in_500_leaves_the_other_499_as_they_were():
    records = generate("jsontext", 1, 500)
    records[250]["name"]["first"] = "POISON"
    body = orjson.dumps({"results": records}).replace(b'"POISON"', b'"\\ud800"')
    decoded = jsontext.decode(body)["results"]
    landed = orjson.loads(jsontext.encode_records(decoded))
    assert landed[:250] == records[:250] and landed[251:] == records[251:]
    assert landed[250] == {
        jsontext.POISON: "unencodable_text: name.first",
        "record": {**records[250], "name": {**records[250]["name"], "first": "\ufffd"}},
    }


def test_a_normal_page_takes_the_fast_path_unchanged():
    records = generate("jsontext", 2, 50)
    assert jsontext.encode_records(records) == orjson.dumps(records)
    assert jsontext.decode(orjson.dumps(records)) == records
