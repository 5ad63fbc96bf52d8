"""A silent alarm in a real browser (Debian's chromium, driven by Playwright).

An operator watches the queue and a supervisor the alarm board, each in a browser of
their own. An alarm recorded from the test through the use case and the real store
raises the banner on both pages and starts each page's sound (Web Audio: the page says
on <body> that it beeped and that its AudioContext runs; chromium is started with an
autoplay policy that lets a page sound before anyone touches it, as a command centre's
browsers are set up). The operator takes it with the key ``t``: the report opens
acknowledged, and the supervisor's banner and sound go away live while the board shows
the alarm confirmed. No page asks anything of another origin or logs an error (CSP
violations included). A screenshot of the board with the banner lands in
``tests/artifacts/``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, Page, async_playwright

from ivr.config import Settings
from ivr.core.alarms import AlarmIntake
from ivr.domain.alarms import Signal
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
        await admin.add_device(1, shop, "dc09", "A1B2", actor="user:root", now=now)
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

        intake = AlarmIntake(AlarmStore(db), lambda: datetime.now(UTC))
        device = await intake.device("dc09", "A1B2")
        assert device is not None
        recorded = await intake.receive(device, Signal("dc09", "A1B2", "HA", "browser-1",
                                                       zone="001", sent_at=now))
        assert recorded is not None and recorded.report_id is not None
        report = recorded.report_id

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
