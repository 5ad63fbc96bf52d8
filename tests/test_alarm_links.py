"""Link supervision on the real store, both engines: a device that misses its polls is
announced lost once (two controllers watching: still once), a poll brings it back, and
the notifier turns the loss into an alert for the supervisors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ivr.core.alarm_links import AlarmLinkWatch
from ivr.core.alarms import AlarmIntake
from ivr.core.notifier import Notifier, NotifySettings
from ivr.domain.alarms import Signal
from ivr.domain.roles import Role
from ivr.store import engine as store_engine
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.alarm_links import AlarmLinkStore
from ivr.store.alarms import AlarmStore
from ivr.store.alert_admin import AlertAdmin
from ivr.store.alert_feed import AlertFeedStore
from ivr.store.db import Database
from ivr.store.outbox import Outbox
from ivr.store.users import Users

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

START = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
POLL_S = 60  # lost after 2.5 polls: 150 s


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Watched:
    db: Database
    clock: Clock
    watch: AlarmLinkWatch
    intake: AlarmIntake
    device: int

    async def events(self, kind: str) -> list[Any]:
        return await self.db.fetchall(
            "SELECT data, municipality_id FROM events WHERE kind = ? ORDER BY id", (kind,))

    async def link(self) -> str:
        row = await self.db.fetchone("SELECT link FROM alarm_devices WHERE id = ?",
                                     (self.device,))
        assert row is not None
        return str(row["link"])


@pytest.fixture
async def watched(database: Any) -> AsyncIterator[Watched]:
    db = await store_engine.database(database).open()
    admin = AlarmAdmin(db)
    site = await admin.add_site(1, "Farmacia Santa Rosa", address="Av. Pardo 301",
                                actor="user:root", now=START)
    device = await admin.add_device(1, site, "webhook", "pos-7", keys=["whsec_c2VjcmV0"],
                                    poll_s=POLL_S, actor="user:root", now=START)
    await admin.add_device(1, site, "webhook", "pos-unsupervised", actor="user:root",
                           now=START)  # no poll_s: never lost
    clock = Clock()
    try:
        yield Watched(db, clock, AlarmLinkWatch(AlarmLinkStore(db), clock),
                      AlarmIntake(AlarmStore(db), clock), device)
    finally:
        await db.close()


async def _poll(watched: Watched, key: str) -> None:
    device = await watched.intake.device("webhook", "pos-7")
    assert device is not None
    await watched.intake.receive(device, Signal("webhook", "pos-7", "NULL", key))


async def test_a_device_that_misses_its_polls_is_announced_lost_once(watched: Watched
                                                                     ) -> None:
    watched.clock.now = START + timedelta(seconds=149)  # never heard, but within grace
    writes = watched.db.writes
    assert await watched.watch.check() == 0
    assert watched.db.writes == writes  # an idle store gets a read, no write
    assert await watched.link() == "unknown"

    watched.clock.now = START + timedelta(seconds=151)
    assert await watched.watch.check() == 1
    assert await watched.link() == "lost"
    (lost,) = await watched.events("alarm.link_lost")
    assert lost["municipality_id"] == 1
    assert '"site":"Farmacia Santa Rosa"' in lost["data"] and '"last_seen_at":null' in lost[
        "data"]
    watched.clock.now = START + timedelta(seconds=400)
    assert await watched.watch.check() == 0  # still lost: nothing new to say
    assert len(await watched.events("alarm.link_lost")) == 1


async def test_two_controllers_watching_announce_a_loss_once(watched: Watched,
                                                             database: Any) -> None:
    await _poll(watched, "p1")  # heard at START
    other_db = await store_engine.database(database).open()  # a second controller's store
    try:
        other = AlarmLinkWatch(AlarmLinkStore(other_db), watched.clock)
        watched.clock.now = START + timedelta(seconds=200)
        told = await asyncio.gather(watched.watch.check(), other.check(),
                                    watched.watch.check(), other.check())
    finally:
        await other_db.close()
    assert sum(told) == 1
    (lost,) = await watched.events("alarm.link_lost")
    assert START.isoformat(timespec="milliseconds") in lost["data"]  # when last heard


async def test_a_poll_restores_a_lost_link_and_a_new_silence_is_a_new_loss(
        watched: Watched) -> None:
    watched.clock.now = START + timedelta(seconds=200)
    assert await watched.watch.check() == 1
    watched.clock.now = START + timedelta(seconds=210)
    await _poll(watched, "p1")
    assert await watched.link() == "ok"
    assert len(await watched.events("alarm.link_restored")) == 1
    watched.clock.now = START + timedelta(seconds=210 + 149)
    assert await watched.watch.check() == 0  # heard 149 s ago: within grace
    watched.clock.now = START + timedelta(seconds=210 + 151)
    assert await watched.watch.check() == 1
    assert len(await watched.events("alarm.link_lost")) == 2


async def test_a_lost_link_queues_an_alert_for_the_supervisors(watched: Watched) -> None:
    users, admin = Users(watched.db), AlertAdmin(watched.db)
    sofia = (await users.add("sofia", Role.SUPERVISOR, "correct horse battery")).id
    await admin.set_contact(1, sofia, phone="987000001", email="sofia@muni.example",
                            quiet_from=None, quiet_until=None, actor="user:root", now=START)
    await admin.add_rule(1, "alarm_link_lost", "role:supervisor", sms=True, email=False,
                         after_s=0, actor="user:root", now=START)
    notifier = Notifier(AlertFeedStore(watched.db), NotifySettings(), watched.clock)
    await notifier.catch_up()  # the set-up's own events
    watched.clock.now = START + timedelta(seconds=200)
    assert await watched.watch.check() == 1
    assert await notifier.catch_up() == 1
    (sms,) = [r for r in await Outbox(watched.db).listing(1, limit=100)
              if r["purpose"] == "alert.alarm_link_lost"]
    assert sms["channel"] == "sms" and sms["recipient"] == "987000001"
    assert "ALARMA SIN ENLACE" in sms["body"] and "Farmacia Santa Rosa" in sms["body"]
    assert not sms["urgent"]
