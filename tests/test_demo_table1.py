"""``alerta demo --table1`` reproduces Table 1 of the Alerta Miraflores case study, cell by cell.

Table 1 (Source: Alerta Miraflores): reports by type and year, 2003-2006.
The numbers are checked three ways: as ``alerta stats type-year --json`` prints
them (the dashboard's rollups), counted straight from the reports table, and
against the case study's own row and column totals.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.config import Settings
from ivr.domain import zones
from ivr.store import demo, panels, rollup
from ivr.store.db import Database

# Copied from the case study, row labels included; the mapping to our types is the demo's.
CASE_STUDY = {
    "Assault/Robbery": {2003: 2019, 2004: 5857, 2005: 4131, 2006: 2221},
    "Accident": {2003: 1273, 2004: 3842, 2005: 3467, 2006: 2599},
    "Suspicious Activity": {2003: 1480, 2004: 9035, 2005: 13533, 2006: 14667},
    "Noise / Neighbor disturbance": {2003: 4734, 2004: 13944, 2005: 16530, 2006: 11804},
    "Other": {2005: 8160, 2006: 13785},
}
YEAR_TOTALS = {2003: 9506, 2004: 32678, 2005: 45821, 2006: 45076}
TOTAL = 133_081
OUR_TYPE = {"Assault/Robbery": "robbery", "Accident": "accident",
            "Suspicious Activity": "suspicious", "Noise / Neighbor disturbance": "noise",
            "Other": "other"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo database for the module: loading it is the slow part (a few seconds)."""
    path = tmp_path_factory.mktemp("demo") / "alerta.sqlite3"
    mp = pytest.MonkeyPatch()
    mp.setenv("ALERTA_DATABASE", str(path))
    mp.setenv("ALERTA_LOG_LEVEL", "WARNING")
    try:
        assert main(["demo", "--table1"]) == 0
    finally:
        mp.undo()
    return path


def _cli(path: Path, *argv: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("ALERTA_DATABASE", str(path))
    monkeypatch.setenv("ALERTA_LOG_LEVEL", "WARNING")
    return main(list(argv))


def test_the_case_study_table_adds_up() -> None:
    for year, total in YEAR_TOTALS.items():
        assert sum(row.get(year, 0) for row in CASE_STUDY.values()) == total
    assert sum(YEAR_TOTALS.values()) == TOTAL
    assert demo.TABLE1 == {OUR_TYPE[k]: v for k, v in CASE_STUDY.items()}


def test_stats_type_year_prints_table_1_cell_by_cell(
        loaded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _cli(loaded, "stats", "type-year", "--json", monkeypatch=monkeypatch) == 0
    printed = json.loads(capsys.readouterr().out)
    for label, years in CASE_STUDY.items():
        row = printed["types"][OUR_TYPE[label]]
        for year in (2003, 2004, 2005, 2006):
            assert row.get(str(year), 0) == years.get(year, 0), (label, year)
    assert printed["years"] == ["2003", "2004", "2005", "2006"]
    assert printed["totals"] == {str(y): n for y, n in YEAR_TOTALS.items()}
    assert printed["total"] == TOTAL


def test_the_reports_themselves_hold_table_1(loaded: Path) -> None:
    conn = sqlite3.connect(loaded)
    try:
        # Counted without the rollups: the year of each report in Lima's local time.
        counted = conn.execute(
            "SELECT type, CAST(strftime('%Y', created_at, '-5 hours') AS INTEGER), count(*)"
            " FROM reports GROUP BY 1, 2").fetchall()
        assert {(t, y): n for t, y, n in counted} == {
            (OUR_TYPE[label], y): n for label, row in CASE_STUDY.items() for y, n in row.items()}
        assert conn.execute("SELECT count(*) FROM clips").fetchone()[0] == 0
        states = dict(conn.execute("SELECT state, count(*) FROM reports GROUP BY state"))
        assert 0.017 < states["false_report"] / TOTAL < 0.023  # about 2% false, 98% confirmed
        first = conn.execute("SELECT min(created_at) FROM reports").fetchone()[0]
        assert first.startswith("2003-06-01")  # the system starts in June 2003
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 2 * TOTAL
        triggers = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                                " AND name LIKE 'analytics%'").fetchone()[0]
        assert triggers == 4  # put back after the bulk load
    finally:
        conn.close()


def test_located_reports_lie_inside_their_zone(loaded: Path) -> None:
    conn = sqlite3.connect(loaded)
    try:
        rows = conn.execute("SELECT zone, lat, lon FROM reports WHERE lat IS NOT NULL").fetchall()
        zoned = conn.execute("SELECT count(*) FROM reports WHERE zone IS NOT NULL").fetchone()[0]
    finally:
        conn.close()
    assert 0.6 * TOTAL < len(rows) < 0.75 * TOTAL
    locator = zones.Locator(zones.sample())
    assert all(locator.zone_of(lon, lat) == zone for zone, lat, lon in rows[::7])
    assert zoned > 0.95 * TOTAL


async def test_the_dashboard_shows_the_case_studys_results(loaded: Path) -> None:
    async with Database(loaded) as db:
        everything = panels.Filters(date(2003, 1, 1), date(2007, 1, 1))
        k = await panels.kpis(db, everything, rollup.Clock("America/Lima", -300))
        assert k.reports == TOTAL
        assert k.confirmed_share is not None and 0.975 < k.confirmed_share < 0.985
        assert k.callbacks_share is not None and 0.88 < k.callbacks_share < 0.95
        zone_counts = await panels.by_zone(db, everything)
        assert all(zone_counts.get(str(z), 0) > 1000 for z in range(1, 15))  # every zone
        robbery = ("robbery",)
        h2_2003 = await panels.by_type(db, panels.Filters(date(2003, 7, 1), date(2004, 1, 1),
                                                          types=robbery))
        h2_2006 = await panels.by_type(db, panels.Filters(date(2006, 7, 1), date(2007, 1, 1),
                                                          types=robbery))
        drop = panels.change(h2_2006["robbery"], h2_2003["robbery"])
        assert drop is not None and -0.70 < drop < -0.66  # "a 68% drop in robberies"
        # The triggers are back: a new report is counted at once.
        raw = sqlite3.connect(loaded, isolation_level=None)
        raw.execute("INSERT INTO reports (type, priority, created_at, updated_at)"
                    " VALUES ('noise', 5, '2006-12-31T12:00:00.000+00:00', 'x')")
        raw.execute("DELETE FROM reports WHERE id = (SELECT max(id) FROM reports)")
        raw.close()
        assert (await panels.kpis(db, everything, rollup.Clock("America/Lima", -300))).reports \
            == TOTAL


def test_a_second_demo_is_refused(loaded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _cli(loaded, "demo", "--table1", monkeypatch=monkeypatch) == 2


def test_the_same_seed_gives_the_same_reports() -> None:
    settings = Settings()

    def first(seed: int) -> list[tuple[object, ...]]:
        gen = demo.Generator(settings.keypad, zones.sample(), rollup.clock_for("America/Lima"),
                             settings.callback_deadlines(), seed=seed)
        rows = gen.reports()
        return [next(rows) for _ in range(500)]

    assert first(7) == first(7)
    assert first(7) != first(8)
