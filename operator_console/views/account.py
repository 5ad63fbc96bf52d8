"""A user's own account: change the password (the old one is asked for), and switch
between the municipalities the account works for."""

from __future__ import annotations

from aiohttp import web

from ivr.store.users import UserError
from operator_console.render import page
from operator_console.security import COOKIE, parse_id, session_of, signed_in
from operator_console.state import console_of


@signed_in
async def account_page(request: web.Request) -> web.Response:
    return page(request, "account.html", error="", saved=request.query.get("saved") == "1")


@signed_in
async def change_password(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    session = session_of(request)
    form = await request.post()
    current, new, again = (str(form.get(k, "")) for k in ("current", "new", "again"))
    result = await console.users.authenticate(
        session.user.name, current, max_failures=console.settings.login_max_failures,
        lockout_s=console.settings.login_lockout_s)
    if result.user is None:
        return page(request, "account.html", status=400, saved=False,
                    error="the current password is wrong")
    if new != again:
        return page(request, "account.html", status=400, saved=False,
                    error="the new passwords differ")
    try:
        # Every session of this user ends, this one included; a fresh one replaces it.
        await console.users.update(session.user.id, actor=session.user.actor, password=new)
    except UserError as exc:
        return page(request, "account.html", status=400, saved=False, error=str(exc))
    fresh = await console.sessions.create(result.user,
                                          max_age_s=console.settings.session_max_age_s)
    response = web.HTTPSeeOther("/account?saved=1")
    response.set_cookie(COOKIE, fresh.token, max_age=console.settings.session_max_age_s,
                        httponly=True, samesite="Strict", secure=console.settings.cookie_secure,
                        path="/")
    raise response


@signed_in
async def switch_municipality(request: web.Request) -> web.StreamResponse:
    """Work in another municipality the account has a role in (anything else: 404)."""
    console = console_of(request)
    session = session_of(request)
    form = await request.post()
    wanted = parse_id(str(form.get("municipality", "")))
    if wanted is None or wanted not in await console.users.roles(session.user.id):
        raise web.HTTPNotFound(text="no such municipality")
    await console.sessions.switch(session.token, wanted, actor=session.user.actor)
    raise web.HTTPSeeOther("/")
