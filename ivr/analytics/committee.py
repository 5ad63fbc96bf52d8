"""The weekly report to the Citizen Security Committee: this week against the weeks before.

Weeks run Monday to Sunday in the municipality's local time. The page and the
PDF carry the same numbers: reports by type this week, the average of the four
weeks before and the same week a year earlier; twelve weeks of trend; the
zones and hours that stood out; the response indicators.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from fpdf import FPDF

from ivr.analytics import charts
from ivr.domain.zones import ZoneShape
from ivr.store import panels
from ivr.store.db import Database
from ivr.store.panels import Filters, Kpis
from ivr.store.rollup import Clock

TREND_WEEKS = 12
BASELINE_WEEKS = 4


def parse_week(raw: str) -> date:
    """``2006-W23`` or any day of it (``2006-06-07``) → its Monday."""
    raw = raw.strip()[:12]
    try:
        if "W" in raw.upper():
            year, _, week = raw.upper().partition("-W")
            return date.fromisocalendar(int(year), int(week), 1)
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"week: {raw!r} is not a week (2006-W23) or a day (2006-06-07)") from exc
    return day - timedelta(days=day.weekday())


async def default_week(db: Database, clock: Clock, municipality: int = 1) -> date:
    """The week of the latest report (this week, while it lasts)."""
    span = await panels.data_span(db, (municipality,))
    day = span[1] if span else clock.local(datetime.now(UTC)).date()
    return day - timedelta(days=day.weekday())


@dataclass
class Week:
    monday: date
    by_type: dict[str, int] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)  # weekly average of the 4 before
    last_year: dict[str, int] = field(default_factory=dict)
    trend: dict[str, dict[str, int]] = field(default_factory=dict)  # monday → {type: n}
    by_zone: dict[str, int] = field(default_factory=dict)
    zone_baseline: dict[str, float] = field(default_factory=dict)
    zone_hour: dict[str, list[int]] = field(default_factory=dict)
    kpis: Kpis = field(default_factory=Kpis)
    baseline_kpis: Kpis = field(default_factory=Kpis)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def total(self) -> int:
        return sum(self.by_type.values())

    @property
    def baseline_total(self) -> float:
        return sum(self.baseline.values())

    @property
    def types(self) -> list[str]:
        return sorted(set(self.by_type) | set(self.baseline) | set(self.last_year))

    @property
    def hotspots(self) -> list[tuple[str, int, int]]:
        return panels.top_hotspots(self.zone_hour, 8)

    @property
    def weeks(self) -> list[str]:
        return sorted(self.trend)


def _week(monday: date, whose: tuple[int, ...]) -> Filters:
    return Filters(monday, monday + timedelta(days=7), municipalities=whose)


async def build(db: Database, clock: Clock, monday: date, now: datetime | None = None,
                municipality: int = 1) -> Week:
    """One municipality's week for its security committee."""
    whose = (municipality,)
    this = _week(monday, whose)
    before = Filters(monday - timedelta(weeks=BASELINE_WEEKS), monday, municipalities=whose)
    year_ago = _week(monday - timedelta(weeks=52), whose)
    trend = await panels.by_week_type(
        db, Filters(monday - timedelta(weeks=TREND_WEEKS - 1), monday + timedelta(days=7),
                    municipalities=whose))
    for n in range(TREND_WEEKS):
        trend.setdefault((monday - timedelta(weeks=n)).isoformat(), {})
    baseline = {t: n / BASELINE_WEEKS for t, n in (await panels.by_type(db, before)).items()}
    zone_baseline = {z: n / BASELINE_WEEKS for z, n in (await panels.by_zone(db, before)).items()}
    return Week(
        monday=monday,
        by_type=await panels.by_type(db, this),
        baseline=baseline,
        last_year=await panels.by_type(db, year_ago),
        trend=trend,
        by_zone=await panels.by_zone(db, this),
        zone_baseline=zone_baseline,
        zone_hour=await panels.zone_hour(db, this),
        kpis=await panels.kpis(db, this, clock, now),
        baseline_kpis=await panels.kpis(db, before, clock, now),
    )


def change(now: float, before: float) -> float | None:
    return (now - before) / before if before else None


