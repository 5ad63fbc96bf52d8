"""The isolation sweep: two municipalities, users of every role in each, and every
console route asked for the other municipality's objects.

Every route of the console's router is visited (a route with a parameter this sweep
does not know how to fill fails the test, so a new route cannot slip past it): by id
(the other's report, clip, line, user, prompt audio, recording, outbox message, alert
rule, shift, alarm device and alarm), mixed ids (our report, their clip), by search and
filter (their words, caller, number, keyset), lists (queue, supervision, users, lines,
messages and citizens' texts, alerts, the alarm board and devices, dashboards and
exports), and the event stream from the start and resumed from the other's event ids.
Nothing of the other municipality may come back, refusals are 403 or 404 (never a
different answer for "exists elsewhere"), and nothing of theirs changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
from aiohttp import ClientResponse

from ivr.app import Services, services
from ivr.config import Settings
from ivr.core.alarms import AlarmIntake
from ivr.core.messaging_ports import SendResult
from ivr.core.ports import Recording
from ivr.core.tax import Crossing, Lookup
from ivr.domain.alarms import Signal
from ivr.domain.alerting import Message
from ivr.domain.lines import PromptText
from ivr.domain.municipalities import report_id
from ivr.domain.roles import Intake, Role
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.alarms import AlarmStore
from ivr.store.alert_admin import AlertAdmin
from ivr.store.casework import ManualReport
from ivr.store.municipalities import Municipalities
from ivr.store.open311 import Open311Store
from ivr.store.outbox import Outbox, enqueue
from ivr.store.prompt_recordings import RecordingStore
from ivr.store.tax import TaxStore
from ivr.store.users import Users
from ivr.testing import make_tone_wav
from operator_console.security import policy
from tests.clips_support import FIXTURES, report_with_clip
from tests.console_util import PASSWORD, Browser, Site, console_site

MARK = {1: "MARCA-MIRAFLORES-7731", 2: "MARCA-SANISIDRO-4417"}
CALLER = {1: "911000111", 2: "922000222"}
NAMES = {1: "Miraflores", 2: "San Isidro"}
PEOPLE = {
    1: {Role.OPERATOR: "ana", Role.SUPERVISOR: "sofia", Role.ADMIN: "root",
        Role.ANALYST: "mateo", Role.OFFICER: "olga"},
    2: {Role.OPERATOR: "bea", Role.SUPERVISOR: "sara", Role.ADMIN: "raul",
        Role.ANALYST: "teo", Role.OFFICER: "otto"},
}


@dataclasses.dataclass
class Town:
    id: int
    report: int
    clip: int
    line: int
    sha: str
    token: str
    user: int
    events: list[int]
    message: int  # a refused text of theirs (only a supervisor's "send again" would move it)
    rule: int
    shift: int
    device: int  # a silent-alarm device of theirs, at a site named with their marker
    alarm: int = 0  # an open alarm report of theirs (raised in the sweep's own test)
    case: int = 0  # a citizen's case of theirs, in the area their officer answers for

    def markers(self) -> list[str]:
        """Strings only this municipality's data holds."""
        return [MARK[self.id], CALLER[self.id], f"token-{self.token}", self.sha,
                *(f"user:{n}" for n in PEOPLE[self.id].values())]


