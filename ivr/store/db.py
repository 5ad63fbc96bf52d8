"""SQLite through aiosqlite, used seriously.

One writer connection fed by a queue: every write is an operation run inside
``BEGIN IMMEDIATE`` … ``COMMIT``. Operations that arrive together share one
transaction (each in its own SAVEPOINT, so one failure spoils only itself):
``synchronous=FULL`` then costs one fsync per batch, not per call, and a caller
is told a report number only after the row is on disk. Queries go to a separate
read-only connection and never wait behind the writer (WAL).

``COMMIT`` (which fsyncs) runs on the connection's thread. The statements of a
batch run on the event loop's own thread: the batch holds the write lock,
nothing in it touches the disk but to spill a very large transaction, and a hop
to the thread and back costs more than the statement itself (and, on a busy
loop, waits a whole loop turn to come back). ``BEGIN IMMEDIATE`` is tried there
too, without waiting; only when another process holds the write lock does it
wait for it, on the connection's thread, up to the busy timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ivr.core.records import StoreError as StoreError  # raised here; defined for the core
from ivr.metrics import Metrics, process_metrics

logger = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[aiosqlite.Connection], Awaitable[Any]]

BUSY_TIMEOUT_MS = 5000
MAX_BATCH = 256


class StoreBusy(StoreError):
    """A write did not start within its time; it never will (nothing of it is stored)."""


class _Abandoned(Exception):
    """Raised inside a write whose caller stopped waiting before it began."""


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("ivr.store") / "migrations"
    out = []
    for item in folder.iterdir():
        name = item.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append((int(name[:3]), item.read_text(encoding="utf-8")))
    return sorted(out)


async def _pragmas(conn: aiosqlite.Connection, *, writer: bool) -> None:
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA foreign_keys = ON")
    # Statement journals (one per SAVEPOINT of a batch, and per trigger) and sort
    # scratch are only ever read to roll back or finish the statement in hand; the
    # WAL alone makes a commit durable. On disk they were a fresh temp file per
    # batch and four times the WAL's own writes.
    await conn.execute("PRAGMA temp_store = MEMORY")
    if writer:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")


class _WriterConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements can run inline while a batch is open.

    Only the writer loop turns ``inline`` on: to try ``BEGIN IMMEDIATE``, then
    for the statements of the batch up to its ``COMMIT``. The connection's thread
    is idle all that time, so the sqlite3 connection is never used by two
    threads at once.
    """

    inline = False

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.inline and self._running and self._connection is not None:
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]


async def _connect_writer(path: Path) -> _WriterConnection:
    def connector() -> sqlite3.Connection:
        # Used from the loop's thread inside a batch, never at the same time as its own.
        return sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)

    conn = _WriterConnection(connector, 64)
    await conn  # starts its thread and connects there
    return conn


