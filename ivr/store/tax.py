"""Tax accounts, lookups and blocks in the store (both engines).

- ``TaxStore`` implements ``ivr.core.tax.TaxLedger`` (the audit row, the counts the
  limits read and the blocks with their alert, in one transaction), what the file
  adapter reads (an account of the current import) and what the console shows.
- ``TaxImports``: an import loads its own generation of accounts in short
  transactions, then one small transaction makes it current; the replaced one is
  deleted afterwards, a few thousand rows at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import aiosqlite

from ivr.core.tax import (
    COUNTED,
    DAY,
    FAILED,
    HOUR,
    WITHHELD,
    Counts,
    Crossing,
    Debt,
    Lookup,
    masked,
)
from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso

PURGE_CHUNK = 5000
ANSWERED = tuple(r for r in COUNTED if r != "invalid_id")  # tries that named an ID


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


@dataclass(frozen=True, slots=True)
class StoredAccount:
    secret_hash: str
    debts: tuple[Debt, ...]


class TaxStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- the ledger: blocks, audit, limits ---------------------------------------

    async def block_until(self, municipality: int, kind: str, value: str,
                          now: datetime) -> datetime | None:
        row = await self.db.fetchone(
            "SELECT until FROM tax_blocks WHERE municipality_id = ? AND kind = ?"
            " AND value = ? AND until > ?", (municipality, kind, value, iso(now)))
        return datetime.fromisoformat(row[0]) if row else None

    async def record(self, lookup: Lookup,
                     decide: Callable[[Counts], list[Crossing]]) -> list[Crossing]:
        at = iso(lookup.at)

        async def op(conn: aiosqlite.Connection) -> list[Crossing]:
            await conn.execute(
                "INSERT INTO tax_lookups (municipality_id, at, caller, call_id, line, tax_id,"
                " result) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (lookup.municipality, at, lookup.caller, lookup.call_id, lookup.line,
                 lookup.tax_id, lookup.result))
            if lookup.result not in COUNTED:
                return []
            made = []
            for crossing in decide(await self._counts(conn, lookup)):
                if await self._block(conn, lookup, crossing, at):
                    made.append(crossing)
            return made

        return await self.db.write(op)

    async def _counts(self, conn: aiosqlite.Connection, lookup: Lookup) -> Counts:
        m, now = lookup.municipality, lookup.at
        by_caller = "caller IS NULL" if lookup.caller is None else "caller = ?"
        caller_args: tuple[Any, ...] = () if lookup.caller is None else (lookup.caller,)
        since = await _since(conn, m, "caller", lookup.caller or WITHHELD)
        hour, day = _after(now - HOUR, since), _after(now - DAY, since)
        caller_failures = await _one(
            conn, f"SELECT count(*) FROM tax_lookups WHERE municipality_id = ? AND {by_caller}"
            f" AND at >= ? AND result IN {_in(FAILED)}", (m, *caller_args, hour))
        caller_ids = await _one(
            conn, "SELECT count(DISTINCT tax_id) FROM tax_lookups WHERE municipality_id = ?"
            f" AND {by_caller} AND at >= ? AND result IN {_in(ANSWERED)}",
            (m, *caller_args, day))
        if lookup.tax_id is None:
            return Counts(caller_failures, caller_ids)
        since = await _since(conn, m, "tax_id", lookup.tax_id)
        hour, day = _after(now - HOUR, since), _after(now - DAY, since)
        id_failures = await _one(
            conn, "SELECT count(*) FROM tax_lookups WHERE municipality_id = ? AND tax_id = ?"
            " AND at >= ? AND result = 'no_match'", (m, lookup.tax_id, hour))
        id_callers = await _one(
            conn, "SELECT count(DISTINCT coalesce(caller, '')) FROM tax_lookups"
            " WHERE municipality_id = ? AND tax_id = ? AND at >= ?"
            f" AND result IN {_in(ANSWERED)}", (m, lookup.tax_id, day))
        return Counts(caller_failures, caller_ids, id_failures, id_callers)

    async def _block(self, conn: aiosqlite.Connection, lookup: Lookup, crossing: Crossing,
                     at: str) -> bool:
        """Block and alert once; a block already in force (another call's) stands."""
        m = lookup.municipality
        cur = await conn.execute(
            "SELECT until FROM tax_blocks WHERE municipality_id = ? AND kind = ? AND value = ?"
            " AND until > ?", (m, crossing.kind, crossing.value, at))
        if await cur.fetchone() is not None:
            return False
        until = iso(crossing.until)
        await conn.execute(
            "INSERT INTO tax_blocks (municipality_id, kind, value, until, reason, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (municipality_id, kind, value)"
            " DO UPDATE SET until = excluded.until, reason = excluded.reason,"
            " created_at = excluded.created_at",
            (m, crossing.kind, crossing.value, until, crossing.reason, at))
        shown = _shown(crossing.value)
        await events.append(
            conn, None, "alert.tax_enumeration", at, actor="system", municipality=m,
            data={"kind": crossing.kind, "who": shown, "reason": crossing.reason,
                  "count": crossing.count, "limit": crossing.limit, "until": until,
                  "line": lookup.line,
                  "detail": f"{crossing.kind} {shown}: {crossing.reason} "
                            f"{crossing.count}/{crossing.limit}"})
        return True

    async def lift(self, municipality: int, kind: str, value: str, actor: str,
                   now: datetime) -> bool:
        """End a block in force now (its counts start again from here), audited."""
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "UPDATE tax_blocks SET until = ? WHERE municipality_id = ? AND kind = ?"
                " AND value = ? AND until > ?", (at, municipality, kind, value, at))
            if not cur.rowcount:
                return False
            shown = _shown(value)
            await events.append(conn, None, "tax.block_lifted", at, actor=actor,
                                municipality=municipality,
                                data={"kind": kind, "who": shown, "detail": f"{kind} {shown}"})
            return True

        return await self.db.write(op)

    # --- what the console shows ------------------------------------------------

    async def lookups(self, municipality: int, *, caller: str | None = None,
                      tax_id: str | None = None, result: str | None = None,
                      since: datetime | None = None, until: datetime | None = None,
                      before: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Audit rows, newest first; ``before`` (an id) pages back."""
        where: list[str] = ["municipality_id = ?"]
        args: list[Any] = [municipality]
        for column, value in (("caller", caller), ("tax_id", tax_id), ("result", result)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        for clause, moment in (("at >= ?", since), ("at < ?", until)):
            if moment is not None:
                where.append(clause)
                args.append(iso(moment))
        if before is not None:
            where.append("id < ?")
            args.append(before)
        rows = await self.db.fetchall(
            "SELECT id, at, caller, call_id, line, tax_id, result FROM tax_lookups"
            f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT {int(limit)}", args)
        return [dict(r) for r in rows]

    async def blocks(self, municipality: int, now: datetime, limit: int = 50
                     ) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT kind, value, until, reason, created_at FROM tax_blocks"
            f" WHERE municipality_id = ? ORDER BY created_at DESC LIMIT {int(limit)}",
            (municipality,))
        at = iso(now)
        return [{**dict(r), "active": r["until"] > at} for r in rows]

    # --- what the file adapter reads -------------------------------------------

    async def account(self, municipality: int, tax_id: str) -> StoredAccount | None:
        rows = await self.db.fetchall(
            "SELECT a.secret_hash, d.amount_cents, d.due_on FROM tax_imports i"
            " JOIN tax_accounts a ON a.municipality_id = i.municipality_id"
            " AND a.tax_id = ? AND a.import_id = i.id"
            " LEFT JOIN tax_debts d ON d.municipality_id = a.municipality_id"
            " AND d.tax_id = a.tax_id AND d.import_id = a.import_id"
            " WHERE i.municipality_id = ? AND i.state = 'current'",
            (tax_id, municipality))
        if not rows:
            return None
        debts = tuple(Debt(r[1], date.fromisoformat(r[2])) for r in rows if r[1] is not None)
        return StoredAccount(rows[0][0], debts)


def _shown(value: str) -> str:
    """A number or an ID as an event carries it: its last three digits. Events reach every
    console of the municipality (operators' too); /tax/lookups shows supervisors the rest."""
    return value if value == WITHHELD else masked(value)


async def _one(conn: aiosqlite.Connection, sql: str, args: Sequence[Any]) -> int:
    cur = await conn.execute(sql, args)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _since(conn: aiosqlite.Connection, municipality: int, kind: str, value: str
                 ) -> str | None:
    """When the last block of this number or ID ended (or was lifted): counts start there."""
    cur = await conn.execute(
        "SELECT until FROM tax_blocks WHERE municipality_id = ? AND kind = ? AND value = ?",
        (municipality, kind, value))
    row = await cur.fetchone()
    return str(row[0]) if row else None


def _after(start: datetime, since: str | None) -> str:
    window = iso(start)
    return max(window, since) if since else window


class TaxImports:
    """The import's writes: a generation loaded aside, then made current."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def begin(self, municipality: int, source: str, actor: str, at: datetime) -> int:
        """A new generation. What an import that crashed left loading is dropped first."""
        stale = await self.db.fetchall(
            "SELECT id FROM tax_imports WHERE municipality_id = ? AND state = 'loading'",
            (municipality,))
        for row in stale:
            await self.fail(row[0])
            await self.purge(row[0])

        async def op(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(
                "INSERT INTO tax_imports (municipality_id, at, source, actor) VALUES (?, ?, ?, ?)"
                " RETURNING id", (municipality, iso(at), source[:200], actor))
            row = await cur.fetchone()
            assert row is not None
            return int(row[0])

        return await self.db.write(op)

    async def load(self, import_id: int, municipality: int, at: datetime,
                   accounts: Sequence[tuple[str, str]],
                   debts: Sequence[tuple[str, int, str]]) -> None:
        """One chunk: accounts (tax_id, secret_hash) and their debts (tax_id, cents, due)."""
        stamp = iso(at)

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "INSERT INTO tax_accounts (municipality_id, tax_id, import_id, secret_hash,"
                " imported_at) VALUES (?, ?, ?, ?, ?)",
                [(municipality, t, import_id, h, stamp) for t, h in accounts])
            await conn.executemany(
                "INSERT INTO tax_debts (municipality_id, tax_id, import_id, amount_cents, due_on)"
                " VALUES (?, ?, ?, ?, ?)",
                [(municipality, t, import_id, c, d) for t, c, d in debts])

        await self.db.write(op)

    async def finish(self, import_id: int, municipality: int, *, sha256: str, accounts: int,
                     debts: int, refused: int, at: datetime) -> list[int]:
        """Make this generation the one callers hear; returns the replaced ones."""
        stamp = iso(at)

        async def op(conn: aiosqlite.Connection) -> list[int]:
            cur = await conn.execute(
                "SELECT id FROM tax_imports WHERE municipality_id = ? AND state = 'current'",
                (municipality,))
            old = [int(r[0]) for r in await cur.fetchall()]
            await conn.execute(
                "UPDATE tax_imports SET state = 'replaced' WHERE municipality_id = ?"
                " AND state = 'current'", (municipality,))
            await conn.execute(
                "UPDATE tax_imports SET state = 'current', sha256 = ?, accounts = ?, debts = ?,"
                " refused = ?, finished_at = ? WHERE id = ?",
                (sha256, accounts, debts, refused, stamp, import_id))
            await events.append(conn, None, "tax.imported", stamp, actor="system",
                                municipality=municipality,
                                data={"import": import_id, "accounts": accounts, "debts": debts,
                                      "refused": refused, "sha256": sha256})
            return old

        return await self.db.write(op)

    async def fail(self, import_id: int) -> None:
        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute("UPDATE tax_imports SET state = 'failed' WHERE id = ?"
                               " AND state = 'loading'", (import_id,))

        await self.db.write(op)

    async def purge(self, import_id: int) -> int:
        """Delete a generation no caller hears any more, a chunk per transaction."""
        removed = 0
        while True:
            async def op(conn: aiosqlite.Connection) -> int:
                await conn.execute(
                    "DELETE FROM tax_debts WHERE id IN (SELECT id FROM tax_debts"
                    f" WHERE import_id = ? LIMIT {PURGE_CHUNK})", (import_id,))
                cur = await conn.execute(
                    "DELETE FROM tax_accounts WHERE import_id = ? AND tax_id IN"
                    " (SELECT tax_id FROM tax_accounts WHERE import_id = ?"
                    f" LIMIT {PURGE_CHUNK})", (import_id, import_id))
                return int(cur.rowcount or 0)

            count = await self.db.write(op)
            removed += count
            if count == 0:
                left = await self.db.fetchone(
                    "SELECT 1 FROM tax_debts WHERE import_id = ? LIMIT 1", (import_id,))
                if left is None:
                    return removed

    async def latest(self, municipality: int) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT id, at, source, sha256, accounts, debts, refused, state, finished_at"
            " FROM tax_imports WHERE municipality_id = ? ORDER BY id DESC LIMIT 1",
            (municipality,))
        return dict(row) if row else None
