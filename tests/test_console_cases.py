"""Officers' and supervisors' case pages: the queue of one's areas, a case (listen, answer,
close, reopen), counter entry, supervision figures, and who is refused where.

Cases are made here as the participation flow leaves them (a report of the line plus its
``cases`` row), with the dates each test needs; changes go through the console."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
from datetime import date, timedelta
from typing import Any

import aiosqlite

from ivr.analytics import dashboard
from ivr.app import services
from ivr.config import Settings
from ivr.domain.business_days import Calendar
from ivr.domain.roles import Intake, Role
from ivr.store.casework import ManualReport
from ivr.store.municipalities import Municipalities
from ivr.store.users import Users
from ivr.testing.fake_ami import FakeAmi
from tests.case_util import publish_participation_line
from tests.clips_support import FIXTURES, report_with_clip
from tests.console_util import PASSWORD, Browser, Site, console_site


@dataclasses.dataclass
class Case:
    kind: str = "complaint"
    area: str = "cleaning"
    received_on: date | None = None
    due_on: date | None = None
    state: str = "open"
    answered_on: date | None = None
    subject: str = "Basura en la esquina"
    municipality: int = 1


async def today_of(site: Site, municipality: int = 1) -> date:
    return dashboard.local_today(await dashboard.stored_clock(site.console.db, municipality))


async def make_case(site: Site, case: Case, report: int | None = None) -> int:
    """A case of ``case``'s dates (a new report, or ``report`` made into one)."""
    today = await today_of(site, case.municipality)
    if report is None:
        report = await site.console.casework.file_manual(ManualReport(
            case.kind, 5, Intake.COUNTER, case.subject, caller="987654321",
            municipality=case.municipality), "user:test")
    received = case.received_on or today - timedelta(days=3)
    due = case.due_on or today + timedelta(days=20)

    async def op(conn: aiosqlite.Connection) -> None:
        await conn.execute("UPDATE reports SET service = 'participation' WHERE id = ?",
                           (report,))
        await conn.execute(
            "INSERT INTO cases (report_id, municipality_id, kind, area, intake, subject,"
            " received_on, business_days, due_on, state, answer, answered_on, answered_by,"
            " updated_at) VALUES (?, ?, ?, ?, 'ivr', ?, ?, 30, ?, ?, ?, ?, ?, ?)",
            (report, case.municipality, case.kind, case.area, case.subject,
             received.isoformat(), due.isoformat(), case.state,
             "Ya se limpió" if case.answered_on else None,
             case.answered_on.isoformat() if case.answered_on else None,
             "user:sofia" if case.answered_on else None, f"{today}T12:00:00+00:00"))

    await site.console.db.write(op)
    return report


async def add_officer(site: Site, name: str, areas: tuple[str, ...], municipality: int = 1,
                      extension: str | None = "1003") -> None:
    user = await Users(site.console.db).add(name, Role.OFFICER, PASSWORD, extension=extension,
                                            municipality=municipality)

    async def op(conn: aiosqlite.Connection) -> None:
        for area in areas:
            await conn.execute("INSERT INTO officer_areas (user_id, municipality_id, area,"
                               " granted_at) VALUES (?, ?, ?, '2026-12-01T00:00:00+00:00')",
                               (user.id, municipality, area))

    await site.console.db.write(op)


async def kinds_of(site: Site, report: int) -> list[tuple[str, str]]:
    rows = await site.console.db.fetchall(
        "SELECT kind, actor FROM events WHERE report_id = ? ORDER BY id", (report,))
    return [(r["kind"], r["actor"]) for r in rows]


async def html(b: Browser, path: str) -> tuple[int, str]:
    response = await b.get(path, headers={"Accept": "text/html"})
    return response.status, await response.text()


