"""Open311 GeoReport v2 on the console: the services (incident types and, per published
participation line, each kind of case × area), ``POST requests`` with an API key, and
a case's status for the key's website or app.

With an API key (form field or query ``api_key``, or header ``X-Api-Key``) the
municipality is always the key's, and answers are never cached; without one, the
public read API of ``views.public`` answers (incident reports, no cases). JSON only
(``.json``); the spec's XML is not offered. A refusal is ``[{"code", "description"}]``
with 400, 403, 404, 413 or 429.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ivr.analytics import dashboard
from ivr.analytics import public as public_data
from ivr.core.open311 import ApiKey, Open311Desk, Open311Error, Service
from ivr.domain.municipalities import RANGE, number_of, report_id
from ivr.store.open311 import Open311Store
from ivr.store.rollup import Clock
from operator_console.render import language_of
from operator_console.security import public as public_route
from operator_console.state import console_of, municipalities_of
from operator_console.views import public
from operator_console.views.queue import incident_types

MAX_BODY = 16 * 1024
MAX_IDS = 50
HEADER = "X-Api-Key"


def desk_of(request: web.Request) -> Open311Desk:
    found = console_of(request).open311
    if found is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return found


def _answer(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(value, ensure_ascii=False).encode("utf-8"),
                        status=status, content_type="application/json", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


def _refusal(exc: Open311Error, retry_after: int = 0) -> web.Response:
    response = _answer([{"code": exc.status, "description": exc.description}], exc.status)
    if exc.status == 429 and retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _given_key(request: web.Request, fields: dict[str, str] | None = None) -> str | None:
    given = request.headers.get(HEADER) or (fields or {}).get("api_key") \
        or request.query.get("api_key")
    return given.strip() if given else None


async def _key(request: web.Request, given: str, *, reading: bool,
               fields: dict[str, str] | None = None) -> ApiKey:
    desk = desk_of(request)
    key = await desk.authenticate(given)
    if reading:
        desk.may_read(key)
    jurisdiction = (fields or {}).get("jurisdiction_id") or request.query.get("jurisdiction_id")
    if jurisdiction:  # another municipality's jurisdiction is not this key's to name
        town = await municipalities_of(request).get(key.municipality)
        if town is None or jurisdiction not in (town.jurisdiction_id, town.code):
            raise Open311Error(403, "this api_key is not valid for that jurisdiction_id")
    return key


# --- services ------------------------------------------------------------------------


@public_route
async def services_json(request: web.Request) -> web.Response:
    given = _given_key(request)
    if given is None:
        return await public.services_json(request)
    try:
        key = await _key(request, given, reading=True)
    except Open311Error as exc:
        return _refusal(exc)
    language = language_of(request)
    incidents = public_data.services(
        await incident_types(console_of(request), key.municipality), language)
    return _answer(incidents + await desk_of(request).service_list(key.municipality, language))


@public_route
async def service_json(request: web.Request) -> web.Response:
    """``GET services/{code}.json``: a service's attributes (ours have none)."""
    code = request.match_info["code"]
    given = _given_key(request)
    try:
        if given is not None:
            municipality = (await _key(request, given, reading=True)).municipality
        else:
            public._enabled(console_of(request))
            try:
                municipality = (await public._town(request, request.query.get(
                    "jurisdiction_id"), "jurisdiction_id")).id
            except public._Unknown as exc:
                raise Open311Error(400, str(exc)) from None
        known = {s.code for s in await desk_of(request).services(municipality)}
        known |= {t.id for t in await incident_types(console_of(request), municipality)}
        if code not in known:
            raise Open311Error(404, "no such service_code")
    except Open311Error as exc:
        return _refusal(exc)
    return _answer({"service_code": code, "attributes": []})


# --- requests ------------------------------------------------------------------------


