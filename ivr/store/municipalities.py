"""The municipalities of the deployment, and which ones are neighbours."""

from __future__ import annotations

import sqlite3

import aiosqlite

from ivr.domain.municipalities import (
    MAX_MUNICIPALITIES,
    Municipality,
    MunicipalityError,
    check_code,
    standard_offset,
)
from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso, utc_now

_COLUMNS = ("id, code, name, timezone, utc_offset_minutes, jurisdiction_id, public_page,"
            " retention_days")


def _municipality(row: sqlite3.Row) -> Municipality:
    return Municipality(int(row["id"]), row["code"], row["name"], row["timezone"],
                        int(row["utc_offset_minutes"]), row["jurisdiction_id"],
                        bool(row["public_page"]), row["retention_days"])


class Municipalities:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> list[Municipality]:
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM municipalities ORDER BY id")
        return [_municipality(r) for r in rows]

    async def get(self, municipality: int) -> Municipality | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM municipalities WHERE id = ?", (municipality,))
        return _municipality(row) if row else None

    async def by_code(self, code: str) -> Municipality | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM municipalities WHERE code = ?", (code,))
        return _municipality(row) if row else None

    async def by_jurisdiction(self, jurisdiction: str) -> Municipality | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM municipalities WHERE jurisdiction_id = ?", (jurisdiction,))
        return _municipality(row) if row else None

    async def add(self, code: str, name: str, timezone: str, *, actor: str,
                  jurisdiction_id: str = "") -> Municipality:
        check_code(code)
        name = name.strip()
        if not name or len(name) > 120:
            raise MunicipalityError("a municipality needs a name (up to 120 characters)")
        offset = standard_offset(timezone)
        jurisdiction = jurisdiction_id.strip() or code
        now = iso(utc_now())

        async def op(conn: aiosqlite.Connection) -> int:
            async with conn.execute("SELECT coalesce(max(id), 0) + 1 FROM municipalities") as cur:
                row = await cur.fetchone()
            new_id = int(row[0]) if row else 1
            if new_id > MAX_MUNICIPALITIES:
                raise MunicipalityError("no room for another municipality")
            try:
                await conn.execute(
                    "INSERT INTO municipalities (id, code, name, timezone, utc_offset_minutes,"
                    " jurisdiction_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (new_id, code, name, timezone, offset, jurisdiction, now))
            except sqlite3.IntegrityError as exc:
                raise MunicipalityError(
                    f"code {code!r} or jurisdiction {jurisdiction!r} is taken") from exc
            await events.append(conn, None, "municipality.added", now, actor=actor,
                                data={"id": new_id, "code": code, "name": name},
                                municipality=new_id)
            return new_id

        new_id = await self.db.write(op)
        return Municipality(new_id, code, name, timezone, offset, jurisdiction)

    async def update(self, municipality: int, *, actor: str, code: str | None = None,
                     name: str | None = None, timezone: str | None = None,
                     jurisdiction_id: str | None = None,
                     public_page: bool | None = None,
                     retention_days: int | None = None) -> Municipality:
        sets: list[str] = []
        params: list[object] = []
        if code is not None:
            sets.append("code = ?")
            params.append(check_code(code))
        if name is not None:
            if not name.strip() or len(name) > 120:
                raise MunicipalityError("a municipality needs a name (up to 120 characters)")
            sets.append("name = ?")
            params.append(name.strip())
        if timezone is not None:
            sets += ["timezone = ?", "utc_offset_minutes = ?"]
            params += [timezone, standard_offset(timezone)]
        if jurisdiction_id is not None:
            # empty: the (new, else current) code, as when the municipality was added
            sets.append("jurisdiction_id = coalesce(?, code)")
            params.append(jurisdiction_id.strip() or code)
        if public_page is not None:
            sets.append("public_page = ?")
            params.append(int(public_page))
        if retention_days is not None:  # 0: no minimum of its own
            if not 0 <= retention_days <= 36500:
                raise MunicipalityError("clips are kept 0 to 36500 days")
            sets.append("retention_days = ?")
            params.append(retention_days or None)
        now = iso(utc_now())

        async def op(conn: aiosqlite.Connection) -> None:
            if sets:
                try:
                    cur = await conn.execute(
                        f"UPDATE municipalities SET {', '.join(sets)} WHERE id = ?",
                        (*params, municipality))
                except sqlite3.IntegrityError as exc:
                    raise MunicipalityError("that code or jurisdiction is taken") from exc
                if cur.rowcount != 1:
                    raise MunicipalityError(f"no municipality {municipality}")
            await events.append(conn, None, "municipality.changed", now, actor=actor,
                                data={"id": municipality, "set": [s.split(" ")[0] for s in sets]},
                                municipality=municipality)

        await self.db.write(op)
        found = await self.get(municipality)
        assert found is not None
        return found

    async def memberships(self, user_id: int) -> list[dict[str, object]]:
        """Where an account works: id, code, name and its role there, by name."""
        rows = await self.db.fetchall(
            "SELECT m.id, m.code, m.name, ur.role FROM user_roles ur JOIN municipalities m"
            " ON m.id = ur.municipality_id WHERE ur.user_id = ? ORDER BY m.name", (user_id,))
        return [dict(r) for r in rows]

    async def neighbours(self, municipality: int) -> list[Municipality]:
        rows = await self.db.fetchall(
            f"SELECT {', '.join('m.' + c.strip() for c in _COLUMNS.split(','))}"
            " FROM municipality_neighbours n JOIN municipalities m ON m.id = n.neighbour_id"
            " WHERE n.municipality_id = ? ORDER BY m.name", (municipality,))
        return [_municipality(r) for r in rows]

    async def make_neighbours(self, a: int, b: int, *, actor: str) -> None:
        if a == b:
            raise MunicipalityError("a municipality is not its own neighbour")
        now = iso(utc_now())

        async def op(conn: aiosqlite.Connection) -> None:
            for x, y in ((a, b), (b, a)):
                try:
                    await conn.execute(
                        "INSERT OR IGNORE INTO municipality_neighbours VALUES (?, ?)", (x, y))
                except sqlite3.IntegrityError as exc:
                    raise MunicipalityError("no such municipality") from exc
                await events.append(conn, None, "municipality.neighbour", now, actor=actor,
                                    data={"neighbour": y}, municipality=x)

        await self.db.write(op)