async def _town(svc: Services, site: Site, town: int) -> Town:
    db = svc.db
    if town == 2:
        await Municipalities(db).add("san-isidro", "San Isidro", "America/Lima", actor="test")
        for role, name in PEOPLE[2].items():
            await Users(db).add(name, role, PASSWORD, extension="2001", municipality=2)
    else:
        await Municipalities(db).update(1, actor="test", code="miraflores", name="Miraflores")
        await Users(db).add("mateo", Role.ANALYST, PASSWORD)
        await Users(db).add("olga", Role.OFFICER, PASSWORD, extension="1003")
    report = await report_with_clip(svc, FIXTURES / "ko_fire_danger.wav", municipality=town,
                                    caller=CALLER[town])
    await site.console.casework.add_note(report, f"user:{PEOPLE[town][Role.OPERATOR]}",
                                         f"vecino dice {MARK[town]}")
    clip = await db.fetchone("SELECT id FROM clips WHERE report_id = ?", (report,))
    assert clip is not None
    lines = site.console.lines
    assert lines is not None
    template = next(r for r in await lines.lines() if r.slug == "report")
    config = dataclasses.replace(await lines.draft(template.id),
                                 slug=f"line_of_{town}", numbers=(f"55500{town}",))
    line = await lines.create(config, actor="test", municipality=town)
    wav = make_tone_wav(site.settings.voiceclips.parent / f"tone{town}.wav", 0.5, 300 + town)
    sha = await lines.add_audio(wav.read_bytes(), source="upload", actor="test")
    await lines.change_draft(line, lambda c: c.with_prompt("greeting", "es",
                             PromptText(MARK[town], sha)), actor="test", what="greeting")
    token = f"{town}7{town}7{town}7"
    await RecordingStore(db).create(Recording(
        token, line, "greeting", "es", sha, f"user:{PEOPLE[town][Role.ADMIN]}", "PJSIP/2001",
        "kept", 1, sha, f"token-{token}", "2026-12-04T00:00:00.000+00:00",
        "2026-12-04T00:00:00.000+00:00"))
    user = await Users(db).by_name(PEOPLE[town][Role.OPERATOR])
    assert user is not None
    message, rule, shift = await _messaging(svc, town, report, user.id)
    events = [r["id"] for r in await db.fetchall(
        "SELECT id FROM events WHERE report_id = ? ORDER BY id", (report,))]
    alarms = AlarmAdmin(db)
    site_id = await alarms.add_site(town, f"Bodega {MARK[town]}", address=f"Calle {MARK[town]}",
                                    lat=-12.1, lon=-77.0, actor="test", now=datetime.now(UTC))
    device = await alarms.add_device(town, site_id, "dc09", f"ACC{town}{town}", actor="test",
                                     now=datetime.now(UTC))
    await _citizen_services(db, town)
    await _tax(db, town)
    found = Town(town, report, clip["id"], line, sha, token, user.id, events, message, rule,
                 shift, device)
    found.case = await _case(site, town)
    return found


async def _case(site: Site, town: int) -> int:
    """Their overdue case in the area their officer answers for, its subject marked."""
    db = site.console.db
    report = await site.console.casework.file_manual(ManualReport(
        "complaint", 5, Intake.COUNTER, f"reclamo {MARK[town]}", caller=CALLER[town],
        municipality=town), "user:test")
    officer = await Users(db).by_name(PEOPLE[town][Role.OFFICER])
    assert officer is not None

    async def op(conn: aiosqlite.Connection) -> None:
        await conn.execute("UPDATE reports SET service = 'participation' WHERE id = ?",
                           (report,))
        await conn.execute(
            "INSERT INTO cases (report_id, municipality_id, kind, area, intake, subject,"
            " received_on, business_days, due_on, updated_at) VALUES (?, ?, 'complaint',"
            " 'cleaning', 'counter', ?, '2026-01-02', 15, '2026-01-23', '2026-01-02')",
            (report, town, f"reclamo {MARK[town]}"))
        await conn.execute("INSERT INTO officer_areas (user_id, municipality_id, area,"
                           " granted_at) VALUES (?, ?, 'cleaning', '2026-01-01')",
                           (officer.id, town))

    await db.write(op)
    return report


async def _citizen_services(db: Any, town: int) -> None:
    """Their Open311 key and non-working day, both named with their marker."""
    now = datetime.now(UTC)
    await Open311Store(db).add_key(town, f"web {MARK[town]}", f"{town:064x}", actor="test",
                                   now=now)

    async def op(conn: aiosqlite.Connection) -> None:
        await conn.execute("INSERT INTO non_working_days (municipality_id, day, name,"
                           " created_by, created_at) VALUES (?, ?, ?, 'test', ?)",
                           (town, f"2031-06-0{town}", f"Aniversario {MARK[town]}",
                            now.isoformat()))

    await db.write(op)


async def _tax(db: Any, town: int) -> None:
    """Their tax lookup and the block on the number that made it (/tax/lookups shows both)."""
    now = datetime.now(UTC)
    await TaxStore(db).record(
        Lookup(town, now, CALLER[town], f"call-{MARK[town]}", "tax v1", f"{town}" * 8,
               "no_match"),
        lambda _counts: [Crossing("caller", CALLER[town], "failures_per_hour", 1, 1,
                                  now + timedelta(hours=1))])


