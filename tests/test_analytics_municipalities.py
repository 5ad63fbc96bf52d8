"""Two municipalities on one deployment: every analytics answer holds one municipality's
reports only, counted concretely; the metropolitan view shows the municipalities the
user reads analytics in, and no others.

Miraflores (municipality 1) has 3 robberies from its phone line in zone 3, all located
on the map. San Isidro (municipality 2) has 4 noise reports from its line in zone 7
(located), 1 by radio in zone 7, and 1 made just now (no zone; not public yet). Both
sets were made at the same moment, on the same days: a query that forgot whose reports
it reads would count 3 + 6.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import zipfile
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import aiosqlite
import pytest

from ivr.cli import main
from ivr.config import Settings
from ivr.core.ports import Location, NewReport
from ivr.domain.municipalities import RANGE, first_id, report_id
from ivr.domain.roles import Intake, Role
from ivr.store import engine as store_engine
from ivr.store.casework import Casework, ManualReport
from ivr.store.municipalities import Municipalities
from ivr.store.reports import Reports
from ivr.store.rollup import Clock
from ivr.store.users import Users
from tests.console_util import PASSWORD, Browser, Site, console_site
from tests.test_analytics_zones import use_database

pytestmark = pytest.mark.store

LIMA = Clock("America/Lima", -300)
SAN_ISIDRO = "pe-lima-san-isidro"  # its Open311 jurisdiction_id


@dataclass
class Towns:
    site: Site
    made: datetime  # when the older reports were made (three days ago)
    miraflores: list[int]
    san_isidro: list[int]  # the fresh one last

    @property
    def same_week(self) -> bool:
        """Whether the fresh report falls in the older ones' week (Lima's clock)."""
        def monday(moment: datetime) -> object:
            day = LIMA.local(moment).date()
            return day - timedelta(days=day.weekday())
        return monday(self.made) == monday(datetime.now(UTC))


@asynccontextmanager
async def two_towns(settings: Settings) -> AsyncIterator[Towns]:
    async with console_site(settings, public_delay_hours=24) as site:
        db = site.console.db
        towns = Municipalities(db)
        await towns.update(1, actor="test", code="miraflores", name="Miraflores")
        await towns.add("san-isidro", "San Isidro", "America/Lima", actor="test",
                        jurisdiction_id=SAN_ISIDRO)
        users = Users(db)
        await users.add("sara", Role.SUPERVISOR, PASSWORD, municipality=2)
        teo = await users.add("teo", Role.ANALYST, PASSWORD)
        await users.grant(teo.id, 2, Role.ANALYST, actor="test")
        olga = await users.add("olga", Role.SUPERVISOR, PASSWORD)
        await users.grant(olga.id, 2, Role.OPERATOR, actor="test")

        made = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=3)
        book = Reports(db, lambda: made, {})
        miraflores = []
        for n in range(3):
            number = await book.open_report(NewReport(
                "robbery", 2, False, "es", f"m{n}", "911000111", "911000111"))
            await book.set_location(number, Location("3", "Av. Larco 1", -12.1217, -77.0301,
                                                     "directory"))
            miraflores.append(number)
        san_isidro = []
        for n in range(4):
            number = await book.open_report(NewReport(
                "noise", 5, False, "es", f"s{n}", "922000222", "922000222", municipality=2))
            await book.set_location(number, Location("7", "Av. Arequipa 2", -12.0972, -77.0365,
                                                     "directory"))
            san_isidro.append(number)
        san_isidro.append(await Casework(db, lambda: made, {}).file_manual(ManualReport(
            "noise", 5, Intake.RADIO, "patrulla", zone="7", municipality=2), "user:sara"))
        fresh = Reports(db, lambda: datetime.now(UTC), {})
        san_isidro.append(await fresh.open_report(NewReport(
            "noise", 5, False, "es", "s-now", "922000222", "922000222", municipality=2)))
        assert miraflores == [1, 2, 3]
        assert san_isidro == [report_id(2, n) for n in range(1, 7)]
        yield Towns(site, made, miraflores, san_isidro)


@asynccontextmanager
async def signed_in(site: Site, name: str, municipality: int | None = None
                    ) -> AsyncIterator[Browser]:
    async with site.browser() as b:
        assert (await b.login(name)).status == 302
        if municipality is not None:
            switched = await b.post("/municipality", {"municipality": str(municipality)})
            assert switched.status == 303
        yield b


async def _html(b: Browser, path: str) -> str:
    response = await b.get(path, headers={"Accept": "text/html"})
    assert response.status == 200, (path, response.status)
    return await response.text()


def _table(html: str, table_id: str) -> str:
    found = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', html, re.S)
    assert found, table_id
    return found.group(1)


def _number(cell: str) -> int:
    return int(cell.replace(",", "").replace(".", "").replace("\u202f", ""))


def _keyed(html: str, table_id: str, attr: str) -> dict[str, int]:
    """{data-<attr> of each row: its first number}."""
    out = {}
    for key, row in re.findall(rf'<tr data-{attr}="([^"]*)"[^>]*>(.*?)</tr>',
                               _table(html, table_id), re.S):
        first = re.search(r'class="num">(?:<strong>)?([\d,.]+)<', row)
        assert first, row
        out[key] = _number(first.group(1))
    return out


def _sum(html: str, table_id: str) -> int:
    body = re.search(r"<tbody>(.*?)</tbody>", _table(html, table_id), re.S)
    assert body
    return sum(_number(n) for n in re.findall(r'class="num">([\d,.]+)<', body.group(1)))


def _xlsx_numbers(data: bytes) -> list[int]:
    """The report numbers of the first sheet (column A, below the header)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    cells = sheet.iterfind(".//m:row/m:c[1]/m:v", ns)
    return [int(float(c.text or "")) for c in cells]


