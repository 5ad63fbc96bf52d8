"""Two municipalities in a real browser (chromium): a user of both switches in the
header and sees one municipality's queue at a time, and hands a report over to the
neighbour from the report page; no page asks another origin or breaks its CSP."""

from __future__ import annotations

import pytest

from ivr.config import Settings
from ivr.core.ports import NewReport
from ivr.domain.municipalities import report_id
from ivr.domain.roles import Role
from ivr.store.municipalities import Municipalities
from ivr.store.reports import Reports
from ivr.store.users import Users
from tests.browser_util import (
    Watch,
    capture,
    chromium,
    csp_violations,
    log_in,
    new_page,
    require_chromium,
)
from tests.console_util import PASSWORD, console_site


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    require_chromium()


async def test_switch_municipality_and_hand_over_in_the_browser(settings: Settings) -> None:
    async with console_site(settings) as site, chromium() as browser:
        db = site.console.db
        towns = Municipalities(db)
        await towns.update(1, actor="test", code="miraflores", name="Miraflores")
        await towns.add("san-isidro", "San Isidro", "America/Lima", actor="test")
        await towns.make_neighbours(1, 2, actor="test")
        lucia = await Users(db).add("lucia", Role.OPERATOR, PASSWORD)
        await Users(db).grant(lucia.id, 2, Role.OPERATOR, actor="test")
        book = Reports(db)
        ours = await book.open_report(NewReport("robbery", 2, False, "es", "a", "911000111",
                                                "911000111"))
        theirs = await book.open_report(NewReport("noise", 5, False, "es", "b", "922000222",
                                                  "922000222", municipality=2))
        assert theirs == report_id(2, 1)
        watch = Watch()
        page = await new_page(browser, watch)
        await log_in(page, site.origin, "lucia")
        await page.wait_for_selector(f"#queue-rows tr[data-id='{ours}']")
        assert await page.locator(f"#queue-rows tr[data-id='{theirs}']").count() == 0

        await page.select_option("#municipality-switch select", "2")
        await page.click("#municipality-switch button[type=submit]")
        await page.wait_for_selector(f"#queue-rows tr[data-id='{theirs}']")
        assert await page.locator(f"#queue-rows tr[data-id='{ours}']").count() == 0
        await capture(page, "municipality-switched.png")

        # Back to Miraflores, and its report goes to San Isidro from the report page.
        await page.select_option("#municipality-switch select", "1")
        await page.click("#municipality-switch button[type=submit]")
        await page.goto(f"{site.origin}/reports/{ours}")
        await page.fill("#handover-form input[name=note]", "en la otra cuadra")
        await page.click("#handover-form button[type=submit]")
        await page.wait_for_selector("#report-state:has-text('derivado')")
        row = await site.console.queries.report(ours)
        assert row is not None and row["handed_over_to"] == report_id(2, 2)
        assert await csp_violations(page) == []
        assert watch.foreign(site.origin) == []
