"""JSON in and out of the ETL: one place that decides how source text becomes values
and values become text again (the client's pages, the spool, the raw zone, quarantine).

Today a thin layer over orjson; the failure-path work (issue 16) makes it tolerant of
the rare record orjson refuses (lone surrogates, numbers beyond double, deep nesting).
"""

from __future__ import annotations

from typing import Any

import orjson

DecodeError = orjson.JSONDecodeError


def decode(text: bytes | str) -> Any:
    return orjson.loads(text)


def encode(value: Any) -> bytes:
    return orjson.dumps(value)