async def _alarm(svc: Services, town: Town) -> None:
    """An open alarm report of theirs, raised through the use case (what the board shows)."""
    intake = AlarmIntake(AlarmStore(svc.db), lambda: datetime.now(UTC))
    device = await intake.device("dc09", f"ACC{town.id}{town.id}")
    assert device is not None
    recorded = await intake.receive(device, Signal("dc09", device.account, "HA",
                                                   f"sweep-{town.id}"))
    assert recorded is not None and recorded.report_id is not None
    town.alarm = recorded.report_id


async def _messaging(svc: Services, town: int, report: int, user: int) -> tuple[int, int, int]:
    """Their refused text about their report, a citizen's text in, an alert rule and a
    shift: what the messages and alerts pages could show or change."""
    db, now = svc.db, datetime.now(UTC)

    async def op(conn: aiosqlite.Connection) -> int | None:
        await conn.execute(
            "INSERT INTO sms_incoming (municipality_id, sender, recipient, body, outcome,"
            " received_at) VALUES (?, ?, '5550100', ?, 'unknown', ?)",
            (town, CALLER[town], f"texto {MARK[town]}", now.isoformat()))
        return await enqueue(conn, Message("sms", CALLER[town], "citizen.receipt",
                                           MARK[town], now, town, report_id=report), now)

    message = await db.write(op)
    assert message is not None
    outbox = Outbox(db)
    for claimed in await outbox.claim(f"sweep-{town}", now):
        await outbox.settle(claimed, SendResult("refused", "unknown subscriber"), now)
    alerts = AlertAdmin(db)
    rule = await alerts.add_rule(town, "keyword", f"user:{user}", sms=True, email=False,
                                 after_s=0, actor="test", now=now)
    shift = await alerts.add_shift(town, user, "operator", now, now + timedelta(hours=8), 1,
                                   "test", now)
    await alerts.set_contact(town, user, phone=CALLER[town], email=None, quiet_from=None,
                             quiet_until=None, actor="test", now=now)
    return message, rule, shift


def _fill(path: str, theirs: Town, ours: Town, *, mixed: bool) -> str:
    """The route's path with the other municipality's objects (or ours + theirs)."""
    values = {"report": ours.report if mixed else theirs.report, "clip": theirs.clip,
              "line": theirs.line, "user": theirs.user, "sha": theirs.sha,
              "token": theirs.token, "prompt": "greeting", "lang": "es",
              "code": "san-isidro" if theirs.id == 2 else "miraflores",
              "message": theirs.message, "rule": theirs.rule, "shift": theirs.shift,
              "device": theirs.device, "case": ours.case if mixed else theirs.case}
    names = re.findall(r"\{(\w+)\}", path)
    unknown = set(names) - set(values)
    assert not unknown, f"the sweep does not know how to fill {unknown} in {path}"
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


FORM = {"state": "acknowledged", "text": "x", "note": "x", "to": "1", "on": "1",
        "phone": "987000111", "email": "x@example.org", "cause": "keyword",
        "audience": "role", "sms": "1", "user": "1", "starts": "2031-01-01T08:00",
        "ends": "2031-01-01T20:00", "rank": "1",
        "reason": "x", "role": "admin", "active": "0", "extension": "9", "release": "1",
        "name": "x", "slug": "x", "numbers": "5559999", "languages": "es",
        "id": "menu", "options": "1 type robbery", "version": "1", "municipality": "1",
        "request_key": "k" * 16, "copy_of": "1"}


async def _leaks(response: ClientResponse, theirs: Town, asked: str) -> list[str]:
    """Their markers in the answer, less what the request itself said (a search form
    shows the words searched for; a page links back to its own address)."""
    body = (await response.read()).decode("utf-8", "replace")
    for echoed in sorted({asked, *re.split(r"[?&=/]", asked)}, key=len, reverse=True):
        if len(echoed) > 3:
            body = body.replace(echoed, "")
    return [m for m in theirs.markers() if m in body]


