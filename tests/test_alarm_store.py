"""Silent alarms through the use case and the real store, on both engines: an alarm
opens one emergency report at the site, a resent signal is stored once, a test or a
poll opens none, a device back from a lost link is announced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ivr.core.alarms import AlarmIntake
from ivr.domain.alarms import Signal, classify, contact_id_valid
from ivr.store import engine as store_engine
from ivr.store.alarm_admin import AlarmAdmin, AlarmAdminError
from ivr.store.alarms import AlarmStore

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
async def intake(database: Any) -> AsyncIterator[AlarmIntake]:
    db = await store_engine.database(database).open()
    admin = AlarmAdmin(db)
    site = await admin.add_site(1, "Bodega Don Lucho", address="Av. Larco 812", zone="3",
                                lat=-12.12, lon=-77.03,
                                contacts=[{"name": "Lucho", "phone": "987111222"}],
                                actor="user:root", now=NOW)
    await admin.add_device(1, site, "dc09", "a1b2", keys=["0123456789abcdef"], poll_s=90,
                           actor="user:root", now=NOW)
    try:
        yield AlarmIntake(AlarmStore(db), lambda: NOW)
    finally:
        await db.close()


async def test_a_site_with_no_position_still_gets_its_report(intake: AlarmIntake) -> None:
    db = intake.book.db  # type: ignore[attr-defined]
    admin = AlarmAdmin(db)
    site = await admin.add_site(1, "Farmacia sin mapa", address="Jr. Tarata 160",
                                actor="user:root", now=NOW)
    await admin.add_device(1, site, "dc09", "C3", actor="user:root", now=NOW)
    device = await intake.device("dc09", "c3")
    assert device is not None and device.lat is None
    got = await intake.receive(device, Signal("dc09", "C3", "PA", "nomap1", sent_at=NOW))
    assert got is not None and got.report_id
    row = await db.fetchone("SELECT lat, alarm_device_id, location_source FROM reports"
                            " WHERE id = ?", (got.report_id,))
    assert row["lat"] is None and row["alarm_device_id"] == device.id


def _signal(code: str, key: str) -> Signal:
    return Signal("dc09", "A1B2", code, key, zone="001", sent_at=NOW, raw=f"[{code}]")


async def test_an_alarm_opens_one_emergency_report_at_the_site(intake: AlarmIntake) -> None:
    device = await intake.device("dc09", "a1b2")
    assert device is not None and device.site == "Bodega Don Lucho"
    first = await intake.receive(device, _signal("HA", "k1"))
    assert first is not None and not first.duplicate and first.report_id
    again = await intake.receive(device, _signal("HA", "k1"))  # the panel resends
    assert again is not None and again.duplicate and again.report_id == first.report_id
    db = intake.book.db  # type: ignore[attr-defined]
    row = await db.fetchone("SELECT channel, type, emergency, priority, zone, address, lat,"
                            " alarm_device_id, summary, caller FROM reports")
    assert (row["channel"], row["type"], row["emergency"], row["priority"]) == (
        "pos", "alarm_holdup", 1, 1)
    assert row["zone"] == "3" and row["lat"] == -12.12 and row["caller"] == "987111222"
    assert "asalto en curso" in row["summary"].lower() and "Bodega Don Lucho" in row["summary"]
    kinds = [r["kind"] for r in await db.fetchall(
        "SELECT kind FROM events WHERE report_id = ? ORDER BY id", (first.report_id,))]
    assert kinds == ["report.opened", "alarm.raised"]
    assert len(await db.fetchall("SELECT id FROM alarm_signals")) == 1


async def test_a_test_or_a_poll_opens_no_report_and_a_lost_link_comes_back(
        intake: AlarmIntake) -> None:
    device = await intake.device("dc09", "A1B2")
    assert device is not None
    test = await intake.receive(device, _signal("RP", "t1"))
    assert test is not None and test.report_id is None and test.kind == "test"
    db = intake.book.db  # type: ignore[attr-defined]
    await db.write(lambda conn: conn.execute("UPDATE alarm_devices SET link = 'lost'"))
    lost = await intake.device("dc09", "A1B2")
    assert lost is not None and lost.link == "lost"
    assert await intake.receive(lost, _signal("NULL", "p1")) is None
    assert await db.fetchall("SELECT id FROM reports") == []
    restored = await db.fetchall("SELECT kind FROM events WHERE kind = 'alarm.link_restored'")
    assert len(restored) == 1
    row = await db.fetchone("SELECT link, last_test_at FROM alarm_devices")
    assert row["link"] == "ok" and row["last_test_at"]


async def test_devices_are_refused_clearly(intake: AlarmIntake) -> None:
    admin = AlarmAdmin(intake.book.db)  # type: ignore[attr-defined]
    with pytest.raises(AlarmAdminError, match="exists"):
        await admin.add_device(1, 1, "dc09", "A1B2", actor="x", now=NOW)
    with pytest.raises(AlarmAdminError, match="no such site"):
        await admin.add_device(1, 99, "dc09", "FF", actor="x", now=NOW)
    with pytest.raises(AlarmAdminError, match="dc09, webhook"):
        await admin.add_device(1, 1, "fax", "FF", actor="x", now=NOW)


def test_codes_in_plain_words() -> None:
    assert [classify(c) for c in ("E120", "E121", "E122", "E129", "R122", "E602", "NULL",
                                  "PA", "HA", "RP", "YS", "YK", "ZZ")] == [
        "panic", "duress", "silent", "holdup", "restore", "test", "poll", "panic", "holdup",
        "test", "trouble", "restore", "other"]
    body = "123418112201001"  # account 1234, new event 122 (silent), group 01, zone 001
    total = sum(10 if c == "0" else int(c) for c in body)
    check = (15 - total % 15) % 15 or 15
    message = body + ("0" if check == 10 else format(check, "X"))
    assert contact_id_valid(message)
    assert not contact_id_valid(body + format((check % 15) + 1, "X"))  # one digit off
    assert not contact_id_valid(body)
