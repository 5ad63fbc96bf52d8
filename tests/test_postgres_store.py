"""What PostgreSQL adds to the store, on a real throwaway server: the schema made from
the SQLite migrations (the same tables and columns), a later migration translated, the
live bus (NOTIFY to another process's store, catch-up after its LISTEN connection is
cut), no event skipped under concurrent writers, SKIP LOCKED job claims, singleton work
under an advisory lock, and the translation of SQLite's dialect."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from ivr.config import load
from ivr.core.ports import NewReport
from ivr.domain.clips import ClipInfo
from ivr.store import dialect, events
from ivr.store.db import Database
from ivr.store.postgres import PgDatabase
from ivr.store.reports import Reports
from ivr.store.transcripts import claim
from ivr.testing.postgres import ThrowawayPostgres

GUARD_S = 60.0  # liveness bounds only


_names = iter(range(1, 10_000))


@pytest.fixture
async def dsn(pg: ThrowawayPostgres) -> AsyncIterator[str]:
    name = f"s{next(_names)}"
    async with await psycopg.AsyncConnection.connect(pg.dsn, autocommit=True) as admin:
        await admin.execute(f"CREATE DATABASE {name}".encode())
    yield pg.dsn.rsplit("/", 1)[0] + "/" + name


async def test_the_schema_is_the_sqlite_migrations_table_for_table(dsn: str,
                                                                   tmp_path: Path) -> None:
    async with Database(tmp_path / "a.sqlite3") as lite:
        tables = [r[0] for r in await lite.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
            " AND name NOT LIKE 'report_text_%'")]
        expected = {t: {r[1] for r in await lite.fetchall(f"PRAGMA table_info({t})")}
                    for t in tables}
    async with PgDatabase(dsn) as pg:
        rows = await pg.fetchall("SELECT table_name, column_name FROM information_schema.columns"
                                 " WHERE table_schema = current_schema()")
        versions = [r[0] for r in await pg.fetchall(
            "SELECT version FROM schema_migrations ORDER BY version")]
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    found["report_text"] -= {"rowid", "tsv"}  # FTS5's implicit rowid; PostgreSQL's index
    assert {t: found.get(t) for t in expected} == expected
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 10


async def test_a_later_migration_is_translated_statement_by_statement(dsn: str) -> None:
    async with PgDatabase(dsn):
        pass
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        # As a database made before migration 010 stood.
        await conn.execute("DROP TABLE controllers")
        await conn.execute("ALTER TABLE reports DROP COLUMN controller")
        await conn.execute("DELETE FROM schema_migrations WHERE version = 10")
    async with PgDatabase(dsn) as pg:
        columns = {r[0] for r in await pg.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'reports'")}
        assert "controller" in columns
        assert await pg.fetchall("SELECT * FROM controllers") == []
        index = await pg.fetchone("SELECT indexdef FROM pg_indexes"
                                  " WHERE indexname = 'reports_open_calls'")
        assert index is not None and "call_ended_at IS NULL" in index[0]


def _report(n: int) -> NewReport:
    return NewReport("robbery", 2, False, "es", f"bus.{n}", "5551234", "5551234")


async def test_another_process_hears_of_a_new_event_and_catches_up_after_a_cut(dsn: str) -> None:
    async with PgDatabase(dsn) as writer, PgDatabase(dsn) as console:
        woken = asyncio.Event()
        console.on_commit.append(woken.set)
        async with asyncio.timeout(GUARD_S):
            await console.listening.wait()
        woken.clear()
        first = await Reports(writer).open_report(_report(1))
        async with asyncio.timeout(GUARD_S):
            await woken.wait()  # the NOTIFY from the other store's commit
        seen = await console.fetchall("SELECT id FROM events WHERE report_id = ?", (first,))
        assert seen
        last = max(r[0] for r in seen)

        # The console's LISTEN connection is cut; a report is made meanwhile.
        console.listening.clear()
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE query LIKE 'LISTEN%%' AND pid != pg_backend_pid()")
        second = await Reports(writer).open_report(_report(2))
        woken.clear()
        async with asyncio.timeout(GUARD_S):
            await console.listening.wait()  # back, and woken to catch up
            await woken.wait()
        after = await console.fetchall("SELECT report_id FROM events WHERE id > ?", (last,))
        assert second in {r[0] for r in after}


async def test_no_reader_ever_skips_an_event_of_concurrent_writers(dsn: str) -> None:
    async with PgDatabase(dsn) as a, PgDatabase(dsn) as b, PgDatabase(dsn) as reader:
        seen: list[int] = []
        done = asyncio.Event()

        async def follow() -> None:  # what a console's feed does: rows after its last id
            last = 0
            while True:
                rows = await reader.fetchall("SELECT id FROM events WHERE id > ? ORDER BY id",
                                             (last,))
                for row in rows:
                    seen.append(row[0])
                    last = row[0]
                if done.is_set() and not rows:
                    return
                await asyncio.sleep(0)

        async def write(db: PgDatabase, base: int) -> None:
            reports = Reports(db)
            await asyncio.gather(*(reports.open_report(_report(base + n)) for n in range(150)))

        following = asyncio.create_task(follow())
        await asyncio.gather(write(a, 0), write(b, 1000))
        done.set()
        await following
        every = [r[0] for r in await reader.fetchall("SELECT id FROM events ORDER BY id")]
        assert len(every) >= 300 and seen == every


async def test_two_workers_claim_different_jobs(dsn: str) -> None:
    async with PgDatabase(dsn) as a, PgDatabase(dsn) as b:
        reports = Reports(a)
        for n in range(6):
            number = await reports.open_report(_report(n))
            await reports.attach_clip(number, 1, ClipInfo(f"2026/12/04/{n}.wav", 2.0, 32044,
                                                          "ab" * 32))
            await reports.close_call(number, complete=True, outcome="completed", last_step=None)
        now = datetime.now(UTC)
        got_a, got_b = await asyncio.gather(*(
            claim(db, kinds=("audio",), owner=owner, now=now, lease_s=60, max_tries=3, limit=4)
            for db, owner in ((a, "a"), (b, "b"))))
        ids_a, ids_b = {j.id for j in got_a}, {j.id for j in got_b}
        assert ids_a.isdisjoint(ids_b) and len(ids_a | ids_b) == 6


async def test_singleton_work_runs_in_one_process_at_a_time(dsn: str) -> None:
    async with PgDatabase(dsn) as a, PgDatabase(dsn) as b:
        async with a.singleton("purge") as first:
            async with b.singleton("purge") as second:
                assert first and not second
        async with b.singleton("purge") as later:
            assert later


async def test_events_stay_append_only_on_postgresql(dsn: str) -> None:
    async with PgDatabase(dsn) as db:
        number = await Reports(db).open_report(_report(1))

        async def rewrite(conn: object) -> None:
            await conn.execute("UPDATE events SET kind = 'x' WHERE report_id = ?",  # type: ignore[attr-defined]
                               (number,))

        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await db.write(rewrite)

        async def add(conn: object) -> int:
            return await events.append(conn, number, "note.added", "2026-12-04T00:00:00.000Z",  # type: ignore[arg-type]
                                       data={"x": 1})

        assert await db.write(add) > 0


def test_a_postgresql_address_in_the_environment_is_not_a_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTA_DATABASE", "postgresql://alerta@db1,db2/alerta")
    assert load(None).database == "postgresql://alerta@db1,db2/alerta"
    monkeypatch.setenv("ALERTA_DATABASE", "var/alerta.sqlite3")
    assert load(None).database == Path("var/alerta.sqlite3")


@pytest.mark.parametrize(("sqlite", "postgresql"), [
    ("SELECT x FROM t WHERE a IS ? AND b IS NOT 'y' LIMIT -1",
     "SELECT x FROM t WHERE a IS NOT DISTINCT FROM %s AND b IS DISTINCT FROM 'y' LIMIT ALL"),
    ("INSERT OR IGNORE INTO t (a) VALUES (?)",
     "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"),
    ("SELECT max(a, 0), max(b) FROM t", "SELECT greatest(a, 0), max(b) FROM t"),
    ("SELECT CAST(x * 2 AS INTEGER) FROM t", "SELECT sqlite_int(x * 2) FROM t"),
    ("SELECT a FROM (SELECT 1 AS a)", "SELECT a FROM (SELECT 1 AS a) AS _sub1"),
    ("SELECT '50% of ?' FROM t WHERE name LIKE ?", "SELECT '50%% of ?' FROM t WHERE name ILIKE %s"),
    ("SELECT 1 FROM r INDEXED BY r_i WHERE +created_at > ?1 AND id = ?1",
     "SELECT 1 FROM r  WHERE created_at > %(p1)s AND id = %(p1)s"),
    ("INSERT INTO c (k, n) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET n = n + excluded.n",
     "INSERT INTO c (k, n) VALUES (%s, 1) ON CONFLICT (k) DO UPDATE SET n = c.n + excluded.n"),
])
def test_sqlite_dialect_becomes_postgresql(sqlite: str, postgresql: str) -> None:
    assert dialect.statement(sqlite)[0] == postgresql