def _pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF")
    return "".join(zlib.decompressobj().decompress(m).decode("latin-1")
                   for m in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S))


# --- the command center: dashboard, hot spots, committee, exports ----------------------

EXPECTED = {
    # whose, user: (reports, by type, by zone, by channel, located, zones on the map)
    1: ("sofia", 3, {"robbery": 3}, {"3": 3}, {"ivr": 3}, 3),
    2: ("sara", 6, {"noise": 6}, {"7": 5, "none": 1}, {"ivr": 5, "radio": 1}, 4),
}


async def test_each_dashboard_panel_counts_its_own_municipality(settings: Settings) -> None:
    async with two_towns(settings) as towns:
        for name, reports, types, zones, channels, _ in EXPECTED.values():
            async with signed_in(towns.site, name) as b:
                html = await _html(b, "/dashboard")
                assert _number(re.findall(r'id="kpi-reports">([^<]+)<', html)[0]) == reports
                assert _keyed(html, "table-type-year", "type") == types
                assert set(_keyed(html, "table-yoy", "type")) == set(types)
                assert _keyed(html, "table-participation", "zone") == zones
                assert _keyed(html, "table-channel", "channel") == channels
                for table in ("table-weekday", "table-hour", "table-weekday-hour"):
                    assert _sum(html, table) == reports, (name, table)
                month_rows = re.findall(r'<tr><th>\d{4}-\d\d</th>(.*?)</tr>',
                                        _table(html, "table-month"), re.S)
                assert sum(_number(re.findall(r'class="num">([\d,.]+)<', row)[-1])
                           for row in month_rows) == reports


async def test_hot_spots_and_the_committee_report_are_the_municipalitys_own(
        settings: Settings) -> None:
    async with two_towns(settings) as towns:
        week = LIMA.local(towns.made).date().isoformat()
        for town, (name, _, _, zones, _, located) in EXPECTED.items():
            async with signed_in(towns.site, name) as b:
                html = await _html(b, "/dashboard/hotspots")
                assert _keyed(html, "table-zones", "zone") == zones
                assert set(_keyed(html, "table-hot-top", "zone")) == set(zones) - {"none"}
                found = re.search(r'id="density-summary">([\d,.]+) ', html)
                assert found and _number(found.group(1)) == located

                html = await _html(b, f"/committee?week={week}")
                expected = 3 if town == 1 else 5 + towns.same_week
                assert _keyed(html, "table-week-types", "type") == (
                    {"robbery": 3} if town == 1 else {"noise": expected})
                here, other = ("Miraflores", "San Isidro")[::1 if town == 1 else -1]
                assert f'id="committee-town">{here}<' in html

                response = await b.get(f"/committee.pdf?week={week}")
                assert response.status == 200
                text = _pdf_text(await response.read())
                assert f"({here})" in text and other not in text
                total = re.search(r"\(Total\) Tj ET.*?\((\d+)\) Tj", text, re.S)
                assert total and int(total.group(1)) == expected


