import hashlib
import re

import pytest

from simple_etl.config import Settings, require_database
from simple_etl.errors import ConfigError


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.api_url == "https://randomuser.me/api/1.4/"
    assert settings.batch_size % settings.page_size == 0
    assert settings.pages_per_batch == 10


def test_values_are_parsed_and_typed():
    settings = Settings.from_env(
        {
            "SIMPLE_ETL_API_URL": "http://fake:8080/api/1.4",
            "SIMPLE_ETL_BATCH_SIZE": "50000",
            "SIMPLE_ETL_PAGE_SIZE": "5000",
            "SIMPLE_ETL_NAT": "us, de,ir",
            "SIMPLE_ETL_MAX_REJECT_RATIO": "0.1",
            "SIMPLE_ETL_RATE_LIMIT": "0",  # 50 000 people in one run: a source without a limit
        }
    )
    assert settings.api_url == "http://fake:8080/api/1.4/"
    assert (settings.batch_size, settings.page_size, settings.pages_per_batch) == (50000, 5000, 10)
    assert settings.nat == "DE,IR,US"  # one canonical form: sorted, each code once
    assert settings.max_reject_ratio == 0.1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SIMPLE_ETL_BATCHSIZE": "10"}, "unknown setting SIMPLE_ETL_BATCHSIZE"),
        ({"SIMPLE_ETL_PAGE_SIZE": "5001"}, "SIMPLE_ETL_PAGE_SIZE=5001 must be between 1 and 5000"),
        ({"SIMPLE_ETL_PAGE_SIZE": "ten"}, "SIMPLE_ETL_PAGE_SIZE='ten' is not a whole number"),
        ({"SIMPLE_ETL_BATCH_SIZE": "750"}, "must be a multiple of SIMPLE_ETL_PAGE_SIZE=500"),
        ({"SIMPLE_ETL_POOL_PAGES": "3"}, "SIMPLE_ETL_POOL_PAGES=3 must be at least the pages per batch (10)"),
        ({"SIMPLE_ETL_API_URL": "https://randomuser.me/api/"}, "must point at the pinned API version"),
        ({"SIMPLE_ETL_API_URL": "ftp://x/api/1.4/"}, "is not an http(s) URL"),
        ({"SIMPLE_ETL_NAT": "USA"}, "two-letter codes"),
        ({"SIMPLE_ETL_READER_ROLE": "Robert'); DROP"}, "is not a plain lower-case role name"),
        ({"SIMPLE_ETL_MAX_REJECT_RATIO": "2"}, "must be between 0 and 1"),
        ({"SIMPLE_ETL_SEED": " "}, "SIMPLE_ETL_SEED is empty"),
        ({"SIMPLE_ETL_LOG_LEVEL": "loud"}, "must be one of DEBUG"),
        # int() and float() would take these; the settings take plain ASCII numbers only.
        ({"SIMPLE_ETL_BATCH_SIZE": "1_000"}, "is not a whole number"),
        ({"SIMPLE_ETL_BATCH_SIZE": "+500"}, "is not a whole number"),
        ({"SIMPLE_ETL_BATCH_SIZE": "\u0665\u0660\u0660"}, "is not a whole number"),
        ({"SIMPLE_ETL_HTTP_TIMEOUT": "1e3"}, "is not a number"),
        ({"SIMPLE_ETL_HTTP_TIMEOUT": "inf"}, "is not a number"),
        # The real API serves pages above 10 000 as page 1, and an unknown code as all.
        ({"SIMPLE_ETL_POOL_PAGES": "10001"}, "must be between 1 and 10000"),
        ({"SIMPLE_ETL_NAT": "us,xx"}, "does not know XX"),
        ({"SIMPLE_ETL_API_URL": "http://fake:0x50/api/1.4/"}, "port that is not a TCP port"),
        ({"SIMPLE_ETL_API_URL": "http://u:p@fake/api/1.4/"}, "carries credentials"),
        # A seed the API would refuse: a URL too long (414), or text that is not plain ASCII.
        ({"SIMPLE_ETL_SEED": "s" * 201}, "SIMPLE_ETL_SEED is 201 characters long"),
        ({"SIMPLE_ETL_SEED": "visitors\n"}, "must be printable ASCII"),
        ({"SIMPLE_ETL_SEED": "bes\u00f6ker"}, "must be printable ASCII"),
        ({"SIMPLE_ETL_SEED": "a\x00b"}, "must be printable ASCII"),
        # The schedule's volume against the source's rate limit (20 000 people / 5 minutes).
        ({"SIMPLE_ETL_SCHEDULE_SECONDS": "60"}, "asks the source for 25000 people per 300 s"),
        (
            {"SIMPLE_ETL_BATCH_SIZE": "25000", "SIMPLE_ETL_PAGE_SIZE": "5000"},
            "over SIMPLE_ETL_RATE_LIMIT=20000",
        ),
        (
            {"SIMPLE_ETL_RATE_LIMIT": "4000"},
            "SIMPLE_ETL_BATCH_SIZE=5000 every SIMPLE_ETL_SCHEDULE_SECONDS=300",
        ),
        ({"SIMPLE_ETL_SCHEDULE_SECONDS": "0"}, "SIMPLE_ETL_SCHEDULE_SECONDS=0 must be between"),
        ({"SIMPLE_ETL_RATE_LIMIT": "-1"}, "SIMPLE_ETL_RATE_LIMIT='-1' is not a whole number"),
        ({"SIMPLE_ETL_RATE_LIMIT_WAIT": "3601"}, "SIMPLE_ETL_RATE_LIMIT_WAIT=3601.0 must be between 0"),
        ({"SIMPLE_ETL_RATE_LIMIT_WAIT": "5m"}, "SIMPLE_ETL_RATE_LIMIT_WAIT='5m' is not a number"),
        ({"SIMPLE_ETL_DEADLINE_SECONDS": "1.5"}, "SIMPLE_ETL_DEADLINE_SECONDS='1.5' is not a whole number"),
        ({"SIMPLE_ETL_DEADLINE_SECONDS": "604801"}, "SIMPLE_ETL_DEADLINE_SECONDS=604801 must be between"),
        # Settings checked since commit 8070973, each still one line naming its variable.
        ({"SIMPLE_ETL_NAT": "de,f1"}, "must be a comma-separated list"),
        ({"SIMPLE_ETL_MAX_RETRIES": "21"}, "SIMPLE_ETL_MAX_RETRIES=21 must be between 0 and 20"),
        ({"SIMPLE_ETL_BACKOFF_BASE": "2", "SIMPLE_ETL_BACKOFF_MAX": "1"}, "SIMPLE_ETL_BACKOFF_MAX must be"),
        ({"SIMPLE_ETL_API_URL": "http://fake:99999/api/1.4/"}, "port that is not a TCP port"),
        # Retention (simple-etl retain): whole days, at least one, and raw never outlives visits.
        (
            {"SIMPLE_ETL_RAW_RETENTION_DAYS": "0"},
            "SIMPLE_ETL_RAW_RETENTION_DAYS=0 must be between 1 and 36500",
        ),
        ({"SIMPLE_ETL_VISIT_RETENTION_DAYS": "1.5"}, "SIMPLE_ETL_VISIT_RETENTION_DAYS='1.5' is not a whole"),
        ({"SIMPLE_ETL_VISIT_RETENTION_DAYS": "36501"}, "must be between 1 and 36500"),
        (
            {"SIMPLE_ETL_RETENTION_CHUNK_RECORDS": "0"},
            "SIMPLE_ETL_RETENTION_CHUNK_RECORDS=0 must be between 1",
        ),
        (
            {"SIMPLE_ETL_RAW_RETENTION_DAYS": "8"},
            "SIMPLE_ETL_RAW_RETENTION_DAYS=8 must not exceed SIMPLE_ETL_VISIT_RETENTION_DAYS=7",
        ),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=None) as raised:
        Settings.from_env(env)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert any(variable in str(raised.value) for variable in env), "the line names the variable"


