"""An officer's main path in a real browser (Debian's chromium, driven by Playwright): log
in and land on the cases of their area, open the first with the keyboard, listen to the
caller's message, record the answer and close the case. No page asks anything of another
origin or logs an error (CSP included)."""

from __future__ import annotations

import pytest

from ivr.app import services
from ivr.config import Settings
from tests.browser_util import (
    Watch,
    capture,
    chromium,
    csp_violations,
    new_page,
    require_chromium,
)
from tests.case_util import publish_participation_line
from tests.clips_support import FIXTURES, report_with_clip
from tests.console_util import PASSWORD, console_site
from tests.test_console_cases import Case, add_officer, kinds_of, make_case

PLAYING = """() => {
  const el = document.getElementById('player');
  return el !== null && !el.paused && el.currentTime > 0.2;
}"""


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    require_chromium()


async def test_an_officer_listens_answers_and_closes_a_case(settings: Settings) -> None:
    async with services(settings) as svc, console_site(settings, db=svc.db) as site, \
            chromium() as browser:
        await publish_participation_line(site)
        await add_officer(site, "olga", ("cleaning",))
        report = await report_with_clip(svc, FIXTURES / "ko_fire_danger.wav")
        case = await make_case(site, Case(subject=""), report=report)
        await make_case(site, Case(area="parks", subject="No es de su área"))
        watch = Watch()
        page = await new_page(browser, watch)
        origin = site.origin
        await page.goto(f"{origin}/")
        await page.wait_for_url(f"{origin}/login?next=/")
        await page.fill("input[name=name]", "olga")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("form[action='/login'] button[type=submit]")
        await page.wait_for_url(f"{origin}/cases")
        rows = page.locator("#queue-rows tr[data-id]")
        assert await rows.count() == 1
        assert "No es de su área" not in await page.content()
        await capture(page, "cases-officer-queue.png")
        await page.keyboard.press("j")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{origin}/cases/{case}")
        await page.keyboard.press(" ")  # the player: Space plays
        await page.wait_for_function(PLAYING)
        await page.fill("#answer", "Mañana pasa el camión de limpieza por su calle.")
        await page.uncheck("input[name=speak]")
        await page.click("#answer-form button[type=submit]")
        await page.wait_for_url(f"{origin}/cases/{case}")
        await page.locator("#case-answer", has_text="camión de limpieza").wait_for()
        await capture(page, "cases-officer-case.png")
        await page.click("#close-form button[type=submit]")
        await page.locator("#case-state", has_text="cerrado").wait_for()
        assert await csp_violations(page) == []
        assert watch.errors == [] and watch.foreign(origin) == []
        kinds = [k for k, _ in await kinds_of(site, case)]
        assert "clip.listened" in kinds
        assert kinds.index("clip.listened") < kinds.index("case.answered") < kinds.index(
            "case.closed")
