"""Accounts (admin) and the supervisors' view of overdue callbacks.

An admin manages the accounts of the municipality the session works in: their role
there, and (for accounts that work nowhere else) their extension, password and
whether they are active. An account that also works for another municipality can
only have its role here changed or taken away: its password is not this admin's.
"""

from __future__ import annotations

from aiohttp import web

from ivr.domain.roles import Role
from ivr.store.users import UserError
from operator_console.render import language_of, page
from operator_console.security import municipality_id, parse_id, requires, session_of
from operator_console.state import console_of
from operator_console.views.case_admin import officers_context, save_areas
from operator_console.views.queue import queue_rows, type_labels


@requires(Role.ADMIN)
async def users_page(request: web.Request) -> web.Response:
    console = console_of(request)
    users = await console.users.all(municipality_id(request))
    shared = {u.id for u in users if len(await console.users.roles(u.id)) > 1}
    return page(request, "users.html", users=users, shared=shared,
                me=session_of(request).user.id,
                roles=[r.value for r in Role], error=request.query.get("error", "")[:200],
                **await officers_context(request, users))


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
        actor=session_of(request).user.actor, municipality=municipality_id(request),
    )
    raise web.HTTPSeeOther("/admin/users")


@requires(Role.ADMIN)
async def update_user(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    here = municipality_id(request)
    user_id = parse_id(request.match_info["user"])
    roles = await console.users.roles(user_id) if user_id is not None else {}
    if user_id is None or here not in roles:  # not an account of this municipality
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
    if user_id == session.user.id and (active is False or (role and role != Role.ADMIN)
                                       or "remove" in form):
        raise UserError("you cannot disable or demote your own account")
    if "areas" in form:  # an officer's areas, ticked
        await save_areas(request, user_id, roles[here], [str(a) for a in form.getall("area", [])])
        raise web.HTTPSeeOther("/admin/users")
    if "remove" in form:
        await console.users.grant(user_id, here, None, actor=session.user.actor)
        raise web.HTTPSeeOther("/admin/users")
    password = str(form["password"]) if form.get("password") else None
    shared = set(roles) - {here}
    if shared and (password is not None or active is not None or "extension" in form):
        raise UserError("this account works for another municipality too: only its role here"
                        " can be changed")
    await console.users.update(
        user_id, actor=session.user.actor, role=role, municipality=here,
        extension=str(form["extension"]).strip() if "extension" in form else None,
        active=active, password=password,
    )
    raise web.HTTPSeeOther("/admin/users")


@requires(Role.SUPERVISOR)
async def supervision(request: web.Request) -> web.Response:
    console = console_of(request)
    here = municipality_id(request)
    rows = [r for r in await queue_rows(console, here)
            if r["overdue"] or r["reservation_lapsed"]]
    rows.sort(key=lambda r: r["due_left_s"] if r["due_left_s"] is not None else 0)
    return page(request, "supervision.html", rows=rows,
                labels=await type_labels(console, language_of(request), here))
