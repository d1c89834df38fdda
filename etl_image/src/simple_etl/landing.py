"""Extract into a spool file of COPY-ready raw pages, credentials already removed.

Pages stream through memory one at a time into a temporary file, so memory stays
flat however large the batch, and the database transaction opens only once every
page has been accepted: a failed extraction never touches the warehouse. The spool
holds one line per page, a row of raw.pages: the load reads the pages back from it, one
at a time, to transform them, then lands it as it is.

A record JSON storage cannot hold as it came (a lone surrogate, a number beyond double
precision, an integer beyond 64 bits, nesting deeper than orjson writes) is landed in its
storable form inside a marker object that names the reason (jsontext.marked), and the
transform quarantines it: one such record never fails its page.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any, Protocol

from simple_etl import jsontext
from simple_etl.client import Page
from simple_etl.log import JsonLogger
from simple_etl.overlap import no_cyclic_gc

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


def copy_line(batch_id: str, shard: int, page: Page) -> bytes:
    """The page as one row of raw.pages in COPY text format: its records, credentials removed."""
    payload = jsontext.encode_records([strip_credentials(record) for record in page.records])
    # JSON escapes control characters itself; only backslashes need COPY's escaping. The
    # batch id cannot hold a tab or a backslash (cli.BATCH_ID).
    return b"%s\t%d\t%d\t%s\n" % (batch_id.encode(), shard, page.number, payload.replace(b"\\", b"\\\\"))


def read_pages(spool: IO[bytes]) -> Iterator[Page]:
    """The pages of a spool, one at a time, as `copy_line` wrote them."""
    for line in spool:
        _, _, number, payload = line.rstrip(b"\n").split(b"\t", 3)
        yield Page(int(number), jsontext.decode(payload.replace(b"\\\\", b"\\")))


def extract(
    client: PageSource, pages: Iterable[int], batch_id: str, shard: int, log: JsonLogger
) -> tuple[IO[bytes], int]:
    # Handed to the caller open; it closes it once the load has read it.
    spool = tempfile.TemporaryFile(prefix="simple-etl-spool-")  # noqa: SIM115
    extracted = 0
    try:
        with no_cyclic_gc():
            for number in pages:
                page = client.fetch_page(number)
                spool.write(copy_line(batch_id, shard, page))
                extracted += len(page.records)
                log.info("extract.page", page=number, records=len(page.records))
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, extracted
