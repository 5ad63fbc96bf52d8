"""An admin edits a line in a real browser (Debian's chromium, driven by Playwright).

The admin edits a prompt's text, uploads its audio, plays it in the page, publishes,
and rolls back; a call through the real FastAGI server between the steps hears
each version. Console and controller share one database, as in ``alerta serve``.
No page asks anything of another origin or logs an error (CSP included).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page

from ivr.config import Settings
from ivr.testing.wav import make_tone_wav
from tests.browser_util import (
    Watch,
    capture,
    chromium,
    csp_violations,
    log_in,
    new_page,
    require_chromium,
)
from tests.console_util import console_site
from tests.e2e import Line, running_line

GREETING = 'audio[data-prompt="greeting"][data-lang="es"]'
PLAYED = """() => {
  const el = document.querySelector('audio[data-prompt="greeting"][data-lang="es"]');
  return el !== null && !el.paused && el.readyState >= 2 && el.currentTime > 0.2
    && el.duration > 0.5;
}"""


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    require_chromium()


def greeting_heard(played: list[str]) -> bytes:
    path = next(p for p in played if p.endswith("/es/greeting"))
    return Path(path + ".wav").read_bytes()


async def done(page: Page, text: str) -> None:
    """The page after the action says ``text`` (waits for that page, not any banner)."""
    await page.locator("#done", has_text=text).wait_for()


async def call_greeting(line: Line, voice: Path) -> bytes:
    result = await line.call(keys=["1", "2", "1", "#", "1"], voice=voice)
    assert result.error is None
    return greeting_heard(result.played)


async def test_an_admin_edits_previews_publishes_and_rolls_back_a_prompt(
    settings: Settings, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    new_greeting = make_tone_wav(tmp_path / "saludo-nuevo.wav", 1.5, 660)
    watch = Watch()
    async with running_line(settings) as line, \
            console_site(settings, db=line.svc.db) as site, chromium() as browser:
        before = await call_greeting(line, voice)
        page = await new_page(browser, watch)
        await log_in(page, site.origin, "root")
        await page.click("nav a[href='/admin/lines']")
        await page.click("text=Línea de alerta")
        await page.wait_for_selector("#prompts")

        await page.fill("textarea[aria-label='greeting es']", "Alerta Miraflores. Le escuchamos.")
        await page.click("#p-greeting td:nth-child(2) form button[type=submit]")
        await done(page, "prompt text")
        assert "Le escuchamos" in await page.input_value("textarea[aria-label='greeting es']")

        old_src = await page.get_attribute(GREETING, "src")
        await page.set_input_files("#p-greeting td:nth-child(2) input.upload", str(new_greeting))
        await page.wait_for_url("**saludo-nuevo.wav**")  # the page the upload leads to
        await done(page, "saludo-nuevo.wav")
        new_src = await page.get_attribute(GREETING, "src")
        assert new_src and new_src != old_src
        # The preview plays in the page, from the library, before anything is published.
        await page.eval_on_selector(GREETING, "el => el.play()")
        await page.wait_for_function(PLAYED)
        assert await call_greeting(line, voice) == before  # a draft is not heard

        await page.fill("input[name=note]", "nuevo saludo")
        await page.click("#publish")
        await done(page, "version 2 is live")
        after = await call_greeting(line, voice)
        assert after != before
        served = await page.evaluate(
            "async (src) => Array.from(new Uint8Array(await (await fetch(src)).arrayBuffer()))",
            new_src)
        assert bytes(served) == after
        await capture(page, "admin-line.png")

        page.once("dialog", lambda dialog: dialog.accept())
        await page.click("#history button:has-text('v1')")
        await done(page, "version 1 is live again as version 3")
        assert await call_greeting(line, voice) == before

        assert watch.foreign(site.origin) == []
        assert watch.errors == []
        assert await csp_violations(page) == []
