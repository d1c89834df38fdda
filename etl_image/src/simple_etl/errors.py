"""The exception tree. Each family maps to one documented process exit code.

| exit | kind       | meaning                                               | the DAG     |
| ---- | ---------- | ----------------------------------------------------- | ----------- |
| 0    |            | done, or nothing to do                                |             |
| 1    | error      | unexpected failure (a bug); the batch was rolled back | retried     |
| 2    | config     | configuration, usage, database access or schema       | not retried |
| 3    | source     | the Random User API failed after its retries          | retried     |
| 4    | load       | the warehouse failed or is unreachable; rolled back   | retried     |
| 5    | quality    | the quality gate failed, naming the invariant         | not retried |
| 143  | terminated | stopped by SIGTERM (130: SIGINT); failure recorded    | retried     |

2 and 5 are final: another attempt would fail the same way. 143 is 128 + the signal
number, what a shell and Kubernetes report for a process the signal ended.
"""

import signal


class EtlError(Exception):
    """Base of every error the CLI reports as one line and a distinct exit code."""

    exit_code = 1
    kind = "error"


class ConfigError(EtlError):
    """Missing or invalid configuration (environment, command line, database access or
    schema version): fixing it takes a person, so retrying is pointless."""

    exit_code = 2
    kind = "config"


class SourceError(EtlError):
    """The Random User API failed or answered something we cannot accept."""

    exit_code = 3
    kind = "source"


class LoadError(EtlError):
    """The warehouse database failed; the batch transaction was rolled back."""

    exit_code = 4
    kind = "load"


class QualityError(EtlError):
    """A data-quality invariant is broken."""

    exit_code = 5
    kind = "quality"


class Terminated(EtlError):
    """A stop signal (SIGTERM from Kubernetes or Airflow, SIGINT from a terminal) ended the
    command. Raised from the signal handler, so the usual `except EtlError` paths roll back
    and record the failure; the exit code is 128 + the signal number, as a shell reports it."""

    kind = "terminated"

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"terminated by {name} before it finished; run it again (same batch id)")
        self.exit_code = 128 + signum
