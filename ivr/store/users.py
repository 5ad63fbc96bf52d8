"""Console accounts: argon2id password hashes, roles, lockout after failed logins."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ivr.domain.roles import Role
from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso, utc_now

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,39}$")
EXTENSION = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes any length; the cap keeps a request cheap to refuse

_hasher = PasswordHasher()  # argon2id with the library's memory-hard defaults
# Verified against when the name is unknown, so timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


class UserError(ValueError):
    """A refused account change, with a message fit to show."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    extension: str | None
    language: str
    active: bool

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User | None
    reason: str = ""  # why it was refused: "bad" | "locked" | "inactive"
    failures: int = 0


def _user(row: sqlite3.Row) -> User:
    return User(
        row["id"], row["name"], Role(row["role"]), row["extension"], row["language"],
        bool(row["active"]),
    )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError("that password is too long")


class Users:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def count(self) -> int:
        row = await self.db.fetchone("SELECT count(*) AS n FROM users")
        return int(row["n"]) if row else 0

    async def add(
        self,
        name: str,
        role: Role,
        password: str,
        *,
        extension: str | None = None,
        language: str = "es",
        actor: str = "system",
    ) -> User:
        if not NAME.match(name):
            raise UserError("a user name is 2-40 letters, digits, '.', '_' or '-'")
        if extension is not None and not EXTENSION.match(extension):
            raise UserError("an extension is 1-32 letters, digits, '_' or '-'")
        check_password(password)
        hashed = await asyncio.to_thread(_hasher.hash, password)
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> int:
            try:
                cur = await conn.execute(
                    "INSERT INTO users (name, role, password_hash, extension, language,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, role.value, hashed, extension, language, now, now),
                )
            except sqlite3.IntegrityError as exc:
                raise UserError(f"a user named {name!r} exists already") from exc
            assert cur.lastrowid is not None
            await events.append(conn, None, "user.added", now, actor=actor,
                                data={"name": name, "role": role.value})
            return cur.lastrowid

        user_id = await self.db.write(op)
        return User(user_id, name, role, extension, language, True)

    async def get(self, user_id: int) -> User | None:
        row = await self.db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(row) if row else None

    async def by_name(self, name: str) -> User | None:
        row = await self.db.fetchone("SELECT * FROM users WHERE name = ?", (name,))
        return _user(row) if row else None

    async def all(self) -> list[User]:
        return [_user(r) for r in await self.db.fetchall("SELECT * FROM users ORDER BY name")]

    async def update(
        self,
        user_id: int,
        *,
        actor: str,
        role: Role | None = None,
        extension: str | None = None,
        active: bool | None = None,
        password: str | None = None,
        language: str | None = None,
    ) -> None:
        sets: list[str] = []
        params: list[object] = []
        data: dict[str, object] = {}
        if role is not None:
            sets.append("role = ?")
            params.append(role.value)
            data["role"] = role.value
        if extension is not None:
            if extension and not EXTENSION.match(extension):
                raise UserError("an extension is 1-32 letters, digits, '_' or '-'")
            sets.append("extension = ?")
            params.append(extension or None)
            data["extension"] = extension or None
        if active is not None:
            sets.append("active = ?")
            params.append(int(active))
            data["active"] = active
        if language is not None:
            sets.append("language = ?")
            params.append(language)
            data["language"] = language
        if password is not None:
            check_password(password)
            sets += ["password_hash = ?", "failed_logins = 0", "locked_until = NULL"]
            params.append(await asyncio.to_thread(_hasher.hash, password))
            data["password"] = "changed"
        if not sets:
            return
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            cur = await conn.execute(
                f"UPDATE users SET {', '.join(sets)}, updated_at = ? WHERE id = ?",
                (*params, now, user_id),
            )
            if cur.rowcount != 1:
                raise UserError("no such user")
            if active is False or password is not None:
                # A disabled account or a new password ends every open session.
                await conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            await events.append(conn, None, "user.changed", now, actor=actor,
                                data={"user_id": user_id, **data})

        await self.db.write(op)

    async def authenticate(
        self, name: str, password: str, *, max_failures: int, lockout_s: int
    ) -> LoginResult:
        """Check a password; count failures and lock the account after too many."""
        row = await self.db.fetchone("SELECT * FROM users WHERE name = ?", (name[:80],))
        hashed = row["password_hash"] if row else _DUMMY_HASH
        ok: bool
        try:
            ok = await asyncio.to_thread(_hasher.verify, hashed, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            ok = False
        if row is None:
            return LoginResult(None, "bad")
        moment = self.clock()
        now = iso(moment)
        locked_until = row["locked_until"]
        if locked_until and locked_until > now:
            return LoginResult(None, "locked", int(row["failed_logins"]))
        user_id = row["id"]
        if ok and row["active"]:
            rehash = _hasher.check_needs_rehash(hashed)
            new_hash = await asyncio.to_thread(_hasher.hash, password) if rehash else None

            async def good(conn: aiosqlite.Connection) -> None:
                await conn.execute(
                    "UPDATE users SET failed_logins = 0, locked_until = NULL,"
                    " password_hash = coalesce(?, password_hash) WHERE id = ?",
                    (new_hash, user_id),
                )
                await events.append(conn, None, "user.login", now, actor=f"user:{row['name']}")

            await self.db.write(good)
            return LoginResult(_user(row))
        if ok:
            return LoginResult(None, "inactive")
        failures = int(row["failed_logins"]) + 1
        lock = iso(moment + timedelta(seconds=lockout_s)) if failures >= max_failures else None

        async def bad(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                (0 if lock else failures, lock, user_id),
            )
            await events.append(conn, None, "user.login_failed", now, actor="system",
                                data={"name": row["name"], "locked": bool(lock)})

        await self.db.write(bad)
        return LoginResult(None, "locked" if lock else "bad", failures)