def charts_for(week: Week, labels: Mapping[str, str], shapes: Sequence[ZoneShape],
               tx: Callable[[str], str], theme: charts.Theme) -> dict[str, str]:
    types = [t for t in labels if t in week.types]
    weeks = week.weeks
    return {
        "trend": charts.lines(
            "weeks", tx("chart_weeks"), [w[5:] for w in weeks],
            [(labels.get(t, t), [week.trend[w].get(t, 0) for w in weeks]) for t in types],
            theme=theme, width=760),
        "types": charts.grouped_bars(
            "week-types", tx("this_week"), [labels.get(t, t) for t in types],
            [(tx("average_4"), [week.baseline.get(t, 0) for t in types]),
             (tx("this_week"), [week.by_type.get(t, 0) for t in types])],
            theme=theme, width=760),
        "zones": charts.choropleth("week-zones", tx("chart_choropleth"), shapes, week.by_zone,
                                   theme=theme, width=420, height=380),
    }


def _latin1(text: str) -> str:
    """The PDF's core fonts speak Latin-1: keep the accents, replace what they lack."""
    for a, b in (("–", "-"), ("—", "-"), ("…", "..."), ("→", "->"), ("←", "<-"), ("×", "x"),
                 ("÷", "/"), ("≈", "~"), ("’", "'")):
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.0f}%"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def pdf(week: Week, labels: Mapping[str, str], types: Sequence[str],
        shapes: Sequence[ZoneShape], tx: Callable[[str], str], town: str = "") -> bytes:
    """The committee report of the municipality ``town`` as a PDF (A4, core fonts, the
    charts as vector drawings)."""
    doc = FPDF(format="A4")
    doc.set_auto_page_break(True, margin=14)
    doc.set_title(_latin1(tx("committee_title")))
    doc.add_page()
    doc.set_font("Helvetica", "B", 15)
    doc.cell(0, 8, _latin1(tx("committee_title")), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("Helvetica", "", 11)
    if town:
        doc.cell(0, 7, _latin1(town), new_x="LMARGIN", new_y="NEXT")
    doc.cell(0, 7, _latin1(f"{tx('week')} {week.monday:%G-W%V}: {week.monday:%Y-%m-%d} - "
                           f"{week.sunday:%Y-%m-%d}"), new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    heads = [tx("type"), tx("this_week"), tx("average_4"), tx("vs_average"),
             tx("same_week_last_year")]
    rows = [[labels.get(t, t), str(week.by_type.get(t, 0)), f"{week.baseline.get(t, 0):.1f}",
             _pct(change(week.by_type.get(t, 0), week.baseline.get(t, 0))),
             str(week.last_year.get(t, 0))] for t in types]
    rows.append([tx("total"), str(week.total), f"{week.baseline_total:.1f}",
                 _pct(change(week.total, week.baseline_total)),
                 str(sum(week.last_year.values()))])
    _table(doc, heads, rows, (54, 28, 36, 28, 44))
    doc.ln(3)
    k, b = week.kpis, week.baseline_kpis
    _table(doc, [tx("kpis"), tx("this_week"), tx("average_4")], [
        [tx("first_action"), _minutes(k.first_action_median_s),
         _minutes(b.first_action_median_s)],
        [tx("within_15"), _share(k.first_action_within(900)), _share(b.first_action_within(900))],
        [tx("callbacks_on_time"), _share(k.callbacks_share), _share(b.callbacks_share)],
        [tx("confirmed"), _share(k.confirmed_share), _share(b.confirmed_share)],
    ], (82, 54, 54))
    found = charts_for(week, labels, shapes, tx, charts.LIGHT)
    doc.ln(3)
    doc.image(io.BytesIO(charts.for_pdf(found["trend"])), w=180)
    doc.image(io.BytesIO(charts.for_pdf(found["types"])), w=180)
    doc.add_page()
    doc.set_font("Helvetica", "B", 12)
    doc.cell(0, 8, _latin1(tx("hot_top")), new_x="LMARGIN", new_y="NEXT")
    _table(doc, [tx("zone"), tx("hour"), tx("reports")],
           [[z, f"{h:02d}:00-{h:02d}:59", str(n)] for z, h, n in week.hotspots], (40, 54, 40))
    doc.ln(3)
    doc.image(io.BytesIO(charts.for_pdf(found["zones"])), w=120)
    return bytes(doc.output())


def _table(doc: FPDF, heads: Sequence[str], rows: Sequence[Sequence[str]],
           widths: Sequence[float]) -> None:
    doc.set_font("Helvetica", "B", 8)
    doc.set_fill_color(230, 233, 238)
    for head, w in zip(heads, widths, strict=True):
        doc.cell(w, 7, _latin1(head), border=1, fill=True)
    doc.ln()
    doc.set_font("Helvetica", "", 9)
    for row in rows:
        for n, (value, w) in enumerate(zip(row, widths, strict=True)):
            doc.cell(w, 6, _latin1(value), border=1, align="L" if n == 0 else "R")
        doc.ln()
