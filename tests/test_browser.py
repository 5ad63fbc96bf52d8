"""The console in a real browser (Debian's chromium, driven by Playwright).

An operator logs in through the form, watches a report arrive from a real
``alerta call`` without reloading, opens it from the keyboard, plays the clip,
and takes it from acknowledged through dispatched to resolved; another calls
the citizen back through the fake AMI server and sees the outcome arrive. No
page asks anything of another origin or logs an error (CSP violations
included). The controller (FastAGI), the console and the fake AMI run in this
test's event loop on real sockets; controller and console share one database.
Screenshots of the queue and of the report page land in ``tests/artifacts/``
(git-ignored) for a person to look at.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from ivr.config import Settings
from ivr.testing.ami_events import CallbackScript
from ivr.testing.fake_ami import FakeAmi
from ivr.testing.wav import make_tone_wav
from tests.browser_util import (
    Watch,
    alerta_call,
    capture,
    chromium,
    csp_violations,
    log_in,
    new_page,
    require_chromium,
)
from tests.console_util import Site, console_site
from tests.e2e import report_number, running_line

KEYS = "1,2,1,#,1"  # Spanish, robbery, keep the caller's number, no zone, record, confirm
PLAYING = """() => {
  const p = document.getElementById("player");
  return p !== null && !p.paused && p.readyState >= 2 && p.currentTime > 0.2;
}"""


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    """Decide before any server starts: fail under CI, skip elsewhere, when it is missing."""
    require_chromium()


async def _live(page: Page) -> None:
    """The page's event stream is connected, so what happens next reaches it live."""
    await page.wait_for_selector("#live.pill.on")


async def _history(site: Site, number: int) -> list[dict[str, Any]]:
    return await site.console.queries.history(number)


async def _state_shown(page: Page, state: str) -> None:
    """The report page, reloaded after a state change, shows it and listens to keys again."""
    await page.wait_for_selector(f"#report-state.s-{state}")
    await _live(page)  # console.js has run (it opens the stream), so its key bindings are on


async def test_an_operator_works_a_live_report_from_the_keyboard(
        settings: Settings, tmp_path: Path) -> None:
    voice = tmp_path / "voice.wav"
    make_tone_wav(voice, 3.0)
    async with running_line(settings) as line, console_site(settings, db=line.svc.db) as site, \
            chromium() as browser:
        watch = Watch()
        page = await new_page(browser, watch)
        await log_in(page, site.origin, "ana")
        await page.wait_for_selector("#queue-rows tr.empty")
        assert await page.inner_text("#open-count") == "0 reportes abiertos"
        await _live(page)
        await page.evaluate("window.loadedOnce = true")  # gone if the page ever reloads

        # A citizen calls: the real `alerta call` command against the FastAGI port.
        call = asyncio.create_task(alerta_call(line.server.port, keys=KEYS, voice=voice))
        await page.wait_for_selector("#queue-rows tr[data-id]")
        answer = await call
        number = answer["report_number"]
        assert answer["outcome"] == "completed" and isinstance(number, int)
        row = page.locator(f'#queue-rows tr[data-id="{number}"]')
        # The row fills in as the call goes on: the caller hangs up, the clip is attached.
        await row.locator("td").nth(4).filter(has_text="0:03").wait_for()
        await row.locator(".pill.on").wait_for(state="detached")  # "en llamada" is gone
        assert await page.evaluate("window.loadedOnce") is True, "the queue was reloaded"
        assert await page.locator("#queue-rows tr[data-id]").count() == 1
        assert "selected" in (await row.get_attribute("class") or "").split()
        assert "Robo o asalto" in await row.inner_text()
        assert "5551234" in await row.inner_text()
        assert await page.inner_text("#open-count") == "1 reportes abiertos"
        await capture(page, "queue.png")

        # Open it from the keyboard.
        await page.keyboard.press("j")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{site.origin}/reports/{number}")
        await _live(page)
        assert "clip.listened" not in [e["kind"] for e in await _history(site, number)], \
            "opening the page is not listening"

        # Space plays the clip; the server audits the listen and the page shows it live.
        await page.keyboard.press("Space")
        await page.wait_for_function(PLAYING)
        await page.locator("#history .kind", has_text="clip.listened").wait_for()
        listens = [e for e in await _history(site, number) if e["kind"] == "clip.listened"]
        assert [e["actor"] for e in listens] == ["user:ana"]

        # a: acknowledge. d: the unit field takes the focus; Enter dispatches. r: resolve.
        await page.keyboard.press("a")
        await _state_shown(page, "acknowledged")
        await page.keyboard.press("d")
        assert await page.evaluate("document.activeElement.id") == "unit"
        await page.keyboard.type("M-12")
        assert await page.input_value("#unit") == "M-12"  # the "d" itself was not typed
        await page.keyboard.press("Enter")
        await _state_shown(page, "dispatched")
        assert "M-12" in await page.inner_text(".state-line")
        await capture(page, "report.png")
        await page.keyboard.press("r")
        await _state_shown(page, "resolved")
        assert await page.inner_text("#report-state") == "resuelto"
        assert await page.locator("#state-form").count() == 0  # nothing more to do

        # The page lists the audit trail as stored (rows only ever get appended, so what
        # the page shows is the start of what the database holds now).
        shown = await page.locator("#history .kind").all_inner_texts()
        history = await _history(site, number)
        assert shown == [e["kind"] for e in history][:len(shown)]
        assert [k for k in shown if k in ("report.opened", "clip.listened",
                                           "report.state_changed")] == [
            "report.opened", "clip.listened", *["report.state_changed"] * 3]
        changes = [(e["data"]["to"], e["actor"]) for e in history
                   if e["kind"] == "report.state_changed"]
        assert changes == [("acknowledged", "user:ana"), ("dispatched", "user:ana"),
                           ("resolved", "user:ana")]
        (dispatched,) = [e for e in history if e["data"].get("to") == "dispatched"]
        assert dispatched["data"]["unit"] == "M-12"
        report = await site.console.queries.report(number)
        assert report and report["state"] == "resolved" and report["unit"] == "M-12"

        # Esc: back to the queue, where a resolved report no longer waits.
        await page.keyboard.press("Escape")
        await page.wait_for_url(f"{site.origin}/")
        await page.wait_for_selector("#queue-rows tr.empty")
        assert watch.errors == [] and await csp_violations(page) == []
        assert watch.foreign(site.origin) == []


