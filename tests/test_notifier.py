"""Alerts to staff and texts to citizens, from the event log to the outbox: who is told
what and when (rules, roster, escalation, quiet hours, bursts, STOP), on both engines.
Sending is tested against real Kannel and a real SMTP server in test_messaging_e2e.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ivr.core.messaging_ports import Handling, IncomingSms
from ivr.core.notifier import Notifier, NotifySettings
from ivr.core.ports import NewReport
from ivr.core.records import ManualReport
from ivr.domain.reports import ReportState
from ivr.domain.roles import Intake, Role
from ivr.store import engine as store_engine
from ivr.store import events
from ivr.store.alert_admin import AlertAdmin
from ivr.store.alert_feed import AlertFeedStore
from ivr.store.casework import Casework
from ivr.store.db import Database
from ivr.store.outbox import Outbox
from ivr.store.reports import Reports, iso
from ivr.store.texts import TextStore
from ivr.store.users import Users

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

START = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # 10:00 in Lima (UTC-5)
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Center:
    db: Database
    clock: Clock
    notifier: Notifier
    admin: AlertAdmin
    ids: dict[str, int]

    async def rows(self, **where: Any) -> list[dict[str, Any]]:
        rows = await Outbox(self.db).listing(1, limit=5000)
        return [r for r in rows if all(r[k] == v for k, v in where.items())]


@pytest.fixture
async def center(database: Any) -> AsyncIterator[Center]:
    db = await store_engine.database(database).open()
    clock = Clock()
    users = Users(db)
    admin = AlertAdmin(db)
    ids: dict[str, int] = {}
    for name, role, phone in (("sofia", Role.SUPERVISOR, "987000001"),
                              ("bruno", Role.SUPERVISOR, "987000002"),
                              ("carla", Role.SUPERVISOR, "987000003"),
                              ("root", Role.ADMIN, "987000009"),
                              ("ana", Role.OPERATOR, "987000005")):
        ids[name] = (await users.add(name, role, PASSWORD)).id
        await admin.set_contact(1, ids[name], phone=phone, email=f"{name}@muni.example",
                                quiet_from=None, quiet_until=None, actor="user:root", now=START)
    day = (START - timedelta(hours=2), START + timedelta(hours=10))
    await admin.add_shift(1, ids["sofia"], "supervisor", *day, 1, "user:root", START)
    await admin.add_shift(1, ids["bruno"], "supervisor", *day, 2, "user:root", START)
    await admin.add_rule(1, "emergency", "on_duty:supervisor", sms=True, email=True, after_s=0,
                         actor="user:root", now=START)
    await admin.add_rule(1, "unacknowledged", "on_duty:supervisor", sms=True, email=False,
                         after_s=30, actor="user:root", now=START)
    await admin.add_rule(1, "keyword", "role:supervisor", sms=True, email=True, after_s=0,
                         actor="user:root", now=START)
    notifier = Notifier(AlertFeedStore(db), NotifySettings(window_s=60), clock)
    await notifier.catch_up()  # the set-up's own events
    try:
        yield Center(db, clock, notifier, admin, ids)
    finally:
        await db.close()


async def _emergency(db: Database, clock: Clock, caller: str = "987654321") -> int:
    return await Casework(db, clock).file_manual(ManualReport(
        "emergency", 1, Intake.PHONE, "disparos en Larco", caller=caller, emergency=True), "x")


async def test_an_emergency_tells_the_supervisor_on_duty_at_once_by_text_and_mail(
        center: Center) -> None:
    report = await _emergency(center.db, center.clock)
    assert await center.notifier.catch_up() == 2
    sent = await center.rows(report_id=report, purpose="alert.emergency")
    assert {(r["channel"], r["recipient"]) for r in sent} == {
        ("sms", "987000001"), ("email", "sofia@muni.example")}
    assert all(r["urgent"] and r["state"] == "pending" and r["not_before"] == iso(START)
               for r in sent)
    sms = next(r for r in sent if r["channel"] == "sms")
    assert "EMERGENCIA" in sms["body"] and str(report) in sms["body"]
    assert sms["segments"] == 1
    # read again (a second controller, a restart): nothing twice
    await center.notifier.catch_up()
    assert len(await center.rows(report_id=report)) == 2


async def test_unacknowledged_it_climbs_the_ladder_then_stops_once_acknowledged(
        center: Center) -> None:
    report = await _emergency(center.db, center.clock)
    await center.notifier.catch_up()
    center.clock.now = START + timedelta(seconds=29)
    await center.notifier.catch_up()
    assert await center.rows(purpose="alert.unacknowledged") == []
    center.clock.now = START + timedelta(seconds=31)
    await center.notifier.catch_up()
    (step1,) = await center.rows(purpose="alert.unacknowledged")
    assert step1["recipient"] == "987000002" and step1["channel"] == "sms"  # bruno, rank 2
    center.clock.now = START + timedelta(seconds=62)
    await center.notifier.catch_up()  # then the supervisor not on duty (carla)
    assert {r["recipient"] for r in await center.rows(purpose="alert.unacknowledged")} == {
        "987000002", "987000003"}
    work = Casework(center.db, center.clock)
    await work.change_state(report, ReportState.ACKNOWLEDGED, "user:ana")
    center.clock.now = START + timedelta(seconds=200)
    await center.notifier.catch_up()  # acknowledged: the admins are not woken
    assert "987000009" not in {r["recipient"] for r in await center.rows()}


async def test_nobody_on_duty_tells_every_supervisor_rather_than_no_one(center: Center
                                                                       ) -> None:
    center.clock.now = START + timedelta(hours=11)  # after every shift
    report = await _emergency(center.db, center.clock)
    await center.notifier.catch_up()
    told = {r["recipient"] for r in await center.rows(report_id=report, channel="sms")}
    assert told == {"987000001", "987000002", "987000003"}


async def test_a_burst_of_200_keyword_alerts_goes_as_one_message_per_person_and_channel(
        center: Center) -> None:
    reports = Reports(center.db, clock=center.clock)
    numbers = []
    for i in range(200):
        number = await reports.open_report(NewReport("robbery", 2, False, "es", f"c{i}", None,
                                                     None))
        numbers.append(number)

        async def op(conn: Any, number: int = number) -> None:
            await events.append(conn, number, "report.keyword_alert", iso(center.clock()),
                                actor="system", data={"words": ["pistola"]})

        await center.db.write(op)
    await center.notifier.catch_up()
    queued = await center.rows(purpose="alert.keyword")
    assert len(queued) == 200 * 3 * 2  # three supervisors, text and mail: queued, not sent
    outbox = Outbox(center.db)
    assert await outbox.claim("c1", START + timedelta(seconds=59)) == []  # the window
    claimed = await outbox.claim("c1", START + timedelta(seconds=61), limit=100)
    assert len(claimed) == 6
    assert all(len(c.members) == 200 for c in claimed)
    assert {r["state"] for r in await center.rows(purpose="alert.keyword")} == {
        "grouped", "sending"}


async def test_quiet_hours_hold_a_keyword_alert_but_never_an_emergency(center: Center) -> None:
    await center.admin.set_contact(1, center.ids["sofia"], phone="987000001", email=None,
                                   quiet_from="09:00", quiet_until="11:30", actor="user:root",
                                   now=START)
    report = await _emergency(center.db, center.clock)
    async def op(conn: Any) -> None:
        await events.append(conn, report, "report.keyword_alert", iso(START), actor="system",
                            data={"words": ["arma"]})
    await center.db.write(op)
    await center.notifier.catch_up()
    rows = await center.rows(recipient="987000001")
    by = {r["purpose"]: r for r in rows}
    assert by["alert.emergency"]["not_before"] == iso(START)
    # 11:30 in Lima is 16:30 UTC
    assert by["alert.keyword"]["not_before"] == iso(START.replace(hour=16, minute=30))


async def test_a_mobile_caller_gets_a_receipt_and_follow_ups_until_stop(center: Center) -> None:
    reports = Reports(center.db, clock=center.clock)
    mobile = await reports.open_report(NewReport("robbery", 2, False, "es", "c1", "987654321",
                                                 "987654321"))
    landline = await reports.open_report(NewReport("robbery", 2, False, "es", "c2", "014455667",
                                                   "014455667"))
    for number in (mobile, landline):
        await reports.close_call(number, complete=True, outcome="recorded", last_step="done")
    await center.notifier.catch_up()
    (receipt,) = await center.rows(purpose="citizen.receipt")
    assert receipt["recipient"] == "987654321" and receipt["report_id"] == mobile
    assert f"ESTADO {mobile}" in receipt["body"] and receipt["segments"] == 1
    work = Casework(center.db, center.clock)
    await work.change_state(mobile, ReportState.ACKNOWLEDGED, "user:ana")
    await work.change_state(mobile, ReportState.DISPATCHED, "user:ana", unit="M-1")
    await center.notifier.catch_up()
    assert len(await center.rows(purpose="citizen.dispatched")) == 1
    store = TextStore(center.db, {})
    await store.handle(IncomingSms("987654321", "1000", "STOP"), 1,
                       Handling("stop", lambda _r: None, optout=True), center.clock())
    await work.change_state(mobile, ReportState.ON_SCENE, "user:ana")
    await work.change_state(mobile, ReportState.RESOLVED, "user:ana")
    await center.notifier.catch_up()
    assert await center.rows(purpose="citizen.resolved") == []  # STOP holds


async def test_the_deployments_own_alerts_reach_each_municipalitys_rule(center: Center
                                                                       ) -> None:
    from ivr.store.alert_feed import raise_once

    await center.admin.add_rule(1, "ami_down", "role:admin", sms=True, email=False, after_s=0,
                                actor="user:root", now=START)
    await center.admin.add_rule(1, "journal_waiting", "role:admin", sms=False, email=True,
                                after_s=0, actor="user:root", now=START)
    await raise_once(center.db, "alert.ami_down", None, START, {"detail": "refused"})
    await raise_once(center.db, "alert.journal_waiting", None, START, {"reports": 3})
    await center.notifier.catch_up()
    (ami,) = await center.rows(purpose="alert.ami_down")
    assert ami["recipient"] == "987000009" and ami["urgent"] and ami["channel"] == "sms"
    (journal,) = await center.rows(purpose="alert.journal_waiting")
    assert journal["recipient"] == "root@muni.example" and not journal["urgent"]
    assert journal["not_before"] == iso(START + timedelta(seconds=60))  # may group


async def test_a_silent_alarm_tells_its_rule_not_the_emergency_one_and_escalates(
        center: Center) -> None:
    from ivr.core.alarms import AlarmIntake
    from ivr.domain.alarms import Signal
    from ivr.store.alarm_admin import AlarmAdmin
    from ivr.store.alarms import AlarmStore

    await center.admin.add_rule(1, "silent_alarm", "role:admin", sms=True, email=False,
                                after_s=0, actor="user:root", now=START)
    await center.admin.add_rule(1, "unacknowledged", "role:admin", sms=True, email=False,
                                after_s=90, actor="user:root", now=START)
    admin = AlarmAdmin(center.db)
    site = await admin.add_site(1, "Bodega", actor="user:root", now=START)
    await admin.add_device(1, site, "webhook", "pos-1", actor="user:root", now=START)
    intake = AlarmIntake(AlarmStore(center.db), center.clock)
    device = await intake.device("webhook", "pos-1")
    assert device is not None
    got = await intake.receive(device, Signal("webhook", "pos-1", "HA", "w1", sent_at=START))
    assert got is not None and got.report_id
    await center.notifier.catch_up()
    told = await center.rows(report_id=got.report_id)
    assert {(r["purpose"], r["recipient"]) for r in told} == {
        ("alert.silent_alarm", "987000009")}  # not the emergency rule's supervisors
    center.clock.now = START + timedelta(seconds=31)  # untaken: the fixture's 30 s rule
    await center.notifier.catch_up()
    (step,) = await center.rows(report_id=got.report_id, purpose="alert.unacknowledged")
    assert step["recipient"] == "987000001"  # the supervisor on duty
    center.clock.now = START + timedelta(seconds=95)
    await center.notifier.catch_up()  # the admins' 90 s rule: they were told at once
    assert "987000009" not in {r["recipient"] for r in await center.rows(
        report_id=got.report_id, purpose="alert.unacknowledged")}
