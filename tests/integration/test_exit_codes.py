"""Acceptance: a database access mistake is exit 2 (configuration: the DAG does not retry
it), while a server that is down stays exit 4 (the DAG retries it). Nothing is written
either way, and no password is ever echoed."""

import secrets

import pytest

from tests.support.cli import simple_etl
from tests.support.postgres import free_port

CONFIG_ERROR, LOAD_ERROR = 2, 4
COMMANDS = [["migrate"], ["run", "--batch-id", "b"], ["check"]]


def failed_once(result, exit_code):
    assert result.exit_code == exit_code, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
    return result.error


def assert_nothing_done(etl):
    assert etl.api.requests_served == 0
    assert etl.warehouse.scalar("SELECT count(*) FROM warehouse.batches") == 0


@pytest.mark.parametrize("args", COMMANDS)
def test_a_wrong_password_is_a_configuration_error_without_the_password(etl, args):
    wrong = secrets.token_urlsafe(12)
    error = failed_once(etl(*args, PGPASSWORD=wrong), CONFIG_ERROR)
    assert "password authentication failed" in error
    assert f"PGUSER={etl.warehouse.etl.name}" in error and "check PGUSER and PGPASSWORD" in error
    assert wrong not in error and etl.warehouse.etl.password not in error
    assert_nothing_done(etl)


@pytest.mark.parametrize("args", COMMANDS)
def test_an_unknown_user_is_a_configuration_error(etl, args):
    # Over TCP the server answers scram's "password authentication failed", not naming
    # whether the role exists; over its socket (trust) it says the role does not exist.
    error = failed_once(etl(*args, PGUSER="nobody_here"), CONFIG_ERROR)
    assert 'password authentication failed for user "nobody_here"' in error
    assert "PGUSER=nobody_here" in error
    local = etl(*args, PGUSER="nobody_here", PGHOST=str(etl.warehouse.server.socket_dir))
    error = failed_once(local, CONFIG_ERROR)
    assert 'role "nobody_here" does not exist' in error and "check PGUSER and PGDATABASE" in error
    assert_nothing_done(etl)


@pytest.mark.parametrize("args", COMMANDS)
def test_a_missing_database_is_a_configuration_error(etl, args):
    error = failed_once(etl(*args, PGDATABASE="no_such_db"), CONFIG_ERROR)
    assert 'database "no_such_db" does not exist' in error
    assert "PGDATABASE=no_such_db" in error and "check PGUSER and PGDATABASE" in error
    assert_nothing_done(etl)


def test_a_missing_password_is_a_configuration_error(etl):
    env = {k: v for k, v in etl.env.items() if k != "PGPASSWORD"}
    error = failed_once(simple_etl("run", "--batch-id", "b", env=env), CONFIG_ERROR)
    assert "no password supplied" in error and "set PGPASSWORD" in error
    assert_nothing_done(etl)


def test_ssl_required_from_a_server_without_it_is_a_configuration_error(etl):
    error = failed_once(etl("run", "--batch-id", "b", PGSSLMODE="require"), CONFIG_ERROR)
    assert "server does not support SSL" in error and "check PGSSLMODE" in error
    assert_nothing_done(etl)


@pytest.mark.parametrize("args", COMMANDS)
def test_a_server_that_is_down_is_a_load_error_the_dag_retries(etl, args):
    error = failed_once(etl(*args, PGPORT=str(free_port())), LOAD_ERROR)
    assert "cannot connect to Postgres at 127.0.0.1:" in error and "Connection refused" in error
    assert_nothing_done(etl)


def test_the_exit_codes_are_listed_in_the_help(etl):
    result = etl("--help")
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.splitlines() if line[:2] == "  " and line.split()]
    for code in ("0", "1", "2", "3", "4", "5", "143"):
        assert code in listed, result.stdout
    assert "2 and 5 fail the task at once" in result.stdout
