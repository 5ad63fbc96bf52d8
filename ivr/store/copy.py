"""``alerta db copy``: move a SQLite deployment into an empty PostgreSQL database, proved.

    alerta db copy --from sqlite:///var/lib/alerta/alerta.sqlite3 \\
                   --to postgresql://alerta@db.example:5432/alerta

Both sides are opened once as the store opens them (the SQLite file is brought to the
current schema, the target gets it installed); the target must hold only what the
schema seeds: a copy never merges. The source is read in one read transaction.

Tables go in foreign-key order, ``CHUNK`` rows at a time, by ``COPY … FROM STDIN`` on
a psycopg connection of our own; FTS5's ``report_text`` brings rowid, body, report_id
and source (PostgreSQL generates ``tsv``). Foreign keys are checked at the end of each
COPY (a check queued per row until then), so each chunk is a COPY of its own, but a
table that references itself (``reports.duplicate_of`` may name a later report) is one.

Triggers: ``ALTER TABLE … DISABLE TRIGGER USER`` on each table with triggers of ours,
``ENABLE`` again before the commit: the rollups arrive as they are (the triggers on
``reports`` would count each report twice), the append-only and id-range rules do not
judge rows SQLite took, the clip-job triggers on ``events`` queue nothing, no NOTIFY
goes out per row. Not ``session_replication_role = replica``: that needs a superuser
(or a grant few deployments make) and also turns the foreign-key checks off, so an
orphan row (SQLite checks foreign keys only when asked) would arrive unseen; DISABLE
TRIGGER USER needs only to own the tables, as the role that installed them does.

Then identity sequences are set past the highest id (or SQLite's AUTOINCREMENT mark)
and each table is verified by its row count and a checksum computed alike on both
sides: the sum modulo 2**256 of the sha256 of each row's ``repr`` (ints as ints,
floats by repr, exact for a double, None, text); a sum ignores order, so nothing is
sorted and no collation can differ. Source values first get their PostgreSQL column's
type (SQLite keeps ``'12'`` in an integer column as text), as the copy writes them.
All of it is one transaction on the target, under the store's advisory write lock: a
failure, or a table that does not match, rolls it all back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import NoneType
from typing import Any

import psycopg
from psycopg import sql

from ivr.store import engine, pg_schema
from ivr.store.db import StoreError
from ivr.store.postgres import WRITE_LOCK

CHUNK = 5_000
PROGRESS_EVERY = 1_000_000
LEFT_BEHIND = ("schema_migrations",)  # the target has its own, from open()
OPTIONS = "-c timezone=UTC -c extra_float_digits=3"  # doubles in their shortest exact form
KINDS = {"bigint": int, "integer": int, "smallint": int, "double precision": float,
         "real": float, "bytea": bytes}  # anything else: text
_INT = re.compile(r"\s*[-+]?\d+\s*")
_FTS5 = re.compile(r"\bUSING\s+fts5\b", re.IGNORECASE)
Say = Callable[[str], None]
PgConn = psycopg.Connection[Any]


class CopyRefused(Exception):
    """Nothing was done: an address is wrong, or the target already holds data."""


class CopyFailed(Exception):
    """The copy was rolled back; the target is as it was."""

    def __init__(self, message: str, checks: Sequence[Check] = ()) -> None:
        super().__init__(message)
        self.checks = list(checks)


@dataclass
class Table:
    name: str
    columns: list[str]
    whole: bool = False  # references itself: one COPY statement
    kinds: list[type] = field(default_factory=list)  # the PostgreSQL columns' Python types
    _fit: set[tuple[type, ...]] = field(default_factory=set)  # value types needing no change

    def select(self) -> str:
        columns = ", ".join(f'"{c}"' for c in self.columns)
        return f'SELECT {columns} FROM "{self.name}"'

    def fix(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """The row with each value in its PostgreSQL column's type (most are already)."""
        types = tuple(map(type, row))
        if types in self._fit:
            return row
        if all(t is k or t is NoneType for t, k in zip(types, self.kinds, strict=True)):
            self._fit.add(types)
            return row
        return tuple(_coerce(v, k) for v, k in zip(row, self.kinds, strict=True))


@dataclass(frozen=True)
class Check:
    table: str
    source_rows: int
    target_rows: int
    source_sum: int
    target_sum: int

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_sum) == (self.target_rows, self.target_sum)


def _coerce(value: Any, kind: type) -> Any:
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is int and isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    if kind is float and isinstance(value, int):
        return float(value)
    if kind is bytes and isinstance(value, bytearray | memoryview):
        return bytes(value)
    if kind is str and isinstance(value, int | float):
        return str(value)
    return value  # as it is: COPY refuses it, or the checksum shows it


def digest(rows: Iterable[Sequence[Any]]) -> tuple[int, int]:
    """(rows, checksum): the sum of each row's sha256, so the order does not matter."""
    count = total = 0
    for row in rows:
        total += int.from_bytes(hashlib.sha256(repr(tuple(row)).encode()).digest(), "big")
        count += 1
    return count, total % 2**256


