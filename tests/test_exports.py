"""Exports honour the dashboard's filters, leave personal data out, and defuse formulas."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import zipfile
from datetime import UTC, date, datetime
from typing import Any
from xml.etree import ElementTree

import pytest

from ivr.analytics.exports import safe_cell
from ivr.config import Settings
from ivr.core.ports import Location, NewReport
from ivr.domain.roles import Intake
from ivr.store import export_rows
from ivr.store.casework import Casework, ManualReport
from ivr.store.export_rows import query
from ivr.store.panels import Filters
from ivr.store.reports import Reports
from ivr.store.rollup import Clock
from tests.console_util import Site, console_site

pytestmark = pytest.mark.store

FORMULA = '=HYPERLINK("http://evil.example","click")'


async def _seed(site: Site) -> dict[str, int]:
    """Reports on known local days (Lima), with numbers, notes and one nasty address."""
    db = site.console.db
    out = {}
    moments = {
        "robbery_jan": datetime(2024, 1, 10, 15, tzinfo=UTC),
        "noise_jan": datetime(2024, 1, 31, 23, tzinfo=UTC),  # 18:00 on 31 Jan in Lima
        "noise_feb_utc": datetime(2024, 2, 1, 3, tzinfo=UTC),  # still 31 Jan in Lima
        "robbery_mar": datetime(2024, 3, 5, 12, tzinfo=UTC),
    }
    for name, moment in moments.items():
        reports = Reports(db, lambda m=moment: m, {})
        number = await reports.open_report(NewReport(
            type_id=name.split("_")[0], priority=2, emergency=False, language="es",
            call_id=f"call-{name}", caller_id_raw="999111222", caller="999111222"))
        await reports.set_location(number, Location(
            zone="3" if "robbery" in name else "7", address="Av. Larco 345",
            lat=-12.1217 if name != "noise_jan" else None,
            lon=-77.0301 if name != "noise_jan" else None, source="directory"))
        out[name] = number
    casework = Casework(db, lambda: datetime(2024, 1, 20, 12, tzinfo=UTC), {})
    out["manual"] = await casework.file_manual(ManualReport(
        type_id="suspicious", priority=3, channel=Intake.RADIO, summary="nota privada 4242",
        caller="988777666", zone="3", address=FORMULA), "user:ana")
    return out


async def _get(site: Site, path: str) -> tuple[int, bytes, Any]:
    async with site.browser() as b:
        assert (await b.login("sofia")).status == 302
        response = await b.get(path)
        return response.status, await response.read(), response.headers


def _csv(body: bytes) -> list[dict[str, str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


async def test_csv_honours_range_type_zone_and_channel(settings: Settings) -> None:
    async with console_site(settings) as site:
        ids = await _seed(site)
        status, body, headers = await _get(site, "/dashboard/export.csv?since=2024-01-01"
                                                 "&until=2024-01-31")
        assert status == 200 and headers["Content-Type"].startswith("text/csv")
        assert "attachment" in headers["Content-Disposition"]
        rows = _csv(body)
        # 31 January in Lima takes the report made at 03:00 UTC on 1 February.
        assert [int(r["report"]) for r in rows] == [
            ids["robbery_jan"], ids["manual"], ids["noise_jan"], ids["noise_feb_utc"]]
        assert rows[0]["created_local"] == "2024-01-10T10:00:00"
        assert rows[0]["created_utc"].startswith("2024-01-10T15:00:00")
        only = _csv((await _get(site, "/dashboard/export.csv?since=2024-01-01&until=2024-03-31"
                                     "&type=robbery&zone=3"))[1])
        assert [int(r["report"]) for r in only] == [ids["robbery_jan"], ids["robbery_mar"]]
        radio = _csv((await _get(site, "/dashboard/export.csv?since=2024-01-01&until=2024-12-31"
                                      "&channel=radio"))[1])
        assert [int(r["report"]) for r in radio] == [ids["manual"]]
        none = _csv((await _get(site, "/dashboard/export.csv?since=2024-01-01&until=2024-12-31"
                                     "&zone=14"))[1])
        assert none == []


async def test_exports_carry_no_phone_numbers_or_notes_and_defuse_formulas(
        settings: Settings) -> None:
    async with console_site(settings) as site:
        ids = await _seed(site)
        query = "?since=2024-01-01&until=2024-12-31"
        for kind in ("csv", "geojson", "xlsx"):
            status, body, _ = await _get(site, f"/dashboard/export.{kind}{query}")
            assert status == 200
            text = _xlsx_text(body) if kind == "xlsx" else body.decode("utf-8")
            for secret in ("999111222", "988777666", "nota privada", "4242"):
                assert secret not in text, (kind, secret)
        rows = _csv((await _get(site, f"/dashboard/export.csv{query}"))[1])
        manual = next(r for r in rows if int(r["report"]) == ids["manual"])
        assert manual["address"] == "'" + FORMULA
        assert "caller" not in rows[0] and "summary" not in rows[0]
        # Coordinates stay numbers: a negative latitude is not taken for a formula.
        located = next(r for r in rows if int(r["report"]) == ids["robbery_jan"])
        assert located["lat"] == "-12.1217"
        # The export is audited.
        history = await site.console.db.fetchall(
            "SELECT actor, data FROM events WHERE kind = 'analytics.exported'")
        assert len(history) >= 4 and history[0]["actor"] == "user:sofia"


def test_a_formula_is_quoted_and_other_text_is_not() -> None:
    for text in ("=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("Av. Larco") == "Av. Larco"
    assert safe_cell(-12.5) == -12.5


async def test_geojson_has_exact_points_zone_centres_and_the_filters(settings: Settings) -> None:
    async with console_site(settings) as site:
        ids = await _seed(site)
        status, body, headers = await _get(site, "/dashboard/export.geojson?since=2024-01-01"
                                                 "&until=2024-01-31")
        assert status == 200 and headers["Content-Type"] == "application/geo+json"
        doc = json.loads(body)
        assert doc["type"] == "FeatureCollection"
        by_id = {f["id"]: f for f in doc["features"]}
        assert set(by_id) == {ids["robbery_jan"], ids["manual"], ids["noise_jan"],
                              ids["noise_feb_utc"]}
        exact = by_id[ids["robbery_jan"]]
        assert exact["geometry"]["coordinates"] == [-77.0301, -12.1217]
        assert exact["properties"]["location"] == "exact"
        centre = by_id[ids["noise_jan"]]  # zone 7, no coordinates: the zone's centre
        assert centre["properties"]["location"] == "zone"
        lon, lat = centre["geometry"]["coordinates"]
        assert -77.06 < lon < -77.0 and -12.14 < lat < -12.09


async def test_xlsx_has_a_header_and_one_row_per_report(settings: Settings) -> None:
    async with console_site(settings) as site:
        ids = await _seed(site)
        status, body, headers = await _get(site, "/dashboard/export.xlsx?since=2024-01-01"
                                                 "&until=2024-12-31&type=robbery")
        assert status == 200 and "spreadsheetml" in headers["Content-Type"]
        rows = _xlsx_rows(body)
        assert rows[0][:3] == ["report", "created_utc", "created_local"]
        assert [int(float(r[0])) for r in rows[1:]] == [ids["robbery_jan"], ids["robbery_mar"]]


async def test_an_export_reads_in_chunks_and_misses_nothing(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows come a chunk at a time from a connection of the export's own (on PostgreSQL a
    server-side cursor): with chunks of two, every report still comes once, in order."""
    monkeypatch.setattr(export_rows, "CHUNK", 2)
    async with console_site(settings) as site:
        ids = await _seed(site)
        source = export_rows.location_of(site.console.db)
        assert source == settings.database
        f = Filters(date(2024, 1, 1), date(2024, 12, 31))
        lima = Clock("America/Lima", -300)
        chunks = [[row[0] for row in chunk]
                  async for chunk in export_rows.chunks(source, f, lima)]
        assert [len(chunk) for chunk in chunks] == [2, 2, 1]
        ordered = [ids[name] for name in ("robbery_jan", "manual", "noise_jan",
                                          "noise_feb_utc", "robbery_mar")]
        assert [report for chunk in chunks for report in chunk] == ordered
        assert [row[0] for row in export_rows.rows(source, f, lima)] == ordered  # XLSX's
        rows = _csv((await _get(site, "/dashboard/export.csv?since=2024-01-01"
                                      "&until=2024-12-31"))[1])
        assert [int(r["report"]) for r in rows] == ordered


