"""The exception tree. Each family maps to one documented process exit code."""


class EtlError(Exception):
    """Base of every error the CLI reports as one line and a distinct exit code."""

    exit_code = 1
    kind = "error"


class ConfigError(EtlError):
    """Missing or invalid configuration (environment or command line)."""

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