async def _their_state(svc: Services, theirs: Town) -> tuple[Any, ...]:
    db = svc.db
    report = await db.fetchone("SELECT state, updated_at, legal_hold, reserved_by,"
                               " clips_released_at FROM reports WHERE id = ?", (theirs.report,))
    events = await db.fetchone("SELECT count(*) FROM events WHERE report_id = ?",
                               (theirs.report,))
    line = await db.fetchone("SELECT draft, live_version FROM lines WHERE id = ?",
                             (theirs.line,))
    roles = await db.fetchall("SELECT * FROM user_roles WHERE user_id = ?", (theirs.user,))
    user = await db.fetchone("SELECT active, extension, password_hash FROM users WHERE id = ?",
                             (theirs.user,))
    messaging = await db.fetchall(
        "SELECT 'outbox', state, attempts FROM outbox WHERE id = ? UNION ALL"
        " SELECT 'rule', active, updated_at FROM alert_rules WHERE id = ? UNION ALL"
        " SELECT 'shift', rank, ends_at FROM duty_shifts WHERE id = ? UNION ALL"
        " SELECT 'contact', phone, email FROM users WHERE id = ? UNION ALL"
        " SELECT 'texts', number, quiet_types FROM sms_settings WHERE municipality_id = ?"
        " UNION ALL SELECT 'device', active, link FROM alarm_devices WHERE id = ?"
        " UNION ALL SELECT 'alarm', state, updated_at FROM reports WHERE id = ?"
        " UNION ALL SELECT 'key', name, revoked_at FROM open311_keys WHERE municipality_id = ?"
        " UNION ALL SELECT 'day', day, name FROM non_working_days WHERE municipality_id = ?"
        " UNION ALL SELECT 'case', state, updated_at FROM cases WHERE report_id = ?",
        (theirs.message, theirs.rule, theirs.shift, theirs.user, theirs.id, theirs.device,
         theirs.alarm, theirs.id, theirs.id, theirs.case))
    assert report and events and line and user
    return (tuple(report), events[0], tuple(line), [tuple(r) for r in roles], tuple(user),
            [tuple(r) for r in messaging])


async def _stream(site: Site, b: Browser, last_id: int | None, ours: Town) -> str:
    """What the stream sends after ``last_id``, read up to a fresh event of ours (written
    just before, so it is the newest of all: everything before it has been sent)."""
    headers = {"Accept": "text/event-stream"}
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    await site.console.casework.add_note(ours.report, "user:probe", "probe")
    newest = await site.console.queries.last_event_id()
    response = await b.client.get("/events", headers=headers)
    if response.status != 200:
        return ""
    text = ""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(20):  # a bound for a broken stream, not a timing check
            async for chunk in response.content.iter_any():
                text += chunk.decode()
                if f"id: {newest}\n" in text or (last_id is None and "retry:" in text):
                    break
    response.close()
    return text


async def _sweep(svc: Services, site: Site, b: Browser, ours: Town, theirs: Town,
                 role: Role) -> list[str]:
    problems: list[str] = []
    before = await _their_state(svc, theirs)
    for route in site.server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        if path is None or route.method == "HEAD" or policy(route.handler) == "public":
            continue
        for mixed in ((False, True) if "{clip}" in path else (False,)):
            if "{" not in path:
                continue
            url = _fill(path, theirs, ours, mixed=mixed)
            if route.method == "GET":
                response = await b.get(url, headers={"Accept": "text/html"})
            else:
                response = await b.post(url, dict(FORM))
            if response.status not in (403, 404):
                problems.append(f"{role} {route.method} {url}: {response.status}")
            leaked = await _leaks(response, theirs, url)
            if leaked:
                problems.append(f"{role} {route.method} {url}: shows {leaked}")
    # Lists, searches and filters: nothing of theirs.
    plain = [route.resource.get_info().get("path") for route in site.server.app.router.routes()
             if route.method == "GET" and route.resource is not None
             and "path" in route.resource.get_info() and "{" not in
             route.resource.get_info()["path"] and policy(route.handler) != "public"
             and route.resource.get_info()["path"] != "/events"]
    queries = [f"/reports?words={MARK[theirs.id]}", f"/reports?caller={CALLER[theirs.id]}",
               f"/reports?number={theirs.report % 10_000_000_000}",
               f"/reports?before={theirs.report + 1}", "/reports?words=vecino",
               f"/reports?zone=&since=2000-01-01&before={theirs.report + 5}"]
    for url in [*(p for p in plain if p), *queries]:
        response = await b.client.get(url, headers={"Accept": "text/html"})
        leaked = await _leaks(response, theirs, url)
        if leaked:
            problems.append(f"{role} GET {url}: shows {leaked}")
        if response.status == 200 and theirs.id == 2 and str(theirs.report) in \
                (await response.read()).decode("utf-8", "replace"):
            problems.append(f"{role} GET {url}: names their report id")
    # The event stream, from the start and resumed from each of their event ids.
    for last in (0, None, *(e - 1 for e in theirs.events), *theirs.events):
        text = await _stream(site, b, last, ours)
        leaked = [m for m in theirs.markers() if m in text]
        if leaked or f'"report":{theirs.report},' in text:
            problems.append(f"{role} /events after {last}: shows {leaked or theirs.report}")
    if await _their_state(svc, theirs) != before:
        problems.append(f"{role}: changed the other municipality's data")
    return problems


