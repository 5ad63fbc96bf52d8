"""Log in, log out, language (health is in views/health.py)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from aiohttp import web

from operator_console import security
from operator_console.render import page
from operator_console.security import COOKIE, LOGIN_CSRF_COOKIE, public, session_of, signed_in
from operator_console.state import console_of

WINDOW_S = 900.0  # failures from one address are remembered this long
MAX_DELAY_S = 5.0
MAX_ADDRESSES = 10_000


def _safe_next(target: str) -> str:
    """Only a path on this site: never an open redirect."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
                max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Strict",
                        secure=console_of(request).settings.cookie_secure, path="/")


def _forget_quiet_addresses(failures: dict[str, list[float]], now: float) -> None:
    if len(failures) > MAX_ADDRESSES:
        for stale in [a for a, times in failures.items() if now - times[-1] >= WINDOW_S]:
            del failures[stale]


@public
async def login_form(request: web.Request) -> web.Response:
    token = security.new_login_csrf()
    response = page(request, "login.html", login_csrf=token, error="",
                    next=_safe_next(request.query.get("next", "/")))
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


@public
async def login(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    settings = console.settings
    form = await request.post()
    given = form.get("_csrf")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not security.same_origin(request) or not isinstance(given, str) or not expected or \
            not security.tokens_match(given, expected):
        raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the login page")
    name = str(form.get("name", ""))[:80]
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    address = request.remote or "?"
    now = time.monotonic()
    recent = [t for t in console.login_failures.get(address, []) if now - t < WINDOW_S]
    delay = min(MAX_DELAY_S, 0.25 * 2 ** (len(recent) - 1)) if recent else 0.0
    # The attempt counts against its address before it is checked, so requests sent
    # all at once queue up behind each other's delays instead of all going first.
    recent.append(now)
    console.login_failures[address] = recent[-50:]
    _forget_quiet_addresses(console.login_failures, now)
    if delay:
        await asyncio.sleep(delay)
    result = await console.users.authenticate(
        name, password, max_failures=settings.login_max_failures,
        lockout_s=settings.login_lockout_s,
    )
    if result.user is None:
        # Unknown name, wrong password, locked or disabled account: one answer for all,
        # so the answer never tells which names exist.
        token = security.new_login_csrf()
        response = page(request, "login.html", status=401, login_csrf=token,
                        error="login_bad", next=target)
        _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, 3600)
        return response
    console.login_failures.pop(address, None)
    old = request.cookies.get(COOKIE)
    if old:  # a session is renewed at login: whatever cookie came in is dropped
        await console.sessions.destroy(old)
    session = await console.sessions.create(result.user, max_age_s=settings.session_max_age_s)
    response = web.HTTPFound(target)
    _set_cookie(request, response, COOKIE, session.token, settings.session_max_age_s)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


@signed_in
async def logout(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    await console_of(request).sessions.destroy(session.token)
    response = web.HTTPFound("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


@signed_in
async def set_language(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    form = await request.post()
    language = str(form.get("language", "es"))
    if language not in ("es", "en"):
        raise web.HTTPBadRequest(text="language must be es or en")
    await console_of(request).users.update(session.user.id, actor=session.user.actor,
                                           language=language)
    raise web.HTTPFound(_safe_next(str(form.get("next", "/"))))
