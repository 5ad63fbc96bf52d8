"""What a hostile run found, as policies: the lockout holds under a burst, refusals all look
alike, every answer carries the security headers, garbage on the port logs one line."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import ClientResponse, ClientSession, DummyCookieJar

from ivr.config import Settings
from ivr.domain.roles import Role
from ivr.store import engine as store_engine
from ivr.store.users import Users
from operator_console.run import start_console
from operator_console.security import LOGIN_CSRF_COOKIE
from tests.console_util import PASSWORD, Site, console_site

_LOGIN_CSRF = re.compile(r'name="_csrf" id="login-csrf" value="([^"]+)"')
HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def assert_security_headers(what: str, headers: dict[str, str] | object) -> None:
    for name, part in HEADERS.items():
        value = headers.get(name, "")  # type: ignore[attr-defined]
        assert part in value, (what, name, value)


async def login_token(site: Site) -> str:
    async with site.browser() as b:
        page = await b.get("/login")
        found = _LOGIN_CSRF.search(await page.text())
        assert found
        return found.group(1)


async def post_login(client: ClientSession, origin: str, token: str, name: str,
                     password: str) -> ClientResponse:
    """A login POST carrying its own CSRF cookie: the client keeps no cookies between calls."""
    return await client.post(
        "/login", data={"name": name, "password": password, "_csrf": token, "next": "/"},
        headers={"Origin": origin, "Cookie": f"{LOGIN_CSRF_COOKIE}={token}"},
        allow_redirects=False)


def without_token(body: str) -> str:
    """A login page with its (random, per answer) CSRF token blanked out."""
    return re.sub(r'value="[A-Za-z0-9_-]{20,}"', 'value=""', body)


async def test_a_burst_of_wrong_logins_locks_the_account_after_the_limit(
        settings: Settings) -> None:
    """50 wrong passwords at once: only `login_max_failures` are checked, then the lock holds."""
    async with console_site(settings, login_max_failures=5, login_lockout_s=600) as site, \
            ClientSession(base_url=site.origin, cookie_jar=DummyCookieJar()) as client:
        token = await login_token(site)

        async def wrong(i: int) -> tuple[int, str]:
            response = await post_login(client, site.origin, token, "ana", f"guess number {i}")
            return response.status, without_token(await response.text())

        answers = await asyncio.gather(*(wrong(i) for i in range(50)))
        assert {status for status, _ in answers} == {401}
        assert len({body for _, body in answers}) == 1  # the lock is never announced
        row = await site.console.db.fetchone(
            "SELECT failed_logins, locked_until FROM users WHERE name = 'ana'")
        assert row is not None and row["failed_logins"] == 5 and row["locked_until"]
        # Each real check of ana's hash that failed left one audit row: exactly five.
        failed = await site.console.db.fetchall(
            "SELECT data FROM events WHERE kind = 'user.login_failed'")
        assert len(failed) == 5
        site.console.login_failures.clear()  # the per-address slow-down is not under test
        right = await post_login(client, site.origin, token, "ana", PASSWORD)
        assert right.status == 401
        assert without_token(await right.text()) == answers[0][1]
        logins = await site.console.db.fetchall("SELECT id FROM events WHERE kind = 'user.login'")
        assert logins == []


async def test_locked_unknown_and_wrong_password_get_the_same_answer(settings: Settings) -> None:
    async with console_site(settings, login_max_failures=2, login_lockout_s=600) as site, \
            ClientSession(base_url=site.origin, cookie_jar=DummyCookieJar()) as client:
        token = await login_token(site)
        for _ in range(2):
            await post_login(client, site.origin, token, "ana", "not her password")
            site.console.login_failures.clear()  # the per-address slow-down is not under test
        answers: dict[str, tuple[int, str]] = {}
        for case, name, password in [("locked", "ana", PASSWORD),
                                     ("unknown", "nadie", PASSWORD),
                                     ("wrong", "sofia", "not her password")]:
            response = await post_login(client, site.origin, token, name, password)
            answers[case] = (response.status, without_token(await response.text()))
            site.console.login_failures.clear()
        assert answers["locked"] == answers["unknown"] == answers["wrong"]
        assert answers["locked"][0] == 401


async def test_a_right_password_ends_the_count_and_an_expired_lock_opens(
        settings: Settings) -> None:
    moment = [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)]
    async with store_engine.database(settings.database) as db:
        users = Users(db, clock=lambda: moment[0])
        await users.add("ana", Role.OPERATOR, PASSWORD)

        async def attempt(password: str) -> bool:
            result = await users.authenticate("ana", password, max_failures=3, lockout_s=60)
            return result.user is not None

        assert not await attempt("wrong one") and not await attempt("wrong two")
        assert await attempt(PASSWORD)  # the count starts again
        assert not await attempt("wrong one") and not await attempt("wrong two")
        assert await attempt(PASSWORD)
        for guess in ("a wrong one", "b wrong one", "c wrong one"):
            assert not await attempt(guess)
        assert not await attempt(PASSWORD)  # locked
        moment[0] += timedelta(seconds=61)
        assert await attempt(PASSWORD)  # the lock ran out


async def test_concurrent_logins_from_one_address_each_count_against_it(
        settings: Settings) -> None:
    """The per-address slow-down sees attempts sent at once, not only finished ones."""
    async with console_site(settings, login_max_failures=100) as site, \
            ClientSession(base_url=site.origin, cookie_jar=DummyCookieJar()) as client:
        token = await login_token(site)
        await asyncio.gather(*(post_login(client, site.origin, token, "nadie", "wrong password")
                               for _ in range(4)))
        assert len(site.console.login_failures["127.0.0.1"]) == 4


@pytest.fixture
def loud(settings: Settings) -> Settings:
    return dataclasses.replace(settings, console_host="127.0.0.1", console_port=0)


async def test_every_answer_carries_the_security_headers(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        answers: list[tuple[str, ClientResponse]] = [
            ("login page", await b.get("/login")),
            ("404 unknown path", await b.get("/no/such/page")),
            ("404 static", await b.get("/static/no-such-file.css")),
            ("405 wrong method", await b.client.delete("/login")),
            ("401 anonymous api", await b.get("/api/queue")),
            ("302 anonymous page", await b.get("/", headers={"Accept": "text/html"})),
            ("403 login without csrf", await b.client.post(
                "/login", data={"name": "ana"}, allow_redirects=False)),
            ("413 huge body", await b.client.post(
                "/login", data={"name": "x" * 400_000}, allow_redirects=False)),
        ]
        answers.append(("401 wrong password", await b.login("ana", "wrong password")))
        site.console.login_failures.clear()
        await b.login("ana")
        answers += [
            ("403 post without csrf", await b.post("/logout", csrf=False)),
            ("403 role", await b.get("/admin/users")),
            ("404 no such report", await b.get("/reports/999999")),
            ("404 bad report id", await b.get("/reports/abc")),
            ("400 bad language", await b.post("/language", {"language": "xx"})),
            ("200 queue", await b.get("/api/queue")),
        ]
        statuses = {what: response.status for what, response in answers}
        assert statuses["413 huge body"] == 413 and statuses["405 wrong method"] == 405
        assert statuses["400 bad language"] == 400
        for what, response in answers:
            assert_security_headers(what, response.headers)


MALFORMED = [
    ("bad request line", b"GARBAGE\r\n\r\n"),
    ("bad request line after a good one",
     b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n"),
    ("bad version", b"GET / HTTP/9.7\r\nHost: x\r\n\r\n"),
    ("header without colon", b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
    ("control byte in header", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\x1b[31m\r\n\r\n"),
    ("oversized header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"),
    ("oversized request line", b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bad content length", b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
    ("bad chunk", b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Type: application/x-www-form-urlencoded\r\n\r\nZZZ\r\nname=ana\r\n0\r\n\r\n"),
    ("body that is not the gzip it claims", b"POST /login HTTP/1.1\r\nHost: x\r\n"
     b"Content-Type: application/x-www-form-urlencoded\r\nContent-Encoding: gzip\r\n"
     b"Content-Length: 17\r\n\r\nname=ana&next=/xx"),
]


async def send_raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()


def last_answer_headers(raw: bytes) -> tuple[int, dict[str, str]]:
    """Status and headers of the last HTTP answer in what the server sent back."""
    head = raw[raw.rfind(b"HTTP/1."):].split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return status, headers


async def test_malformed_requests_log_one_short_line_each_and_carry_the_headers(
        loud: Settings, caplog: pytest.LogCaptureFixture) -> None:
    runner = await start_console(loud)
    try:
        port = runner.addresses[0][1]
        caplog.set_level(logging.DEBUG)
        caplog.clear()
        rounds = 5
        for _ in range(rounds):
            for what, data in MALFORMED:
                status, headers = last_answer_headers(await send_raw(port, data))
                assert 400 <= status < 500, (what, status)
                assert_security_headers(what, headers)
        formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
        # What a log at the default level (INFO) shows, and no traceback even at DEBUG.
        shown = [r for r in caplog.records if r.levelno >= logging.INFO]
        lines = [line for r in shown for line in formatter.format(r).splitlines()]
        assert len(lines) <= rounds * len(MALFORMED), "\n".join(lines[:40])
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
        assert all(len(line) < 200 and "\x1b" not in line for line in lines), lines
    finally:
        await runner.cleanup()


OUT_OF_RANGE = [
    "/open311/v2/requests.json?start_date=9999-12-31T23:59:59-23:59",
    "/committee?week=9999-W52", "/committee?week=0001-W01", "/committee.pdf?week=0001-01-01",
    "/dashboard?until=9999-12-31", "/dashboard/export.csv?until=9999-12-31",
]


async def test_dates_beyond_the_calendar_are_a_400_not_a_500(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("sofia")
        caplog.set_level(logging.INFO)
        caplog.clear()
        for url in OUT_OF_RANGE:
            response = await b.get(url)
            assert response.status == 400, (url, response.status)
            assert "out of range" in await response.text()
        assert not [r for r in caplog.records if r.exc_info], "bad input logged a traceback"


async def test_a_form_in_an_unknown_charset_is_a_400(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        for content_type, body in [
            ("application/x-www-form-urlencoded; charset=no-such-charset", b"name=ana"),
            ("multipart/form-data; boundary=zz",
             b"--zz\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
             b'Content-Disposition: form-data; name="name"\r\n\r\nana\r\n--zz--\r\n'),
        ]:
            response = await b.client.post("/login", data=body, allow_redirects=False,
                                           headers={"Content-Type": content_type})
            assert response.status == 400, (content_type, response.status)
            assert "unknown charset" in await response.text()