async def test_no_route_returns_or_changes_the_other_municipalitys_data(
        settings: Settings) -> None:
    async with services(settings) as svc, console_site(settings, db=svc.db) as site:
        towns = {1: await _town(svc, site, 1), 2: await _town(svc, site, 2)}
        assert towns[2].report == report_id(2, 1)
        for town in towns.values():
            await _alarm(svc, town)
        problems: list[str] = []
        for town, people in PEOPLE.items():
            other = towns[3 - town]
            for role, name in people.items():
                async with site.browser() as b:
                    response = await b.login(name)
                    assert response.status == 302, name
                    problems += await _sweep(svc, site, b, towns[town], other, role)
        assert problems == [], "\n".join(problems)


async def test_a_user_of_both_sees_one_at_a_time_and_switches(settings: Settings) -> None:
    async with services(settings) as svc, console_site(settings, db=svc.db) as site:
        towns = {1: await _town(svc, site, 1), 2: await _town(svc, site, 2)}
        users = Users(svc.db)
        both = await users.add("lucia", Role.OPERATOR, PASSWORD)
        await users.grant(both.id, 2, Role.SUPERVISOR, actor="test")
        async with site.browser() as b:
            await b.login("lucia")
            home = await (await b.client.get("/", headers={"Accept": "text/html"})).text()
            assert 'action="/municipality"' in home and "San Isidro" in home
            assert (await b.get(f"/reports/{towns[1].report}")).status == 200
            assert (await b.get(f"/reports/{towns[2].report}")).status == 404
            assert (await b.get("/supervision")).status == 403  # an operator here
            switched = await b.post("/municipality", {"municipality": "2"})
            assert switched.status == 303
            assert (await b.get(f"/reports/{towns[2].report}")).status == 200
            assert (await b.get(f"/reports/{towns[1].report}")).status == 404
            assert (await b.get("/supervision")).status == 200  # a supervisor there
            queue = await (await b.client.get("/api/queue")).json()
            assert [r["id"] for r in queue["reports"]] == [towns[2].report]
            # Not a member: no such municipality, whatever its id.
            assert (await b.post("/municipality", {"municipality": "3"})).status == 404
        async with site.browser() as b:
            await b.login("ana")
            assert (await b.post("/municipality", {"municipality": "2"})).status == 404
            queue = await (await b.client.get("/api/queue")).json()
            assert [r["id"] for r in queue["reports"]] == [towns[1].report]
        switched = await svc.db.fetchall(
            "SELECT actor, municipality_id FROM events WHERE kind = 'user.switched'")
        assert [tuple(r) for r in switched] == [("user:lucia", 2)]


def test_every_console_route_is_swept() -> None:
    """The sweep's filler knows every parameter name the router uses."""
    from operator_console.app import create_app

    app = create_app(Settings())
    names: set[str] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        names |= set(re.findall(r"\{(\w+)\}", info.get("formatter", "")))
    assert names <= {"report", "clip", "line", "user", "sha", "token", "prompt", "lang",
                     "code", "message", "rule", "shift", "device", "case"}, names
    assert json.dumps(sorted(names))
