"""Silent alarms in the store: the devices intakes look up, and each signal recorded once
with what it causes (an alarm's report), in one transaction the intake waits for before
it acknowledges the device."""

from __future__ import annotations

import json
from datetime import datetime

import aiosqlite

from ivr.core.records import ManualReport
from ivr.domain.alarms import KINDS, Device, Recorded, Signal, words
from ivr.domain.roles import Intake
from ivr.store import events
from ivr.store.casework import insert_report
from ivr.store.db import Database
from ivr.store.reports import iso

_DEVICE = (
    "SELECT d.id, d.municipality_id, d.kind, d.account, d.keys, d.time_zone, d.tolerance_s,"
    " d.poll_s, d.link, s.id, s.name, s.address, s.zone, s.lat, s.lon, s.contacts"
    " FROM alarm_devices d JOIN alarm_sites s ON s.id = d.site_id"
)


def _device(r: object) -> Device:
    row = list(r)  # type: ignore[call-overload]
    contacts = json.loads(row[15] or "[]")
    phone = next((c.get("phone") for c in contacts if c.get("phone")), None)
    return Device(row[0], row[1], row[2], row[3], tuple(json.loads(row[4] or "[]")), row[5],
                  row[6], row[7], row[8], row[9], row[10], row[11], row[12], row[13], row[14],
                  phone)


class AlarmStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def device(self, kind: str, account: str) -> Device | None:
        """The active device ``account`` of ``kind``, or None."""
        row = await self.db.fetchone(
            _DEVICE + " WHERE d.kind = ? AND d.account = ? AND d.active = 1", (kind, account))
        return _device(row) if row is not None else None

    async def record(self, device: Device, signal: Signal, kind: str, now: datetime
                     ) -> Recorded:
        """Keep ``signal`` once; an alarm opens its report (channel ``pos``, an emergency,
        the site's address and zone) with an ``alarm.raised`` event; any signal shows the
        device is alive (a lost link is restored)."""
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> Recorded:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO alarm_signals (device_id, dedup_key, kind, code, zone,"
                " sent_at, received_at, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (device.id, signal.dedup_key, kind, signal.code[:16], signal.zone,
                 iso(signal.sent_at) if signal.sent_at else None, at, signal.raw[:500]))
            if not cur.rowcount:
                row = await (await conn.execute(
                    "SELECT id, kind, report_id FROM alarm_signals WHERE dedup_key = ?",
                    (signal.dedup_key,))).fetchone()
                assert row is not None
                return Recorded(row[0], row[1], True, row[2])
            signal_id = cur.lastrowid
            assert signal_id is not None
            report = None
            type_id = KINDS.get(kind, KINDS["other"])[0]
            if type_id is not None:
                report = await _open(conn, device, signal, kind, type_id, now)
                await conn.execute("UPDATE alarm_signals SET report_id = ? WHERE id = ?",
                                   (report, signal_id))
            await conn.execute(
                "UPDATE alarm_devices SET last_seen_at = ?,"
                " last_test_at = CASE WHEN ? THEN ? ELSE last_test_at END,"
                " link = 'ok', link_lost_at = NULL WHERE id = ?",
                (at, kind == "test", at, device.id))
            if device.link == "lost":
                await events.append(conn, None, "alarm.link_restored", at, actor="system",
                                    data={"device": device.id, "site": device.site},
                                    municipality=device.municipality)
            return Recorded(signal_id, kind, False, report)

        return await self.db.write(op)

    async def seen(self, device: Device, now: datetime) -> None:
        """A poll: the device is alive (nothing else is kept of it)."""
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> None:
            cur = await conn.execute(
                "UPDATE alarm_devices SET last_seen_at = ?, link = 'ok', link_lost_at = NULL"
                " WHERE id = ? AND link = 'lost'", (at, device.id))
            if cur.rowcount:
                await events.append(conn, None, "alarm.link_restored", at, actor="system",
                                    data={"device": device.id, "site": device.site},
                                    municipality=device.municipality)
            else:
                await conn.execute("UPDATE alarm_devices SET last_seen_at = ?, link = 'ok'"
                                   " WHERE id = ?", (at, device.id))

        await self.db.write(op)


async def _open(conn: aiosqlite.Connection, device: Device, signal: Signal, kind: str,
                type_id: str, now: datetime) -> int:
    where = ", ".join(p for p in (device.site, device.address) if p)
    summary = f"{words(kind).capitalize()} ({signal.code}"
    summary += f", zona {signal.zone})" if signal.zone else ")"
    summary += f": {where}" if where else ""
    report = await insert_report(
        conn, ManualReport(type_id=type_id, priority=1, channel=Intake.POS, summary=summary,
                           caller=device.contact_phone, zone=device.zone,
                           address=device.address or None, emergency=True,
                           municipality=device.municipality),
        "device:" + device.kind, now, {}, by_hand=False)
    if device.lat is not None and device.lon is not None:
        await conn.execute(
            "UPDATE reports SET alarm_device_id = ?, lat = ?, lon = ?, location_source = 'site'"
            " WHERE id = ?", (device.id, device.lat, device.lon, report))
    else:
        await conn.execute("UPDATE reports SET alarm_device_id = ? WHERE id = ?",
                           (device.id, report))
    await events.append(conn, report, "alarm.raised", iso(now), actor="device:" + device.kind,
                        data={"device": device.id, "site": device.site_id, "code": signal.code,
                              "kind": kind, "words": words(kind), "zone": signal.zone})
    return report