@pytest.mark.parametrize(
    "env",
    [
        {},  # 5000 people every 5 minutes: a quarter of the limit
        {"SIMPLE_ETL_BATCH_SIZE": "20000", "SIMPLE_ETL_PAGE_SIZE": "5000"},  # exactly the limit
        {"SIMPLE_ETL_SCHEDULE_SECONDS": "75"},  # 4 runs in a window, 20 000 people
        {"SIMPLE_ETL_BATCH_SIZE": "10000", "SIMPLE_ETL_SCHEDULE_SECONDS": "150"},  # 2 runs: 20 000
        # A source of one's own with no rate limit: 0 turns the check off.
        {"SIMPLE_ETL_BATCH_SIZE": "50000", "SIMPLE_ETL_RATE_LIMIT": "0", "SIMPLE_ETL_POOL_PAGES": "100"},
    ],
)
def test_schedules_within_the_rate_limit_pass(env):
    settings = Settings.from_env(env)
    assert not settings.rate_limit or settings.people_per_window <= settings.rate_limit


def test_rate_limit_and_deadline_defaults_match_the_source():
    settings = Settings.from_env({})
    assert (settings.rate_limit, settings.schedule_seconds) == (20000, 300)
    assert settings.rate_limit_wait == 300  # one whole window of the source's rate limit
    assert settings.deadline_seconds == 0  # none unless the DAG passes its task's timeout


