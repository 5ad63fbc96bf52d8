"""`alerta db copy`: a SQLite deployment made through the app, moved into a throwaway
PostgreSQL, checked row by row and through the store's own queries. A missing PostgreSQL
fails, as everywhere (``scripts/test`` installs Debian's ``postgresql``)."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ivr.app import Services
from ivr.core.ports import Location, NewReport
from ivr.domain.clips import ClipInfo
from ivr.domain.reports import ReportState
from ivr.domain.roles import Role
from ivr.store import copy
from ivr.store.casework import Casework
from ivr.store.municipalities import Municipalities
from ivr.store.postgres import PgDatabase
from ivr.store.queries import ConsoleQueries
from ivr.store.reports import Reports
from ivr.store.users import Users
from ivr.testing.postgres import ThrowawayPostgres

pytestmark = pytest.mark.sqlite  # the source is SQLite by definition, whatever the run's engine

ROOT = Path(__file__).resolve().parent.parent
LAT, LON = -12.121512345678901, -77.03009876543211  # every digit of a double must survive
_names = itertools.count(1)


@pytest.fixture
def target(pg: ThrowawayPostgres) -> Iterator[str]:
    """A new, empty database on the module's server."""
    name = f"copy{next(_names)}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    try:
        yield pg.dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def report(call: str, kind: str = "robbery", caller: str | None = "5551234",
           municipality: int = 1) -> NewReport:
    return NewReport(kind, 2, kind == "accident", "es", call, caller, caller,
                     municipality=municipality)


async def deployment(svc: Services) -> list[int]:
    """Reports in two municipalities, a clip, notes, casework, a user, the directory."""
    reports, casework = svc.reports, Casework(svc.db)
    first = await reports.open_report(report("1795584686.1"))
    await reports.set_location(first, Location("3", "Av. Larco 1150", LAT, LON, "directory"))
    await reports.attach_clip(first, 1, ClipInfo("2026/11/25/x.wav", 2.5, 40044, "ab" * 32))
    await reports.close_call(first, complete=True, outcome="completed", last_step="readback")
    second = await reports.open_report(report("1795584686.2", "noise", None))
    await casework.add_note(first, "user:lucia", "Patrulla enviada, vecinos avisados")
    await casework.change_state(first, ReportState.ACKNOWLEDGED, "user:lucia")
    await casework.change_state(first, ReportState.DUPLICATE, "user:lucia",
                                duplicate_of=second)  # points at a later row of its table
    towns = Municipalities(svc.db)
    town = await towns.add("san-isidro", "San Isidro", "America/Lima", actor="cli")
    await towns.make_neighbours(1, town.id, actor="cli")
    third = await reports.open_report(report("1795584686.3", "accident", "5559876", town.id))
    await casework.add_note(third, "user:lucia", "Choque en la Vía Expresa, ñandú herido")
    users = Users(svc.db)
    lucia = await users.add("lucia", Role.SUPERVISOR, "una clave larga 123", extension="1003")
    await users.grant(lucia.id, town.id, Role.OPERATOR, actor="cli")
    csv = f"number,address,zone,lat,lon\n5551234,Av. Larco 1150,3,{LAT!r},{LON!r}\n"
    assert (await svc.directory.import_csv(csv)).imported == 1
    return [first, second, third]


def counts(path: Path, dsn: str) -> tuple[dict[str, int], dict[str, int]]:
    src = sqlite3.connect(path)
    try:
        tables = copy.plan(src)
        before = {t.name: src.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0]
                  for t in tables}
    finally:
        src.close()
    with psycopg.connect(dsn) as conn:
        after = {name: conn.execute(f'SELECT count(*) FROM "{name}"'.encode()).fetchone()[0]
                 for name in before}
    return before, after


def rows(found: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in found]


