"""The throwaway PostgreSQL the tests start (``ivr.testing.postgres``), and the server
features the PostgreSQL store is to stand on, tried through the chosen driver (psycopg 3
and its pool): LISTEN/NOTIFY for the live bus, ``FOR UPDATE SKIP LOCKED`` for job claims,
advisory locks for singleton work. A missing PostgreSQL fails, as a missing Asterisk does
(``scripts/test`` installs Debian's ``postgresql``)."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg_pool import AsyncConnectionPool

from ivr.testing.postgres import ThrowawayPostgres


async def test_the_server_answers_on_loopback_only(pg: ThrowawayPostgres) -> None:
    async with await psycopg.AsyncConnection.connect(pg.dsn) as conn:
        row = await (await conn.execute("SHOW listen_addresses")).fetchone()
        assert row == ("127.0.0.1",)
        version = await (await conn.execute("SHOW server_version_num")).fetchone()
        assert version is not None and int(version[0]) >= 150000


async def test_notify_reaches_a_listener_on_its_own_connection(pg: ThrowawayPostgres) -> None:
    async with await psycopg.AsyncConnection.connect(pg.dsn, autocommit=True) as listener, \
            AsyncConnectionPool(pg.dsn, min_size=1, max_size=2, open=False) as pool:
        await listener.execute("LISTEN alerta_events")
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_notify('alerta_events', '42')")
        async with asyncio.timeout(30):  # a bound for a broken server, not a timing check
            async for note in listener.notifies():
                assert (note.channel, note.payload) == ("alerta_events", "42")
                break


async def test_two_claimers_never_take_the_same_job(pg: ThrowawayPostgres) -> None:
    async with await psycopg.AsyncConnection.connect(pg.dsn, autocommit=True) as setup:
        await setup.execute("DROP TABLE IF EXISTS jobs")
        await setup.execute("CREATE TABLE jobs (id bigserial PRIMARY KEY, state text NOT NULL)")
        await setup.execute("INSERT INTO jobs (state) SELECT 'queued' FROM generate_series(1, 3)")
    claim = ("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id"
             " LIMIT 1 FOR UPDATE SKIP LOCKED")
    async with await psycopg.AsyncConnection.connect(pg.dsn) as a, \
            await psycopg.AsyncConnection.connect(pg.dsn) as b:
        first = await (await a.execute(claim)).fetchone()  # a's transaction holds it
        second = await (await b.execute(claim)).fetchone()
        assert first == (1,) and second == (2,)
        await a.rollback()
        await b.rollback()


async def test_one_holder_of_an_advisory_lock_at_a_time(pg: ThrowawayPostgres) -> None:
    async with await psycopg.AsyncConnection.connect(pg.dsn, autocommit=True) as a, \
            await psycopg.AsyncConnection.connect(pg.dsn, autocommit=True) as b:
        take = "SELECT pg_try_advisory_lock(7001)"
        assert await (await a.execute(take)).fetchone() == (True,)
        assert await (await b.execute(take)).fetchone() == (False,)
        await a.execute("SELECT pg_advisory_unlock(7001)")
        assert await (await b.execute(take)).fetchone() == (True,)


def test_the_cluster_is_removed_afterwards() -> None:
    with ThrowawayPostgres.start() as server:
        assert (server.data / "PG_VERSION").exists()
    assert not server.root.exists()