async def test_each_export_holds_its_municipalitys_reports_by_their_own_numbers(
        settings: Settings) -> None:
    async with two_towns(settings) as towns:
        for town, (name, reports, types, _, _, _) in EXPECTED.items():
            code = "miraflores" if town == 1 else "san-isidro"
            numbers = list(range(1, reports + 1))
            async with signed_in(towns.site, name) as b:
                response = await b.get("/dashboard/export.csv")
                assert response.status == 200
                assert f'filename="alerta-{code}-reports-' in response.headers[
                    "Content-Disposition"]
                body = (await response.read()).decode("utf-8")
                rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
                assert sorted(int(r["report"]) for r in rows) == numbers
                assert {r["type"] for r in rows} == set(types)
                assert "911000111" not in body and "922000222" not in body

                doc = json.loads(await (await b.get("/dashboard/export.geojson")).read())
                assert sorted(f["id"] for f in doc["features"]) == numbers
                assert {f["properties"]["type"] for f in doc["features"]} == set(types)

                sheet = await (await b.get("/dashboard/export.xlsx")).read()
                assert sorted(_xlsx_numbers(sheet)) == numbers

                # A filter naming the other municipality's zone finds nothing here.
                other_zone = "7" if town == 1 else "3"
                none = await (await b.get(f"/dashboard/export.csv?zone={other_zone}")).read()
                assert len(none.decode("utf-8").strip().splitlines()) == 1  # the header
        audits = await towns.site.console.db.fetchall(
            "SELECT actor, municipality_id FROM events WHERE kind = 'analytics.exported'")
        assert {(a["actor"], a["municipality_id"]) for a in audits} == {
            ("user:sofia", 1), ("user:sara", 2)}


async def test_an_analyst_of_both_switches_and_reads_each_in_turn(settings: Settings) -> None:
    async with two_towns(settings) as towns:
        for town, (_, reports, types, _, _, _) in EXPECTED.items():
            async with signed_in(towns.site, "teo", town) as b:
                html = await _html(b, "/dashboard")
                assert _keyed(html, "table-type-year", "type") == types
                body = (await (await b.get("/dashboard/export.csv")).read()).decode("utf-8")
                assert len(body.strip().splitlines()) == reports + 1


async def test_operators_read_no_analytics(settings: Settings) -> None:
    async with two_towns(settings) as towns:
        async with signed_in(towns.site, "ana") as b:
            for path in ("/dashboard", "/dashboard/hotspots", "/dashboard/export.csv",
                         "/dashboard/export.xlsx", "/dashboard/export.geojson", "/committee",
                         "/committee.pdf", "/metro"):
                assert (await b.get(path)).status == 403, path
        async with signed_in(towns.site, "olga", 2) as b:  # an operator in San Isidro
            assert (await b.get("/dashboard")).status == 403
            assert (await b.get("/metro")).status == 403


# --- the metropolitan view -------------------------------------------------------------


def _metro(html: str) -> dict[str, dict[str, int]]:
    """{municipality code: {row id: number}} of the comparison table."""
    codes = re.findall(r'data-municipality="([^"]+)"', html)
    out: dict[str, dict[str, int]] = {code: {} for code in codes}
    rows = re.findall(r'<tr (?:id="metro-([a-z-]+)"|data-type="([a-z_]+)")>(.*?)</tr>',
                      html, re.S)
    for row_id, type_id, cells in rows:
        values = re.findall(r'class="num">([^<]*)<', cells)
        assert len(values) == len(codes), (row_id or type_id, values)
        for code, value in zip(codes, values, strict=True):
            if value.strip().replace(",", "").isdigit():
                out[code][row_id or f"type:{type_id}"] = _number(value.strip())
    return out


