"""What admins keep for citizens' cases, and the monthly figures: a municipality's own
non-working days, the areas each officer answers for (every change an event of the
municipality), and per area and kind the cases received in a month and how they went."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import aiosqlite

from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso


class CaseAdminStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- the municipality's non-working days ------------------------------------------

    async def non_working_days(self, municipality: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT day, name, created_by, created_at FROM non_working_days"
            " WHERE municipality_id = ? ORDER BY day", (municipality,))
        return [{**dict(r), "day": str(r["day"])} for r in rows]  # YYYY-MM-DD

    async def add_non_working_day(self, municipality: int, day: date, name: str, *,
                                  actor: str, moment: datetime) -> None:
        """Add the day, or rename it when it is there already."""
        now = iso(moment)

        async def op(conn: aiosqlite.Connection) -> None:
            cur = await conn.execute(
                "UPDATE non_working_days SET name = ? WHERE municipality_id = ? AND day = ?",
                (name, municipality, day.isoformat()))
            if cur.rowcount == 0:
                await conn.execute(
                    "INSERT INTO non_working_days (municipality_id, day, name, created_by,"
                    " created_at) VALUES (?, ?, ?, ?, ?)",
                    (municipality, day.isoformat(), name, actor, now))
            await events.append(conn, None, "calendar.day_added", now, actor=actor,
                                data={"day": day.isoformat(), "name": name},
                                municipality=municipality)

        await self.db.write(op)

    async def remove_non_working_day(self, municipality: int, day: date, *, actor: str,
                                     moment: datetime) -> bool:
        now = iso(moment)

        async def op(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "DELETE FROM non_working_days WHERE municipality_id = ? AND day = ?",
                (municipality, day.isoformat()))
            if cur.rowcount != 1:
                return False
            await events.append(conn, None, "calendar.day_removed", now, actor=actor,
                                data={"day": day.isoformat()}, municipality=municipality)
            return True

        return await self.db.write(op)

    # --- officers' areas --------------------------------------------------------------

    async def officer_areas(self, municipality: int, user_id: int) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT area FROM officer_areas WHERE user_id = ? AND municipality_id = ?"
            " ORDER BY area", (user_id, municipality))
        return [str(r["area"]) for r in rows]

    async def officers_of(self, municipality: int, area: str) -> list[int]:
        rows = await self.db.fetchall(
            "SELECT user_id FROM officer_areas WHERE municipality_id = ? AND area = ?"
            " ORDER BY user_id", (municipality, area))
        return [int(r["user_id"]) for r in rows]

    async def grant_area(self, municipality: int, user_id: int, area: str, *, actor: str,
                         moment: datetime) -> bool:
        """False when the officer had it already."""
        now = iso(moment)

        async def op(conn: aiosqlite.Connection) -> bool:
            held = await conn.execute_fetchall(
                "SELECT 1 FROM officer_areas WHERE user_id = ? AND municipality_id = ?"
                " AND area = ?", (user_id, municipality, area))
            if list(held):
                return False
            await conn.execute(
                "INSERT INTO officer_areas (user_id, municipality_id, area, granted_at)"
                " VALUES (?, ?, ?, ?)", (user_id, municipality, area, now))
            await events.append(conn, None, "officer.area_granted", now, actor=actor,
                                data={"user_id": user_id, "area": area},
                                municipality=municipality)
            return True

        return await self.db.write(op)

    async def revoke_area(self, municipality: int, user_id: int, area: str, *, actor: str,
                          moment: datetime) -> bool:
        now = iso(moment)

        async def op(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "DELETE FROM officer_areas WHERE user_id = ? AND municipality_id = ?"
                " AND area = ?", (user_id, municipality, area))
            if cur.rowcount != 1:
                return False
            await events.append(conn, None, "officer.area_revoked", now, actor=actor,
                                data={"user_id": user_id, "area": area},
                                municipality=municipality)
            return True

        return await self.db.write(op)

    # --- the monthly figures -------------------------------------------------------------

    async def monthly(self, municipality: int, first: date, after: date, today: date
                      ) -> list[dict[str, Any]]:
        """Per area and kind, of the cases received from ``first`` to before ``after``:
        received, answered on time, answered late, overdue (open past its due date on
        ``today``) and open within their deadline."""
        rows = await self.db.fetchall(
            "SELECT area, kind, count(*) AS received,"
            " sum(CASE WHEN answered_on IS NOT NULL AND answered_on <= due_on"
            "  THEN 1 ELSE 0 END) AS on_time,"
            " sum(CASE WHEN answered_on IS NOT NULL AND answered_on > due_on"
            "  THEN 1 ELSE 0 END) AS late,"
            " sum(CASE WHEN state = 'open' AND due_on < ? THEN 1 ELSE 0 END) AS overdue,"
            " sum(CASE WHEN state = 'open' AND due_on >= ? THEN 1 ELSE 0 END) AS open"
            " FROM cases WHERE municipality_id = ? AND received_on >= ? AND received_on < ?"
            " GROUP BY area, kind ORDER BY area, kind",
            (today.isoformat(), today.isoformat(), municipality, first.isoformat(),
             after.isoformat()))
        return [{k: (int(r[k] or 0) if k not in ("area", "kind") else str(r[k]))
                 for k in ("area", "kind", "received", "on_time", "late", "overdue", "open")}
                for r in rows]