def test_retention_defaults_fit_the_default_volume_and_raw_never_outlives_visits():
    settings = Settings.from_env({})
    assert (settings.raw_retention_days, settings.visit_retention_days) == (7, 7)
    assert settings.retention_chunk_records == 50_000
    longer = Settings.from_env(
        {"SIMPLE_ETL_RAW_RETENTION_DAYS": "2", "SIMPLE_ETL_VISIT_RETENTION_DAYS": "90"}
    )
    assert (longer.raw_retention_days, longer.visit_retention_days) == (2, 90)


def test_a_long_printable_seed_within_bounds_is_accepted():
    assert Settings.from_env({"SIMPLE_ETL_SEED": "Visitors of example.org ~ 2026!" + "x" * 169}).seed


def pool(seed="simple-etl", nat=None):
    env = {"SIMPLE_ETL_SEED": seed}
    if nat is not None:
        env["SIMPLE_ETL_NAT"] = nat
    return Settings.from_env(env).api_seed


def test_the_api_seed_is_16_hex_characters_derived_from_the_pool():
    api_seed = pool()
    assert re.fullmatch(r"[0-9a-f]{16}", api_seed)
    assert api_seed == hashlib.sha256(b"simple-etl\x00").hexdigest()[:16]
    # 16, never 18: the API reads the last two hex characters of an 18-character seed
    # as a nationality.
    assert len(pool("abcdefghijklmnop18")) == 16


def test_one_pool_is_one_api_seed_whatever_the_order_of_its_nationalities():
    assert pool(nat="us,de") == pool(nat="DE,US") == pool(nat="de, us,US")


def test_pools_that_differ_in_nationalities_or_seed_never_share_an_api_seed():
    # The API's people depend on seed and page only: the same seed with another
    # nationality list must not be sent, or other people would carry the same uuids.
    seeds = {pool(), pool(nat="DE"), pool(nat="DE,FR"), pool(nat="IR"), pool("simple-etl2"), pool("other")}
    assert len(seeds) == 6


def test_page_seeds_of_different_pools_cannot_collide():
    # The API seeds each page with the seed and the page number appended: "simple-etl2"
    # page 5 is "simple-etl" page 25. Equal-length api seeds make that impossible.
    first, second = Settings.from_env({}), Settings.from_env({"SIMPLE_ETL_SEED": "simple-etl2"})
    first_pages = {first.api_seed + str(page) for page in range(1, 10001)}
    second_pages = {second.api_seed + str(page) for page in range(1, 10001)}
    assert not first_pages & second_pages


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "PGHOST is not set"),
        ({"PGHOST": "db", "PGPORT": "99999"}, "PGPORT='99999' is not a TCP port"),
        ({"PGHOST": "db", "PGSSLMODE": "maybe"}, "PGSSLMODE='maybe' must be one of"),
        ({"PGHOST": "db", "PGCONNECT_TIMEOUT": "abc"}, "PGCONNECT_TIMEOUT='abc' is not a whole number"),
    ],
)
def test_database_location_is_required(env, message):
    with pytest.raises(ConfigError) as raised:
        require_database(env)
    assert message in str(raised.value)


def test_database_location_accepts_libpq_values():
    require_database({"PGHOST": "db", "PGPORT": "5432", "PGSSLMODE": "verify-full"})


def test_credentials_in_the_api_url_are_never_echoed():
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"SIMPLE_ETL_API_URL": "http://user:s3cret@fake/api/1.4/"})
    assert "s3cret" not in str(raised.value)