async def test_the_metropolitan_view_compares_the_municipalities_the_user_reads(
        settings: Settings) -> None:
    async with two_towns(settings) as towns:
        async with signed_in(towns.site, "teo") as b:  # an analyst of both
            html = await _html(b, "/metro")
            assert 'href="/metro"' in html  # in the nav: two municipalities to compare
            table = _metro(html)
            assert list(table) == ["miraflores", "san-isidro"]
            mira, isidro = table["miraflores"], table["san-isidro"]
            assert mira["reports"] + mira["before"] == 3
            assert isidro["reports"] + isidro["before"] == 6
            assert mira.get("type:noise", 0) == 0 and isidro.get("type:robbery", 0) == 0
            assert isidro["type:noise"] == isidro["reports"]
            assert "San Isidro" in html and "Miraflores" in html
        for name in ("sofia", "olga"):  # a supervisor of Miraflores (olga: operator there)
            async with signed_in(towns.site, name) as b:
                html = await _html(b, "/metro")
                assert list(_metro(html)) == ["miraflores"], name
                assert "San Isidro" not in html.split("</header>", 1)[-1]
                home = await _html(b, "/dashboard")
                assert 'href="/metro"' not in home, name
        async with signed_in(towns.site, "sara") as b:  # a supervisor of San Isidro only
            html = await _html(b, "/metro")
            assert list(_metro(html)) == ["san-isidro"]


# --- the public pages and Open311 ------------------------------------------------------


async def _anon(site: Site, path: str) -> tuple[int, str]:
    async with site.browser() as anon:
        response = await anon.get(path)
        return response.status, await response.text()


async def test_each_public_page_and_summary_is_the_municipalitys_own(
        settings: Settings) -> None:
    async with two_towns(settings) as towns:
        site = towns.site
        status, index = await _anon(site, "/public")
        assert status == 200
        assert re.findall(r'<a href="/public/([a-z-]+)">', index) == ["miraflores", "san-isidro"]
        for code, reports, other in (("miraflores", 3, "San Isidro"),
                                     ("san-isidro", 5, "Miraflores")):
            status, html = await _anon(site, f"/public/{code}")
            assert status == 200 and other not in html
            tile = re.search(r'id="public-kpis">.*?<strong>([\d,.]+)</strong>', html, re.S)
            assert tile and _number(tile.group(1)) == reports  # the fresh one: not yet
            status, body = await _anon(site, f"/public/api/summary.json?municipality={code}")
            data = json.loads(body)
            assert status == 200 and data["reports"] == reports and data["municipality"] == code
            assert sum(m["reports"] for m in data["by_month"]) == reports
            assert [(z["zone"], z["reports"]) for z in data["by_zone"]] == [
                ("3", 3) if code == "miraflores" else ("7", 5)]
        status, body = await _anon(site, "/public/api/summary.json")
        assert status == 400
        error = json.loads(body)
        assert error[0]["code"] == 400 and "municipality" in error[0]["description"]
        assert (await _anon(site, "/public/api/summary.json?municipality=lince"))[0] == 400
        assert (await _anon(site, "/public/lince"))[0] == 404


async def test_a_municipality_with_its_public_page_closed_publishes_nothing(
        settings: Settings) -> None:
    async with two_towns(settings) as towns:
        site = towns.site
        await Municipalities(site.console.db).update(2, actor="test", public_page=False)
        assert (await _anon(site, "/public/san-isidro"))[0] == 404
        index = (await _anon(site, "/public"))[1]
        assert re.findall(r'<a href="/public/([a-z-]+)">', index) == ["miraflores"]
        for path in ("/public/api/summary.json?municipality=san-isidro",
                     f"/open311/v2/requests.json?jurisdiction_id={SAN_ISIDRO}"):
            assert (await _anon(site, path))[0] == 400, path


