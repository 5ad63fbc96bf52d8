"""``/healthz`` says what is wrong: 200 when every check passes, 503 naming each that fails.

Real console, real store, real SQLite locks, a real clip worker process, a real
(refused) AMI connection. The answer is public: it never holds a path or a host.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from ivr.app import services
from ivr.config import Settings
from operator_console.app import create_app
from tests.console_util import Site, console_site
from tests.test_journal import write_locked

GUARD_S = 15.0  # only stops a broken test from hanging; nothing here is timed


async def healthz(site: Site) -> tuple[int, dict[str, Any], str]:
    async with site.browser() as anon:
        response = await anon.get("/healthz")
        text = await response.text()
    return response.status, json.loads(text), text


def assert_public(text: str, settings: Settings) -> None:
    where = settings.database
    for private in (str(where.parent if isinstance(where, Path) else where),
                    str(settings.voiceclips), "/tmp",
                    settings.ami_host, str(settings.ami_port), settings.ami_username):
        assert private not in text, private


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(GUARD_S):
        while not condition():  # noqa: ASYNC110 - polling a plain attribute
            await asyncio.sleep(0.01)


async def test_a_healthy_console_says_ok_for_each_check(settings: Settings) -> None:
    async with console_site(settings) as site:
        status, body, text = await healthz(site)
    assert status == 200
    assert body["ok"] is True and body["failing"] == []
    assert set(body["checks"]) == {"database", "disk", "ami"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["ami"]["detail"] == "disabled"
    assert_public(text, settings)


async def test_a_write_locked_database_is_named(settings: Settings) -> None:
    async with console_site(settings, health_db_wait_s=0.2) as site:
        with write_locked(settings.database):  # another process holds the write lock
            status, body, text = await healthz(site)
            # While the lock is held, a second check waits on the same test write.
            again, body_again, _ = await healthz(site)
        async with asyncio.timeout(GUARD_S):
            while (await healthz(site))[0] != 200:  # noqa: ASYNC110 - the lock is gone; the
                await asyncio.sleep(0.05)  # writer takes it back within its busy timeout
    assert status == 503 and again == 503
    assert body["ok"] is False and body["failing"] == ["database"]
    assert body_again["failing"] == ["database"]
    assert "waited" in body["checks"]["database"]["detail"]
    assert body["checks"]["disk"]["ok"] is True
    assert_public(text, settings)


async def test_a_disk_short_of_min_free_mb_is_named(settings: Settings) -> None:
    async with console_site(settings, min_free_mb=1_000_000_000) as site:
        status, body, text = await healthz(site)
    assert status == 503
    assert body["failing"] == ["disk"]
    assert "MB needed" in body["checks"]["disk"]["detail"]
    assert body["checks"]["database"]["ok"] is True
    assert_public(text, site.settings)


async def test_an_ami_link_that_cannot_connect_is_named(settings: Settings) -> None:
    refused = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = refused.sockets[0].getsockname()[1]
    refused.close()
    await refused.wait_closed()  # nothing listens there any more: connections are refused
    async with console_site(settings, ami_secret="not-a-real-secret", ami_port=port) as site:
        await wait_until(lambda: site.console.ami.state.value == "down")
        status, body, text = await healthz(site)
    assert status == 503
    assert body["failing"] == ["ami"]
    assert body["checks"]["ami"]["detail"] == "down"
    assert_public(text, site.settings)
    assert "not-a-real-secret" not in text


@asynccontextmanager
async def console_with_workers(settings: Settings) -> AsyncIterator[tuple[Site, Any]]:
    async with services(settings, clip_jobs=True) as svc:
        server = TestServer(create_app(settings, db=svc.db, clip_jobs=svc.clip_jobs),
                            host="127.0.0.1")
        await server.start_server()
        try:
            yield Site(server, settings), svc.clip_jobs
        finally:
            await server.close()


async def test_a_dead_clip_worker_is_named(settings: Settings) -> None:
    settings = dataclasses.replace(settings, transcribe_workers=1)
    async with console_with_workers(settings) as (site, jobs):
        status, body, _ = await healthz(site)
        assert status == 200 and body["checks"]["workers"]["ok"] is True
        (pid,) = jobs.pool.pids()
        os.kill(pid, signal.SIGKILL)
        await wait_until(lambda: jobs.pool.alive() == 0)
        status, body, _ = await healthz(site)
    assert status == 503
    assert body["failing"] == ["workers"]
    assert body["checks"]["workers"]["detail"] == "0 of 1 clip workers running"
