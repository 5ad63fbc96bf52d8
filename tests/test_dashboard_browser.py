"""The dashboard and the hot-spot map in a real browser (Debian's chromium, Playwright).

A supervisor logs in through the form, reads the dashboard, filters it by type,
and opens the hot-spot map. Nothing is fetched from anywhere but the console,
no Content-Security-Policy rule is broken, and screenshots of both pages land in
``tests/artifacts/`` (dashboard.png, hotspots.png) for a person to look at.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.config import Settings
from ivr.domain import zones
from ivr.store import demo
from ivr.store.reports import iso
from tests.browser_util import (
    Watch,
    capture,
    chromium,
    csp_violations,
    log_in,
    new_page,
)
from tests.console_util import console_site

TYPES = {"robbery": 3, "accident": 2, "suspicious": 8, "noise": 9, "other": 4}


def seed(path: Path, count: int = 3000) -> dict[str, int]:
    """Two years of reports with the demo's places and hours; returns counts by type."""
    rng = random.Random(5)
    places = demo.Places(zones.sample(), rng)
    start = datetime(2023, 1, 1, 5, tzinfo=UTC)
    rows, counts = [], dict.fromkeys(TYPES, 0)
    for _ in range(count):
        type_id = rng.choices(list(TYPES), list(TYPES.values()))[0]
        counts[type_id] += 1
        day = start + timedelta(days=rng.randrange(730))
        hour = rng.choices(range(24), demo.HOURS[type_id])[0]
        created = day + timedelta(hours=hour, minutes=rng.randrange(60))
        place = places.place(type_id)
        state = "false_report" if rng.random() < 0.02 else "resolved"
        rows.append((type_id, state, rng.choice(["ivr", "ivr", "ivr", "radio", "phone"]),
                     place.zone, place.lat, place.lon, iso(created), iso(created),
                     iso(created + timedelta(minutes=rng.randint(1, 30))),
                     iso(created + timedelta(hours=1)),
                     iso(created + timedelta(minutes=rng.randint(5, 80)))))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO reports (type, priority, state, channel, zone, lat, lon, created_at,"
        " updated_at, first_action_at, callback_due_at, callback_done_at)"
        " VALUES (?, 3, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()
    return counts


async def test_a_supervisor_reads_the_dashboard_and_the_hot_spot_map(settings: Settings) -> None:
    async with console_site(settings) as site, chromium() as browser:
        counts = seed(settings.database)
        watch = Watch()
        page = await new_page(browser, watch)
        await log_in(page, site.origin, "sofia")
        await page.click("header nav a[href='/dashboard']")
        await page.wait_for_url(f"{site.origin}/dashboard")
        await page.wait_for_selector("#chart-type-year rect")
        assert await page.inner_text("#kpi-reports") == f"{sum(counts.values()):,}"
        row = page.locator("#table-type-year tr[data-type='noise'] td").nth(2)  # the total
        assert await row.inner_text() == f"{counts['noise']:,}"
        for chart in ("by-month", "by-weekday", "by-hour", "weekday-hour", "by-zone",
                      "by-channel", "year-on-year"):
            assert await page.locator(f"#chart-{chart}").count() == 1, chart
        await capture(page, "dashboard.png")

        # Filter by one type: every number follows.
        await page.select_option("select[name=type]", ["robbery"])
        await page.click("#filters button[type=submit]")
        await page.wait_for_url("**/dashboard?*type=robbery*")
        assert await page.inner_text("#kpi-reports") == f"{counts['robbery']:,}"

        await page.click(".subnav a[href^='/dashboard/hotspots']")
        await page.wait_for_selector("#chart-density rect[fill-opacity]")
        await page.wait_for_selector("#chart-choropleth path")
        assert await page.locator("#chart-choropleth path").count() == 14
        assert await page.locator("#table-hot-top tbody tr").count() == 10
        # The link kept the filter: the map shows robberies only.
        assert "type=robbery" in page.url
        await page.goto(page.url.replace("type=robbery", "range=all"))
        await page.wait_for_selector("#chart-density rect[fill-opacity]")
        await capture(page, "hotspots.png")

        assert await csp_violations(page) == []
        assert watch.errors == []
        assert watch.foreign(site.origin) == []


async def test_an_operator_sees_no_dashboard(settings: Settings) -> None:
    async with console_site(settings) as site, chromium() as browser:
        page = await new_page(browser)
        await log_in(page, site.origin, "ana")
        assert await page.locator("header nav a[href='/dashboard']").count() == 0
        response = await page.goto(f"{site.origin}/dashboard")
        assert response is not None and response.status == 403
