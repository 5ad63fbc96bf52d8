"""Callbacks from the console through AMI, against the fake AMI server over TCP."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from ivr.config import Settings
from ivr.domain.roles import Intake, Role
from ivr.store.casework import ManualReport
from ivr.testing.ami_events import CallbackScript
from ivr.testing.fake_ami import FakeAmi
from tests.console_util import PASSWORD, Browser, Site, console_site

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

SAFETY_S = 5.0


@asynccontextmanager
async def callback_desk(settings: Settings) -> AsyncIterator[tuple[Site, FakeAmi, Browser, int]]:
    async with FakeAmi() as fake, console_site(
        settings, ami_secret=fake.secret, ami_username=fake.username, ami_port=fake.port,
        ami_action_timeout_s=1.0,
    ) as site, site.browser() as b:
        await asyncio.wait_for(_until(lambda: site.console.ami.state.value == "up"), SAFETY_S)
        await b.login("ana")
        report = await site.console.casework.file_manual(
            ManualReport("robbery", 2, Intake.RADIO, "asalto", caller="987654321"), "user:x")
        yield site, fake, b, report


async def _until(condition: Any) -> None:
    """Poll a condition on state that changes in other tasks (bounded by SAFETY_S)."""
    for _ in range(int(SAFETY_S / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def click(b: Browser, report: int, key: str | None = None, **form: str) -> Any:
    response = await b.post(f"/reports/{report}/callback",
                            {"request_key": key or secrets.token_urlsafe(16), **form},
                            headers={"X-Requested-With": "fetch"})
    return response.status, await response.json()


async def final_state(site: Site, report: int) -> dict[str, Any]:
    for _ in range(int(SAFETY_S / 0.01)):
        rows = await site.console.queries.callbacks(report)
        if rows and rows[0]["finished_at"]:
            return rows[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the callback never ended")


OUTCOMES = {
    "answered": CallbackScript(),
    "busy": CallbackScript(dial_status="BUSY"),
    "no_answer": CallbackScript(dial_status="NOANSWER"),
    "failed": CallbackScript(operator_reason=5),  # the operator's own phone was busy
}


async def test_each_outcome_shows_in_the_history(settings: Settings) -> None:
    for expected, script in OUTCOMES.items():
        async with callback_desk(settings) as (site, fake, b, report):
            fake.script_next_originate(script)
            status, body = await click(b, report)
            assert status == 200 and body["state"] in ("ringing", "answered"), body
            row = await final_state(site, report)
            assert row["state"] == expected, (expected, row)
            assert row["endpoint"] == "PJSIP/1001" and row["number"] == "987654321"
            (originate,) = fake.actions("Originate")
            assert originate.get("Channel") == "PJSIP/1001"
            assert originate.get("Exten") == "987654321"
            assert originate.get("Context") == "alerta-callback"
            history = await site.console.queries.history(report)
            kinds = [e["kind"] for e in history]
            assert "callback.requested" in kinds
            finals = [e for e in history if e["kind"] == "callback.updated" and e["data"]["final"]]
            assert [e["data"]["state"] for e in finals] == [expected]
            report_row = await site.console.queries.report(report)
            assert report_row is not None
            assert bool(report_row["callback_done_at"]) == (expected == "answered")


async def test_unsafe_values_are_refused_before_anything_is_sent(settings: Settings) -> None:
    async with callback_desk(settings) as (site, fake, b, report):
        for number in ("987654321\r\nAction: Originate", "98765a321", "123", "9" * 16,
                       "987654321\x00", "９８７６５４３２１"):
            status, body = await click(b, report, number=number)
            assert status == 400, (number, status, body)
            assert "number" in body["error"]
        assert fake.actions("Originate") == []
        assert await site.console.queries.callbacks(report) == []


async def test_one_click_is_one_call(settings: Settings) -> None:
    async with callback_desk(settings) as (site, fake, b, report):
        key = secrets.token_urlsafe(16)
        first, second = await asyncio.gather(click(b, report, key), click(b, report, key))
        assert {first[0], second[0]} == {200}
        await final_state(site, report)
        again = await click(b, report, key)
        assert again[1]["action_id"] == first[1]["action_id"] == second[1]["action_id"]
        assert len(fake.actions("Originate")) == 1
        assert len(await site.console.queries.callbacks(report)) == 1


async def test_link_dropped_between_originate_and_response_places_no_second_call(
        settings: Settings) -> None:
    async with callback_desk(settings) as (site, fake, b, report):
        fake.drop_on_next("Originate")
        status, body = await click(b, report)
        assert status == 200 and body["state"] == "unknown", body
        row = await final_state(site, report)
        assert row["state"] == "unknown" and "check" in row["reason"]
        # The link comes back; whatever panoramisk kept must not be sent again.
        await asyncio.wait_for(_until(lambda: site.console.ami.state.value == "up"), SAFETY_S)
        await asyncio.wait_for(_until(lambda: fake.logins >= 2), SAFETY_S)
        assert len(fake.actions("Originate")) == 1
        # The operator decides to retry: a new click, a new call.
        status, body = await click(b, report)
        assert status == 200
        await asyncio.wait_for(_until(lambda: len(fake.actions("Originate")) == 2), SAFETY_S)
        ids = [a.get("ActionID") for a in fake.actions("Originate")]
        assert len(set(ids)) == 2


async def test_link_down_refuses_clearly(settings: Settings) -> None:
    async with callback_desk(settings) as (site, fake, b, report):
        await fake.stop()
        await asyncio.wait_for(_until(lambda: site.console.ami.state.value == "down"), SAFETY_S)
        status, body = await click(b, report)
        assert status == 503 and "down" in body["error"]
        (row,) = await site.console.queries.callbacks(report)
        assert row["state"] == "failed" and row["reason"].startswith("not sent")
        state = await (await b.get("/api/ami")).json()
        assert state["state"] == "down"


async def test_an_operator_without_a_phone_is_told_so(settings: Settings) -> None:
    async with callback_desk(settings) as (site, fake, _b, report):
        await site.console.users.add("root2", Role.ADMIN, PASSWORD)  # no extension
        async with site.browser() as admin:
            await admin.login("root2")
            status, body = await click(admin, report)
            assert status == 400 and "extension" in body["error"]
        assert fake.actions("Originate") == []


async def test_callbacks_off_without_a_secret(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("ana")
        report = await site.console.casework.file_manual(
            ManualReport("noise", 5, Intake.PHONE, "ruido", caller="987654321"), "user:x")
        status, body = await click(b, report)
        assert status == 503 and "off" in body["error"]
        assert (await (await b.get("/api/ami")).json())["state"] == "disabled"
