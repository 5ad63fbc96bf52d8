"""PostgreSQL's schema, made from the one source of truth: the SQLite migrations.

A new PostgreSQL database gets the schema the migrations build, read back from
SQLite itself: every migration is run on an empty in-memory SQLite database and
each object in ``sqlite_master`` (tables as they stand after every ALTER, their
indexes, views and triggers) is translated (``ivr.store.dialect``), with the rows
the migrations seed (the first municipality). A database made by an older
version gets each later migration file translated statement by statement. The
rollup triggers come from ``ivr.store.analytics_schema``, like SQLite's.

The whole installation runs in one transaction under an advisory lock, so two
controllers starting together cannot both build it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from importlib import resources
from typing import Any

import psycopg

from ivr.store import analytics_schema, dialect
from ivr.store.db import _migrations

SCHEMA_LOCK = 0x616C657273  # "alers"
_REFERENCES = re.compile(r"\bREFERENCES\s+(\w+)", re.IGNORECASE)
_FTS = re.compile(r"\bUSING\s+fts5\b", re.IGNORECASE)

# Engine-level objects: the live bus and the case-insensitive collation of user names.
ENGINE = """
DO $$ BEGIN
    CREATE COLLATION IF NOT EXISTS "nocase"
        (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
END $$;
"""
NOTIFY = """
CREATE OR REPLACE FUNCTION alerta_event_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_notify('alerta_events', NEW.id::text);
    RETURN NULL;
END $fn$;
DROP TRIGGER IF EXISTS events_notify ON events;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION alerta_event_notify();
"""


def _head() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                 " applied_at TEXT NOT NULL)")
    for version, sql in _migrations():
        conn.executescript(f"BEGIN;\n{sql}\nINSERT INTO schema_migrations VALUES"
                           f" ({version}, datetime('now'));\nCOMMIT;")
    return conn


def _ordered_tables(tables: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Tables so that each comes after the tables it references."""
    names = {name for name, _ in tables}
    done: list[tuple[str, str]] = []
    placed: set[str] = set()
    pending = list(tables)
    while pending:
        for item in pending:
            refs = {r for r in _REFERENCES.findall(item[1]) if r in names and r != item[0]}
            if refs <= placed:
                done.append(item)
                placed.add(item[0])
                pending.remove(item)
                break
        else:
            raise ValueError(f"tables reference each other in a circle: {pending}")
    return done


def baseline() -> tuple[list[str], dict[str, tuple[list[str], list[tuple[Any, ...]]]]]:
    """The statements that build the current schema, and the rows the migrations put in it."""
    head = _head()
    objects = head.execute("SELECT type, name, sql FROM sqlite_master"
                           " WHERE sql IS NOT NULL ORDER BY rowid").fetchall()
    virtual = [name for kind, name, sql in objects if kind == "table" and _FTS.search(sql)]
    shadow = tuple(f"{v}_" for v in virtual)
    generated = {}
    for text in analytics_schema.triggers(portable=True).split("\n\nCREATE TRIGGER "):
        text = text if text.startswith("CREATE TRIGGER") else "CREATE TRIGGER " + text
        generated[text.split()[2]] = text
    tables = [(n, s) for k, n, s in objects
              if k == "table" and not n.startswith(shadow)
              and n not in ("sqlite_sequence", "schema_migrations")]
    statements: list[str] = []
    for _name, sql in _ordered_tables(tables):
        statements += dialect.schema_object("table", sql)
    for kind in ("index", "view", "trigger"):
        for k, name, sql in objects:
            if k == kind and not name.startswith(shadow):
                statements += dialect.schema_object(kind, generated.get(name, sql))
    rows = {}
    for name, _sql in tables:
        if name in virtual:
            continue
        cur = head.execute(f'SELECT * FROM "{name}"')
        found = cur.fetchall()
        if found:
            rows[name] = ([d[0] for d in cur.description], found)
    return statements, rows


def split(script: str) -> Iterator[str]:
    """A migration file → its statements (a trigger's body stays whole)."""
    buf: list[str] = []
    for line in script.splitlines(keepends=True):
        buf.append(line)
        text = "".join(buf)
        if sqlite3.complete_statement(text):
            if text.strip() and not all(
                    ln.strip().startswith("--") or not ln.strip() for ln in buf):
                yield text.strip()
            buf = []


def translate(sql: str) -> list[str]:
    """One statement of a later migration → PostgreSQL statements."""
    head = re.sub(r"(?s)^(\s*--[^\n]*\n)*", "", sql).lstrip().upper()
    if head.startswith("CREATE TRIGGER"):
        return dialect.trigger(sql)
    if head.startswith("CREATE VIRTUAL TABLE"):
        return dialect.fts_table(sql)
    if head.startswith(("CREATE TABLE", "ALTER TABLE")):
        return [dialect.table(sql)]
    m = re.match(r"(?is)^\s*DROP\s+TRIGGER\s+(IF\s+EXISTS\s+)?(\w+)", sql)
    if m:  # SQLite's DROP TRIGGER names no table; the function's CASCADE drops the trigger
        return [f"DROP FUNCTION IF EXISTS {m.group(2)}_fn() CASCADE"]
    return [dialect.expression(sql)]


async def install(conn: psycopg.AsyncConnection[Any]) -> frozenset[str]:
    """Bring the database to the current schema; the tables whose id it assigns."""
    compat = (resources.files("ivr.store") / "pg_compat.sql").read_text(encoding="utf-8")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        await conn.execute(ENGINE.encode())
        await conn.execute(compat.encode())
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations"
                           " (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        migrations = _migrations()
        if not done - {-1}:
            statements, rows = baseline()
            for statement in statements:
                await conn.execute(statement.encode())
            for name, (columns, values) in rows.items():
                marks = ", ".join(["%s"] * len(columns))
                async with conn.cursor() as cur:
                    await cur.executemany(
                        f'INSERT INTO "{name}" ({", ".join(columns)}) VALUES ({marks})'.encode(),
                        values)
            for version, _sql in migrations:
                await conn.execute("INSERT INTO schema_migrations VALUES"
                                   " (%s, to_char(now() AT TIME ZONE 'UTC',"
                                   " 'YYYY-MM-DD HH24:MI:SS'))", (version,))
        else:
            for version, sql in migrations:
                if version in done:
                    continue
                for statement in split(sql):
                    for translated in translate(statement):
                        await conn.execute(translated.encode())
                await conn.execute("INSERT INTO schema_migrations VALUES"
                                   " (%s, to_char(now() AT TIME ZONE 'UTC',"
                                   " 'YYYY-MM-DD HH24:MI:SS'))", (version,))
        await conn.execute(NOTIFY.encode())
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'id'"
            " AND is_identity = 'YES' AND table_schema = current_schema()")
        identity = frozenset(row[0] for row in await cur.fetchall())
        for name in identity:  # seeded rows carried their ids: the sequence goes past them
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                f" greatest((SELECT max(id) FROM {name}), 1),"
                f" (SELECT max(id) FROM {name}) IS NOT NULL)".encode())
    return identity
