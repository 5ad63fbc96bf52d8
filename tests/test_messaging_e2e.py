"""Issue 13's must-shows end to end: the controller with its notifier and sender, real
Kannel (bearerbox, smsbox, Kannel's own fakesmsc as the SMS centre) and a real SMTP
server (aiosmtpd), all on loopback; calls placed by the wire-level fake Asterisk.

- An emergency call texts and mails the supervisor on duty; unacknowledged, it
  escalates to the next one.
- A citizen's text opens a report and gets its number; its status is told to that
  number, refused to another.
- The gateway stopped while 50 alerts are due: once back, each arrives exactly once.
- A burst of 200 keyword alerts arrives as a handful of messages, not 200.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from ivr.agi.server import AgiServer
from ivr.app import Services, services
from ivr.config import Settings
from ivr.domain.roles import Role
from ivr.flows import routes
from ivr.messaging.settings import MessagingSection
from ivr.messaging.smtp import SmtpSection
from ivr.store import events
from ivr.store.alert_admin import AlertAdmin
from ivr.store.reports import iso, utc_now
from ivr.store.users import Users
from ivr.testing import CallScript, place_call
from ivr.testing.kannel import ThrowawayKannel
from ivr.testing.smtp import ThrowawaySmtp

WAIT_S = 60.0  # generous: the suite also runs on a loaded machine
PASSWORD = "correct horse battery"
SUPERVISORS = {"sofia": "987000001", "bruno": "987000002"}


@pytest.fixture(scope="module")
def kannel() -> Iterator[ThrowawayKannel]:
    with ThrowawayKannel.start() as gateway:
        yield gateway


@pytest.fixture
def smtp() -> Iterator[ThrowawaySmtp]:
    with ThrowawaySmtp() as server:
        yield server


async def until(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll ``check`` until it is truthy (no wall-clock assertion: a long ceiling)."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + timeout_s
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        if loop.time() > ends:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def controller(settings: Settings, kannel: ThrowawayKannel, smtp: ThrowawaySmtp,
                     **messaging: Any) -> AsyncIterator[tuple[Services, AgiServer]]:
    section = MessagingSection(
        port=kannel.callback_port, sms=kannel.section(),
        mail=SmtpSection(host=smtp.host, port=smtp.port, sender="alertas@muni.example"),
        **messaging)
    settings = dataclasses.replace(settings, messaging=section)
    async with services(settings, messaging=True) as svc:
        await _staff(svc)
        server = AgiServer(settings.agi, routes(svc.deps))
        await server.start()
        try:
            yield svc, server
        finally:
            await server.stop(5.0)


async def _staff(svc: Services, escalate_after_s: int = 10) -> None:
    users, admin, now = Users(svc.db), AlertAdmin(svc.db), utc_now()
    for rank, (name, phone) in enumerate(SUPERVISORS.items(), start=1):
        user = await users.add(name, Role.SUPERVISOR, PASSWORD)
        await admin.set_contact(1, user.id, phone=phone, email=f"{name}@muni.example",
                                quiet_from=None, quiet_until=None, actor="user:root", now=now)
        await admin.add_shift(1, user.id, "supervisor", now - timedelta(hours=1),
                              now + timedelta(hours=8), rank, "user:root", now)
    await admin.add_rule(1, "emergency", "on_duty:supervisor", sms=True, email=True, after_s=0,
                         actor="user:root", now=now)
    await admin.add_rule(1, "unacknowledged", "on_duty:supervisor", sms=True, email=False,
                         after_s=escalate_after_s, actor="user:root", now=now)
    await admin.add_rule(1, "keyword", "on_duty:supervisor", sms=True, email=True, after_s=0,
                         actor="user:root", now=now)


def texts_to(kannel: ThrowawayKannel, number: str) -> list[str]:
    return [m.text for m in kannel.received() if m.to == number]


async def test_an_emergency_call_texts_and_mails_the_supervisor_then_escalates(
        settings: Settings, kannel: ThrowawayKannel, smtp: ThrowawaySmtp) -> None:
    async with controller(settings, kannel, smtp) as (svc, server):
        before = len(texts_to(kannel, SUPERVISORS["bruno"]))
        result = await place_call("127.0.0.1", server.port, CallScript(
            keys=["1", "1"], queue_status=None, caller_id="987654321"))
        number = int(result.variables["ALERTA_REPORT"])
        sms = await until(lambda: [t for t in texts_to(kannel, SUPERVISORS["sofia"])
                                   if f"reporte {number}" in t], "the text to sofia")
        assert "EMERGENCIA" in sms[0]
        mail = await until(lambda: [m for m in smtp.received
                                    if "sofia@muni.example" in m.recipients
                                    and str(number) in m.subject], "the mail to sofia")
        assert "EMERGENCIA" in mail[0].body
        # nobody acknowledges: ten seconds on, the next supervisor on duty
        escalated = await until(lambda: [t for t in texts_to(kannel, SUPERVISORS["bruno"])
                                         [before:] if f"reporte {number}" in t],
                                "the escalation to bruno")
        assert "SIN ATENDER" in escalated[0]
        receipt = await until(lambda: [t for t in texts_to(kannel, "987654321")
                                       if f"reporte {number}" in t], "the caller's receipt")
        assert f"ESTADO {number}" in receipt[0]
        # the gateway's delivery report comes back to the outbox
        row = await until(lambda: svc.db.fetchone(
            "SELECT state FROM outbox WHERE report_id = ? AND recipient = ? AND"
            " state = 'delivered'", (number, SUPERVISORS["sofia"])), "a delivery report")
        assert row["state"] == "delivered"


async def test_a_citizen_texts_a_report_and_asks_its_status(
        settings: Settings, kannel: ThrowawayKannel, smtp: ThrowawaySmtp) -> None:
    async with controller(settings, kannel, smtp):
        kannel.send_mo("51912345678", "1000", "robo de celular en el parque Kennedy")
        reply = await until(lambda: [t for t in texts_to(kannel, "912345678")
                                     if "recibimos su reporte" in t], "the report's number")
        found = re.search(r"reporte (\d+)", reply[0])
        assert found
        number = found.group(1)
        kannel.send_mo("51912345678", "1000", f"ESTADO {number}")
        status = await until(lambda: [t for t in texts_to(kannel, "912345678")
                                      if t.startswith("Municipalidad: reporte")], "the status")
        assert f"reporte {number}: recibido" in status[0]
        kannel.send_mo("51955555555", "1000", f"ESTADO {number}")
        refused = await until(lambda: texts_to(kannel, "955555555"), "the refusal")
        assert "no hay un reporte" in refused[0] and "recibido" not in refused[0]


async def test_the_gateway_stopped_during_50_alerts_delivers_each_exactly_once(
        settings: Settings, kannel: ThrowawayKannel, smtp: ThrowawaySmtp) -> None:
    async with controller(settings, kannel, smtp) as (svc, _server):
        already = len(kannel.received())
        kannel.stop_gateway()
        try:
            numbers = [await _emergency(svc, f"gw{i}") for i in range(50)]
            await until(lambda: _count(svc, "state = 'pending' AND attempts > 0", 50),
                        "every alert tried and waiting for the gateway")
        finally:
            kannel.start_gateway()
        wanted = sorted(numbers)

        def arrived() -> list[int]:
            return [int(found.group(1)) for t in texts_to(kannel, SUPERVISORS["sofia"])
                    if (found := re.search(r"reporte (\d+)", t)) and int(found.group(1))
                    in numbers]

        await until(lambda: len(arrived()) >= 50, "all 50 after the gateway came back",
                    timeout_s=240)
        await asyncio.sleep(2)  # anything sent twice would show by now
        assert sorted(arrived()) == wanted  # each exactly once
        assert len(kannel.received()) >= already + 50


async def test_a_burst_of_200_keyword_alerts_arrives_as_a_handful_of_messages(
        settings: Settings, kannel: ThrowawayKannel, smtp: ThrowawaySmtp) -> None:
    async with controller(settings, kannel, smtp, window_s=3) as (svc, _server):
        before_sms = len(texts_to(kannel, SUPERVISORS["sofia"]))
        before_mail = len(smtp.received)
        for i in range(200):
            report = await svc.reports.open_report(_new(f"kw{i}"))

            async def op(conn: Any, report: int = report) -> None:
                await events.append(conn, report, "report.keyword_alert", iso(utc_now()),
                                    actor="system", data={"words": ["pistola"]})

            await svc.db.write(op)
        async def settled() -> bool:
            return await _count(svc, "purpose = 'alert.keyword'", 400) and await _count(
                svc, "purpose = 'alert.keyword' AND state IN ('pending', 'sending')", 0,
                exactly=True)

        await until(settled, "every keyword alert sent or grouped")
        await asyncio.sleep(1)
        texts = texts_to(kannel, SUPERVISORS["sofia"])[before_sms:]
        mails = [m for m in smtp.received[before_mail:] if "sofia@muni.example" in m.recipients]
        assert 1 <= len(texts) <= 5 and 1 <= len(mails) <= 5
        assert sum(int(re.search(r": (\d+) alertas", t).group(1))  # type: ignore[union-attr]
                   for t in texts if "alertas" in t) + sum(
            1 for t in texts if "alertas" not in t) == 200


def _new(call: str) -> Any:
    from ivr.core.ports import NewReport
    return NewReport("robbery", 2, False, "es", call, None, None)


async def _emergency(svc: Services, call: str) -> int:
    from ivr.core.ports import NewReport
    return await svc.reports.open_report(NewReport("emergency", 1, True, "es", call, None, None))


async def _count(svc: Services, where: str, at_least: int, exactly: bool = False) -> bool:
    row = await svc.db.fetchone(f"SELECT count(*) AS n FROM outbox WHERE {where}")
    n = int(row["n"]) if row else 0
    return n == at_least if exactly else n >= at_least


async def test_the_gateway_callbacks_refuse_a_caller_without_the_token(
        settings: Settings, kannel: ThrowawayKannel, smtp: ThrowawaySmtp) -> None:
    import aiohttp

    async with controller(settings, kannel, smtp) as (svc, _server):
        base = kannel.callback_base
        async with aiohttp.ClientSession() as http:
            for path in ("/kannel/incoming?from=51912345678&to=1000&text=robo",
                         "/kannel/dlr?message=1&status=1"):
                async with http.get(base + path) as r:
                    assert r.status == 403
                async with http.get(base + path + "&token=" + "x" * 32) as r:
                    assert r.status == 403
            token = kannel.callback_token
            async with http.get(f"{base}/kannel/incoming?token={token}&from=abc&to=1000"
                                "&text=robo") as r:
                assert r.status == 400 and "from" in (await r.text()).lower()
            async with http.post(f"{base}/kannel/incoming?token={token}",
                                 data={"from": "51912345678", "to": "1000",
                                       "text": "x" * 100_000}) as r:
                assert r.status in (400, 413)
        row = await svc.db.fetchone("SELECT count(*) AS n FROM sms_incoming")
        assert row is not None and row["n"] == 0  # nothing refused was taken
