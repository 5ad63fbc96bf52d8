"""The admins' side of the citizen services: the calendar of non-working days beside the
country's holidays, officers' areas on the users page (and the officer role from the
command line), Open311 keys shown once and revoked, the monthly report and its CSV on a
hand-made month of cases, and the public page's aggregate. All audited; roles and CSRF
refused as everywhere."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import aiosqlite

from ivr.analytics import dashboard
from ivr.config import Settings
from ivr.domain.business_days import Calendar
from ivr.domain.municipalities import report_id
from ivr.domain.roles import Role
from ivr.store.municipalities import Municipalities
from ivr.store.users import Users
from tests.case_util import publish_participation_line, row
from tests.console_util import PASSWORD, Site, console_site


async def _events(site: Site, kind_prefix: str) -> list[dict[str, Any]]:
    rows = await site.console.db.fetchall(
        "SELECT kind, actor, municipality_id, data FROM events WHERE kind LIKE ? ORDER BY id",
        (kind_prefix + "%",))
    return [dict(r) for r in rows]


async def _today(site: Site) -> date:
    return dashboard.local_today(await dashboard.stored_clock(site.console.db, 1))


async def test_calendar_days_are_added_and_removed_and_audited(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("root")
        year = (await _today(site)).year + 1
        before = len(await _events(site, ""))
        added = await b.post("/admin/calendar", {"action": "add", "day": f"{year}-04-21",
                                                 "name": "Aniversario de Miraflores"})
        assert added.status == 303
        page = await (await b.get("/admin/calendar", headers={"Accept": "text/html"})).text()
        assert f"{year}-04-21" in page and "Aniversario de Miraflores" in page
        # The country's holidays of this year and next, read only.
        christmas = Calendar("PE").holiday_name(date(year, 12, 25))
        assert christmas and christmas in page and f"{year}-12-25" in page
        days = await site.console.participation.non_working_days(1)
        assert [(str(d["day"]), d["name"]) for d in map(_day, days)] == [
            (f"{year}-04-21", "Aniversario de Miraflores")]
        refused = [await b.post("/admin/calendar", {"action": "add", "day": "21/04/2027",
                                                    "name": "x"}),
                   await b.post("/admin/calendar", {"action": "add", "day": f"{year}-05-02",
                                                    "name": "  "})]
        assert [r.status for r in refused] == [400, 400]
        removed = await b.post("/admin/calendar", {"action": "remove", "day": f"{year}-04-21"})
        assert removed.status == 303
        assert await site.console.participation.non_working_days(1) == []
        again = await b.post("/admin/calendar", {"action": "remove", "day": f"{year}-04-21"})
        assert again.status == 404
        audit = (await _events(site, ""))[before:]
        assert len(audit) == 2 and all(e["actor"] == "user:root" and e["municipality_id"] == 1
                                       for e in audit)


def _day(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"day": value.day, "name": value.name}


async def test_another_municipalitys_day_and_key_are_not_ours_to_remove(
        settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await Municipalities(site.console.db).add("san-isidro", "San Isidro", "America/Lima",
                                                  actor="test")
        year = (await _today(site)).year + 1
        await site.console.participation.add_non_working_day(
            2, date(year, 7, 2), "Aniversario de San Isidro", actor="test")
        desk = site.console.open311
        assert desk is not None
        their_key, _ = await desk.make_key(2, "web san isidro", actor="test")
        await b.login("root")
        page = await (await b.get("/admin/calendar", headers={"Accept": "text/html"})).text()
        assert "San Isidro" not in page
        keys = await (await b.get("/admin/open311", headers={"Accept": "text/html"})).text()
        assert "web san isidro" not in keys
        assert (await b.post("/admin/calendar", {"action": "remove",
                                                 "day": f"{year}-07-02"})).status == 404
        assert (await b.post("/admin/open311", {"action": "revoke",
                                                "key": str(their_key)})).status == 404
        assert len(await site.console.participation.non_working_days(2)) == 1
        stored = row(await site.console.db.fetchone(
            "SELECT revoked_at FROM open311_keys WHERE id = ?", (their_key,)))
        assert stored["revoked_at"] is None


async def test_an_officer_gets_the_areas_ticked_and_loses_them_with_the_role(
        settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await publish_participation_line(site)
        await b.login("root")
        made = await b.post("/admin/users", {"name": "olga", "role": "officer",
                                             "password": PASSWORD, "language": "es"})
        assert made.status == 303
        olga = await Users(site.console.db).by_name("olga", 1)
        assert olga is not None and olga.role == Role.OFFICER
        page = await (await b.get("/admin/users", headers={"Accept": "text/html"})).text()
        assert f'data-officer="{olga.id}"' in page and "Limpieza pública" in page
        ticked = await b.client.post(
            f"/admin/users/{olga.id}", data=[("_csrf", b.csrf), ("areas", "1"),
                                             ("area", "cleaning"), ("area", "parks")],
            headers={"Origin": b.origin}, allow_redirects=False)
        assert ticked.status == 303
        participation = site.console.participation
        assert set(await participation.officer_areas(1, olga.id)) == {"cleaning", "parks"}
        untick = await b.post(f"/admin/users/{olga.id}", {"areas": "1", "area": "parks"})
        assert untick.status == 303
        assert set(await participation.officer_areas(1, olga.id)) == {"parks"}
        unknown = await b.post(f"/admin/users/{olga.id}", {"areas": "1", "area": "roads"})
        assert unknown.status == 400
        audit = await _events(site, "")
        assert sum(1 for e in audit if "area" in e["kind"] and e["actor"] == "user:root") == 3
        demoted = await b.post(f"/admin/users/{olga.id}", {"role": "operator"})
        assert demoted.status == 303
        assert list(await participation.officer_areas(1, olga.id)) == []
        # A non-officer's areas cannot be ticked.
        ana = await Users(site.console.db).by_name("ana", 1)
        assert ana is not None
        assert (await b.post(f"/admin/users/{ana.id}", {"areas": "1",
                                                        "area": "parks"})).status == 400


def test_the_command_line_grants_and_takes_the_officer_role(tmp_path: Path) -> None:
    env = {**os.environ, "ALERTA_DATABASE": str(tmp_path / "db.sqlite3"),
           "ALERTA_VOICECLIPS": str(tmp_path / "clips")}

    def alerta(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ivr.cli", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    added = alerta("users", "add", "olga", "--role", "officer", "--generate")
    assert added.returncode == 0, added.stderr
    assert "officer@" in alerta("users", "list").stdout
    taken = alerta("users", "grant", "olga", "--municipality", "", "--role", "none")
    assert taken.returncode == 0, taken.stderr
    assert "officer@" not in alerta("users", "list").stdout
    granted = alerta("users", "grant", "olga", "--municipality", "", "--role", "officer")
    assert granted.returncode == 0, granted.stderr
    assert "officer@" in alerta("users", "list").stdout

async def test_keys_are_shown_once_kept_as_a_hash_and_revoked(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("root")
        made = await b.post("/admin/open311", {"action": "create", "name": "Web municipal"})
        assert made.status == 200
        text = await made.text()
        key = re.search(r'id="key-value">(a311_[A-Za-z0-9_-]+)<', text)
        assert key, text
        assert made.headers["Cache-Control"] == "no-store"
        listing = await (await b.get("/admin/open311", headers={"Accept": "text/html"})).text()
        assert "Web municipal" in listing and key.group(1) not in listing
        stored = row(await site.console.db.fetchone(
            "SELECT id, key_hash, created_by FROM open311_keys"))
        assert stored["key_hash"] == hashlib.sha256(key.group(1).encode()).hexdigest()
        assert stored["created_by"] == "user:root"
        assert (await b.post("/admin/open311", {"action": "create", "name": " "})).status == 400
        revoked = await b.post("/admin/open311", {"action": "revoke", "key": str(stored["id"])})
        assert revoked.status == 303
        assert (await b.post("/admin/open311", {"action": "revoke",
                                                "key": str(stored["id"])})).status == 404
        audit = await _events(site, "open311.")
        assert [(e["kind"], e["actor"], e["municipality_id"]) for e in audit] == [
            ("open311.key_created", "user:root", 1), ("open311.key_revoked", "user:root", 1)]
        assert key.group(1) not in str(audit)


async def test_roles_and_csrf_are_refused(settings: Settings) -> None:
    async with console_site(settings) as site:
        await site.console.users.add("mateo", Role.ANALYST, PASSWORD)
        for who, path, status in (("ana", "/admin/calendar", 403), ("sofia", "/admin/open311",
                                                                     403),
                                  ("ana", "/cases/report", 403), ("mateo", "/admin/calendar",
                                                                  403)):
            async with site.browser() as b:
                await b.login(who)
                assert (await b.get(path)).status == status, (who, path)
        async with site.browser() as b:
            await b.login("root")
            for path, form in (("/admin/open311", {"action": "create", "name": "web"}),
                               ("/admin/calendar", {"action": "add", "day": "2031-01-02",
                                                    "name": "x"})):
                assert (await b.post(path, form, csrf=False)).status == 403
                assert (await b.post(path, form, headers={"Origin": "http://evil.example"})
                        ).status == 403
        count = row(await site.console.db.fetchone("SELECT count(*) AS n FROM open311_keys"))
        assert count["n"] == 0


# --- the monthly report on a hand-made month ------------------------------------------

# (kind, area, received, due, answered on): the month is 2026-03.
MONTH = [
    ("complaint", "cleaning", "2026-03-02", "2026-03-20", "2026-03-10"),  # on time
    ("complaint", "cleaning", "2026-03-03", "2026-03-23", "2026-03-23"),  # on time, last day
    ("complaint", "cleaning", "2026-03-04", "2026-03-24", "2026-03-30"),  # late
    ("complaint", "cleaning", "2026-03-05", "2026-03-25", None),          # overdue
    ("query", "cleaning", "2026-03-16", "2026-03-30", "2026-03-18"),      # on time
    ("suggestion", "parks", "2026-03-31", "2026-05-13", None),            # overdue by now
    ("query", "parks", "2026-02-27", "2026-03-13", None),                 # February's
]


async def _month_of_cases(site: Site) -> None:
    """Cases filed through the use case, then given the hand-made dates."""
    participation = site.console.participation
    db = site.console.db
    for kind, area, received, due, answered in MONTH:
        receipt = await participation.enter(
            municipality=1, kind=kind, area=area, intake="counter", subject="x", caller=None,
            contact_name=None, contact_email=None, actor="test")

        async def op(conn: aiosqlite.Connection, report: int = receipt.report,
                     received: str = received, due: str = due,
                     answered: str | None = answered) -> None:
            await conn.execute(
                "UPDATE cases SET received_on = ?, due_on = ?, answered_on = ?,"
                " state = CASE WHEN ? IS NULL THEN 'open' ELSE 'answered' END,"
                " answered_at = CASE WHEN ? IS NULL THEN NULL ELSE ? || 'T15:00:00.000+00:00'"
                " END WHERE report_id = ?", (received, due, answered, answered, answered,
                                             answered, report))
            await conn.execute("UPDATE reports SET created_at = ? WHERE id = ?",
                               (received + "T15:00:00.000+00:00", report))

        await db.write(op)


async def test_the_monthly_report_counts_a_hand_made_month(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await publish_participation_line(site)
        await _month_of_cases(site)
        await site.console.users.add("mateo", Role.ANALYST, PASSWORD)
        await b.login("mateo")
        page = await b.get("/cases/report?month=2026-03", headers={"Accept": "text/html"})
        assert page.status == 200
        text = await page.text()
        table = {(m.group(1), m.group(2)): [int(n) for n in m.group(3, 4, 5, 6)] for m in
                 re.finditer(r'data-area="(\w+)" data-kind="(\w+)".*?<td class="num">(\d+)</td>'
                             r'<td class="num">(\d+)</td><td class="num">(\d+)</td>'
                             r'<td class="num">(\d+)</td>', text, re.S)}
        assert table == {
            ("cleaning", "complaint"): [4, 2, 1, 1], ("cleaning", "query"): [1, 1, 0, 0],
            ("cleaning", "total"): [5, 3, 1, 1],
            ("parks", "suggestion"): [1, 0, 0, 1], ("parks", "total"): [1, 0, 0, 1]}
        assert "Limpieza pública" in text and "60 %" in text  # 3 on time of 5 settled
        exported = await b.get("/cases/report.csv?month=2026-03")
        assert exported.status == 200 and exported.content_type == "text/csv"
        body = (await exported.read()).decode("utf-8-sig")
        lines = list(csv.DictReader(io.StringIO(body)))
        total = next(r for r in lines if r["area"] == "cleaning" and r["kind"] == "total")
        assert (total["received"], total["answered_on_time"], total["answered_late"],
                total["overdue"], total["on_time_rate"]) == ("5", "3", "1", "1", "0.600")
        assert (await b.get("/cases/report?month=2026-13")).status == 400
        assert "x" not in {r["area_name"] for r in lines}  # no case's text in the figures


async def test_the_public_page_shows_cases_per_area_in_aggregate(settings: Settings) -> None:
    async with console_site(settings) as site:
        await publish_participation_line(site)
        participation = site.console.participation
        secret = "vecina Rosa Quispe del 987654321"
        receipt = await participation.enter(
            municipality=1, kind="complaint", area="cleaning", intake="counter",
            subject=secret, caller="987654321", contact_name="Rosa Quispe",
            contact_email="rosa@example.org", actor="test")
        assert receipt.report == report_id(1, 1)
        town = await Municipalities(site.console.db).get(1)
        assert town is not None
        async with site.browser() as anon:
            summary = await (await anon.get("/public/api/summary.json")).json()
            html = await (await anon.get(f"/public/{town.code}")).text()
        assert 'id="public-cases"' in html and "Limpieza pública" in html
        month = f"{await _today(site):%Y-%m}"
        cases = {a["area"]: a for a in summary["cases"]}
        assert set(cases) == {"cleaning", "parks"}
        assert cases["cleaning"]["name"] == "Limpieza pública"
        assert len(cases["cleaning"]["months"]) == 6
        assert cases["cleaning"]["months"][-1] == {"month": month, "received": 1,
                                                   "answered_on_time": 0, "overdue": 0}
        text = str(summary) + html
        for word in ("Rosa", "987654321", "rosa@example.org", "vecina"):
            assert word not in text
