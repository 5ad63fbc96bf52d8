"""Several municipalities on one deployment: numbers, lines, calls, status, migration.

Calls go through the real FastAGI server with the wire-level fake Asterisk; each
municipality has its own lines (made by ``alerta municipalities add``'s use case).
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.core.municipalities import MunicipalityDesk
from ivr.core.ports import NewReport
from ivr.core.prompt_audio import PromptAudio
from ivr.domain.municipalities import RANGE, municipality_of, number_of, report_id
from ivr.domain.roles import Role
from ivr.store import engine as store_engine
from ivr.store.municipalities import Municipalities
from ivr.store.numbers import next_free_number
from ivr.store.users import Users
from tests.e2e import Line, running_line

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

FIXTURE = Path(__file__).parent / "fixtures" / "before_municipalities"
SAN_ISIDRO_REPORT, SAN_ISIDRO_STATUS = "5552000", "5552001"


def heard(played: list[str]) -> list[str]:
    return [p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in played]


async def open_san_isidro(line: Line) -> int:
    assert line.svc.lines is not None
    desk = MunicipalityDesk(Municipalities(line.svc.db), line.svc.lines,
                            PromptAudio(line.svc.lines))
    opened = await desk.open("san-isidro", "San Isidro", "America/Lima", actor="test",
                             numbers={"report": [SAN_ISIDRO_REPORT],
                                      "status": [SAN_ISIDRO_STATUS]})
    assert opened.warnings == []
    assert set(opened.published) == {"report", "status"}
    return opened.municipality.id


def test_report_ids_name_their_municipality() -> None:
    assert report_id(1, 7) == 7 and number_of(7) == 7 and municipality_of(7) == 1
    second = report_id(2, 1)
    assert second == RANGE + 1 and number_of(second) == 1 and municipality_of(second) == 2
    assert municipality_of(report_id(2, RANGE - 1)) == 2
    with pytest.raises(ValueError):
        report_id(2, RANGE)
    with pytest.raises(ValueError):
        report_id(2, 0)


async def test_a_report_outside_its_range_is_refused_by_the_store(settings: Settings) -> None:
    async with store_engine.database(settings.database) as db:
        await Municipalities(db).add("san-isidro", "San Isidro", "America/Lima", actor="t")

        async def wrong(conn: object) -> None:
            await conn.execute(  # type: ignore[attr-defined]
                "INSERT INTO reports (id, municipality_id, type, priority, created_at,"
                " updated_at) VALUES (5, 2, 'noise', 5, 'x', 'x')")

        with pytest.raises(sqlite3.IntegrityError, match="range"):
            await db.write(wrong)

        async def first(conn: object) -> int:
            return await next_free_number(conn, 2)  # type: ignore[arg-type]

        assert await db.write(first) == RANGE + 1

        async def right(conn: object) -> None:
            await conn.execute(  # type: ignore[attr-defined]
                "INSERT INTO reports (id, municipality_id, type, priority, created_at,"
                " updated_at) VALUES (5, 1, 'noise', 5, 'x', 'x')")

        await db.write(right)

        async def move(conn: object) -> None:
            await conn.execute("UPDATE reports SET municipality_id = 2")  # type: ignore[attr-defined]

        with pytest.raises(sqlite3.IntegrityError, match="stays in its municipality"):
            await db.write(move)  # a report is handed over, never moved


async def test_each_municipality_hears_its_greeting_and_numbers_its_reports(
        settings: Settings) -> None:
    async with running_line(settings) as line:
        town = await open_san_isidro(line)
        first = await line.call(keys=["1", "2", "1", "#"], caller_id="987000001")
        second = await line.call(script=f"report?line={SAN_ISIDRO_REPORT}",
                                 keys=["1", "2", "1", "#"], caller_id="987000002")
        miraflores, san_isidro = (int(r.variables["ALERTA_REPORT"]) for r in (first, second))
        assert municipality_of(miraflores) == 1 and number_of(miraflores) == 1
        assert san_isidro == report_id(town, 1)
        # Each heard its own line's greeting (different audio, each version's own folder)
        # and its number as its municipality counts: "1" both times.
        greetings = [next(p for p in r.played if p.endswith("/greeting")) for r in (first, second)]
        assert greetings[0] != greetings[1]
        rows = {r["caller"]: r for r in await line.reports()}
        assert rows["987000001"]["municipality"] == 1
        assert rows["987000002"]["municipality"] == town
        assert rows["987000002"]["number"] == 1
        for result in (first, second):
            said = heard(result.played)
            assert said[said.index("es/report_number_is") + 1] == "es/digit_1"
        opened = await line.svc.reports.history(san_isidro)
        assert opened[0]["kind"] == "report.opened"


async def test_the_status_line_of_one_never_reveals_the_others_reports(
        settings: Settings) -> None:
    async with running_line(settings) as line:
        town = await open_san_isidro(line)
        theirs = [await line.svc.book.open_report(  # Miraflores: numbers 1, 2, 3
            NewReport("noise", 5, False, "es", f"c{n}", "5551234", "5551234"))
            for n in range(3)]
        assert theirs == [1, 2, 3]
        mine = await line.svc.book.open_report(
            NewReport("robbery", 2, False, "es", "s1", "5559999", "5559999",
                      municipality=town))
        assert mine == report_id(town, 1)
        # San Isidro's status line knows its report 1 and no report 2 or 3 ...
        found = await line.call(script=f"status?line={SAN_ISIDRO_STATUS}", keys=["1#"],
                                language="es")
        assert "es/status_received" in heard(found.played)
        for number in ("2#", "3#", f"{RANGE + 1}#"):
            missing = await line.call(script=f"status?line={SAN_ISIDRO_STATUS}",
                                      keys=[number, number, number], language="es")
            said = heard(missing.played)
            assert "es/status_not_found" in said
            assert not any(s.startswith("es/status_") and s != "es/status_not_found"
                           and s != "es/status_enter" for s in said), said
        # ... while Miraflores' status line answers for its own 2.
        own = await line.call(script="status", keys=["2#"], language="es")
        assert "es/status_received" in heard(own.played)


async def test_migration_of_a_database_made_before_municipalities(tmp_path: Path) -> None:
    path = tmp_path / "alerta.sqlite3"
    shutil.copy(FIXTURE / "alerta.sqlite3", path)
    before = sqlite3.connect(path)
    old = {
        "reports": before.execute("SELECT id, type, state, caller FROM reports ORDER BY id")
        .fetchall(),
        "events": before.execute("SELECT count(*) FROM events").fetchone()[0],
        "clips": before.execute("SELECT id, report_id, path, sha256 FROM clips ORDER BY id")
        .fetchall(),
        "users": before.execute("SELECT name, role FROM users ORDER BY name").fetchall(),
        "lines": before.execute("SELECT slug, live_version FROM lines ORDER BY slug").fetchall(),
        "directory": before.execute("SELECT number, address FROM directory ORDER BY number")
        .fetchall(),
        "version": before.execute("SELECT max(version) FROM schema_migrations").fetchone()[0],
    }
    before.close()
    assert old["version"] == 7 and len(old["reports"]) == 8

    async with store_engine.database(path) as db:
        towns = await Municipalities(db).all()
        assert [(m.id, m.code) for m in towns] == [(1, "municipalidad")]
        assert towns[0].timezone == "America/Lima"
        rows = await db.fetchall(
            "SELECT id, type, state, caller, municipality_id FROM reports ORDER BY id")
        assert [tuple(r)[:4] for r in rows] == old["reports"]
        assert {r["municipality_id"] for r in rows} == {1}
        events = await db.fetchone("SELECT count(*), count(DISTINCT coalesce(municipality_id,"
                                   f" report_id / {RANGE} + 1)) FROM events"
                                   " WHERE report_id IS NOT NULL")
        assert events is not None and events[1] == 1
        total = await db.fetchone("SELECT count(*) FROM events")
        assert total is not None and total[0] == old["events"]
        clips = await db.fetchall("SELECT id, report_id, path, sha256 FROM clips ORDER BY id")
        assert [tuple(c) for c in clips] == old["clips"]
        users = Users(db)
        for name, role in old["users"]:
            found = await users.by_name(name)
            assert found is not None and found.role is Role(role) and found.municipality == 1
            assert await users.roles(found.id) == {1: Role(role)}
        login = await users.authenticate("ana", "operador-uno-pass", max_failures=5,
                                         lockout_s=60)
        assert login.user is not None and login.user.role is Role.OPERATOR
        lines = await db.fetchall(
            "SELECT slug, live_version, municipality_id FROM lines ORDER BY slug")
        assert [tuple(r)[:2] for r in lines] == old["lines"]
        assert {r["municipality_id"] for r in lines} == {1}
        directory = await db.fetchall(
            "SELECT number, address FROM directory WHERE municipality_id = 1 ORDER BY number")
        assert [tuple(d) for d in directory] == old["directory"]
        # The next report of municipality 1 goes on from its numbers; a new municipality's
        # first is its 1.
        async def next_ones(conn: object) -> tuple[int, int]:
            return (await next_free_number(conn, 1),  # type: ignore[arg-type]
                    await next_free_number(conn, 2))  # type: ignore[arg-type]

        await Municipalities(db).add("san-isidro", "San Isidro", "America/Lima", actor="t")
        after_one, after_two = await db.write(next_ones)
        assert after_one > max(r[0] for r in old["reports"])
        assert after_two == report_id(2, 1)


async def test_callers_type_their_own_municipalitys_zones(settings: Settings,
                                                         tmp_path: Path) -> None:
    """San Isidro imported its zones (codes 70 and 71); Miraflores did not (the settings'
    1..9 stand for it). Each caller's zone is checked against their own municipality's."""
    from ivr.domain import zones as geo
    from ivr.store import zonestore
    from ivr.testing import make_tone_wav

    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    async with running_line(settings) as line:
        town = await open_san_isidro(line)
        shapes = [dataclasses.replace(z, code=code) for z, code
                  in zip(geo.sample()[:2], ("70", "71"), strict=True)]
        await zonestore.replace_all(line.svc.db, shapes, actor="test", municipality=town)
        theirs = await line.call(script=f"report?line={SAN_ISIDRO_REPORT}", voice=voice,
                                 keys=["1", "2", "1", "7#", "70#", "1"], caller_id="987000003")
        ours = await line.call(keys=["1", "2", "1", "70#", "7#", "1"], voice=voice,
                               caller_id="987000004")
        rows = {r["caller"]: r for r in await line.reports()}
        assert rows["987000003"]["zone"] == "70"  # San Isidro's, not Miraflores' 7
        assert rows["987000004"]["zone"] == "7"  # Miraflores' own; San Isidro's 70 refused
        for result in (theirs, ours):
            assert heard(result.played).count("es/zone_invalid") == 1
