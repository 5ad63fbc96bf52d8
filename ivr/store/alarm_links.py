"""Link supervision in the store: which supervised devices have gone silent, and the
one write that marks a device lost and announces it (``ivr.core.alarm_links``).

The same silence test is in the read and in the UPDATE's WHERE: a poll that lands
between the two, or another controller that marked the device first, leaves the
UPDATE with no row, and so no second event."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from ivr.core.alarm_links import SilentDevice
from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso

# Unheard for more than misses × poll_s seconds; never heard: since the device was added.
_SILENT = ("(julianday(?) - julianday(coalesce(d.last_seen_at, d.created_at))) * 86400.0"
           " > d.poll_s * ?")
_SUPERVISED = "d.poll_s IS NOT NULL AND d.active = 1 AND d.link != 'lost'"
BATCH = 500


class AlarmLinkStore:
    """Implements ``ivr.core.alarm_links.LinkBook``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def silent(self, now: datetime, misses: float) -> list[SilentDevice]:
        rows = await self.db.fetchall(
            "SELECT d.id, d.municipality_id, d.account, s.name, d.poll_s, d.last_seen_at"
            " FROM alarm_devices d JOIN alarm_sites s ON s.id = d.site_id"
            f" WHERE {_SUPERVISED} AND {_SILENT} ORDER BY d.id LIMIT {BATCH}",
            (iso(now), misses))
        return [SilentDevice(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    async def mark_lost(self, device: SilentDevice, now: datetime, misses: float) -> bool:
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "UPDATE alarm_devices AS d SET link = 'lost', link_lost_at = ?"
                f" WHERE d.id = ? AND {_SUPERVISED} AND {_SILENT}",
                (at, device.id, at, misses))
            if not cur.rowcount:
                return False  # heard meanwhile, or another controller announced it
            await events.append(
                conn, None, "alarm.link_lost", at, actor="system",
                data={"device": device.id, "site": device.site, "account": device.account,
                      "last_seen_at": device.last_seen_at,
                      "detail": f"{device.site} ({device.account})"},
                municipality=device.municipality)
            return True

        return await self.db.write(op)
