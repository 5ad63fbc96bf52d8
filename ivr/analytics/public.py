"""What the public may see: counts, trends, response times, and Open311 GeoReport v2 requests.

Nothing personal leaves through here: no phone numbers, no clips, no notes or
summaries, no addresses, no coordinates but the centre of a report's zone, no
time finer than the hour. A report becomes public ``public_delay_hours`` after
it was made. Queries are bounded (a 90-day window at most, pages of 500 at
most) and read the rollups wherever they can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from ivr.analytics import dashboard
from ivr.config import Zone
from ivr.domain.lines import IncidentType
from ivr.domain.municipalities import Municipality, number_of, report_id
from ivr.domain.reports import OPEN_STATES
from ivr.domain.zones import ZoneShape
from ivr.store import panels, public_reports
from ivr.store.db import Database
from ivr.store.panels import Filters
from ivr.store.rollup import Clock

MAX_SPAN = timedelta(days=90)
PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
MAX_PAGE = 1000
MAX_IDS = 50
OPEN = tuple(sorted(s.value for s in OPEN_STATES))
CLOSED = ("duplicate", "false_report", "handed_over", "resolved")


class PublicQueryError(ValueError):
    """A bad Open311 query, with the reason; answered as a GeoReport error (400)."""


class PublicSettings(Protocol):
    """What the public pages need of the settings (the console's section has it)."""

    @property
    def zones(self) -> Sequence[Zone]: ...

    @property
    def public_delay_hours(self) -> int: ...


def _cutoff(settings: PublicSettings, now: datetime) -> datetime:
    return now.astimezone(UTC) - timedelta(hours=settings.public_delay_hours)


def services(types: Sequence[IncidentType], language: str = "es") -> list[dict[str, Any]]:
    labels = dashboard.type_labels(types, language)
    return [{"service_code": code, "service_name": name, "description": name,
             "metadata": False, "type": "realtime", "keywords": "", "group": "seguridad"}
            for code, name in labels.items()]


async def summary(db: Database, settings: PublicSettings, types: Sequence[IncidentType],
                  clock: Clock, zones: Sequence[ZoneShape],
                  now: datetime | None = None, language: str = "es",
                  town: Municipality | None = None) -> dict[str, Any]:
    """One municipality's twelve months of counts, trends and response times, from the
    rollups (municipality 1 when none is named)."""
    now = now or datetime.now(UTC)
    whose = (town.id if town else 1,)
    span = await panels.data_span(db, whose)
    last_public = clock.local(_cutoff(settings, now)).date()  # days before this one are whole
    until = min(span[1] + timedelta(days=1), last_public) if span else last_public
    since = _month_start(until - timedelta(days=1), back=11)
    f = Filters(since, max(since, until), municipalities=whose)
    labels = dashboard.type_labels(types, language)
    by_type = await panels.by_type(db, f)
    before = await panels.by_type(db, f.shifted(-1))
    months = await panels.by_month(db, f)
    zone_counts = await panels.by_zone(db, f)
    k = await panels.kpis(db, f, clock, now)
    names = {z.code: z.name for z in settings.zones} | {z.code: z.name for z in zones}
    centres = {z.code: z.centroid for z in zones}
    return {
        "title": f"Alerta {town.name}: datos abiertos" if town else "Alerta: datos abiertos",
        "municipality": town.code if town else None,
        "jurisdiction_id": town.jurisdiction_id if town else None,
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "timezone": clock.timezone,
        "period": {"from": f.since.isoformat(), "to": (f.until - timedelta(days=1)).isoformat()},
        "reports": sum(by_type.values()),
        "by_type": [
            {"service_code": t, "service_name": labels.get(t, t), "reports": by_type.get(t, 0),
             "a_year_before": before.get(t, 0),
             "change": _round(panels.change(by_type.get(t, 0), before.get(t, 0)))}
            for t in dashboard.ordered_types(types, list(set(by_type) | set(before)))],
        "by_month": [{"month": m, "reports": sum(row.values()), "by_type": row}
                     for m, row in sorted(months.items())],
        "by_zone": [
            {"zone": z, "name": names.get(z, z), "reports": n,
             "centre": [round(centres[z][0], 4), round(centres[z][1], 4)] if z in centres
             else None}
            for z, n in sorted(zone_counts.items(), key=lambda kv: (len(kv[0]), kv[0])) if z],
        "response": {
            "first_action_median_minutes": _round(
                k.first_action_median_s / 60 if k.first_action_median_s is not None else None),
            "acted_on_within_15_minutes": _round(k.first_action_within(900)),
            "callbacks_on_time": _round(k.callbacks_share),
            "confirmed_as_real": _round(k.confirmed_share),
        },
        "privacy": "Counts only: no phone numbers, recordings, notes or addresses; places are "
                   "generalised to zones and times to the hour; reports appear "
                   f"{settings.public_delay_hours} h after they are made.",
    }


CASE_MONTHS = 6  # months of citizens' cases on the public page


def case_months(months: Sequence[str], by_month: Mapping[str, Mapping[str, tuple[int, int, int]]],
                areas: Mapping[str, str]) -> list[dict[str, Any]]:
    """Citizens' cases per area and month, counts only: ``by_month`` is month → area →
    (received, answered on time, overdue without an answer)."""
    seen = dict.fromkeys([*areas, *(a for m in by_month.values() for a in m)])
    return [{"area": area, "name": areas.get(area, area),
             "months": [dict(zip(("month", "received", "answered_on_time", "overdue"),
                                 (month, *by_month.get(month, {}).get(area, (0, 0, 0))),
                                 strict=True)) for month in months]}
            for area in seen]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _month_start(day: date, back: int) -> date:
    month = day.year * 12 + day.month - 1 - back
    return date(month // 12, month % 12 + 1, 1)


@dataclass(frozen=True)
class RequestQuery:
    ids: tuple[int, ...] = ()
    codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    states: tuple[str, ...] = ()
    page: int = 1
    page_size: int = PAGE_SIZE


def _when(raw: str, name: str, clock: Clock) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.strip()[:40])
    except ValueError as exc:
        raise PublicQueryError(f"{name}: not a W3C date-time (2006-06-01T00:00:00-05:00)") from exc
    if moment.tzinfo is None:  # the municipality's own clock
        moment = (moment - clock.offset).replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _int(raw: str | None, name: str, default: int, top: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not (1 <= int(raw) <= top):
        raise PublicQueryError(f"{name} must be a whole number from 1 to {top}")
    return int(raw)


def parse_query(query: Mapping[str, str], types: Sequence[IncidentType], clock: Clock
                ) -> RequestQuery:
    """GeoReport v2 ``GET requests`` parameters, checked."""
    ids: list[int] = []
    for raw in query.get("service_request_id", "").split(","):
        raw = raw.strip()
        if raw:
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) > 0):
                raise PublicQueryError("service_request_id must be numbers, comma separated")
            ids.append(int(raw))
    if len(ids) > MAX_IDS:
        raise PublicQueryError(f"at most {MAX_IDS} service_request_id values")
    known = set(dashboard.type_labels(types, "es"))
    codes = tuple(c.strip() for c in query.get("service_code", "").split(",") if c.strip())
    if set(codes) - known:
        raise PublicQueryError("unknown service_code (see services.json)")
    states: tuple[str, ...] = ()
    for raw in (s.strip().lower() for s in query.get("status", "").split(",") if s.strip()):
        if raw not in ("open", "closed"):
            raise PublicQueryError("status must be open or closed")
        states += OPEN if raw == "open" else CLOSED
    start = _when(query["start_date"], "start_date", clock) if query.get("start_date") else None
    end = _when(query["end_date"], "end_date", clock) if query.get("end_date") else None
    if start and end and end < start:
        raise PublicQueryError("end_date is before start_date")
    if start and end and end - start > MAX_SPAN:
        raise PublicQueryError("start_date and end_date may not be more than 90 days apart")
    return RequestQuery(tuple(dict.fromkeys(ids)), codes, start, end, tuple(dict.fromkeys(states)),
                        _int(query.get("page"), "page", 1, MAX_PAGE),
                        _int(query.get("page_size"), "page_size", PAGE_SIZE, MAX_PAGE_SIZE))


