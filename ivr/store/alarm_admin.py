"""Sites and devices of the silent alarms, as admins keep them (each change audited)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso

KINDS = ("dc09", "webhook", "contact_id")


class AlarmAdminError(ValueError):
    """A site or device refused, with a message fit to show."""


class AlarmAdmin:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_site(self, municipality: int, name: str, *, address: str = "",
                       zone: str | None = None, lat: float | None = None,
                       lon: float | None = None, contacts: list[dict[str, str]] | None = None,
                       actor: str, now: datetime) -> int:
        name = " ".join(name.split())[:120]
        if not name:
            raise AlarmAdminError("a site needs the business's name")
        if (lat is None) != (lon is None) or (lat is not None and not (
                -90 <= lat <= 90 and -180 <= (lon or 0) <= 180)):
            raise AlarmAdminError("a position is a latitude and a longitude")
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(
                "INSERT INTO alarm_sites (municipality_id, name, address, zone, lat, lon,"
                " contacts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (municipality, name, address.strip()[:200], zone, lat, lon,
                 json.dumps(contacts or []), at, at))
            site = cur.lastrowid
            assert site is not None
            await events.append(conn, None, "alarms.site_added", at, actor=actor,
                                data={"site": site, "name": name}, municipality=municipality)
            return site

        return await self.db.write(op)

    async def add_device(self, municipality: int, site: int, kind: str, account: str, *,
                         keys: list[str] | None = None, time_zone: str = "UTC",
                         tolerance_s: int = 60, poll_s: int | None = None, actor: str,
                         now: datetime) -> int:
        if kind not in KINDS:
            raise AlarmAdminError("a device is dc09, webhook or contact_id")
        account = account.strip().upper() if kind == "dc09" else account.strip()
        if not account or len(account) > 64:
            raise AlarmAdminError("a device needs its account or id")
        if not 5 <= tolerance_s <= 86400 or (poll_s is not None and not 10 <= poll_s <= 86400):
            raise AlarmAdminError("tolerance 5 s to 24 h; polls every 10 s to 24 h")
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> int:
            row = await (await conn.execute(
                "SELECT 1 FROM alarm_sites WHERE id = ? AND municipality_id = ?",
                (site, municipality))).fetchone()
            if row is None:
                raise AlarmAdminError("no such site here")
            taken = await (await conn.execute(
                "SELECT 1 FROM alarm_devices WHERE kind = ? AND account = ?",
                (kind, account))).fetchone()
            if taken is not None:
                raise AlarmAdminError(f"a {kind} device {account} exists already")
            cur = await conn.execute(
                "INSERT INTO alarm_devices (site_id, municipality_id, kind, account, keys,"
                " time_zone, tolerance_s, poll_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (site, municipality, kind, account, json.dumps(keys or []), time_zone,
                 tolerance_s, poll_s, at))
            device = cur.lastrowid
            assert device is not None
            await events.append(conn, None, "alarms.device_added", at, actor=actor,
                                data={"device": device, "site": site, "kind": kind,
                                      "account": account}, municipality=municipality)
            return device

        return await self.db.write(op)

    async def devices(self, municipality: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT d.id, d.kind, d.account, d.poll_s, d.link, d.last_seen_at, d.link_lost_at,"
            " d.active, s.id AS site_id, s.name AS site, s.address, s.zone"
            " FROM alarm_devices d JOIN alarm_sites s ON s.id = d.site_id"
            " WHERE d.municipality_id = ? ORDER BY s.name, d.id", (municipality,))
        return [dict(r) for r in rows]