def source_path(location: str) -> Path:
    """``sqlite:///abs/path``, ``sqlite:relative/path`` or a plain path → the file."""
    if engine.is_postgres(location):
        raise CopyRefused("--from names a PostgreSQL database; the source is a SQLite file")
    if location.startswith("sqlite:"):
        location = location[len("sqlite:"):]
        location = location[2:] if location.startswith("//") else location  # no host
    if not location:
        raise CopyRefused("--from names no file")
    return Path(location).expanduser()


def _source(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, isolation_level=None)
    conn.execute("BEGIN")  # one snapshot for the copy and its verification
    return conn


def plan(src: sqlite3.Connection) -> list[Table]:
    """The tables to copy, each after the tables it references."""
    found = src.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    virtual = {name for name, text in found if text and _FTS5.search(text)}
    shadow = tuple(f"{name}_" for name in virtual)
    names = {name for name, _ in found if not name.startswith(("sqlite_", *shadow))
             and name not in LEFT_BEHIND}
    tables, parents = {}, {}
    for name in names:
        columns = [row[1] for row in src.execute(f'PRAGMA table_info("{name}")')]
        refs = {row[2] for row in src.execute(f'PRAGMA foreign_key_list("{name}")')}
        tables[name] = Table(name, ["rowid", *columns] if name in virtual else columns,
                             whole=name in refs)
        parents[name] = (refs & names) - {name}
    ordered: list[Table] = []
    while parents:
        ready = sorted(n for n, refs in parents.items() if refs <= {t.name for t in ordered})
        if not ready:
            raise CopyFailed(f"tables reference each other in a circle: {sorted(parents)}")
        for name in ready:
            ordered.append(tables.pop(name))
            del parents[name]
    return ordered


def _match_target(pg: PgConn, tables: list[Table]) -> None:
    """Each table's columns as PostgreSQL has them (generated ones aside), and their types."""
    have: dict[str, dict[str, str]] = {}
    for table, column, kind in pg.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_generated = 'NEVER'"):
        have.setdefault(table, {})[column] = kind
    for t in tables:
        target = have.get(t.name, {})
        if set(target) != set(t.columns):
            raise CopyFailed(f"{t.name}: the columns differ (SQLite only:"
                             f" {sorted(set(t.columns) - set(target))}, PostgreSQL only:"
                             f" {sorted(set(target) - set(t.columns))})")
        t.kinds = [KINDS.get(target[c], str) for c in t.columns]


def _refuse_unless_empty(pg: PgConn, tables: list[Table]) -> None:
    _statements, seeded = pg_schema.baseline()
    held = []
    for t in tables:
        allowed = len(seeded[t.name][1]) if t.name in seeded else 0
        (n,) = pg.execute(sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) AS t")
                          .format(sql.Identifier(t.name)), (allowed + 1,)).fetchone() or (0,)
        if n > allowed:
            held.append(t.name)
    if held:
        raise CopyRefused(f"the target already holds data ({', '.join(held)});"
                          " a copy goes into an empty database only, it never merges")


def _load(src: sqlite3.Connection, pg: PgConn, t: Table, chunk: int, say: Say) -> int:
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(t.name), sql.SQL(", ").join(map(sql.Identifier, t.columns)))
    rows, count = src.execute(t.select()), 0
    # One COPY for the whole table, or one per chunk.
    with pg.cursor() as cur, (cur.copy(copy) if t.whole else contextlib.nullcontext()) as whole:
        for batch in iter(lambda: rows.fetchmany(chunk), []):
            with contextlib.nullcontext(whole) if whole else cur.copy(copy) as stream:
                for row in batch:
                    stream.write_row(t.fix(row))
            if (count + len(batch)) // PROGRESS_EVERY > count // PROGRESS_EVERY:
                say(f"  {t.name}: {count + len(batch):,} rows…")
            count += len(batch)
    return count


def _triggers(pg: PgConn, names: list[str], action: str) -> None:
    for name in names:
        pg.execute(sql.SQL(f"ALTER TABLE {{}} {action} TRIGGER USER").format(
            sql.Identifier(name)))


def _sequences(pg: PgConn, tables: list[Table], marks: dict[str, int]) -> None:
    names = {t.name for t in tables}
    for table, column in pg.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall():
        if table in names:
            (top,) = pg.execute(sql.SQL("SELECT coalesce(max({}), 0) FROM {}").format(
                sql.Identifier(column), sql.Identifier(table))).fetchone() or (0,)
            top = max(int(top), marks.get(table, 0))
            pg.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)",
                       (sql.Identifier(table).as_string(pg), column, max(top, 1), top >= 1))


def _compare(src: sqlite3.Connection, pg: PgConn, tables: list[Table],
             chunk: int) -> list[Check]:
    checks = []
    for n, t in enumerate(tables):
        source = digest(t.fix(row) for row in src.execute(t.select()))
        with pg.cursor(name=f"alerta_verify_{n}") as cur:
            cur.itersize = chunk
            cur.execute(t.select())
            target = digest(cur)
        checks.append(Check(t.name, source[0], target[0], source[1], target[1]))
    return checks


