"""Extract into a spool file of COPY-ready lines, credentials already removed.

Pages stream through memory one at a time into a temporary file, so memory stays
flat however large the batch, and the database transaction opens only once every
page has been accepted: a failed extraction never touches the warehouse.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from typing import IO, Any, Protocol

from simple_etl.client import Page
from simple_etl.log import JsonLogger

# The source's login block carries a password and its hashes; none of them is ever
# written anywhere, the raw landing zone included.
CREDENTIAL_KEYS = ("password", "salt", "md5", "sha1", "sha256")


class PageSource(Protocol):
    """Where pages come from: RandomUserClient, or a stand-in (the benchmark's generator)."""

    def fetch_page(self, number: int) -> Page: ...


def strip_credentials(record: Any) -> Any:
    login = record.get("login") if isinstance(record, dict) else None
    if isinstance(login, dict):
        for key in CREDENTIAL_KEYS:
            login.pop(key, None)
    return record


def copy_lines(batch_id: str, shard: int, page: Page) -> bytes:
    """Rows of raw.user_payloads in COPY text format (batch_id, shard, page, seq, payload)."""
    prefix = f"{batch_id}\t{shard}\t{page.number}\t"
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    # JSON escapes control characters itself; only backslashes need COPY's escaping.
    lines = [
        f"{prefix}{seq}\t{encode(strip_credentials(record)).replace(chr(92), chr(92) * 2)}\n"
        for seq, record in enumerate(page.records)
    ]
    return "".join(lines).encode()


def extract(
    client: PageSource, pages: Iterable[int], batch_id: str, shard: int, log: JsonLogger
) -> tuple[IO[bytes], int]:
    # Handed to the caller open; it closes it once the load has read it.
    spool = tempfile.TemporaryFile(prefix="simple-etl-spool-")  # noqa: SIM115
    extracted = 0
    try:
        for number in pages:
            page = client.fetch_page(number)
            spool.write(copy_lines(batch_id, shard, page))
            extracted += len(page.records)
            log.info("extract.page", page=number, records=len(page.records))
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, extracted