def _window(q: RequestQuery, cutoff: datetime) -> tuple[datetime, datetime]:
    """The spec's default: the 90 days up to now (here: up to the publication cutoff)."""
    end = min(q.end or cutoff, cutoff)
    start = q.start or (end - MAX_SPAN)
    return start, end


async def requests(db: Database, settings: PublicSettings, types: Sequence[IncidentType],
                   clock: Clock, zones: Sequence[ZoneShape],
                   q: RequestQuery, now: datetime | None = None,
                   language: str = "es", municipality: int = 1) -> list[dict[str, Any]]:
    """One jurisdiction's service requests; ``service_request_id`` is the number its
    citizens know (so another municipality's report can never be named)."""
    cutoff = _cutoff(settings, now or datetime.now(UTC))
    if q.ids:
        rows = await public_reports.page(db, municipality, cutoff=cutoff,
                                         ids=[report_id(municipality, n) for n in q.ids],
                                         limit=q.page_size, offset=(q.page - 1) * q.page_size)
    else:
        start, end = _window(q, cutoff)
        rows = await public_reports.page(db, municipality, cutoff=cutoff, since=start, until=end,
                                         types=q.codes, states=q.states, limit=q.page_size,
                                         offset=(q.page - 1) * q.page_size)
    labels = dashboard.type_labels(types, language)
    names = {z.code: z.name for z in settings.zones} | {z.code: z.name for z in zones}
    centres = {z.code: z.centroid for z in zones}
    return [_request(r, labels, names, centres, clock, language) for r in rows]


def _hour(stamp: str, clock: Clock) -> str:
    """An ISO UTC time as the local hour it falls in, with the municipality's offset."""
    local = clock.local(datetime.fromisoformat(stamp)).replace(minute=0, second=0, microsecond=0)
    minutes = clock.utc_offset_minutes
    sign = "-" if minutes < 0 else "+"
    return f"{local:%Y-%m-%dT%H:%M:%S}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _request(row: dict[str, Any], labels: Mapping[str, str], names: Mapping[str, str],
             centres: Mapping[str, tuple[float, float]], clock: Clock,
             language: str) -> dict[str, Any]:
    name = labels.get(row["type"], row["type"])
    out: dict[str, Any] = {
        "service_request_id": str(number_of(row["id"])),
        "status": "open" if row["state"] in OPEN else "closed",
        "status_notes": dashboard.state_label(row["state"], language),
        "service_name": name,
        "service_code": row["type"],
        "description": name,
        "requested_datetime": _hour(row["created_at"], clock),
        "updated_datetime": _hour(row["updated_at"], clock),
    }
    zone = row["zone"]
    if zone:
        out["address"] = names.get(zone, f"Zona {zone}")
    if zone in centres:
        lon, lat = centres[zone]
        out["lat"], out["long"] = round(lat, 4), round(lon, 4)
    return out
