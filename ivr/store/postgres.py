"""PostgreSQL as the shared store: the SQLite store's interface, for several processes.

Driver: psycopg 3 with psycopg_pool. It speaks asyncio natively, has a pool made
for it, LISTEN/NOTIFY as an async iterator, and libpq underneath, so the
multi-host addresses and ``target_session_attrs`` that fail over to a promoted
standby work as operators know them from every other libpq client. (asyncpg is
faster on paper, but reimplements the protocol without libpq's failover and
service files, and every write here is a few small statements.)

Writes keep the SQLite store's shape: one writer connection per process fed by a
queue, operations batched into one transaction, each in its own SAVEPOINT. Every
write transaction first takes one cluster-wide advisory lock, so transactions of
all controllers commit one at a time. That is what SQLite's write lock gave, and
what the live feed needs: event ids are handed out in commit order, so a console
that has read up to id N can never later find an id below N (a sequence alone
does not promise that across concurrent transactions). It also means rollup
counters are never fought over. Writes are small and batched; what scales
out is reads (consoles, dashboards, exports, on a pool) and calls (controllers).

Every new event sends ``NOTIFY alerta_events, '<id>'`` at commit. Each process
LISTENs on a connection of its own and wakes its feeds; after a reconnect it
wakes them too, and a feed reads the events table after its last id, so a lost
notification costs a moment, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

from ivr.metrics import Metrics
from ivr.store import dialect, pg_schema
from ivr.store.db import Database, StoreError, _Abandoned  # noqa: F401  (shared write queue)

logger = logging.getLogger(__name__)

CHANNEL = "alerta_events"
WRITE_LOCK = 0x616C657274  # "alert": one write transaction at a time, cluster-wide
RETRY_STATES = ("40001", "40P01")  # serialization failure, deadlock: the batch runs again


class Row:
    """A row as ``sqlite3.Row`` offers it: by position, by column name, and ``dict(row)``."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = tuple(values)

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Any:
        return iter(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values, strict=True))!r})"


