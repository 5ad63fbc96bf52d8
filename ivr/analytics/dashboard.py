"""Every panel of the dashboard for one set of filters, and the words around them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ivr.domain.incidents import OPERATOR_TYPE_ID
from ivr.domain.lines import IncidentType
from ivr.store import panels, rollup
from ivr.store.db import Database
from ivr.store.panels import Filters, Kpis
from ivr.store.rollup import Clock

CHANNEL_NAMES = {
    "ivr": ("Teléfono (IVR)", "Phone line (IVR)"), "phone": ("Operador", "Operator call"),
    "radio": ("Radio", "Radio"), "field": ("Campo", "Field officer"),
    "counter": ("Ventanilla", "Counter"), "email": ("Correo", "E-mail"),
    "pos": ("Alarma POS", "POS alarm"),
}
WEEKDAYS = {"es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
            "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
STATE_NAMES = {
    "received": ("recibido", "received"), "acknowledged": ("confirmado", "acknowledged"),
    "dispatched": ("despachado", "dispatched"), "on_scene": ("en el lugar", "on scene"),
    "resolved": ("resuelto", "resolved"), "false_report": ("falso", "false report"),
    "duplicate": ("duplicado", "duplicate"),
}


def type_labels(types: Sequence[IncidentType], language: str) -> dict[str, str]:
    """Incident type → its label in ``language`` (the types of the live lines)."""
    labels = {t.id: t.label(language, "es") for t in types}
    labels.setdefault(OPERATOR_TYPE_ID, "Operator" if language == "en" else "Operador")
    return labels


def channel_label(channel: str, language: str) -> str:
    pair = CHANNEL_NAMES.get(channel)
    return (pair[1] if language == "en" else pair[0]) if pair else channel


def state_label(state: str, language: str) -> str:
    pair = STATE_NAMES.get(state)
    return (pair[1] if language == "en" else pair[0]) if pair else state


async def stored_clock(db: Database, municipality: int = 1) -> Clock:
    """The time zone a municipality's reports are counted in (``ivr.store.rollup``)."""
    return await rollup.clock_of(db, municipality)


def local_today(clock: Clock, now: datetime | None = None) -> date:
    return clock.local(now or datetime.now(UTC)).date()


async def default_range(db: Database, clock: Clock,
                        municipalities: tuple[int, ...] = (1,)) -> tuple[date, date]:
    """All the data there is: from its first local day to the day after its last."""
    span = await panels.data_span(db, municipalities)
    if span is None:
        today = local_today(clock)
        return today, today + timedelta(days=1)
    return span[0], span[1] + timedelta(days=1)


@dataclass
class Dashboard:
    filters: Filters
    clock: Clock
    type_year: dict[str, dict[str, int]] = field(default_factory=dict)
    by_month: dict[str, dict[str, int]] = field(default_factory=dict)
    by_weekday: list[int] = field(default_factory=list)
    by_hour: list[int] = field(default_factory=list)
    weekday_hour: list[list[int]] = field(default_factory=list)
    by_zone: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    participation: dict[str, tuple[int, int]] = field(default_factory=dict)
    year_on_year: dict[str, tuple[int, int]] = field(default_factory=dict)
    kpis: Kpis = field(default_factory=Kpis)
    timings: dict[str, float] = field(default_factory=dict)  # panel → milliseconds

    @property
    def total(self) -> int:
        return self.kpis.reports

    @property
    def years(self) -> list[str]:
        return sorted({y for row in self.type_year.values() for y in row})

    @property
    def comparison(self) -> tuple[Filters, Filters]:
        return panels.comparison(self.filters)


PanelFn = Callable[[], Awaitable[Any]]


def dashboard_panels(db: Database, f: Filters, clock: Clock,
                     now: datetime | None = None) -> dict[str, PanelFn]:
    """Each panel as a call of its own (the benchmark times them one by one)."""
    return {
        "type_year": lambda: panels.type_year(db, f),
        "by_month": lambda: panels.by_month(db, f),
        "by_weekday": lambda: panels.by_weekday(db, f),
        "by_hour": lambda: panels.by_hour(db, f),
        "weekday_hour": lambda: panels.weekday_hour(db, f),
        "by_zone": lambda: panels.by_zone(db, f),
        "by_channel": lambda: panels.by_channel(db, f),
        "participation": lambda: panels.participation(db, f),
        "year_on_year": lambda: panels.year_on_year(db, f),
        "kpis": lambda: panels.kpis(db, f, clock, now),
    }


def hotspot_panels(db: Database, f: Filters, clock: Clock) -> dict[str, PanelFn]:
    return {
        "by_zone": lambda: panels.by_zone(db, f),
        "zone_hour": lambda: panels.zone_hour(db, f),
        "density": lambda: panels.density(db, f, clock),
    }


async def timed(calls: Mapping[str, PanelFn]) -> tuple[dict[str, Any], dict[str, float]]:
    values: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for name, call in calls.items():
        began = time.perf_counter()
        values[name] = await call()
        timings[name] = (time.perf_counter() - began) * 1000
    return values, timings


async def build(db: Database, f: Filters, clock: Clock,
                now: datetime | None = None) -> Dashboard:
    values, timings = await timed(dashboard_panels(db, f, clock, now))
    return Dashboard(filters=f, clock=clock, timings=timings, **values)


def shares(counts: Mapping[str, int]) -> list[tuple[str, int, float]]:
    total = sum(counts.values())
    return [(k, v, v / total if total else 0.0)
            for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]


def percent(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def signed_percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.0f}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def ordered_types(types: Sequence[IncidentType], present: Sequence[str]) -> list[str]:
    """Types in the lines' order, then any others that hold reports."""
    order = [t.id for t in types] + [OPERATOR_TYPE_ID]
    return [t for t in order if t in present] + sorted(set(present) - set(order))
