"""The store: migrations, durable writes, the append-only event log, batching."""

from __future__ import annotations

import asyncio
import sqlite3

import aiosqlite
import pytest

from ivr.app import Services
from ivr.core.ports import Location, NewReport
from ivr.domain.clips import ClipInfo
from ivr.store import engine as store_engine
from ivr.store.db import StoreError

pytestmark = pytest.mark.store


def new_report(type_id: str = "robbery", caller: str | None = "5551234") -> NewReport:
    return NewReport(type_id, 2, False, "es", "1795584686.1", caller, caller)


@pytest.mark.sqlite
async def test_database_is_configured_for_durability(svc: Services) -> None:
    conn = sqlite3.connect(svc.settings.database)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 2
    finally:
        conn.close()
    writer = svc.db._writer
    assert writer is not None
    async with writer.execute("PRAGMA synchronous") as cur:
        assert (await cur.fetchone())[0] == 2  # FULL
    async with writer.execute("PRAGMA foreign_keys") as cur:
        assert (await cur.fetchone())[0] == 1


async def test_reader_is_read_only(svc: Services) -> None:
    with pytest.raises(sqlite3.OperationalError, match=r"read-?only"):
        await svc.db.fetchall("INSERT INTO directory (number, updated_at) VALUES ('1', 'x')")


async def test_every_change_writes_an_event_in_the_same_transaction(svc: Services) -> None:
    reports = svc.reports
    number = await reports.open_report(new_report())
    await reports.set_callback(number, "987654321", "typed")
    await reports.set_location(number, Location(zone="3", source="keypad"))
    await reports.attach_clip(number, 1, ClipInfo("2026/11/25/x.wav", 2.5, 40044, "ab" * 32))
    await reports.close_call(number, complete=True, outcome="completed", last_step="readback")
    kinds = [e["kind"] for e in await reports.history(number)]
    assert kinds == [
        "report.opened",
        "report.callback_number",
        "report.location",
        "report.clip_attached",
        "call.ended",
        "clip.queued",  # for transcription, by a trigger in the same transaction
    ]
    (row,) = await reports.listing()
    assert row["caller"] == "987654321" and row["caller_source"] == "typed"
    assert row["zone"] == "3" and row["complete"] is True
    assert row["clip_path"] == "2026/11/25/x.wav" and row["clip_seconds"] == 2.5


async def test_events_are_append_only(svc: Services) -> None:
    number = await svc.reports.open_report(new_report())

    async def tamper(conn: aiosqlite.Connection) -> None:
        await conn.execute("UPDATE events SET kind = 'x' WHERE report_id = ?", (number,))

    async def erase(conn: aiosqlite.Connection) -> None:
        await conn.execute("DELETE FROM events WHERE report_id = ?", (number,))

    for op in (tamper, erase):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await svc.db.write(op)
    assert len(await svc.reports.history(number)) == 1


async def test_a_failing_write_spoils_only_itself_in_a_shared_batch(svc: Services) -> None:
    # Many writes queued together share one transaction; the bad one is rolled back alone.
    good = [svc.reports.open_report(new_report()) for _ in range(20)]
    bad = svc.reports.set_callback(999_999, "123456", "typed")
    results = await asyncio.gather(*good, bad, return_exceptions=True)
    assert isinstance(results[-1], LookupError)
    numbers = results[:-1]
    first = min(numbers)  # type: ignore[type-var]
    assert sorted(numbers) == list(range(first, first + 20))  # type: ignore[type-var]
    assert len(await svc.reports.listing()) == 20
    assert svc.db.batches < 20  # they really were batched


async def test_reopening_keeps_reports_and_does_not_rerun_migrations(svc: Services) -> None:
    number = await svc.reports.open_report(new_report())
    async with store_engine.database(svc.settings.database) as again:
        row = await again.fetchone("SELECT type FROM reports WHERE id = ?", (number,))
        assert row is not None and row["type"] == "robbery"


async def test_write_after_close_is_refused_clearly(svc: Services) -> None:
    db = await store_engine.database(svc.settings.database).open()
    await db.close()
    with pytest.raises(StoreError, match="closed"):
        await db.write(lambda conn: conn.execute("SELECT 1"))


async def test_status_reports_state_and_when_the_case_last_changed(svc: Services) -> None:
    number = await svc.reports.open_report(new_report())
    await svc.reports.set_callback(number, "987654321", "typed")
    status = await svc.reports.status(number)
    assert status is not None and status.state.value == "received"
    opened = (await svc.reports.history(number))[0]["at"]
    assert status.changed_at.isoformat(timespec="milliseconds") == opened
    assert await svc.reports.status(424242) is None


async def test_directory_import_and_lookup(svc: Services) -> None:
    text = (
        "number,address,zone,lat,lon\n"
        "5551234,Av. Larco 123,3,-12.1211,-77.0297\n"
        "not-a-number,x,1,,\n"
        "5550000,Calle Schell 200,2,91,0\n"
        "5559999,Parque Kennedy,1,,\n"
    )
    result = await svc.directory.import_csv(text)
    assert result.imported == 2
    assert [r.split(":")[0] for r in result.rejected] == ["line 3", "line 4"]
    found = await svc.directory.lookup("5551234")
    assert found is not None and found.zone == "3" and found.address == "Av. Larco 123"
    assert found.source == "directory"
    assert await svc.directory.lookup("5550000") is None


@pytest.mark.sqlite
async def test_a_write_waits_off_the_loop_while_another_process_holds_the_write_lock(
    svc: Services,
) -> None:
    # The console may run in another process and be mid-write: our batch must wait
    # for its lock (up to busy_timeout) in the writer's thread, not fail, and not
    # stall the event loop that carries the calls.
    other = sqlite3.connect(svc.settings.database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        opening = asyncio.create_task(svc.reports.open_report(new_report()))
        ticks = 0
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 10 and not opening.done()
        other.execute("COMMIT")
        number = await asyncio.wait_for(opening, 10)
    finally:
        other.close()
    assert [r["number"] for r in await svc.reports.listing()] == [number]


@pytest.mark.sqlite
async def test_statement_journals_stay_in_memory(svc: Services) -> None:
    writer = svc.db._writer
    assert writer is not None
    async with writer.execute("PRAGMA temp_store") as cur:
        assert (await cur.fetchone())[0] == 2  # MEMORY
