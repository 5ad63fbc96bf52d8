"""The callback use case on its own: the real store, the real AMI link, the fake AMI server.

No HTTP: this is what the console's button (and any later intake) calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from ivr.ami.link import AmiLink, CallbackUpdate, LinkState
from ivr.app import Services
from ivr.core.callbacks import CallbackDesk, CallbackRefused, CallbackSettings, TelephonyDown
from ivr.domain.roles import Intake
from ivr.store.casework import Casework, ManualReport
from ivr.store.queries import ConsoleQueries
from ivr.testing.ami_events import CallbackScript
from ivr.testing.fake_ami import FakeAmi

KEY = "k" * 20
SAFETY_S = 5.0


@dataclass
class Bench:
    desk: CallbackDesk
    fake: FakeAmi
    link: AmiLink
    queries: ConsoleQueries
    report: int


@pytest.fixture
async def bench(svc: Services) -> AsyncIterator[Bench]:
    casework = Casework(svc.db)
    queries = ConsoleQueries(svc.db)
    report = await casework.file_manual(
        ManualReport("robbery", 2, Intake.RADIO, "asalto", caller="987654321"), "user:x")
    async with FakeAmi() as fake:
        desk: CallbackDesk | None = None

        async def on_update(update: CallbackUpdate) -> None:
            assert desk is not None
            await desk.record_update(update)

        link = AmiLink(host="127.0.0.1", port=fake.port, username=fake.username,
                       secret=fake.secret, on_update=on_update)
        await link.start()
        for _ in range(int(SAFETY_S / 0.01)):
            if link.state is LinkState.UP:
                break
            await asyncio.sleep(0.01)
        desk = CallbackDesk(casework, queries, link, CallbackSettings(ring_timeout_s=20))
        try:
            yield Bench(desk, fake, link, queries, report)
        finally:
            await link.stop()


async def states(b: Bench, wanted: str) -> list[str]:
    for _ in range(int(SAFETY_S / 0.01)):
        (row,) = await b.queries.callbacks(b.report)
        if row["state"] == wanted:
            break
        await asyncio.sleep(0.01)
    return [r["state"] for r in await b.queries.callbacks(b.report)]


async def test_the_operators_phone_rings_then_the_citizen_and_the_outcome_is_kept(
    bench: Bench,
) -> None:
    done = await bench.desk.call_back(bench.report, request_key=KEY, number=None,
                                      extension="1001", actor="user:ana")
    assert done.state == "ringing" and done.action_id.startswith("alerta-cb-")
    (originate,) = bench.fake.actions("Originate")
    assert originate.get("Channel") == "PJSIP/1001"
    assert originate.get("Exten") == "987654321"  # the report's caller
    assert await states(bench, "answered") == ["answered"]


async def test_the_same_request_twice_is_one_call(bench: Bench) -> None:
    first = await bench.desk.call_back(bench.report, request_key=KEY, number=None,
                                       extension="1001", actor="user:ana")
    again = await bench.desk.call_back(bench.report, request_key=KEY, number=None,
                                       extension="1001", actor="user:ana")
    assert again.action_id == first.action_id and again.reason == "already placed"
    assert len(bench.fake.actions("Originate")) == 1


async def test_refusals_say_why_and_send_nothing(bench: Bench) -> None:
    with pytest.raises(CallbackRefused, match="no phone extension"):
        await bench.desk.call_back(bench.report, request_key=KEY, number=None, extension=None,
                                   actor="user:ana")
    with pytest.raises(CallbackRefused, match="number"):
        await bench.desk.call_back(bench.report, request_key=KEY, number="12#34",
                                   extension="1001", actor="user:ana")
    with pytest.raises(CallbackRefused, match="stale"):
        await bench.desk.call_back(bench.report, request_key="short", number=None,
                                   extension="1001", actor="user:ana")
    with pytest.raises(LookupError):
        await bench.desk.call_back(999999, request_key=KEY, number=None, extension="1001",
                                   actor="user:ana")
    assert bench.fake.actions("Originate") == []


async def test_a_link_that_is_down_fails_the_attempt_clearly(bench: Bench) -> None:
    await bench.fake.stop()
    for _ in range(int(SAFETY_S / 0.01)):
        if bench.link.state is not LinkState.UP:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(TelephonyDown, match="telephony link is down"):
        await bench.desk.call_back(bench.report, request_key=KEY, number=None,
                                   extension="1001", actor="user:ana")
    (row,) = await bench.queries.callbacks(bench.report)
    assert row["state"] == "failed" and "not sent" in row["reason"]


async def test_asterisk_refusing_the_originate_is_kept_as_failed(bench: Bench) -> None:
    bench.fake.script_next_originate(CallbackScript(error="Extension does not exist."))
    done = await bench.desk.call_back(bench.report, request_key=KEY, number=None,
                                      extension="1001", actor="user:ana")
    assert done.state == "failed" and "Extension does not exist" in done.reason
