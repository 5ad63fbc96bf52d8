"""Open311 GeoReport v2 in the store: the keys websites and apps file cases with (only a
hash is kept; every change an event of the municipality), and cases as a request's status
shows them (no caller, no contact, no words the citizen wrote)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso


class Open311Store:
    """``ivr.core.open311.KeyStore`` and the status of a case, as the API shows it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_key(self, municipality: int, name: str, key_hash: str, *, actor: str,
                      now: datetime) -> int:
        async def op(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(
                "INSERT INTO open311_keys (municipality_id, name, key_hash, created_by,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (municipality, name, key_hash, actor, iso(now)))
            assert cur.lastrowid is not None
            await events.append(conn, None, "open311.key_created", iso(now), actor=actor,
                                data={"id": cur.lastrowid, "name": name},
                                municipality=municipality)
            return int(cur.lastrowid)

        return await self.db.write(op)

    async def revoke_key(self, municipality: int, key_id: int, *, actor: str,
                         now: datetime) -> bool:
        """False when no live key of ``municipality`` has that id (another's, or revoked)."""
        async def op(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "UPDATE open311_keys SET revoked_at = ? WHERE id = ? AND municipality_id = ?"
                " AND revoked_at IS NULL", (iso(now), key_id, municipality))
            if cur.rowcount != 1:
                return False
            await events.append(conn, None, "open311.key_revoked", iso(now), actor=actor,
                                data={"id": key_id}, municipality=municipality)
            return True

        return await self.db.write(op)

    async def keys(self, municipality: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT id, name, created_by, created_at, revoked_at, last_used_at"
            " FROM open311_keys WHERE municipality_id = ? ORDER BY revoked_at IS NOT NULL, id",
            (municipality,))
        return [dict(r) for r in rows]

    async def key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT id, municipality_id, name, key_hash, revoked_at FROM open311_keys"
            " WHERE key_hash = ?", (key_hash,))
        return dict(row) if row else None

    async def touch(self, key_id: int, now: datetime) -> None:
        """When the key was last used (bookkeeping, not a change: no event)."""
        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute("UPDATE open311_keys SET last_used_at = ? WHERE id = ?",
                               (iso(now), key_id))

        await self.db.write(op)

    async def case_requests(self, municipality: int, reports: Sequence[int] = (), *,
                            key_id: int | None = None, limit: int = 100
                            ) -> list[dict[str, Any]]:
        """The cases among ``reports`` (ids of ``municipality``), or else the newest filed
        with key ``key_id``: kind, area, state and dates only."""
        if reports:
            marks = ",".join("?" * len(reports))
            which, params = f"c.report_id IN ({marks})", tuple(reports)
        elif key_id is not None:
            which, params = "c.api_key_id = ?", (key_id,)
        else:
            return []
        rows = await self.db.fetchall(
            "SELECT c.report_id AS id, c.kind, c.area, c.state, c.due_on, c.received_on,"
            " c.answered_on, c.updated_at, r.created_at"
            " FROM cases c JOIN reports r ON r.id = c.report_id"
            f" WHERE c.municipality_id = ? AND {which} ORDER BY c.report_id DESC LIMIT ?",
            (municipality, *params, limit))
        return [dict(r) for r in rows]