def _rows(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    index = {col.name: n for n, col in enumerate(cursor.description or ())}
    return lambda values: Row(index, values)


class _Number(Loader):
    """numeric → int when whole (SQLite's sum of integers is an integer), else float."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return float(text) if any(c in text for c in ".eEN") else int(text)


class _BoolAsInt(Dumper):
    """Python bools as an untyped '1'/'0': an integer in a 0/1 column (both engines store
    flags so), a truth where the SQL tests it (``CASE WHEN ?``)."""

    oid = 0  # unknown: the server reads it as the type the context wants
    format = Format.TEXT

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def _adapt(conn: psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_loader("numeric", _Number)
    conn.adapters.register_dumper(bool, _BoolAsInt)
    conn.row_factory = _rows


def _as_sqlite(exc: psycopg.Error) -> sqlite3.Error:
    """The store's callers speak DB-API through sqlite3's exception classes, on both engines."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.errors.IntegrityError):
        return sqlite3.IntegrityError(text)
    if isinstance(exc, psycopg.OperationalError | psycopg.errors.ReadOnlySqlTransaction):
        return sqlite3.OperationalError(text)
    return sqlite3.DatabaseError(text)


class Cursor:
    def __init__(self, cur: psycopg.AsyncCursor[Any], lastrowid: int | None) -> None:
        self._cur = cur
        self.lastrowid = lastrowid
        self.rowcount = cur.rowcount

    @property
    def description(self) -> Any:
        return self._cur.description

    async def fetchone(self) -> Any:
        return await self._cur.fetchone() if self._cur.description else None

    async def fetchall(self) -> list[Any]:
        return list(await self._cur.fetchall()) if self._cur.description else []

    async def fetchmany(self, size: int) -> list[Any]:
        return list(await self._cur.fetchmany(size)) if self._cur.description else []

    async def close(self) -> None:
        await self._cur.close()


class _Pending:
    """What ``execute`` returns: awaited, or used with ``async with``, as aiosqlite's."""

    def __init__(self, run: Awaitable[Cursor]) -> None:
        self._run = run
        self._cursor: Cursor | None = None

    def __await__(self) -> Any:
        return self._run.__await__()

    async def __aenter__(self) -> Cursor:
        self._cursor = await self._run
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class Connection:
    """The connection a write operation is given: aiosqlite's methods, PostgreSQL underneath."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], identity: frozenset[str]) -> None:
        self._conn = conn
        self._identity = identity  # tables whose id the database assigns

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Pending:
        return _Pending(self._execute(sql, params))

    async def _execute(self, sql: str, params: Sequence[Any]) -> Cursor:
        text, numbered = dialect.statement(sql)
        returning = self._returning(text)
        cur = self._conn.cursor()
        try:
            await cur.execute((text + returning).encode(), dialect.parameters(params, numbered))
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc
        lastrowid = None
        if returning:
            rows = await cur.fetchall()
            lastrowid = rows[-1][0] if rows else None
        return Cursor(cur, lastrowid)

    def _returning(self, text: str) -> str:
        head = text.lstrip()[:200].upper()
        if not head.startswith("INSERT INTO") or " RETURNING " in text.upper():
            return ""
        name = head[len("INSERT INTO"):].split("(")[0].split()[0].lower()
        return " RETURNING id" if name in self._identity and "VALUES" in text.upper() else ""

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        cur = await self._execute(sql, params)
        return await cur.fetchall()

    async def executemany(self, sql: str, rows: Any) -> None:
        text, numbered = dialect.statement(sql)
        try:
            async with self._conn.cursor() as cur:
                await cur.executemany(text.encode(),
                                      [dialect.parameters(r, numbered) for r in rows])
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc


# Every session: times in UTC, and a plan for each statement's own values. psycopg
# prepares a statement run five times; PostgreSQL would then switch to one generic
# plan, blind to the values, which for a search of one old month walks the newest
# reports backwards (198 ms against 8 ms at a million reports; see bench/console.py).
SESSION = "-c timezone=UTC -c plan_cache_mode=force_custom_plan"


class PgDatabase(Database):
    """The store on PostgreSQL: one writer task per process, readers on a pool."""

    engine = "postgresql"

    def __init__(self, dsn: str, metrics: Metrics | None = None, *, readers: int = 8) -> None:
        super().__init__(Path(), metrics)
        self.dsn = dsn
        self._readers = readers
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.identity: frozenset[str] = frozenset()
        self.listening = asyncio.Event()  # set while the LISTEN connection is up

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                     options=SESSION)
        _adapt(conn)
        return conn

    async def open(self) -> PgDatabase:
        try:
            self._conn = await self._connect()
            self.identity = await pg_schema.install(self._conn)
        except psycopg.Error as exc:
            if self._conn is not None:
                await self._conn.close()
            raise StoreError(f"PostgreSQL: {_as_sqlite(exc)}") from exc
        self._pool = psycopg_pool.AsyncConnectionPool(
            self.dsn, min_size=1, max_size=self._readers, open=False,
            kwargs={"autocommit": True,  # readers never write, as SQLite's mode=ro reader
                    "options": SESSION + " -c default_transaction_read_only=on"},
            configure=self._configure_reader, name="alerta-readers")
        await self._pool.open(wait=True, timeout=30)
        self._task = asyncio.create_task(self._write_loop(), name="alerta-store-writer")
        self._listener = asyncio.create_task(self._listen(), name="alerta-store-listener")
        return self

    @staticmethod
    async def _configure_reader(conn: psycopg.AsyncConnection[Any]) -> None:
        _adapt(conn)

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # --- writes -----------------------------------------------------------------------

    async def _run_batch(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        for attempt in range(3):
            try:
                results = await self._transaction(batch)
            except psycopg.Error as exc:
                if exc.sqlstate in RETRY_STATES and attempt < 2:
                    logger.warning("store: batch retried after %s", exc.sqlstate)
                    continue
                logger.error("store: write batch of %d failed: %s", len(batch), exc)
                self._metrics.store_batches_failed.inc()
                await self._recover()
                for _op, future in batch:
                    if not future.done():
                        future.set_exception(StoreError(f"write failed: {_as_sqlite(exc)}"))
                return
            break
        self._committed(len(batch), results)

    async def _transaction(self, batch: list[tuple[Any, asyncio.Future[Any]]]
                           ) -> list[tuple[asyncio.Future[Any], bool, Any]]:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
        conn = self._conn
        wrapped = Connection(conn, self.identity)
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        await conn.execute("BEGIN")
        try:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            for op, future in batch:
                await conn.execute("SAVEPOINT op")
                try:
                    value = await op(wrapped)
                except (psycopg.OperationalError, psycopg.errors.AdminShutdown):
                    raise  # the connection is gone: the whole batch is
                except Exception as exc:  # one bad op must not spoil the batch
                    cause = exc.__cause__
                    if isinstance(cause, psycopg.Error) and cause.sqlstate in RETRY_STATES:
                        raise cause from None
                    await conn.execute("ROLLBACK TO SAVEPOINT op")
                    await conn.execute("RELEASE SAVEPOINT op")
                    results.append((future, False, exc))
                else:
                    await conn.execute("RELEASE SAVEPOINT op")
                    results.append((future, True, value))
            committing = time.perf_counter()
            await conn.execute("COMMIT")
            self._metrics.store_commit_seconds.observe(time.perf_counter() - committing)
        except BaseException:
            if not conn.closed:
                try:
                    await conn.execute("ROLLBACK")
                except psycopg.Error:
                    pass
            raise
        return results

    async def _recover(self) -> None:
        if self._conn is not None and self._conn.broken:
            await self._conn.close()
            self._conn = None

    claim_lock = " FOR UPDATE OF j SKIP LOCKED"

    @contextlib.asynccontextmanager
    async def singleton(self, name: str) -> AsyncIterator[bool]:
        """A session advisory lock on a connection of its own, held for the whole work
        (many transactions): the first controller to ask does it, the others skip it.
        Its connection dying (the controller killed) frees it for the next run."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"no database connection: {_as_sqlite(exc)}") from exc
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                                     (f"alerta:{name}",))
            row = await cur.fetchone()
            yield bool(row and row[0])
        finally:
            await conn.close()  # ends the session: the lock goes with it

    # --- reads ------------------------------------------------------------------------

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._pool is None:
            raise StoreError("the store is closed")
        text, numbered = dialect.statement(sql)
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(text.encode(), dialect.parameters(params, numbered))
                return list(await cur.fetchall()) if cur.description else []
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc
        except psycopg_pool.PoolTimeout as exc:
            raise StoreError(f"no database connection: {exc}") from exc

    # --- the live bus -----------------------------------------------------------------

    async def _listen(self) -> None:
        pause = 0.2
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                try:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    pause = 0.2
                    self._wake()  # catch up: whatever came while we were not listening
                    async for _note in conn.notifies():
                        self._wake()
                finally:
                    self.listening.clear()
                    await conn.close()
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                logger.warning("store: the live feed lost PostgreSQL (%s); retrying", exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)
