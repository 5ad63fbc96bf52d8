"""Accounts (admin) and the supervisors' view of overdue callbacks."""

from __future__ import annotations

from aiohttp import web

from ivr.domain.roles import Role
from ivr.store.users import UserError
from operator_console.render import language_of, page
from operator_console.security import parse_id, requires, session_of
from operator_console.state import console_of
from operator_console.views.queue import queue_rows, type_labels


@requires(Role.ADMIN)
async def users_page(request: web.Request) -> web.Response:
    console = console_of(request)
    return page(request, "users.html", users=await console.users.all(),
                roles=[r.value for r in Role], error=request.query.get("error", "")[:200])


@requires(Role.ADMIN)
async def add_user(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    try:
        role = Role(str(form.get("role", "")))
    except ValueError as exc:
        raise UserError("pick a role") from exc
    language = str(form.get("language", "es"))
    await console.users.add(
        str(form.get("name", "")).strip(), role, str(form.get("password", "")),
        extension=str(form.get("extension", "")).strip() or None,
        language=language if language in ("es", "en") else "es",
        actor=session_of(request).user.actor,
    )
    raise web.HTTPSeeOther("/admin/users")


@requires(Role.ADMIN)
async def update_user(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    user_id = parse_id(request.match_info["user"])
    if user_id is None:
        raise web.HTTPNotFound(text="no such user")
    form = await request.post()
    session = session_of(request)
    role = None
    if form.get("role"):
        try:
            role = Role(str(form["role"]))
        except ValueError as exc:
            raise UserError("pick a role") from exc
    active = None
    if "active" in form:
        active = form.get("active") == "1"
    if user_id == session.user.id and (active is False or (role and role != Role.ADMIN)):
        raise UserError("you cannot disable or demote your own account")
    await console.users.update(
        user_id, actor=session.user.actor, role=role,
        extension=str(form["extension"]).strip() if "extension" in form else None,
        active=active, password=str(form["password"]) if form.get("password") else None,
    )
    raise web.HTTPSeeOther("/admin/users")


@requires(Role.SUPERVISOR)
async def supervision(request: web.Request) -> web.Response:
    console = console_of(request)
    rows = [r for r in await queue_rows(console) if r["overdue"] or r["reservation_lapsed"]]
    rows.sort(key=lambda r: r["due_left_s"] if r["due_left_s"] is not None else 0)
    return page(request, "supervision.html", rows=rows,
                labels=await type_labels(console, language_of(request)))