def _copy(path: Path, dsn: str, chunk: int, say: Say) -> list[Check]:
    with contextlib.closing(_source(path)) as src:
        tables = plan(src)
        try:
            marks = {name: int(seq) for name, seq in
                     src.execute("SELECT name, seq FROM sqlite_sequence")}
        except sqlite3.OperationalError:  # no AUTOINCREMENT table
            marks = {}
        with psycopg.connect(dsn, autocommit=True, options=OPTIONS) as pg, pg.transaction():
            pg.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            _match_target(pg, tables)
            _refuse_unless_empty(pg, tables)
            triggered = [name for (name,) in pg.execute(
                "SELECT DISTINCT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid"
                " WHERE NOT g.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
                " ORDER BY 1") if name in {t.name for t in tables}]
            _triggers(pg, triggered, "DISABLE")
            pg.execute(sql.SQL("TRUNCATE {}").format(  # the rows the schema seeded
                sql.SQL(", ").join(sql.Identifier(t.name) for t in tables)))
            started, total = time.perf_counter(), 0
            for t in tables:
                began = time.perf_counter()
                count = _load(src, pg, t, chunk, say)
                total += count
                say(f"{t.name}: {count:,} rows ({time.perf_counter() - began:.1f} s)")
            _sequences(pg, tables, marks)
            _triggers(pg, triggered, "ENABLE")
            spent = time.perf_counter() - started
            say(f"copied {total:,} rows in {spent:.1f} s ({total / max(spent, 1e-9):,.0f}"
                " rows/s); verifying")
            checks = _compare(src, pg, tables, chunk)
            wrong = [c.table for c in checks if not c.ok]
            if wrong:
                raise CopyFailed(f"the copy differs in {', '.join(wrong)}", checks)
        return checks


def verify(source: str | Path, target: str, *, chunk: int = CHUNK) -> list[Check]:
    """Counts and checksums of every table, on both sides, of a copy made earlier."""
    with contextlib.closing(_source(source_path(str(source)))) as src, \
            psycopg.connect(target, autocommit=True, options=OPTIONS) as pg, pg.transaction():
        pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        tables = plan(src)
        _match_target(pg, tables)
        return _compare(src, pg, tables, chunk)


def table_lines(checks: Sequence[Check]) -> list[str]:
    lines = [f"{'table':<26} {'rows':>12}  {'checksum':<17} ok"]
    for c in checks:
        rows = (f"{c.source_rows:,}" if c.source_rows == c.target_rows
                else f"{c.source_rows:,}≠{c.target_rows:,}")
        summed = f"{c.source_sum:064x}"[:16]
        if c.source_sum != c.target_sum:
            summed = f"{summed[:8]}≠{c.target_sum:064x}"[:17]
        lines.append(f"{c.table:<26} {rows:>12}  {summed:<17} {'ok' if c.ok else 'MISMATCH'}")
    return lines


async def copy_database(source: str, target: str, *, chunk: int = CHUNK,
                        say: Say = print) -> list[Check]:
    """Copy the SQLite deployment at ``source`` into the empty PostgreSQL ``target``."""
    path = source_path(source)
    if not engine.is_postgres(target):
        raise CopyRefused("--to must be a postgresql:// address")
    if not path.is_file():
        raise CopyRefused(f"no SQLite database at {path}")
    try:
        with contextlib.closing(_source(path)) as probe:
            known = probe.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                                  " AND name = 'schema_migrations'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise CopyRefused(f"{path}: {exc}") from exc
    if not known:
        raise CopyRefused(f"{path} is not an alerta database (no schema_migrations)")
    say(f"from {path} to {engine.describe(target)}")
    for location in (path, target):  # the current schema on both sides
        async with engine.database(location):
            pass
    return await asyncio.to_thread(_copy, path, target, chunk, say)


async def command(source: str, target: str, *, chunk: int = CHUNK) -> int:
    """``alerta db copy``: 0 copied and verified, 1 failed (nothing kept), 2 refused."""
    try:
        checks = await copy_database(source, target, chunk=chunk)
    except CopyRefused as exc:
        print(f"alerta: db copy refused: {exc}", file=sys.stderr)
        return 2
    except CopyFailed as exc:
        print("\n".join(table_lines(exc.checks)))
        print(f"alerta: db copy: {exc}; nothing was kept on the target", file=sys.stderr)
        return 1
    except (StoreError, psycopg.Error, sqlite3.Error, OSError) as exc:
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        print(f"alerta: db copy failed, nothing was kept on the target: {first}",
              file=sys.stderr)
        return 1
    print("\n".join(table_lines(checks)))
    print(f"verified: {len(checks)} tables, {sum(c.source_rows for c in checks):,} rows")
    return 0