async def test_an_officer_sees_the_cases_of_their_areas_only(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await publish_participation_line(site)
        await add_officer(site, "olga", ("cleaning",))
        mine = await make_case(site, Case(subject="Basura MIA-CASO"))
        theirs = await make_case(site, Case(area="parks", subject="Parque OTRA-AREA"))
        login = await b.login("olga")
        assert login.status == 302
        assert (await b.get("/")).headers["Location"] == "/cases"
        status, text = await html(b, "/cases")
        assert status == 200
        assert "MIA-CASO" in text and f'data-href="/cases/{mine}"' in text
        assert "OTRA-AREA" not in text and f"/cases/{theirs}" not in text
        assert 'href="/reports"' not in text and 'href="/alarms"' not in text  # no incident links
        assert (await b.get(f"/cases/{mine}")).status == 200
        for path in (f"/cases/{theirs}", f"/cases/{theirs}/clips/1"):
            assert (await b.get(path)).status == 404, path
        for action in ("answer", "close", "callback"):
            refused = await b.post(f"/cases/{theirs}/{action}", {"text": "x"})
            assert refused.status == 404, action
        status, text = await html(b, "/cases?area=parks")
        assert "OTRA-AREA" not in text
    async with console_site(settings) as site, site.browser() as b:
        await b.login("sofia")  # a supervisor: every area
        status, text = await html(b, "/cases")
        assert "MIA-CASO" in text and "OTRA-AREA" in text
        status, text = await html(b, "/cases?area=parks")
        assert "MIA-CASO" not in text and "OTRA-AREA" in text


async def test_queue_filters_and_order_overdue_first(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await publish_participation_line(site)
        today = await today_of(site)
        calendar = Calendar("PE")
        later = await make_case(site, Case(due_on=today + timedelta(days=40), subject="LATER"))
        near = await make_case(site, Case(due_on=calendar.add_business_days(today, 1),
                                          subject="NEAR"))
        late = await make_case(site, Case(due_on=today - timedelta(days=10), subject="LATE"))
        done = await make_case(site, Case(state="answered", answered_on=today, subject="DONE"))
        query = await make_case(site, Case(kind="query", subject="QUERY"))
        await b.login("sofia")
        _, text = await html(b, "/cases")
        assert [text.index(s) for s in ("LATE", "NEAR", "QUERY", "LATER")] == sorted(
            text.index(s) for s in ("LATE", "NEAR", "QUERY", "LATER"))
        assert "DONE" not in text  # open cases by default
        assert 'class="pill bad late"' in text
        _, text = await html(b, "/cases?due=overdue")
        assert f"/cases/{late}" in text and f"/cases/{near}" not in text
        _, text = await html(b, "/cases?due=near")
        assert f"/cases/{near}" in text and f"/cases/{late}" not in text
        assert f"/cases/{later}" not in text
        _, text = await html(b, "/cases?state=answered")
        assert f"/cases/{done}" in text and f"/cases/{late}" not in text
        _, text = await html(b, "/cases?kind=query&state=all")
        assert f"/cases/{query}" in text and f"/cases/{late}" not in text
        assert (await b.get("/cases?state=lost")).status == 400
        assert (await b.get("/cases?page=x")).status == 400


async def test_another_municipalitys_case_is_not_found(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await Municipalities(site.console.db).add("san-isidro", "San Isidro", "America/Lima",
                                                  actor="test")
        await publish_participation_line(site)
        await add_officer(site, "olga", ("cleaning",))
        elsewhere = await make_case(site, Case(municipality=2, subject="SAN-ISIDRO"))
        for who in ("olga", "sofia", "root"):
            async with site.browser() as b:
                await b.login(who)
                assert (await b.get(f"/cases/{elsewhere}")).status == 404
                assert (await b.post(f"/cases/{elsewhere}/close")).status == 404
                _, text = await html(b, "/cases?state=all")
                assert "SAN-ISIDRO" not in text


async def test_changes_need_the_csrf_token(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await publish_participation_line(site)
        await add_officer(site, "olga", ("cleaning",))
        case = await make_case(site, Case())
        await b.login("olga")
        before = await kinds_of(site, case)
        for action in ("answer", "close"):
            no_token = await b.post(f"/cases/{case}/{action}", {"text": "hola"}, csrf=False)
            assert no_token.status == 403
            other_site = await b.post(f"/cases/{case}/{action}", {"text": "hola"},
                                      headers={"Origin": "http://evil.example"})
            assert other_site.status == 403
        assert (await b.post("/cases/new", {"subject": "x"}, csrf=False)).status == 403
        assert await kinds_of(site, case) == before


async def test_listening_to_the_callers_message_is_audited(settings: Settings) -> None:
    async with services(settings) as svc, console_site(settings, db=svc.db) as site:
        await publish_participation_line(site)
        await add_officer(site, "olga", ("cleaning",))
        await add_officer(site, "pablo", ("parks",))
        report = await report_with_clip(svc, FIXTURES / "ko_fire_danger.wav")
        case = await make_case(site, Case(), report=report)
        clip = await svc.db.fetchone("SELECT id FROM clips WHERE report_id = ?", (case,))
        assert clip is not None
        async with site.browser() as b:
            await b.login("pablo")  # not his area: nothing served, nothing written
            assert (await b.get(f"/cases/{case}/clips/{clip['id']}")).status == 404
        async with site.browser() as b:
            await b.login("olga")
            _, text = await html(b, f"/cases/{case}")
            assert f'src="/cases/{case}/clips/{clip["id"]}"' in text
            played = await b.get(f"/cases/{case}/clips/{clip['id']}")
            assert played.status == 200 and played.headers["Content-Type"] == "audio/wav"
            seek = await b.get(f"/cases/{case}/clips/{clip['id']}",
                               headers={"Range": "bytes=100-"})
            assert seek.status == 206  # a seek is not a new listen
            assert (await b.get(f"/cases/{case}/clips/999999")).status == 404
            assert (await b.get(f"/reports/{case}/clips/{clip['id']}")).status == 403
        listens = [k for k in await kinds_of(site, case) if k[0] == "clip.listened"]
        assert listens == [("clip.listened", "user:olga")]


async def test_answer_close_and_reopen_are_written_to_the_history(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await publish_participation_line(site)
        await add_officer(site, "olga", ("cleaning",))
        case = await make_case(site, Case())
        await b.login("olga")
        empty = await b.post(f"/cases/{case}/answer", {"text": "  "})
        assert empty.status == 400
        answered = await b.post(f"/cases/{case}/answer",
                                {"text": "Se programó la limpieza para el lunes"})
        assert answered.status == 303, await answered.text()
        _, text = await html(b, f"/cases/{case}")
        assert "Se programó la limpieza para el lunes" in text
        assert (await b.post(f"/cases/{case}/close")).status == 303
        assert (await b.post(f"/cases/{case}/reopen", {"reason": "x"})).status == 403
        async with site.browser() as boss:
            await boss.login("sofia")
            reopened = await boss.post(f"/cases/{case}/reopen",
                                       {"reason": "El vecino dice que sigue igual"})
            assert reopened.status == 303, await reopened.text()
        state = await site.console.db.fetchone("SELECT state FROM cases WHERE report_id = ?",
                                               (case,))
        assert state is not None and state["state"] == "open"
        kinds = [k for k in await kinds_of(site, case) if k[0].startswith("case.")]
        assert [actor for _, actor in kinds[-3:]] == ["user:olga", "user:olga", "user:sofia"]
        assert [kind for kind, _ in kinds[-3:]] == ["case.answered", "case.closed",
                                                    "case.reopened"]


async def test_a_counter_case_gets_a_number_and_a_due_date(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await publish_participation_line(site)
        await add_officer(site, "olga", ("cleaning",))
        await b.login("olga")
        status, text = await html(b, "/cases/new")
        assert status == 200 and "Limpieza pública" in text and 'value="complaint"' in text
        form = {"intake": "counter", "kind": "complaint", "area": "cleaning",
                "subject": "Desmonte en el parque", "phone": "987654321", "name": "Rosa",
                "email": ""}
        bad = await b.post("/cases/new", {**form, "area": "moon"})
        assert bad.status == 400
        assert 'id="case-error"' in await bad.text()
        assert (await b.post("/cases/new", {**form, "intake": "fax"})).status == 400
        assert (await b.post("/cases/new", {**form, "subject": ""})).status == 400
        made = await b.post("/cases/new", form)
        assert made.status == 200, await made.text()
        text = await made.text()
        row = await site.console.db.fetchone(
            "SELECT report_id, intake, due_on, contact_name FROM cases")
        assert row is not None and row["intake"] == "counter" and row["contact_name"] == "Rosa"
        assert row["due_on"] in text and 'id="receipt"' in text
        assert (await b.get(f"/cases/{row['report_id']}")).status == 200


async def test_officers_are_refused_on_incident_pages(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await add_officer(site, "olga", ("cleaning",))
        report = await site.console.casework.file_manual(
            ManualReport("robbery", 2, Intake.RADIO, "asalto"), "user:x")
        await b.login("olga")
        for path in ("/queue/rows", "/api/queue", "/reports", f"/reports/{report}",
                     f"/reports/{report}/clip", "/alarms", "/supervision",
                     "/cases/supervision"):
            assert (await b.get(path)).status == 403, path
        assert (await b.post(f"/reports/{report}/notes", {"text": "x"})).status == 403
        assert (await b.get("/cases")).status == 200


async def test_cases_stay_out_of_the_incident_queue(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        incident = await site.console.casework.file_manual(
            ManualReport("robbery", 2, Intake.RADIO, "asalto"), "user:x")
        await make_case(site, Case())
        await b.login("ana")
        queue = await (await b.get("/api/queue")).json()
        assert [r["id"] for r in queue["reports"]] == [incident]
        _, text = await html(b, "/")
        assert 'id="open-number">1<' in text


async def test_supervision_figures_for_a_hand_made_set(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await publish_participation_line(site)
        today = await today_of(site)
        calendar = Calendar("PE")
        overdue_due = today - timedelta(days=10)
        made: dict[str, Any] = {
            "c_late": await make_case(site, Case(due_on=overdue_due)),
            "c_near": await make_case(site, Case(due_on=calendar.add_business_days(today, 1))),
            "c_far": await make_case(site, Case(due_on=today + timedelta(days=60))),
            "p_late": await make_case(site, Case(area="parks",
                                                 due_on=today - timedelta(days=1))),
            "p_on_time": await make_case(site, Case(area="parks", state="answered",
                                                    due_on=today + timedelta(days=5),
                                                    answered_on=today)),
            "p_answered_late": await make_case(site, Case(area="parks", state="closed",
                                                          due_on=today - timedelta(days=3),
                                                          answered_on=today)),
            "p_last_month": await make_case(site, Case(
                area="parks", state="closed", due_on=today - timedelta(days=80),
                answered_on=today.replace(day=1) - timedelta(days=1))),
        }
        await b.login("sofia")
        status, text = await html(b, "/cases/supervision")
        assert status == 200
        # open, near, overdue, answered this month on time, late; "" is the total row
        figures = {"cleaning": (3, 1, 1, 0, 0), "parks": (1, 0, 1, 1, 1), "": (4, 1, 2, 1, 1)}
        for area, (open_, near, overdue, on_time, late) in figures.items():
            start = text.index(f'data-area="{area}"')
            cells = text[start:text.index("</tr>", start)]
            numbers = [int(n) for n in re.findall(r'<td class="num[^"]*">(\d+)</td>', cells)]
            assert numbers == [open_, near, overdue, on_time, late], (area, numbers)
        overdue_list = text[text.index('id="overdue"'):]
        assert overdue_list.index(f"/cases/{made['c_late']}") < overdue_list.index(
            f"/cases/{made['p_late']}")
        assert f"/cases/{made['c_near']}" not in overdue_list
        days_late = calendar.business_days_between(overdue_due, today)
        assert f'data-days-late="{days_late}"' in overdue_list


async def test_an_officer_calls_the_citizen_back_through_ami(settings: Settings) -> None:
    async with FakeAmi() as fake, console_site(
            settings, ami_secret=fake.secret, ami_username=fake.username, ami_port=fake.port,
            ami_action_timeout_s=1.0) as site:
        await publish_participation_line(site)
        await add_officer(site, "olga", ("cleaning",))
        await add_officer(site, "nora", ("cleaning",), extension=None)
        case = await make_case(site, Case())
        for _ in range(500):  # the link comes up in its own task (bounded wait)
            if site.console.ami.state.value == "up":
                break
            await asyncio.sleep(0.01)
        async with site.browser() as b:
            await b.login("nora")  # no phone extension: told so, nothing sent
            refused = await b.post(f"/cases/{case}/callback",
                                   {"request_key": secrets.token_urlsafe(16)})
            assert refused.status == 400 and "anexo" in (await refused.json())["error"]
        async with site.browser() as b:
            await b.login("olga")
            called = await b.post(f"/cases/{case}/callback",
                                  {"request_key": secrets.token_urlsafe(16)})
            assert called.status == 303 and called.headers["Location"] == f"/cases/{case}"
        (originate,) = fake.actions("Originate")
        assert originate.get("Channel") == "PJSIP/1003"
        assert originate.get("Exten") == "987654321"
        assert ("callback.requested", "user:olga") in await kinds_of(site, case)


async def test_a_case_is_no_incident_report_on_the_incident_routes(settings: Settings) -> None:
    """The incident pages send a case to its own page (where its area's officers and the
    supervisors work); anything else about it on an incident route is not found."""
    async with console_site(settings) as site, site.browser() as b:
        case = await make_case(site, Case())
        await b.login("ana")
        page = await b.get(f"/reports/{case}", headers={"Accept": "text/html"})
        assert page.status == 303 and page.headers["Location"] == f"/cases/{case}"
        for path in (f"/reports/{case}/live", f"/reports/{case}/clip"):
            assert (await b.get(path)).status == 404, path
        assert (await b.post(f"/reports/{case}/notes", {"text": "x"})).status == 404
        assert (await b.post(f"/reports/{case}/state", {"state": "acknowledged"})).status == 404
        assert (await b.get(f"/cases/{case}")).status == 403  # an operator is no officer
        assert [k for k, _ in await kinds_of(site, case)
                if k in ("note.added", "report.state_changed")] == []
