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
        }
    )
    assert settings.api_url == "http://fake:8080/api/1.4/"
    assert (settings.batch_size, settings.page_size, settings.pages_per_batch) == (50000, 5000, 10)
    assert settings.nat == "US,DE,IR"
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
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=None) as raised:
        Settings.from_env(env)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


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
