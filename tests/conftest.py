"""Shared fixtures: a fresh settings object, store and clip folders per test.

The store's tests (modules that set ``pytestmark = pytest.mark.store``, or the modules
listed in ``STORE_MODULES``) run twice: on SQLite, the embedded default, and on a
throwaway PostgreSQL (one cluster per test worker, a fresh database per test cloned
from a template that holds the schema).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ivr.app import Services, services
from ivr.config import Settings
from ivr.testing.postgres import PostgresMissing, ThrowawayPostgres

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("sqlite", "postgresql")
TEMPLATE = "alerta_template"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "store: runs on both store engines (SQLite, PostgreSQL)")
    config.addinivalue_line("markers", "sqlite: of SQLite itself (in a store module: SQLite only)")


# Files that take minutes of real time (real Asterisk calls at the callers' pace, a real
# SMS gateway): collected first, so with `--dist loadfile` they start at once beside the
# short files instead of being the last left running on one worker.
LONG_FIRST = ("test_soak.py", "test_e2e_asterisk_load.py", "test_e2e_asterisk_report.py",
              "test_sipp_scenarios.py", "test_kannel.py", "test_e2e_asterisk_operator.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONG_FIRST.index(name) if name in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order, each file its own


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("sqlite"):
        return
    everywhere = os.environ.get("ALERTA_TEST_ENGINES")  # e.g. postgresql: every store user
    if everywhere and "settings" in metafunc.fixturenames:
        metafunc.parametrize("engine", everywhere.split(","), indirect=True)
        return
    if metafunc.definition.get_closest_marker("store") and "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", ENGINES, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


class PostgresDatabases:
    """A cluster for this worker, and a new database per test made from the template."""

    def __init__(self, server: ThrowawayPostgres) -> None:
        self.server = server
        self._names = itertools.count(1)
        self._template_ready = False

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.server.dsn, autocommit=True) as conn:
            conn.execute(sql.encode())

    def _template(self) -> None:
        if self._template_ready:
            return
        from ivr.store.postgres import PgDatabase

        self._admin(f"CREATE DATABASE {TEMPLATE}")

        async def build() -> None:
            await (await PgDatabase(self.dsn(TEMPLATE)).open()).close()

        asyncio.run(build())
        self._template_ready = True

    def dsn(self, name: str) -> str:
        return self.server.dsn.rsplit("/", 1)[0] + "/" + name

    def fresh(self) -> str:
        self._template()
        name = f"t{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop(self, name: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def _throwaway() -> Iterator[ThrowawayPostgres]:
    """A throwaway cluster, or a failure (never a skip) saying how to get PostgreSQL."""
    try:
        with ThrowawayPostgres.start() as server:
            yield server
    except PostgresMissing as exc:
        pytest.fail(f"this test needs a PostgreSQL server: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    with _throwaway() as server:
        yield PostgresDatabases(server)


@pytest.fixture(scope="module")
def pg() -> Iterator[ThrowawayPostgres]:
    """A cluster of the module's own, for tests that use a server as a whole."""
    with _throwaway() as server:
        yield server


@pytest.fixture
def database(engine: str, tmp_path: Path, request: pytest.FixtureRequest
             ) -> Iterator[Path | str]:
    """Where this test's store lives: a SQLite file, or a fresh PostgreSQL database."""
    if engine == "sqlite":
        yield tmp_path / "alerta.sqlite3"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.fresh()
    try:
        yield databases.dsn(name)
    finally:
        databases.drop(name)


@pytest.fixture
def settings(tmp_path: Path, database: Path | str) -> Settings:
    return dataclasses.replace(
        Settings(),
        database=database,
        voiceclips=tmp_path / "voiceclips",
        prompts=ROOT / "prompts",
        # SQLite's default place (beside the database file), named so PostgreSQL's tests
        # keep it there too (its default is beside the clips, shared by every controller)
        prompt_library=tmp_path / "prompt-library",
        agi_port=0,
        menu_timeout_s=1.0,
        shutdown_grace_s=5.0,
        agi_command_timeout_s=10.0,
    )


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    async with services(settings) as opened:
        yield opened
