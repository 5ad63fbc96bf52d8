"""Console sessions, kept in the database so a restart or a second process keeps them.

Only a SHA-256 of the cookie value is stored; the CSRF token is per session.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso, utc_now
from ivr.store.users import User, _user

TOUCH_EVERY_S = 60  # last_seen is written at most this often per session


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    csrf: str
    user: User


class Sessions:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def create(self, user: User, *, max_age_s: int) -> Session:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        moment = self.clock()
        now, expires = iso(moment), iso(moment + timedelta(seconds=max_age_s))

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf, created_at, last_seen_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (_digest(token), user.id, csrf, now, now, expires),
            )
            # Expired sessions are swept as new ones are made.
            await conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))

        await self.db.write(op)
        return Session(token, csrf, user)

    async def lookup(self, token: str, *, idle_s: int) -> Session | None:
        if not token or len(token) > 128:
            return None
        # The account as it works in the session's municipality (or, before it chose
        # one or once its role there is gone, in its first).
        row = await self.db.fetchone(
            "SELECT s.csrf, s.last_seen_at, s.expires_at, s.token_hash, u.*, ur.role,"
            " ur.municipality_id FROM sessions s JOIN users u ON u.id = s.user_id"
            " LEFT JOIN user_roles ur ON ur.user_id = u.id AND ur.municipality_id = coalesce("
            " (SELECT y.municipality_id FROM user_roles y WHERE y.user_id = u.id"
            "  AND y.municipality_id = s.municipality_id),"
            " (SELECT min(x.municipality_id) FROM user_roles x WHERE x.user_id = u.id))"
            " WHERE s.token_hash = ?",
            (_digest(token),),
        )
        if row is None or not row["active"] or not row["role"]:
            return None
        moment = self.clock()
        now = iso(moment)
        idle_since = iso(moment - timedelta(seconds=idle_s))
        if row["expires_at"] <= now or row["last_seen_at"] < idle_since:
            await self.destroy(token)
            return None
        if row["last_seen_at"] < iso(moment - timedelta(seconds=TOUCH_EVERY_S)):
            digest = row["token_hash"]

            async def touch(conn: aiosqlite.Connection) -> None:
                await conn.execute(
                    "UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?", (now, digest)
                )

            await self.db.write(touch)
        return Session(token, row["csrf"], _user(row))

    async def switch(self, token: str, municipality: int, *, actor: str) -> None:
        """Work in ``municipality`` from now on (the caller checked the user has a role)."""
        digest = _digest(token)
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute("UPDATE sessions SET municipality_id = ? WHERE token_hash = ?",
                               (municipality, digest))
            await events.append(conn, None, "user.switched", now, actor=actor,
                                municipality=municipality)

        await self.db.write(op)

    async def destroy(self, token: str) -> None:
        digest = _digest(token)

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute("DELETE FROM sessions WHERE token_hash = ?", (digest,))

        await self.db.write(op)
