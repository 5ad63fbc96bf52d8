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
    """An account as it acts in one municipality: ``role`` is its role there."""

    id: int
    name: str
    role: Role
    extension: str | None
    language: str
    active: bool
    municipality: int = 1

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User | None
    # Why it was refused, for the logs only (the console answers every refusal alike):
    # "bad" password, "locked" by this failure, "refused" (unknown or locked name),
    # "inactive" (right password, disabled account).
    reason: str = ""
    failures: int = 0


def _user(row: sqlite3.Row) -> User:
    """A row of ``users`` joined with one of its ``user_roles`` (see ``AS_MEMBER``); an
    account with no role anywhere acts as a disabled one."""
    role = row["role"]
    return User(
        row["id"], row["name"], Role(role) if role else Role.OPERATOR, row["extension"],
        row["language"], bool(row["active"]) and bool(role),
        int(row["municipality_id"] or 0),
    )


# An account with its role in municipality ?1, or (?1 NULL, or no role there) in the
# first municipality where it has one.
AS_MEMBER = (
    "SELECT u.*, ur.role, ur.municipality_id FROM users u"
    " LEFT JOIN user_roles ur ON ur.user_id = u.id AND ur.municipality_id = coalesce("
    " (SELECT y.municipality_id FROM user_roles y WHERE y.user_id = u.id"
    "  AND y.municipality_id = ?1),"
    " (SELECT min(x.municipality_id) FROM user_roles x WHERE x.user_id = u.id))"
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
        municipality: int = 1,
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
                    "INSERT INTO users (name, password_hash, extension, language,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (name, hashed, extension, language, now, now),
                )
            except sqlite3.IntegrityError as exc:
                raise UserError(f"a user named {name!r} exists already") from exc
            assert cur.lastrowid is not None
            await conn.execute(
                "INSERT INTO user_roles (user_id, municipality_id, role, granted_at)"
                " VALUES (?, ?, ?, ?)", (cur.lastrowid, municipality, role.value, now))
            await events.append(conn, None, "user.added", now, actor=actor,
                                data={"name": name, "role": role.value},
                                municipality=municipality)
            return cur.lastrowid

        try:
            user_id = await self.db.write(op)
        except sqlite3.IntegrityError as exc:  # no such municipality
            raise UserError(f"no municipality {municipality}") from exc
        return User(user_id, name, role, extension, language, True, municipality)

    async def get(self, user_id: int, municipality: int | None = None) -> User | None:
        row = await self.db.fetchone(AS_MEMBER + " WHERE u.id = ?2", (municipality, user_id))
        return _user(row) if row else None

    async def by_name(self, name: str, municipality: int | None = None) -> User | None:
        row = await self.db.fetchone(AS_MEMBER + " WHERE u.name = ?2", (municipality, name))
        return _user(row) if row else None

    async def all(self, municipality: int | None = None) -> list[User]:
        """Every account (as in its first municipality), or those with a role in one."""
        if municipality is None:
            rows = await self.db.fetchall(AS_MEMBER + " ORDER BY u.name", (None,))
        else:
            rows = await self.db.fetchall(
                "SELECT u.*, ur.role, ur.municipality_id FROM users u JOIN user_roles ur"
                " ON ur.user_id = u.id AND ur.municipality_id = ? ORDER BY u.name",
                (municipality,))
        return [_user(r) for r in rows]

    async def roles(self, user_id: int) -> dict[int, Role]:
        """Where the account has a role, and which."""
        rows = await self.db.fetchall(
            "SELECT municipality_id, role FROM user_roles WHERE user_id = ?"
            " ORDER BY municipality_id", (user_id,))
        return {int(r["municipality_id"]): Role(r["role"]) for r in rows}

    async def grant(self, user_id: int, municipality: int, role: Role | None, *,
                    actor: str) -> None:
        """Give the account ``role`` in ``municipality`` (None: take its role there away)."""
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            if role is None:
                await conn.execute(
                    "DELETE FROM user_roles WHERE user_id = ? AND municipality_id = ?",
                    (user_id, municipality))
            else:
                try:
                    await conn.execute(
                        "INSERT INTO user_roles (user_id, municipality_id, role, granted_at)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (user_id, municipality_id)"
                        " DO UPDATE SET role = excluded.role, granted_at = excluded.granted_at",
                        (user_id, municipality, role.value, now))
                except sqlite3.IntegrityError as exc:
                    raise UserError("no such user or municipality") from exc
            # Sessions working there are ended: they held the old role.
            await conn.execute("DELETE FROM sessions WHERE user_id = ? AND"
                               " coalesce(municipality_id, ?) = ?",
                               (user_id, municipality, municipality))
            cleared = 0
            if role != Role.OFFICER:  # an officer's areas go with the role
                cur = await conn.execute(
                    "DELETE FROM officer_areas WHERE user_id = ? AND municipality_id = ?",
                    (user_id, municipality))
                cleared = max(cur.rowcount, 0)
            await events.append(conn, None, "user.role", now, actor=actor,
                                data={"user_id": user_id,
                                      "role": role.value if role else None,
                                      **({"areas_cleared": cleared} if cleared else {})},
                                municipality=municipality)

        await self.db.write(op)

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
        municipality: int = 1,
    ) -> None:
        """Change an account; ``role`` is its role in ``municipality``."""
        if role is not None:
            await self.grant(user_id, municipality, role, actor=actor)
        sets: list[str] = []
        params: list[object] = []
        data: dict[str, object] = {}
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
                                data={"user_id": user_id, **data}, municipality=municipality)

        await self.db.write(op)

    async def authenticate(
        self, name: str, password: str, *, max_failures: int, lockout_s: int
    ) -> LoginResult:
        """Check a password; at most ``max_failures`` real checks per account per lockout.

        Each attempt first reserves a try in the database: the UPDATE itself raises the
        counter, and the reservation that reaches the limit locks the account. Only then
        does the slow (threaded) argon2 verify run, so however many requests arrive at
        once, no more than ``max_failures`` of them ever check the real hash. A locked or
        unknown name is verified against a dummy hash instead: same work, same answer.
        A right password ends the count and the lock.
        """
        moment = self.clock()
        now = iso(moment)
        locked_until = iso(moment + timedelta(seconds=lockout_s))
        row = await self._reserve(name[:80], now, locked_until, max(1, max_failures))
        hashed = row["password_hash"] if row is not None else _DUMMY_HASH
        ok: bool
        try:
            ok = await asyncio.to_thread(_hasher.verify, hashed, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            ok = False
        if row is None:
            return LoginResult(None, "refused")
        user_id, user_name, failures = row["id"], row["name"], int(row["failed_logins"])
        if ok:
            rehash = bool(row["active"]) and _hasher.check_needs_rehash(hashed)
            new_hash = await asyncio.to_thread(_hasher.hash, password) if rehash else None

            async def good(conn: aiosqlite.Connection) -> None:
                await conn.execute(
                    "UPDATE users SET failed_logins = 0, locked_until = NULL,"
                    " password_hash = coalesce(?, password_hash) WHERE id = ?",
                    (new_hash, user_id),
                )
                if row["active"]:
                    await events.append(conn, None, "user.login", now, actor=f"user:{user_name}",
                                        municipality=row["municipality_id"])

            await self.db.write(good)
            user = _user(row)  # an account with no role anywhere cannot work: as disabled
            return LoginResult(user) if user.active else LoginResult(None, "inactive")
        locked = row["locked_until"] is not None

        async def bad(conn: aiosqlite.Connection) -> None:
            await events.append(conn, None, "user.login_failed", now, actor="system",
                                data={"name": user_name, "locked": locked})

        await self.db.write(bad)
        return LoginResult(None, "locked" if locked else "bad", failures)

    async def _reserve(
        self, name: str, now: str, locked_until: str, max_failures: int
    ) -> sqlite3.Row | None:
        """Count one attempt before it is checked; None when the name is unknown or locked.

        The count lives in the UPDATE (never read, then written back), so concurrent
        attempts each see their own number. A lock that has run out starts a fresh count.
        """

        async def op(conn: aiosqlite.Connection) -> sqlite3.Row | None:
            cur = await conn.execute(
                "UPDATE users SET"
                " failed_logins = CASE WHEN locked_until IS NULL THEN failed_logins + 1"
                " ELSE 1 END,"
                " locked_until = CASE WHEN (CASE WHEN locked_until IS NULL"
                " THEN failed_logins + 1 ELSE 1 END) >= ? THEN ? END"
                " WHERE name = ? AND (locked_until IS NULL OR locked_until <= ?)"
                " RETURNING id",
                (max_failures, locked_until, name, now),
            )
            found = await cur.fetchone()
            await cur.close()
            if found is None:
                return None
            cur = await conn.execute(AS_MEMBER + " WHERE u.id = ?2", (None, found[0]))
            row: sqlite3.Row | None = await cur.fetchone()
            await cur.close()
            return row

        return await self.db.write(op)
