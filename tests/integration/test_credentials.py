"""Acceptance: no source credential is persisted anywhere, the raw landing zone included."""

import re

from simple_etl.config import Settings
from simple_etl.fakeapi import generate
from simple_etl.plan import batch_pages

CREDENTIALS = ("password", "salt", "md5", "sha1", "sha256")


def test_no_credential_value_or_key_exists_in_any_table(etl):
    assert etl.run("batch-1").exit_code == 0
    pages = batch_pages(Settings.from_env({}), "batch-1")
    source = [record for page in pages for record in generate("simple-etl", page, 500)]
    assert len(source) == 5000
    # Salts and hashes are random enough to be found as whole tokens anywhere.
    secrets = {record["login"][key] for record in source for key in ("salt", "md5", "sha1", "sha256")}
    assert len(secrets) > 15000
    tables = etl.warehouse.query(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
    )
    scanned = 0
    for (table,) in tables:
        for (text,) in etl.warehouse.query(f"SELECT t::text FROM {table} t"):  # noqa: S608
            scanned += 1
            assert not secrets & set(re.findall(r"[A-Za-z0-9]+", text)), table
            assert not any(f'"{key}"' in text for key in CREDENTIALS), table
    assert scanned > 15000  # raw, people, visits at least
