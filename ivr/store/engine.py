"""Which store a deployment runs on: the database setting decides."""

from __future__ import annotations

from pathlib import Path

from ivr.metrics import Metrics
from ivr.store.db import Database

SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: Path | str) -> bool:
    return isinstance(location, str) and location.startswith(SCHEMES)


def database(location: Path | str, metrics: Metrics | None = None) -> Database:
    """An unopened store: PostgreSQL for a postgresql:// address, else the SQLite file."""
    if is_postgres(location):
        from ivr.store.postgres import PgDatabase  # psycopg is loaded only when used

        return PgDatabase(str(location), metrics)
    return Database(Path(location), metrics)


def describe(location: Path | str) -> str:
    """The store's address for a log line or a message: never its password."""
    if is_postgres(location):
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(str(location))
        return (f"PostgreSQL database {parts.get('dbname', '?')} on"
                f" {parts.get('host', 'localhost')}:{parts.get('port', 5432)}")
    return str(location)