async def test_a_deployment_moves_whole_and_the_store_answers_the_same(
        svc: Services, target: str, capsys: pytest.CaptureFixture[str]) -> None:
    numbers = await deployment(svc)
    source = Path(svc.settings.database)
    # One row per chunk: each chunk is a COPY of its own, but a report naming a later one
    # (duplicate_of) must still arrive.
    assert await copy.command(f"sqlite://{source}", target, chunk=1) == 0
    out = capsys.readouterr().out
    assert "reports: 3 rows" in out and "MISMATCH" not in out
    before, after = counts(source, target)
    assert before == after
    assert before["reports"] == 3 and before["report_text"] == 2 and before["users"] == 1
    assert before["clips"] == 1 and before["municipalities"] == 2 and before["lines"] >= 1
    assert before["rollup_day"] >= 2 and before["events"] >= 10
    assert all(c.ok for c in copy.verify(source, target))
    with psycopg.connect(target) as conn:  # before the store's own start-up could fix them
        for table in ("events", "users", "reports", "clips", "report_text"):
            column = "rowid" if table == "report_text" else "id"
            (sequence,) = conn.execute("SELECT pg_get_serial_sequence(%s, %s)",
                                       (table, column)).fetchone() or (None,)
            mark = conn.execute(f"SELECT last_value, is_called FROM {sequence}".encode()
                                ).fetchone()
            top = conn.execute(f"SELECT max({column}) FROM {table}".encode()).fetchone()
            assert mark == (top[0] if top else None, True), table

    async with PgDatabase(target) as db:
        for number in numbers:
            there = await ConsoleQueries(db).report(number)
            assert there is not None and there == await ConsoleQueries(svc.db).report(number)
        assert (await ConsoleQueries(db).report(numbers[0]) or {})["lat"] == LAT
        order = " ORDER BY municipality_id, day, type, zone, channel"
        assert rows(await db.fetchall("SELECT * FROM rollup_day" + order)) == rows(
            await svc.db.fetchall("SELECT * FROM rollup_day" + order))
        assert rows(await db.fetchall("SELECT rowid, body, report_id, source FROM report_text"
                                      " ORDER BY rowid")) == rows(await svc.db.fetchall(
            "SELECT rowid, body, report_id, source FROM report_text ORDER BY rowid"))
        assert await Reports(db).history(numbers[0]) == await svc.reports.history(numbers[0])

        # The triggers are on again: rollups count a new report once, ids go on after the
        # copied ones, events stay append-only and are announced.
        counted = "SELECT (SELECT sum(n) FROM rollup_day), (SELECT count(*) FROM reports)"
        assert tuple(await db.fetchone(counted) or ()) == (3, 3)
        fourth = await Reports(db).open_report(report("1795584686.4"))
        assert fourth > numbers[1] and tuple(await db.fetchone(counted) or ()) == (4, 4)
        mario = await Users(db).add("mario", Role.OPERATOR, "otra clave larga 456")
        assert mario.id == 2
        last = (await svc.db.fetchone("SELECT max(id) AS id FROM events") or {"id": 0})["id"]
        newer = await db.fetchall("SELECT kind FROM events WHERE id > ? ORDER BY id", (last,))
        assert [r["kind"] for r in newer] == ["report.opened", "user.added"]

        async def tamper(conn: Any) -> None:
            await conn.execute("UPDATE events SET kind = 'x' WHERE report_id = ?",
                               (numbers[0],))

        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await db.write(tamper)
    with psycopg.connect(target) as conn:
        states = conn.execute("SELECT DISTINCT tgenabled FROM pg_trigger"
                              " WHERE NOT tgisinternal").fetchall()
    assert states == [("O",)]


async def test_a_second_copy_into_the_same_target_is_refused(
        svc: Services, target: str, capsys: pytest.CaptureFixture[str]) -> None:
    await deployment(svc)
    source = str(svc.settings.database)
    assert await copy.command(source, target) == 0
    capsys.readouterr()
    assert await copy.command(source, target) == 2
    err = capsys.readouterr().err
    assert "already holds data" in err and "reports" in err and "never merges" in err
    before, after = counts(Path(source), target)
    assert before == after  # nothing doubled


