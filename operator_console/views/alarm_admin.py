"""Admins' sites and devices of the silent alarms: add a business, add a device to it
(its key typed once, never shown again), deactivate a device, import a CSV of both.

The store (``ivr.store.alarm_admin``) checks every value and audits every change as an
event of the municipality; a refusal is a 400 in the viewer's language, and a refused
import shows every line's reason with nothing written.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from ivr.domain.roles import Role
from ivr.store.alarm_admin import (
    CSV_COLUMNS,
    KINDS,
    AlarmAdmin,
    AlarmAdminError,
    AlarmImportError,
    NoSuchSite,
    check_key,
    contact,
    number,
    parse_csv,
)
from operator_console.render import language_of, page
from operator_console.security import municipality_id, parse_id, requires, session_of
from operator_console.state import console_of
from operator_console.views.alarm_text import refusal, translator

HERE = "/admin/alarms"
Form = MultiDictProxy[Any]


def admin_of(request: web.Request) -> AlarmAdmin:
    found = console_of(request).alarm_admin
    if found is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return found


def _field(form: Form, name: str, limit: int = 200) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _actor(request: web.Request) -> str:
    return session_of(request).user.actor


def _refused(request: web.Request, exc: AlarmAdminError) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=refusal(str(exc), language_of(request)))


async def _page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    admin = admin_of(request)
    here = municipality_id(request)
    devices = await admin.devices(here)
    sites = [{**s, "devices": [d for d in devices if d["site_id"] == s["id"]]}
             for s in await admin.sites(here)]
    context: dict[str, Any] = {"imported": None, "import_errors": [], "csv_text": ""}
    context.update(extra)
    return page(request, "alarm_devices.html", status=status, sites=sites, kinds=KINDS,
                columns=",".join(CSV_COLUMNS), changes=await admin.changes(here),
                ax=translator(language_of(request)), **context)


@requires(Role.ADMIN)
async def devices_page(request: web.Request) -> web.Response:
    imported = None
    raw = request.query.get("imported", "")
    sites, _, devices = raw.partition(",")
    if sites.isascii() and sites.isdigit() and devices.isascii() and devices.isdigit():
        imported = {"sites": int(sites), "devices": int(devices)}
    return await _page(request, imported=imported)


@requires(Role.ADMIN)
async def add_site(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        site = await admin_of(request).add_site(
            municipality_id(request), _field(form, "name"), address=_field(form, "address"),
            zone=_field(form, "zone", 8) or None,
            lat=number(_field(form, "lat", 30), "lat", float),
            lon=number(_field(form, "lon", 30), "lon", float),
            contacts=contact(_field(form, "contact_name", 80), _field(form, "contact_phone", 20)),
            actor=_actor(request), now=datetime.now(UTC))
    except AlarmAdminError as exc:
        raise _refused(request, exc) from exc
    raise web.HTTPSeeOther(f"{HERE}#site-{site}")


@requires(Role.ADMIN)
async def add_device(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    kind = _field(form, "kind", 16)
    try:
        site = parse_id(_field(form, "site", 20))
        if site is None:
            raise AlarmAdminError("pick the business")
        tolerance = number(_field(form, "tolerance_s", 10), "tolerance_s", int)
        await admin_of(request).add_device(
            municipality_id(request), site, kind, _field(form, "account", 64),
            keys=check_key(kind, _field(form, "key", 200)) if kind in KINDS else [],
            time_zone=_field(form, "time_zone", 64) or "UTC",
            tolerance_s=60 if tolerance is None else tolerance,
            poll_s=number(_field(form, "poll_s", 10), "poll_s", int),
            actor=_actor(request), now=datetime.now(UTC))
    except NoSuchSite:
        raise web.HTTPNotFound(text="no such site") from None
    except AlarmAdminError as exc:
        raise _refused(request, exc) from exc
    raise web.HTTPSeeOther(f"{HERE}#site-{site}")


@requires(Role.ADMIN)
async def deactivate(request: web.Request) -> web.StreamResponse:
    device = parse_id(request.match_info.get("device"))
    if device is None:
        raise web.HTTPNotFound(text="no such device")
    await admin_of(request).deactivate(municipality_id(request), device,
                                       actor=_actor(request), now=datetime.now(UTC))
    raise web.HTTPSeeOther(HERE)


async def _csv_of(form: Form) -> str:
    upload = form.get("file")
    raw: bytes | str = ""
    if isinstance(upload, web.FileField):
        raw = upload.file.read()
    elif isinstance(upload, (bytes, bytearray)):  # a part sent without a file name
        raw = bytes(upload)
    if not raw:
        raw = _field(form, "csv", 256 * 1024)
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AlarmImportError(["the file is not UTF-8 text"]) from exc
    return raw


@requires(Role.ADMIN)
async def import_csv(request: web.Request) -> web.StreamResponse:
    """All or nothing: a refused file comes back with every line's reason."""
    form = await request.post()
    language = language_of(request)
    text = ""
    try:
        text = await _csv_of(form)
        lines = parse_csv(text)
        sites, devices = await admin_of(request).import_lines(
            municipality_id(request), lines, actor=_actor(request), now=datetime.now(UTC))
    except AlarmImportError as exc:
        errors = [refusal(p, language) for p in exc.problems]
        return await _page(request, status=400, import_errors=errors,
                           csv_text=_without_keys(text))
    raise web.HTTPSeeOther(f"{HERE}?imported={sites},{devices}#import")


def _without_keys(text: str) -> str:
    """The refused CSV to correct, less its keys (they are never shown back)."""
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error:
        return ""
    if not rows:
        return ""
    header = [h.strip().lower() for h in rows[0]]
    if "key" not in header:
        return text[:20_000]
    at = header.index("key")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, row in enumerate(rows):
        writer.writerow([("" if i and j == at else v) for j, v in enumerate(row)])
    return out.getvalue()[:20_000]
