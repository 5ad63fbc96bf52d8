"""A silent alarm in a real browser (Debian's chromium, driven by Playwright).

An operator watches the queue and a supervisor the alarm board, each in a browser of
their own. A panel's encrypted SIA DC-09 hold-up line (made by my-dc09-spt, sent over
TCP to the real receiver, ACKed once stored) raises the banner on both pages and starts
each page's sound (Web Audio: the page says on <body> that it beeped and that its
AudioContext runs; chromium is started with an autoplay policy that lets a page sound
before anyone touches it, as a command centre's browsers are set up). The operator
takes it with the key ``t``: the report opens acknowledged, and the supervisor's banner
and sound go away live while the board shows the alarm confirmed. No page asks anything
of another origin or logs an error (CSP violations included). A screenshot of the board
with the banner lands in ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from my_dc09_spt.msg.dc03_msg import dc03_msg
from my_dc09_spt.msg.dc09_msg import dc09_msg
from playwright.async_api import Browser, Page, async_playwright

from ivr.alarms.receiver import start_dc09
from ivr.config import Settings
from ivr.core.alarms import AlarmIntake
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.alarms import AlarmStore
from tests.browser_util import (
    CHROMIUM_ARGS,
    Watch,
    capture,
    csp_violations,
    log_in,
    new_page,
    require_chromium,
)
from tests.console_util import console_site

KEY = "0123456789ABCDEF0123456789ABCDEF"  # the panel's AES-256 key
SOUNDING = """() => Number(document.body.dataset.alarmBeeps || 0) >= 1
  && document.body.dataset.alarmSound === "on"
  && document.body.dataset.alarmAudio === "running" """


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    require_chromium()


@contextlib.asynccontextmanager
async def _chromium() -> AsyncIterator[Browser]:
    """The suite's chromium, allowed to sound before a gesture (a console's set-up)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(require_chromium()), headless=True,
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
        try:
            yield browser
        finally:
            await browser.close()


async def _listening(page: Page) -> None:
    """The page's alarm script has read the untaken alarms and follows the live feed."""
    await page.wait_for_function("() => document.body.dataset.alarmFeed === 'on'")


async def test_an_alarm_rings_every_open_console_until_someone_takes_it(
        settings: Settings) -> None:
    async with console_site(settings) as site, _chromium() as browser:
        db = site.console.db
        admin = AlarmAdmin(db)
        now = datetime.now(UTC)
        shop = await admin.add_site(1, "Bodega Don Lucho", address="Av. Larco 812", zone="3",
                                    lat=-12.1211, lon=-77.0297, actor="user:root", now=now)
        await admin.add_device(1, shop, "dc09", "A1B2", keys=[KEY], actor="user:root", now=now)
        watch = Watch()
        ana = await new_page(browser, watch)
        await log_in(ana, site.origin, "ana")  # the queue
        sofia = await new_page(browser, watch)
        await log_in(sofia, site.origin, "sofia")
        await sofia.goto(f"{site.origin}/alarms")
        await sofia.wait_for_selector("#alarm-list tr.empty")
        for page in (ana, sofia):
            await _listening(page)
            assert await page.is_hidden("#alarm-banner")
            assert await page.get_attribute("body", "data-alarm-beeps") is None

        # The alarm comes as a panel sends it: an encrypted SIA DC-09 hold-up line made by
        # an independent transmitter (my-dc09-spt), over TCP to the controller's receiver,
        # answered ACK only once it is stored.
        intake = AlarmIntake(AlarmStore(db), lambda: datetime.now(UTC))
        receiver = await start_dc09(intake, "127.0.0.1", 0, udp=False)
        try:
            panel = dc09_msg("A1B2", KEY.encode(), None, 0, 0)
            line = panel.dc09block(1, "SIA-DCS", dc03_msg.dc03event(
                "A1B2", {"code": "HA", "zone": 1}))
            reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
            writer.write(line.encode("ascii"))
            await writer.drain()
            async with asyncio.timeout(60):
                answer = await reader.readuntil(b"\r")
            writer.close()
            kind, _offset = panel.dc09answer(1, answer.decode("ascii"))
            assert kind == "ACK", answer
        finally:
            await receiver.stop()
        row = await db.fetchone("SELECT report_id FROM alarm_signals WHERE code = 'HA'")
        assert row is not None and row["report_id"] is not None
        report = int(row["report_id"])

        for page in (ana, sofia):
            await page.wait_for_selector("#alarm-banner:not([hidden])")
            banner = await page.inner_text("#alarm-banner")
            assert "Bodega Don Lucho" in banner and "asalto en curso" in banner, banner
            await page.wait_for_function(SOUNDING)
        await sofia.wait_for_selector(f"#alarm-{report}.untaken")  # the board, live
        await ana.wait_for_selector(f"#queue-rows tr[data-id='{report}']")  # and the queue
        await capture(sofia, "alarm-board.png")

        await ana.keyboard.press("t")
        await ana.wait_for_url(f"{site.origin}/reports/{report}")
        await ana.wait_for_selector("#report-state.s-acknowledged")
        await ana.wait_for_function("() => document.body.dataset.alarmsPending === '0'")
        assert await ana.is_hidden("#alarm-banner")
        await sofia.wait_for_selector("#alarm-banner", state="hidden")
        await sofia.wait_for_function("() => document.body.dataset.alarmSound === 'off'")
        await sofia.wait_for_selector(f"#alarm-{report}:not(.untaken) .s-acknowledged")
        history = await site.console.queries.history(report)
        assert [(e["actor"], e["data"].get("to")) for e in history
                if e["kind"] == "report.state_changed"] == [("user:ana", "acknowledged")]

        for page in (ana, sofia):
            assert await csp_violations(page) == []
        assert watch.errors == []
        assert watch.foreign(site.origin) == []