async def test_a_tampered_target_is_found_by_verify(svc: Services, target: str) -> None:
    await deployment(svc)
    source = Path(svc.settings.database)
    assert await copy.command(str(source), target) == 0
    assert [c.table for c in copy.verify(source, target) if not c.ok] == []
    with psycopg.connect(target) as conn:  # one row, one bit of one double
        conn.execute("UPDATE directory SET lat = %s WHERE number = '5551234'",
                     (LAT + 2e-15,))
    checks = {c.table: c for c in copy.verify(source, target)}
    assert [name for name, c in checks.items() if not c.ok] == ["directory"]
    assert checks["directory"].source_rows == checks["directory"].target_rows == 1
    lines = copy.table_lines(list(checks.values()))
    assert any(line.startswith("directory") and line.endswith("MISMATCH") for line in lines)


async def test_a_failed_copy_leaves_the_target_empty(
        svc: Services, target: str, capsys: pytest.CaptureFixture[str]) -> None:
    await deployment(svc)
    source = Path(svc.settings.database)
    raw = sqlite3.connect(source)  # SQLite checks foreign keys only when asked
    raw.execute("INSERT INTO clip_audio (clip_id, duration_s, silence_share, playback_s,"
                " waveform, created_at) VALUES (999, 1.0, 0.0, 1.0, '[]', 'x')")
    raw.commit()
    assert await copy.command(str(source), target) == 1
    err = capsys.readouterr().err
    assert "clip_audio" in err and "nothing was kept" in err
    _before, after = counts(source, target)
    assert {name for name, n in after.items() if n} == {"municipalities", "analytics_clock",
                                                        "notifier_cursor"}  # the seeds
    assert after["municipalities"] == 1  # what the schema seeds, as before the copy
    raw.execute("DELETE FROM clip_audio WHERE clip_id = 999")
    raw.commit()
    raw.close()
    assert await copy.command(str(source), target) == 0  # nothing left in the way


async def test_the_alerta_command_copies_and_refuses(svc: Services, target: str,
                                                     tmp_path: Path) -> None:
    await deployment(svc)
    source = Path(svc.settings.database)

    def alerta(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ivr.cli", "db", "copy", *args],
                              cwd=source.parent, capture_output=True, text=True, timeout=300,
                              check=False)

    done = alerta("--from", f"sqlite:{source.name}", "--to", target)  # relative to the cwd
    assert done.returncode == 0, done.stderr
    table = {line.split()[0]: line.split() for line in done.stdout.splitlines()
             if line.endswith(" ok")}
    assert table["reports"][1] == "3" and table["users"][1] == "1"
    assert "report_text_data" not in table and "schema_migrations" not in table
    assert "verified: " in done.stdout

    again = alerta("--from", f"sqlite://{source}", "--to", target)
    assert again.returncode == 2 and "already holds data" in again.stderr
    missing = alerta("--from", str(tmp_path / "nowhere.sqlite3"), "--to", target)
    assert missing.returncode == 2 and "no SQLite database" in missing.stderr
    assert not (tmp_path / "nowhere.sqlite3").exists()
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).close()
    stranger = alerta("--from", str(other), "--to", target)
    assert stranger.returncode == 2 and "not an alerta database" in stranger.stderr
    backwards = alerta("--from", target, "--to", f"sqlite://{source}")
    assert backwards.returncode == 2 and "SQLite file" in backwards.stderr


def test_source_addresses_and_checksums() -> None:
    assert copy.source_path("sqlite:///var/lib/alerta/a.sqlite3") == Path(
        "/var/lib/alerta/a.sqlite3")
    assert copy.source_path("sqlite:data/a.sqlite3") == Path("data/a.sqlite3")
    assert copy.source_path("/srv/a.sqlite3") == Path("/srv/a.sqlite3")
    with pytest.raises(copy.CopyRefused):
        copy.source_path("sqlite://")
    # Order does not matter; one value, one type or one last bit of a double does.
    a = [(1, "x", 0.1 + 0.2, None), (2, "y", 2.5, "z")]
    assert copy.digest(a) == copy.digest(list(reversed(a)))
    assert copy.digest(a) != copy.digest([(1, "x", 0.3, None), (2, "y", 2.5, "z")])
    assert copy.digest(a) != copy.digest([("1", "x", 0.1 + 0.2, None), (2, "y", 2.5, "z")])
    assert copy.digest(a + a)[0] == 4 and copy.digest(a + a) != copy.digest(a)