async def test_open311_answers_per_jurisdiction_by_the_municipalitys_numbers(
        settings: Settings) -> None:
    async with two_towns(settings) as towns:
        site = towns.site
        status, body = await _anon(site, "/open311/v2/requests.json")
        assert status == 400
        error = json.loads(body)
        assert error == [{"code": 400, "description": error[0]["description"]}]
        assert "jurisdiction_id" in error[0]["description"]
        for path in ("/open311/v2/services.json", "/open311/v2/requests/1.json",
                     "/open311/v2/requests.json?jurisdiction_id=lince"):
            status, body = await _anon(site, path)
            assert status == 400 and json.loads(body)[0]["code"] == 400, path

        services = json.loads((await _anon(
            site, f"/open311/v2/services.json?jurisdiction_id={SAN_ISIDRO}"))[1])
        assert "noise" in {s["service_code"] for s in services}

        async def listed(jurisdiction: str, query: str = "") -> list[tuple[int, str]]:
            status, body = await _anon(
                site, f"/open311/v2/requests.json?jurisdiction_id={jurisdiction}{query}")
            assert status == 200, body
            return sorted((int(r["service_request_id"]), r["service_code"])
                          for r in json.loads(body))

        assert await listed("municipalidad") == [(n, "robbery") for n in (1, 2, 3)]
        assert await listed(SAN_ISIDRO) == [(n, "noise") for n in (1, 2, 3, 4, 5)]
        assert await listed("municipalidad", "&service_request_id=4,5") == []
        assert await listed(SAN_ISIDRO, "&service_request_id=1,4") == [(1, "noise"),
                                                                        (4, "noise")]

        async def one(number: int | str, jurisdiction: str) -> tuple[int, str]:
            return await _anon(site, f"/open311/v2/requests/{number}.json"
                                     f"?jurisdiction_id={jurisdiction}")

        status, body = await one(1, "municipalidad")
        assert status == 200 and json.loads(body)[0]["service_code"] == "robbery"
        status, body = await one(1, SAN_ISIDRO)  # the same number, the other's own report
        assert status == 200 and json.loads(body)[0]["service_code"] == "noise"
        assert json.loads(body)[0]["service_request_id"] == "1"
        # Not found, another jurisdiction's number, a report not public yet, a system id:
        # one and the same answer.
        answers = {await one(number, jurisdiction) for number, jurisdiction in (
            (4, "municipalidad"), (6, SAN_ISIDRO), (99, SAN_ISIDRO),
            (first_id(2), "municipalidad"), (first_id(2), SAN_ISIDRO), (RANGE, SAN_ISIDRO))}
        assert len(answers) == 1
        status, body = answers.pop()
        assert status == 404 and json.loads(body)[0]["code"] == 404


# --- the command line --------------------------------------------------------------------


def test_stats_type_year_per_municipality_and_rebuild_recounts_all(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    async def two_clocks() -> None:
        async with store_engine.database(settings.database) as db:
            await Municipalities(db).add("tokio", "Tokio", "Asia/Tokyo", actor="test")

            async def op(conn: aiosqlite.Connection) -> None:
                for report, town, type_id, moment in (
                        (1, 1, "robbery", "2024-01-01T03:00:00.000+00:00"),  # 2023 in Lima
                        (2, 1, "robbery", "2024-06-01T12:00:00.000+00:00"),
                        (first_id(2), 2, "noise", "2023-12-31T16:00:00.000+00:00")):  # Tokyo
                    await conn.execute(
                        "INSERT INTO reports (id, municipality_id, type, priority, created_at,"
                        " updated_at) VALUES (?, ?, ?, 3, ?, 'x')",
                        (report, town, type_id, moment))

            await db.write(op)

    asyncio.run(two_clocks())
    use_database(settings, tmp_path, monkeypatch)

    def type_year(*extra: str) -> object:
        capsys.readouterr()
        assert main(["stats", "type-year", "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)["types"]

    assert type_year() == {"robbery": {"2023": 1, "2024": 1}}
    assert type_year("--municipality", "tokio") == {"noise": {"2024": 1}}
    assert main(["stats", "type-year", "--municipality", "lince"]) == 2
    # A recount (the settings' time zone is municipality 1's) keeps each on its clock.
    assert main(["stats", "rebuild"]) == 0
    assert main(["stats", "rebuild", "--check"]) == 0
    assert type_year("--municipality", "tokio") == {"noise": {"2024": 1}}
    assert type_year() == {"robbery": {"2023": 1, "2024": 1}}
    capsys.readouterr()
    assert main(["stats", "rebuild", "--check"]) == 0
    assert "rollups equal a full recount" in capsys.readouterr().out

    async def spoil() -> None:  # a rollup that no longer matches its reports
        async with store_engine.database(settings.database) as db:
            async def op(conn: aiosqlite.Connection) -> None:
                await conn.execute("UPDATE rollup_day SET n = n + 1 WHERE municipality_id = 2")

            await db.write(op)

    asyncio.run(spoil())
    assert main(["stats", "rebuild", "--check"]) == 1
    found = capsys.readouterr()
    assert "rollups differ from a recount" in found.out and "rollup_day differs" in found.err
    assert main(["stats", "rebuild"]) == 0
    assert main(["stats", "rebuild", "--check"]) == 0
