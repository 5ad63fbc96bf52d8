"""Helpers for real-browser tests: Debian's chromium driven by Playwright, `alerta call`.

Playwright cannot download its own browsers here (nor on an offline build
machine), so it drives the system's ``/usr/bin/chromium``, which
``scripts/test`` installs. Under ``CI`` a missing browser fails the test: a
skip would let the whole browser suite vanish from a green run unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, async_playwright

from tests.console_util import PASSWORD

CHROMIUM = Path(os.environ.get("ALERTA_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WAIT_MS = 10_000  # every Playwright wait is bounded by this unless it says otherwise
CALL_LIMIT_S = 30.0

# No network of its own: no component updates, no sync, no QUIC probes, no first-run pages.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--mute-audio",  # the clip still plays (its clock advances); the test box stays quiet
]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_chromium() -> Path:
    """The browser binary; fail under CI when it is missing, skip (saying why) elsewhere."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"{CHROMIUM} is missing: run scripts/test (installs Debian's chromium)"
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True,
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclasses.dataclass
class Watch:
    """Everything a page asked for and every error it reported."""

    requests: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} @ {message.location}")

    def foreign(self, origin: str) -> list[str]:
        """Requests to anywhere but ``origin`` (scheme, host and port all count)."""
        own = urlsplit(origin)
        return [u for u in self.requests
                if (urlsplit(u).scheme, urlsplit(u).netloc) != (own.scheme, own.netloc)]


# Records CSP violations in the page itself: Chromium also logs them as console
# errors, but this names the directive and the blocked URL exactly.
CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""


async def new_page(browser: Browser, watch: Watch | None = None) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="es-PE")
    context.set_default_timeout(WAIT_MS)
    await context.add_init_script(CSP_PROBE)
    page = await context.new_page()
    if watch is not None:
        watch.attach(page)
    return page


async def log_in(page: Page, origin: str, name: str, password: str = PASSWORD) -> None:
    """Through the login form, as a person would: the queue asks for it first."""
    await page.goto(f"{origin}/")
    await page.wait_for_url(f"{origin}/login?next=/")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(f"{origin}/")


async def csp_violations(page: Page) -> list[str]:
    found: list[str] = await page.evaluate("window.__cspViolations || []")
    return found


async def capture(page: Page, name: str) -> Path:
    """A screenshot of the whole page in ``tests/artifacts/``.

    The window is grown to the page's height rather than using Playwright's
    full-page mode, which paints the fixed key-help footer over the middle of
    a long page (and the page's CSP refuses the inline style that would move it).
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    size = page.viewport_size or {"width": 1280, "height": 860}
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    try:
        await page.screenshot(path=path, animations="disabled")
    finally:
        await page.set_viewport_size(size)
    return path


def _alerta_command() -> list[str]:
    script = Path(sys.executable).with_name("alerta")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ivr.cli"]


async def alerta_call(agi_port: int, *, keys: str, voice: Path,
                      caller_id: str = "5551234") -> dict[str, Any]:
    """Run the real ``alerta call`` against a FastAGI port; return its JSON answer.

    The command only speaks AGI, so it gets no database or clip settings: ALERTA_*
    variables of the test run are dropped so they cannot change what it does.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTA_")}
    process = await asyncio.create_subprocess_exec(
        *_alerta_command(), "call", "--agi", f"127.0.0.1:{agi_port}", "--keys", keys,
        "--voice", str(voice), "--caller-id", caller_id,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CALL_LIMIT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, f"alerta call exited {process.returncode}: {err.decode()}"
    answer: dict[str, Any] = json.loads(out)
    return answer
