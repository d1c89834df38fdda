"""simple-etl: Random User API visitors → Postgres warehouse."""

__version__ = "0.1.0"
