"""Outages staff are told about: the AMI link down past its grace (a blip is not an
alert), reports waiting in the journal; each one alert, then one "restored" event, and
the alert retried while the store does not take it."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from ivr.config import Settings
from ivr.core.outage_watch import OutageWatch
from ivr.core.records import StoreError
from ivr.store import engine as store_engine
from ivr.store.alert_feed import raise_once
from ivr.store.reports import utc_now
from tests.console_util import console_site


async def _kinds(db: Any, prefix: str) -> list[str]:
    rows = await db.fetchall("SELECT kind FROM events WHERE kind LIKE ? ORDER BY id",
                             (prefix + "%",))
    return [r["kind"] for r in rows]


async def until(check: Any, timeout_s: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    ends = loop.time() + timeout_s
    while not (found := await check()):
        assert loop.time() < ends, "never happened"
        await asyncio.sleep(0.05)
    return found


async def test_a_blip_is_no_alert_an_outage_is_one_then_restored(settings: Settings) -> None:
    db = await store_engine.database(settings.database).open()
    try:
        watch = OutageWatch(lambda kind, data: raise_once(db, kind, None, utc_now(), data),
                            "alert.ami_down", grace_s=0.3)
        watch.update(False, "connection refused")
        await asyncio.sleep(0.05)
        watch.update(True)  # back before the grace: nothing
        await asyncio.sleep(0.5)
        assert await _kinds(db, "alert.ami") == []
        watch.update(False, "connection refused")
        watch.update(False, "still refused")  # repeats change nothing
        await until(lambda: _kinds(db, "alert.ami"))
        watch.update(True)
        await until(lambda: _restored(db))
        assert await _kinds(db, "alert.ami") == ["alert.ami_down", "alert.ami_down_restored"]
        row = await db.fetchone("SELECT data FROM events WHERE kind = 'alert.ami_down'")
        assert row is not None and json.loads(row["data"])["detail"] == "still refused"
        await watch.close()
    finally:
        await db.close()


async def _restored(db: Any) -> bool:
    return "alert.ami_down_restored" in await _kinds(db, "alert.ami")


async def test_an_alert_the_store_refuses_is_tried_again() -> None:
    tries: list[str] = []

    async def flaky(kind: str, data: dict[str, Any]) -> None:
        tries.append(kind)
        if len(tries) < 3:
            raise StoreError("database is locked")

    watch = OutageWatch(flaky, "alert.journal_waiting", grace_s=0.05, retry_s=0.05)
    watch.update(False, "3 report(s) in the journal")
    loop = asyncio.get_running_loop()
    ends = loop.time() + 30
    while len(tries) < 3:
        assert loop.time() < ends
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert tries == ["alert.journal_waiting"] * 3  # taken on the third try, then no more
    await watch.close()


async def test_the_console_raises_alert_ami_down_when_asterisk_is_unreachable(
        settings: Settings) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with console_site(settings, ami_secret="s3cret-for-test", ami_port=port,
                            ami_down_alert_s=0.5) as site:
        kinds = await until(lambda: _kinds(site.console.db, "alert.ami_down"))
        assert kinds == ["alert.ami_down"]


async def test_a_listener_that_cannot_start_leaves_nothing_running(settings: Settings) -> None:
    import dataclasses

    from ivr.app import services

    baseline = len(asyncio.all_tasks())
    with socket.socket() as taken:  # the DC-09 port is someone else's
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = dataclasses.replace(settings, alarm_dc09_port=taken.getsockname()[1])
        try:
            async with services(busy, messaging=True):
                raise AssertionError("started on a port in use")
        except OSError:
            pass
    assert len(asyncio.all_tasks()) == baseline  # the notifier and the sender were stopped