async def _body(request: web.Request) -> dict[str, str]:
    """The request's fields: form-encoded as the spec says, or a JSON object."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Open311Error(413, f"the request is larger than {MAX_BODY} bytes")
    raw = bytearray()
    async for chunk in request.content.iter_chunked(4096):
        raw += chunk
        if len(raw) > MAX_BODY:
            raise Open311Error(413, f"the request is larger than {MAX_BODY} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Open311Error(400, "the request is not UTF-8") from None
    if request.content_type == "application/json":
        try:
            doc = json.loads(text)
        except ValueError:
            raise Open311Error(400, "the request is not JSON") from None
        if not isinstance(doc, dict):
            raise Open311Error(400, "the request is a JSON object of fields")
        return {str(k): str(v) for k, v in doc.items()
                if isinstance(v, str | int | float) and not isinstance(v, bool)}
    if request.content_type not in ("application/x-www-form-urlencoded", ""):
        raise Open311Error(400, "send the fields form-encoded (application/"
                                "x-www-form-urlencoded)")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=100)
    except ValueError:
        raise Open311Error(400, "too many fields") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


@public_route
async def post_request(request: web.Request) -> web.Response:
    """``POST requests.json``: a case filed in the key's municipality."""
    desk = desk_of(request)
    key: ApiKey | None = None
    try:
        fields = await _body(request)
        key = await _key(request, _given_key(request, fields) or "", reading=False,
                         fields=fields)
        receipt = await desk.file(key, fields)
    except Open311Error as exc:
        response = _refusal(exc, desk.filing.retry_after(key.id) if key else 0)
        if exc.status == 413:
            response.force_close()  # the rest of that body is not read
        return response
    notice = (f"Caso recibido. La municipalidad responde a más tardar el "
              f"{receipt.due_on:%d/%m/%Y}.")
    return _answer([{"service_request_id": str(number_of(receipt.report)),
                     "service_notice": notice, "account_id": None}])


def _stamp(value: str | None, clock: Clock) -> str | None:
    if not value:
        return None
    local = clock.local(datetime.fromisoformat(value)).replace(microsecond=0)
    return f"{local:%Y-%m-%dT%H:%M:%S}{_offset(clock)}"


def _offset(clock: Clock) -> str:
    minutes = clock.utc_offset_minutes
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_NOTES = {"open": ("En trámite", "In progress"), "answered": ("Respondido", "Answered"),
          "closed": ("Cerrado", "Closed")}


def case_request(row: dict[str, Any], found: dict[str, Service], clock: Clock,
                 language: str) -> dict[str, Any]:
    """One case as GeoReport v2 shows a request: never the caller, contact or subject."""
    code = f"{row['kind']}.{row['area']}"
    service = found.get(code)
    notes = _NOTES.get(row["state"], (row["state"], row["state"]))[language == "en"]
    if row["state"] != "open" and row.get("answered_on"):
        answered = date.fromisoformat(row["answered_on"])
        notes += f" ({answered:%d/%m/%Y})"
    due = date.fromisoformat(row["due_on"])
    return {
        "service_request_id": str(number_of(row["id"])),
        "status": "open" if row["state"] == "open" else "closed",
        "status_notes": notes,
        "service_name": service.name if service else code,
        "service_code": code,
        "description": service.name if service else code,
        "agency_responsible": service.group if service else row["area"],
        "service_notice": "",
        "requested_datetime": _stamp(row["created_at"], clock),
        "updated_datetime": _stamp(row["updated_at"], clock),
        "expected_datetime": f"{due:%Y-%m-%d}T23:59:59{_offset(clock)}",
    }


def _ids(raw: str, municipality: int) -> list[int]:
    ids: list[int] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if not (part.isascii() and part.isdigit() and len(part) <= 10
                and 1 <= int(part) < RANGE):
            raise Open311Error(400, "service_request_id must be numbers, comma separated")
        ids.append(report_id(municipality, int(part)))
    if len(ids) > MAX_IDS:
        raise Open311Error(400, f"at most {MAX_IDS} service_request_id values")
    return list(dict.fromkeys(ids))


async def _cases(request: web.Request, key: ApiKey, raw_ids: str | None) -> list[dict[str, Any]]:
    console = console_of(request)
    store = Open311Store(console.db)
    if raw_ids is None:
        rows = await store.case_requests(key.municipality, key_id=key.id)
    else:
        rows = await store.case_requests(key.municipality, _ids(raw_ids, key.municipality))
    language = language_of(request)
    found = {s.code: s for s in await desk_of(request).services(key.municipality, language)}
    clock = await dashboard.stored_clock(console.db, key.municipality)
    return [case_request(r, found, clock, language) for r in rows]


@public_route
async def requests_json(request: web.Request) -> web.Response:
    """With a key: the cases named by ``service_request_id``, else those filed with it."""
    given = _given_key(request)
    if given is None:
        return await public.requests_json(request)
    try:
        key = await _key(request, given, reading=True)
        return _answer(await _cases(request, key, request.query.get("service_request_id")))
    except Open311Error as exc:
        return _refusal(exc)


@public_route
async def request_json(request: web.Request) -> web.Response:
    given = _given_key(request)
    if given is None:
        return await public.request_json(request)
    try:
        key = await _key(request, given, reading=True)
        found = await _cases(request, key, request.match_info["report"])
        if not found:
            raise Open311Error(404, "no such service request")
        return _answer(found)
    except Open311Error as exc:
        return _refusal(exc)