async def test_bad_filters_get_a_clear_400(settings: Settings) -> None:
    async with console_site(settings) as site:
        for query in ("since=yesterday", "type=arson", "zone=99", "channel=pigeon",
                      "range=forever", "since=2024-02-01&until=2024-01-01"):
            status, body, _ = await _get(site, f"/dashboard/export.csv?{query}")
            assert status == 400, query
            assert b"Traceback" not in body


def _xlsx_rows(data: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    out = []
    for row in sheet.iterfind(".//m:row", ns):
        cells = []
        for c in row.iterfind("m:c", ns):
            value = c.find("m:v", ns)
            inline = c.find("m:is/m:t", ns)
            cells.append((inline.text if inline is not None else
                          value.text if value is not None else "") or "")
        out.append(cells)
    return out


def _xlsx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


def test_query_walks_the_created_index() -> None:
    """The export's query reads reports in created_at order from the index (no sort)."""
    sql, params = query(Filters(date(2024, 1, 1), date(2024, 2, 1), municipalities=(2,)),
                        Clock("x", -300))
    assert params[:3] == ["2024-01-01T05:00:00.000+00:00", "2024-02-01T05:00:00.000+00:00", 2]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE reports (id INTEGER PRIMARY KEY, created_at TEXT, type TEXT,"
                 " priority, emergency, state, channel, zone, address, lat, lon, location_source,"
                 " complete, first_action_at, callback_due_at, callback_done_at, unit,"
                 " duplicate_of, municipality_id, service)")
    conn.execute("CREATE INDEX reports_created ON reports (created_at)")
    conn.execute("CREATE INDEX reports_municipality_created ON reports"
                 " (municipality_id, created_at)")
    plan = " ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "reports_municipality_created" in plan and "TEMP B-TREE" not in plan
    assert re.search(r"caller|summary", sql) is None