class Database:
    """The store's connections: one writer task, one read-only reader."""

    def __init__(self, path: Path, metrics: Metrics | None = None) -> None:
        self.path = path
        self._metrics = process_metrics() if metrics is None else metrics
        self._writer: _WriterConnection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[tuple[Op, asyncio.Future[Any]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.writes = 0
        # Called after every committed batch (in-process listeners such as the
        # console's event feed wake at once instead of waiting for their poll).
        self.on_commit: list[Callable[[], None]] = []

    async def open(self) -> Database:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await _connect_writer(self.path)
        self._writer.row_factory = sqlite3.Row
        await _pragmas(self._writer, writer=True)
        await self._migrate(self._writer)
        uri = f"file:{self.path.resolve()}?mode=ro"
        self._reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        self._reader.row_factory = sqlite3.Row
        await _pragmas(self._reader, writer=False)
        self._task = asyncio.create_task(self._write_loop(), name="alerta-store-writer")
        return self

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        async with conn.execute("SELECT version FROM schema_migrations") as cur:
            done = {row[0] for row in await cur.fetchall()}
        for version, sql in _migrations():
            if version in done:
                continue
            logger.info("applying migration %03d", version)
            # executescript commits on its own; the version row is written in the script.
            await conn.executescript(
                "BEGIN IMMEDIATE;\n"
                + sql
                + f"\nINSERT INTO schema_migrations VALUES ({version}, datetime('now'));\nCOMMIT;"
            )

    # --- writes -----------------------------------------------------------------

    async def write(self, op: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``op`` in a write transaction; return once it is committed to disk."""
        if self._task is None or self._task.done():
            raise StoreError("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        await self._queue.put((op, future))
        value = await asyncio.shield(future)
        self._metrics.store_write_seconds.observe(time.perf_counter() - started)
        return value

    async def write_within(
        self, op: Callable[[aiosqlite.Connection], Awaitable[T]], wait_s: float
    ) -> T:
        """``write``, unless the transaction has not begun within ``wait_s``: then StoreBusy,
        and the write is dropped from the queue's view so it can never commit later.

        A write that has begun by then holds the write lock; only its statements and the
        COMMIT remain, so it is waited for (and a failure there is a StoreError)."""
        began = False
        abandoned = False

        async def guarded(conn: aiosqlite.Connection) -> T:
            nonlocal began
            if abandoned:
                raise _Abandoned
            began = True
            return await op(conn)

        task = asyncio.ensure_future(self.write(guarded))
        done, _ = await asyncio.wait((task,), timeout=wait_s)
        if done or began:
            try:
                return await task
            except sqlite3.IntegrityError:
                raise  # our mistake, not the database's state
            except sqlite3.DatabaseError as exc:  # the disk refused a statement of ours
                raise StoreError(f"write failed: {exc}") from exc
        abandoned = True
        task.add_done_callback(_retrieve)
        raise StoreBusy(f"the database took no write within {wait_s:g} s")

    async def check_writable(self) -> None:
        """A write that leaves no trace, through the writer: StoreError when it fails.

        A row added and removed in one transaction still dirties a page, so the
        COMMIT writes and fsyncs the WAL: the writer task, the write lock and the
        disk are all tried. (It waits its turn in the queue like any write.)
        """

        async def add_and_remove(conn: aiosqlite.Connection) -> None:
            await conn.execute("INSERT INTO schema_migrations VALUES (-1, 'write check')")
            await conn.execute("DELETE FROM schema_migrations WHERE version = -1")

        await self.write(add_and_remove)

    async def _write_loop(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            await self._run_batch(batch)
            if stop:
                return

    async def _run_batch(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        conn = self._writer
        assert conn is not None
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            await self._begin(conn)
            conn.inline = True
            try:
                for op, future in batch:
                    await conn.execute("SAVEPOINT op")
                    try:
                        value = await op(conn)
                    except Exception as exc:  # one bad op must not spoil the batch
                        await conn.execute("ROLLBACK TO op")
                        await conn.execute("RELEASE op")
                        results.append((future, False, exc))
                    else:
                        await conn.execute("RELEASE op")
                        results.append((future, True, value))
            finally:
                conn.inline = False
            committing = time.perf_counter()
            await conn.execute("COMMIT")
            self._metrics.store_commit_seconds.observe(time.perf_counter() - committing)
        except Exception as exc:  # disk full, I/O error: nothing of the batch is kept
            logger.error("store: write batch of %d failed: %s", len(batch), exc)
            self._metrics.store_batches_failed.inc()
            try:
                await conn.execute("ROLLBACK")
            except Exception:
                pass
            for _op, future in batch:
                if not future.done():
                    future.set_exception(StoreError(f"write failed: {exc}"))
            return
        self._committed(len(batch), results)

    def _wake(self) -> None:
        """Tell this process's listeners (feeds, clip workers) the store changed."""
        for listener in self.on_commit:
            try:
                listener()
            except Exception:  # a listener must never break the writer
                logger.exception("store: commit listener failed")

    def _committed(self, count: int, results: list[tuple[asyncio.Future[Any], bool, Any]]
                   ) -> None:
        """A batch is on disk: count it, wake the listeners, answer each write."""
        self.batches += 1
        self.writes += count
        self._wake()
        for future, ok, value in results:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def _begin(self, conn: _WriterConnection) -> None:
        """BEGIN IMMEDIATE at once if the write lock is free, else wait for it off the loop."""
        conn.inline = True
        try:
            await conn.execute("PRAGMA busy_timeout = 0")
            try:
                await conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
            finally:
                await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        finally:
            conn.inline = False
        await conn.execute("BEGIN IMMEDIATE")  # another process is writing: wait in the thread

    # Appended to a job claim's SELECT: PostgreSQL locks the rows it hands out and skips
    # those another worker holds; SQLite's single writer makes claims one at a time anyway.
    claim_lock = ""

    @contextlib.asynccontextmanager
    async def singleton(self, name: str) -> AsyncIterator[bool]:
        """Work one process of the deployment does at a time (the daily purge): whether
        this one may. One machine, one controller on SQLite: always."""
        yield True

    # --- reads ------------------------------------------------------------------

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        if self._reader is None:
            raise StoreError("the store is closed")
        # One trip to the reader's thread (execute, fetch and close there), not three.
        return list(await self._reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # an abandoned write's end is nobody's business


async def execute_many(conn: aiosqlite.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    await conn.executemany(sql, rows)
