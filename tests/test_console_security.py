"""The console refuses whoever may not: every route, every role, CSRF, sessions, clips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web

from ivr.config import Settings
from ivr.domain.roles import Role
from operator_console.app import create_app
from operator_console.security import COOKIE, SIGNED_IN, policy
from tests.console_util import PASSWORD, console_site

PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"),
          ("GET", "/public"), ("GET", "/public/{code}"), ("GET", "/public/api/summary.json"),
          ("GET", "/open311/v2/services.json"), ("GET", "/open311/v2/requests.json"),
          ("GET", "/open311/v2/requests/{report}.json"),
          ("GET", "/open311/v2/services/{code}.json"), ("POST", "/open311/v2/requests.json")}

# Who may call each route: the role × route table the console promises.
# "signed_in": any account with a role (an analyst's queue page sends it to the dashboard).
TABLE: dict[tuple[str, str], Role | str] = {
    ("POST", "/logout"): SIGNED_IN,
    ("POST", "/language"): SIGNED_IN,
    ("GET", "/account"): SIGNED_IN,
    ("POST", "/account/password"): SIGNED_IN,
    ("POST", "/municipality"): SIGNED_IN,
    ("GET", "/"): SIGNED_IN,
    ("GET", "/queue/rows"): Role.OPERATOR,
    ("GET", "/api/queue"): Role.OPERATOR,
    ("GET", "/events"): Role.OPERATOR,
    ("GET", "/api/ami"): Role.OPERATOR,
    ("GET", "/reports"): Role.OPERATOR,
    ("GET", "/reports/new"): Role.OPERATOR,
    ("POST", "/reports"): Role.OPERATOR,
    ("GET", "/reports/{report}"): Role.OPERATOR,
    ("GET", "/reports/{report}/live"): Role.OPERATOR,
    ("POST", "/reports/{report}/state"): Role.OPERATOR,
    ("POST", "/reports/{report}/notes"): Role.OPERATOR,
    ("POST", "/reports/{report}/reserve"): Role.OPERATOR,
    ("POST", "/reports/{report}/handover"): Role.OPERATOR,
    ("POST", "/reports/{report}/callback"): Role.OPERATOR,
    ("GET", "/reports/{report}/clip"): Role.OPERATOR,
    ("GET", "/reports/{report}/clips/{clip}"): Role.OPERATOR,
    ("GET", "/reports/{report}/clips/{clip}/playback"): Role.OPERATOR,
    ("POST", "/reports/{report}/clips/{clip}/retranscribe"): Role.OPERATOR,
    ("POST", "/reports/{report}/hold"): Role.SUPERVISOR,
    ("POST", "/reports/{report}/release-clips"): Role.SUPERVISOR,
    ("GET", "/admin/users"): Role.ADMIN,
    ("POST", "/admin/users"): Role.ADMIN,
    ("POST", "/admin/users/{user}"): Role.ADMIN,
    ("GET", "/admin/lines"): Role.ADMIN,
    ("POST", "/admin/lines"): Role.ADMIN,
    ("POST", "/admin/lines/import"): Role.ADMIN,
    ("GET", "/admin/lines/audio/{sha}"): Role.ADMIN,
    ("GET", "/admin/lines/recordings/{token}"): Role.ADMIN,
    ("GET", "/admin/lines/{line}"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/settings"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/menus"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/types"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/prompts"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/prompts/{prompt}/{lang}/upload"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/prompts/{prompt}/{lang}/speak"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/prompts/{prompt}/{lang}/phone"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/speak-missing"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/publish"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/restore"): Role.ADMIN,
    ("POST", "/admin/lines/{line}/discard"): Role.ADMIN,
    ("GET", "/admin/lines/{line}/export"): Role.ADMIN,
    ("GET", "/supervision"): Role.SUPERVISOR,
    ("GET", "/messages"): Role.SUPERVISOR,
    ("POST", "/messages/{message}/again"): Role.SUPERVISOR,
    ("GET", "/admin/alerts"): Role.ADMIN,
    ("POST", "/admin/alerts/rules"): Role.ADMIN,
    ("POST", "/admin/alerts/rules/{rule}/remove"): Role.ADMIN,
    ("POST", "/admin/alerts/shifts"): Role.ADMIN,
    ("POST", "/admin/alerts/shifts/{shift}/remove"): Role.ADMIN,
    ("POST", "/admin/alerts/contacts/{user}"): Role.ADMIN,
    ("POST", "/admin/alerts/texts"): Role.ADMIN,
    ("GET", "/alarms"): Role.OPERATOR,
    ("GET", "/alarms/rows"): Role.OPERATOR,
    ("GET", "/api/alarms"): Role.OPERATOR,
    ("POST", "/alarms/{report}/take"): Role.OPERATOR,
    ("GET", "/alarms/report"): Role.SUPERVISOR,
    ("GET", "/admin/alarms"): Role.ADMIN,
    ("POST", "/admin/alarms/sites"): Role.ADMIN,
    ("POST", "/admin/alarms/devices"): Role.ADMIN,
    ("POST", "/admin/alarms/devices/{device}/deactivate"): Role.ADMIN,
    ("POST", "/admin/alarms/import"): Role.ADMIN,
    ("GET", "/admin/calendar"): Role.ADMIN,
    ("POST", "/admin/calendar"): Role.ADMIN,
    ("GET", "/admin/open311"): Role.ADMIN,
    ("POST", "/admin/open311"): Role.ADMIN,
    ("GET", "/cases/report"): Role.ANALYST,
    ("GET", "/cases/report.csv"): Role.ANALYST,
    ("GET", "/cases"): Role.OFFICER,
    ("GET", "/cases/new"): Role.OFFICER,
    ("POST", "/cases/new"): Role.OFFICER,
    ("GET", "/cases/supervision"): Role.SUPERVISOR,
    ("GET", "/cases/{case}"): Role.OFFICER,
    ("GET", "/cases/{case}/clips/{clip}"): Role.OFFICER,
    ("POST", "/cases/{case}/callback"): Role.OFFICER,
    ("POST", "/cases/{case}/answer"): Role.OFFICER,
    ("POST", "/cases/{case}/close"): Role.OFFICER,
    ("POST", "/cases/{case}/reopen"): Role.SUPERVISOR,
    ("GET", "/tax/lookups"): Role.SUPERVISOR,
    ("POST", "/tax/blocks/lift"): Role.SUPERVISOR,
    ("GET", "/dashboard"): Role.ANALYST,
    ("GET", "/dashboard/hotspots"): Role.ANALYST,
    ("GET", "/dashboard/export.csv"): Role.ANALYST,
    ("GET", "/dashboard/export.xlsx"): Role.ANALYST,
    ("GET", "/dashboard/export.geojson"): Role.ANALYST,
    ("GET", "/committee"): Role.ANALYST,
    ("GET", "/committee.pdf"): Role.ANALYST,
    ("GET", "/metro"): Role.ANALYST,
}


def all_routes(settings: Settings) -> list[tuple[str, str]]:
    app = create_app(settings)
    out = []
    for route in app.router.routes():
        if isinstance(route.resource, web.StaticResource) or route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        assert path
        out.append((route.method, path))
    return out


def concrete(path: str) -> str:
    for name, value in (("{report}", "1"), ("{clip}", "1"), ("{user}", "1"), ("{line}", "1"),
                        ("{prompt}", "greeting"), ("{lang}", "es"), ("{sha}", "a" * 64),
                        ("{token}", "123456789012"), ("{message}", "1"), ("{rule}", "1"),
                        ("{shift}", "1"), ("{device}", "1"), ("{case}", "1")):
        path = path.replace(name, value)
    return path


def test_every_route_is_in_the_role_table_and_declares_its_role(settings: Settings) -> None:
    app = create_app(settings)
    routes = set(all_routes(settings))
    assert routes == set(TABLE) | PUBLIC, "a route was added without a row in the role table"
    for route in app.router.routes():
        if isinstance(route.resource, web.StaticResource) or route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        key = (route.method, info.get("path") or info.get("formatter"))
        rule = policy(route.handler)
        assert rule == ("public" if key in PUBLIC else TABLE[key]), key  # type: ignore[index]


async def test_every_route_refuses_an_anonymous_user(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as anon:
        for method, path in all_routes(settings):
            if (method, path) in PUBLIC:
                continue
            url = concrete(path)
            if method == "GET":
                response = await anon.get(url)
            else:
                response = await anon.post(url, {"_csrf": "x"}, csrf=False)
            assert response.status in (401, 302), (method, path, response.status)
            if response.status == 302:
                assert response.headers["Location"].startswith("/login")
            assert "report" not in (await response.text()).lower() or response.status == 302


async def test_public_routes_answer_anonymously(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as anon:
        assert (await anon.get("/healthz")).status == 200
        assert (await anon.get("/login")).status == 200
        assert (await anon.get("/static/console.css")).status == 200


@pytest.mark.parametrize("who", ["ana", "sofia", "root", "mateo", "olga"])
async def test_role_by_route_table(settings: Settings, who: str) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await site.console.users.add("mateo", Role.ANALYST, PASSWORD)
        await site.console.users.add("olga", Role.OFFICER, PASSWORD)
        assert (await b.login(who)).status == 302
        role = {"ana": Role.OPERATOR, "sofia": Role.SUPERVISOR, "root": Role.ADMIN,
                "mateo": Role.ANALYST, "olga": Role.OFFICER}[who]
        for (method, path), needed in TABLE.items():
            if path in ("/logout", "/events"):
                continue  # logging out ends the test's session; the stream never ends
            url = concrete(path)
            response = await (b.get(url, headers={"Accept": "text/html"}) if method == "GET"
                              else b.post(url, {}))
            if needed == SIGNED_IN or (isinstance(needed, Role) and role.allows(needed)):
                assert response.status != 403, (who, method, path)
            else:
                assert response.status == 403, (who, method, path, response.status)


async def test_unsafe_requests_need_the_csrf_token(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("ana")
        await site.console.casework.file_manual(_manual(), "user:ana")
        no_token = await b.post("/reports/1/notes", {"text": "hola"}, csrf=False)
        assert no_token.status == 403
        wrong = await b.post("/reports/1/notes", {"text": "hola", "_csrf": "x" * 43}, csrf=False)
        assert wrong.status == 403
        other_site = await b.post("/reports/1/notes", {"text": "hola"},
                                  headers={"Origin": "http://evil.example"})
        assert other_site.status == 403
        history = await site.console.queries.history(1)
        assert [e["kind"] for e in history] == ["report.opened"]
        ok = await b.post("/reports/1/notes", {"text": "hola"})
        assert ok.status == 303
        header = await b.client.post("/reports/1/notes", data={"text": "por cabecera"},
                                     headers={"X-CSRF-Token": b.csrf, "Origin": b.origin},
                                     allow_redirects=False)
        assert header.status == 303


async def test_login_needs_its_own_csrf_token(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        response = await b.client.post("/login", data={"name": "ana", "password": PASSWORD},
                                       allow_redirects=False)
        assert response.status == 403


async def test_session_cookie_is_httponly_samesite_and_renewed_at_login(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        first = await b.login("ana")
        cookie = first.headers["Set-Cookie"]
        assert COOKIE in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        old = re.search(rf"{COOKIE}=([^;]+)", cookie)
        assert old
        again = await b.login("ana")
        assert again.status == 302, await again.text()
        new = re.search(rf"{COOKIE}=([^;]+)", " ".join(again.headers.getall("Set-Cookie")))
        assert new and new.group(1) != old.group(1)
        # The session cookie that came in with the second login no longer opens anything.
        assert await site.console.sessions.lookup(old.group(1), idle_s=3600) is None
        assert await site.console.sessions.lookup(new.group(1), idle_s=3600) is not None


async def test_logout_destroys_the_session(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("ana")
        token = next(c.value for c in b.client.cookie_jar if c.key == COOKIE)
        assert (await b.post("/logout")).status == 302
        assert await site.console.sessions.lookup(token, idle_s=3600) is None
        b.client.cookie_jar.update_cookies({COOKIE: token})
        assert (await b.get("/api/queue")).status == 401


async def test_failed_logins_lock_the_account(settings: Settings) -> None:
    async with console_site(settings, login_max_failures=3, login_lockout_s=600) as site, \
            site.browser() as b:
        # Failures from one address are slowed down; keep the count low and the test quick.
        site.console.login_failures.clear()
        for _ in range(3):
            assert (await b.login("ana", "wrong password!")).status == 401
            site.console.login_failures.clear()
        locked = await b.login("ana")  # the right password, but the account is locked
        assert locked.status == 401  # as for a wrong password: the lock is not announced
        assert "bloqueada" in await locked.text()
        kinds = [r["kind"] for r in await site.console.db.fetchall(
            "SELECT kind FROM events WHERE kind LIKE 'user.login%'")]
        assert kinds.count("user.login_failed") == 3 and "user.login" not in kinds


async def test_login_redirect_never_leaves_the_site(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        page = await b.get("/login?next=//evil.example/x")
        token = re.search(r'id="login-csrf" value="([^"]+)"', await page.text())
        assert token
        response = await b.client.post(
            "/login", data={"name": "ana", "password": PASSWORD, "_csrf": token.group(1),
                            "next": "https://evil.example/"},
            headers={"Origin": b.origin}, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"] == "/"


def _manual():  # type: ignore[no-untyped-def]
    from ivr.domain.roles import Intake
    from ivr.store.casework import ManualReport

    return ManualReport("robbery", 2, Intake.RADIO, "asalto en la esquina", caller="5551234",
                        zone="3")


TRAVERSALS = [
    "/reports/1/clips/..%2F..%2Fetc%2Fpasswd", "/reports/1/clips/../../etc/passwd",
    "/reports/..%2F1/clip", "/reports/1/clips/2", "/reports/2/clip", "/reports/2/clips/1",
    "/reports/0/clip", "/reports/-1/clip", "/reports/1e3/clip", "/reports/0x1/clip",
    "/reports/1/clips/%2e%2e", "/reports/1/clips/1%00", "/reports/1%00/clip",
    "/reports/1/clips/1.wav", "/reports/1/clips/01x", "/reports/99999999999999999999/clip",
    "/reports/1/clips/99999999999999999999", "/reports/1/clip/../../../alerta.sqlite3",
    "/reports/1/clips/%2Fetc%2Fpasswd", "/reports/1/clips/..\\..\\etc\\passwd",
    "/reports/1/clips/1;rm", "/reports/1/clips/ 1", "/reports/2/clips/1?path=../x",
    "/reports/%31%2F..%2F2/clip", "/reports/1/clips/%252e%252e%252f", "/static/../alerta.sqlite3",
    "/static/..%2Falerta.sqlite3", "/static/%2e%2e/%2e%2e/etc/passwd",
    "/voiceclips/2026/01/01/x.wav", "/reports/1/clips/-1", "/reports/1/clips/+1",
    "/reports/1/clips/１",
]


async def test_clip_serving_refuses_traversal_and_id_guessing(settings: Settings,
                                                               tmp_path: Path) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("ana")
        db = site.console.db
        await site.console.casework.file_manual(_manual(), "user:ana")
        await site.console.casework.file_manual(_manual(), "user:ana")
        clip_dir = settings.voiceclips / "2026" / "01" / "01"
        clip_dir.mkdir(parents=True)
        (clip_dir / "a.wav").write_bytes(b"RIFF" + b"\0" * 100)
        (tmp_path / "secret.wav").write_bytes(b"secret")

        async def attach(report: int, path: str) -> None:
            async def op(conn):  # type: ignore[no-untyped-def]
                await conn.execute(
                    "INSERT INTO clips (report_id, take, path, seconds, bytes, sha256, created_at)"
                    " VALUES (?, 1, ?, 1, 1, '', '')", (report, path))
            await db.write(op)

        await attach(1, "2026/01/01/a.wav")
        await attach(2, "../secret.wav")  # a poisoned row must still not leave the folder
        assert (await b.get("/reports/1/clip")).status == 200
        assert len(TRAVERSALS) >= 30
        for url in TRAVERSALS:
            response = await b.get(url)
            assert response.status in (403, 404), (url, response.status)
            assert b"secret" not in await response.read()


async def test_a_user_changes_their_own_password(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b, site.browser() as other:
        await b.login("ana")
        await other.login("ana")  # a second session, e.g. another workstation
        wrong = await b.post("/account/password", {"current": "nope", "new": "x" * 12,
                                                   "again": "x" * 12})
        assert wrong.status == 400 and "current password is wrong" in await wrong.text()
        differ = await b.post("/account/password", {"current": PASSWORD, "new": "y" * 12,
                                                    "again": "z" * 12})
        assert differ.status == 400
        ok = await b.post("/account/password", {"current": PASSWORD, "new": "nueva clave 2026",
                                                "again": "nueva clave 2026"})
        assert ok.status == 303
        assert (await b.get("/api/queue")).status == 200  # this browser got a fresh session
        assert (await other.get("/api/queue")).status == 401  # every other session ended
        assert (await other.login("ana")).status == 401
        assert (await other.login("ana", "nueva clave 2026")).status == 302
