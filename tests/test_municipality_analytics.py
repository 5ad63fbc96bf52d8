"""Analytics, public pages and Open311 with two municipalities: each its own counts,
and the metropolitan view side by side only where the user may read both."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from ivr.config import Settings
from ivr.core.ports import NewReport
from ivr.domain.municipalities import report_id
from ivr.domain.roles import Role
from ivr.store.municipalities import Municipalities
from ivr.store.reports import Reports
from ivr.store.users import Users
from tests.console_util import PASSWORD, Site, console_site

pytestmark = pytest.mark.store

MIRAFLORES, SAN_ISIDRO = 3, 5  # reports of each


async def _two_towns(site: Site) -> None:
    db = site.console.db
    towns = Municipalities(db)
    await towns.update(1, actor="test", code="miraflores", name="Miraflores")
    await towns.add("san-isidro", "San Isidro", "America/Lima", actor="test",
                    jurisdiction_id="pe-lima-san-isidro")
    users = Users(db)
    await users.add("sara", Role.SUPERVISOR, PASSWORD, municipality=2)
    teo = await users.add("teo", Role.ANALYST, PASSWORD)
    await users.grant(teo.id, 2, Role.ANALYST, actor="test")
    book = Reports(db, clock=lambda: datetime.now(UTC) - timedelta(days=2))
    for n in range(MIRAFLORES):
        await book.open_report(NewReport("robbery", 2, False, "es", f"m{n}", "911000111",
                                         "911000111"))
    for n in range(SAN_ISIDRO):
        await book.open_report(NewReport("noise", 5, False, "es", f"s{n}", "922000222",
                                         "922000222", municipality=2))


def _kpi(html: str) -> int:
    found = re.search(r'id="kpi-reports">([^<]+)<', html)
    assert found, html[:500]
    return int(found.group(1).replace(",", "").replace(".", "").strip())


async def test_each_dashboard_and_export_counts_its_own(settings: Settings) -> None:
    async with console_site(settings) as site:
        await _two_towns(site)
        for name, expected, prefix in (("sofia", MIRAFLORES, "robbery"),
                                       ("sara", SAN_ISIDRO, "noise")):
            async with site.browser() as b:
                await b.login(name)
                html = await (await b.get("/dashboard", headers={"Accept": "text/html"})).text()
                assert _kpi(html) == expected, name
                body = await (await b.get("/dashboard/export.csv")).text()
                rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
                assert sorted(int(r["report"]) for r in rows) == list(range(1, expected + 1))
                assert {r["type"] for r in rows} == {prefix}
                assert "922000222" not in body and "911000111" not in body  # no callers
        async with site.browser() as b:
            await b.login("ana")  # an operator reads no analytics
            assert (await b.get("/dashboard")).status == 403
            assert (await b.get("/metro")).status == 403


async def test_the_metropolitan_view_shows_what_the_user_may_read(settings: Settings) -> None:
    async with console_site(settings) as site:
        await _two_towns(site)
        async with site.browser() as b:
            await b.login("teo")  # an analyst of both: lands on the dashboard
            home = await b.client.get("/", headers={"Accept": "text/html"})
            assert home.url.path == "/dashboard"
            assert 'href="/metro"' in await home.text()
            html = await (await b.get("/metro", headers={"Accept": "text/html"})).text()
            heads = re.findall(r'data-municipality="([^"]+)"', html)
            assert heads == ["miraflores", "san-isidro"]
            row = re.search(r'<tr id="metro-reports">(.*?)</tr>', html, re.S)
            assert row and re.findall(r'class="num">(\d+)<', row.group(1)) == ["3", "5"]
            assert (await b.get(f"/reports/{report_id(2, 1)}")).status == 403
        async with site.browser() as b:
            await b.login("sofia")  # a supervisor of Miraflores only
            html = await (await b.get("/metro", headers={"Accept": "text/html"})).text()
            assert re.findall(r'data-municipality="([^"]+)"', html) == ["miraflores"]
            assert "San Isidro" not in html


async def test_public_pages_and_open311_per_jurisdiction(settings: Settings) -> None:
    async with console_site(settings, public_delay_hours=0) as site:
        await _two_towns(site)
        async with site.browser() as anon:
            index = await anon.get("/public")
            text = await index.text()
            assert index.status == 200 and 'href="/public/san-isidro"' in text
            page = await anon.get("/public/san-isidro")
            assert page.status == 200 and "Alerta San Isidro" in await page.text()
            assert (await anon.get("/public/nowhere")).status == 404
            summary = await anon.get("/public/api/summary.json")
            assert summary.status == 400
            data = json.loads(await (await anon.get(
                "/public/api/summary.json?municipality=san-isidro")).text())
            assert data["reports"] == SAN_ISIDRO and data["jurisdiction_id"] == "pe-lima-san-isidro"
            missing = await anon.get("/open311/v2/requests.json")
            assert missing.status == 400
            assert json.loads(await missing.text())[0]["code"] == 400
            theirs = json.loads(await (await anon.get(
                "/open311/v2/requests.json?jurisdiction_id=pe-lima-san-isidro")).text())
            assert sorted(int(r["service_request_id"]) for r in theirs) == [1, 2, 3, 4, 5]
            assert {r["service_code"] for r in theirs} == {"noise"}
            ours = json.loads(await (await anon.get(
                "/open311/v2/requests/1.json?jurisdiction_id=miraflores")).text())
            assert ours[0]["service_code"] == "robbery"
            # San Isidro's number 4 exists; Miraflores' does not: the same 404 as any.
            gone = await anon.get("/open311/v2/requests/4.json?jurisdiction_id=miraflores")
            assert gone.status == 404
            services = await anon.get("/open311/v2/services.json?jurisdiction_id=nowhere")
            assert services.status == 400