async def test_pages_load_nothing_from_outside_and_log_no_errors(
        settings: Settings, tmp_path: Path) -> None:
    voice = tmp_path / "voice.wav"
    make_tone_wav(voice, 1.0)
    async with running_line(settings) as line, console_site(settings, db=line.svc.db) as site, \
            chromium() as browser:
        number = report_number(await line.call(keys=KEYS.split(","), voice=voice))
        watch = Watch()
        page = await new_page(browser, watch)
        violations: list[str] = []

        await page.goto(f"{site.origin}/login")
        violations += await csp_violations(page)
        await log_in(page, site.origin, "ana")
        await _live(page)
        violations += await csp_violations(page)
        await page.goto(f"{site.origin}/reports/{number}")
        await _live(page)
        # The player's own controls, focused, take Space (the page's shortcut stands aside).
        await page.focus("audio#player")
        await page.keyboard.press("Space")
        await page.wait_for_function(PLAYING)
        await page.keyboard.press("Space")
        await page.wait_for_function("document.getElementById('player').paused")
        violations += await csp_violations(page)
        for path in ("/reports", "/reports/new"):
            await page.goto(f"{site.origin}{path}")
            await page.wait_for_load_state("load")
            violations += await csp_violations(page)
        await page.close()

        paths = {url.removeprefix(site.origin).split("?")[0] for url in watch.requests}
        assert {"/login", "/", "/static/console.css", "/static/console.js",
                "/static/favicon.svg", "/events", f"/reports/{number}",
                f"/reports/{number}/clips/1/playback"} <= paths, paths
        assert watch.foreign(site.origin) == []
        assert watch.errors == []
        assert violations == []


async def test_calling_back_shows_the_outcome_live(settings: Settings, tmp_path: Path) -> None:
    voice = tmp_path / "voice.wav"
    make_tone_wav(voice, 1.0)
    async with FakeAmi() as fake, running_line(settings) as line, \
            console_site(settings, db=line.svc.db, ami_host=fake.host, ami_port=fake.port,
                         ami_username=fake.username, ami_secret=fake.secret) as site, \
            chromium() as browser:
        number = report_number(await line.call(keys=KEYS.split(","), voice=voice))
        watch = Watch()
        page = await new_page(browser, watch)
        await log_in(page, site.origin, "ana")
        await page.goto(f"{site.origin}/reports/{number}")
        await _live(page)
        await page.wait_for_selector("#ami-inline.pill.on")  # the link is up, pushed live
        await page.evaluate("window.loadedOnce = true")

        # Asterisk's events come a little apart, after the click has had its reply; the
        # outcome reaches the page without a reload.
        fake.script_next_originate(CallbackScript(event_delay_s=0.1))
        await page.keyboard.press("c")
        answered = page.locator("#callbacks li.cb-answered")
        await answered.wait_for()
        assert "5551234" in await answered.inner_text()
        assert "ana" in await answered.inner_text()
        assert await page.evaluate("window.loadedOnce") is True, "the page was reloaded"
        assert await page.locator("#callbacks li").count() == 1

        (originate,) = fake.actions("Originate")
        assert originate.get("Channel") == "PJSIP/1001"  # ana's own phone rings first
        assert originate.get("Exten") == "5551234"
        assert originate.get("Context") == settings.callback_context
        (callback,) = await site.console.queries.callbacks(number)
        assert callback["state"] == "answered" and callback["user_name"] == "ana"
        kinds = [(e["kind"], e["data"].get("state")) for e in await _history(site, number)
                 if e["kind"].startswith("callback.")]
        assert kinds[0] == ("callback.requested", None) and kinds[-1] == (
            "callback.updated", "answered")
        await page.locator("#history .kind", has_text="callback.updated").last.wait_for()
        assert watch.errors == []
