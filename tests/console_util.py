"""Helpers for console tests: the real aiohttp app on a real socket, real accounts."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import ClientResponse, ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from ivr.config import Settings
from ivr.domain.roles import Role
from ivr.store.db import Database
from ivr.store.users import Users
from operator_console.app import create_app
from operator_console.state import CONSOLE, Console

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
_LOGIN_CSRF = re.compile(r'name="_csrf" id="login-csrf" value="([^"]+)"')


@dataclasses.dataclass
class Browser:
    """One logged-in (or not) client with its own cookie jar."""

    client: ClientSession
    origin: str
    csrf: str = ""

    async def login(self, name: str, password: str = PASSWORD) -> ClientResponse:
        page = await self.client.get("/login")
        token = _LOGIN_CSRF.search(await page.text())
        assert token, "login page has no CSRF field"
        response = await self.client.post(
            "/login", data={"name": name, "password": password, "_csrf": token.group(1),
                            "next": "/"},
            headers={"Origin": self.origin}, allow_redirects=False,
        )
        if response.status == 302:
            home = await self.client.get("/", headers={"Accept": "text/html"})
            found = _CSRF.search(await home.text())
            assert found
            self.csrf = found.group(1)
        return response

    async def post(self, path: str, data: dict[str, str] | None = None, *,
                   csrf: bool = True, **kw: Any) -> ClientResponse:
        body = dict(data or {})
        if csrf:
            body["_csrf"] = self.csrf
        headers = {"Origin": self.origin, **kw.pop("headers", {})}
        return await self.client.post(path, data=body, headers=headers, allow_redirects=False,
                                      **kw)

    async def get(self, path: str, **kw: Any) -> ClientResponse:
        return await self.client.get(path, allow_redirects=False, **kw)


@dataclasses.dataclass
class Site:
    server: TestServer
    settings: Settings

    @property
    def console(self) -> Console:
        value = self.server.app[CONSOLE].value
        assert value is not None
        return value

    @property
    def origin(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    @asynccontextmanager
    async def browser(self) -> AsyncIterator[Browser]:
        """A client with a cookie jar of its own (127.0.0.1 needs an unsafe jar)."""
        async with ClientSession(base_url=self.origin, cookie_jar=CookieJar(unsafe=True)) as s:
            yield Browser(s, self.origin)


async def add_users(db: Database) -> None:
    users = Users(db)
    await users.add("ana", Role.OPERATOR, PASSWORD, extension="1001")
    await users.add("sofia", Role.SUPERVISOR, PASSWORD, extension="1002")
    await users.add("root", Role.ADMIN, PASSWORD)


@asynccontextmanager
async def console_site(settings: Settings, db: Database | None = None,
                       **overrides: Any) -> AsyncIterator[Site]:
    settings = dataclasses.replace(settings, **overrides)
    app = create_app(settings, db=db)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        site = Site(server, settings)
        if await site.console.users.count() == 0:
            await add_users(site.console.db)
        yield site
    finally:
        await server.close()
