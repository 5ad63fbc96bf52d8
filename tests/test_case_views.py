"""The case pages' reads on both engines: the queue of some areas (overdue first, then by
due date, filters, pages), one case only where it may be seen, and the supervision
figures of a hand-made set on a fixed date."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from ivr.domain.municipalities import report_id
from ivr.store import engine as store_engine
from ivr.store.case_views import CaseFilters, CaseViews
from ivr.store.db import Database
from ivr.store.municipalities import Municipalities

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

TODAY = date(2026, 12, 4)  # a Friday
NEAR = date(2026, 12, 10)  # three business days on (Tuesday the 8th is a holiday)
MONTH = (date(2026, 12, 1), date(2027, 1, 1))

# number: (municipality, area, kind, due_on, state, answered_on)
CASES: dict[int, tuple[int, str, str, str, str, str | None]] = {
    1: (1, "cleaning", "complaint", "2026-11-20", "open", None),  # overdue
    2: (1, "cleaning", "query", "2026-12-09", "open", None),  # near
    3: (1, "cleaning", "complaint", "2027-01-20", "open", None),
    4: (1, "parks", "complaint", "2026-12-03", "open", None),  # overdue by a day
    5: (1, "parks", "suggestion", "2026-12-10", "answered", "2026-12-02"),  # on time
    6: (1, "parks", "complaint", "2026-11-30", "closed", "2026-12-01"),  # late
    7: (1, "parks", "complaint", "2026-10-30", "closed", "2026-11-30"),  # last month
    8: (2, "cleaning", "complaint", "2026-11-01", "open", None),  # another municipality's
}


@pytest.fixture
async def views(database: Any) -> AsyncIterator[CaseViews]:
    db = await store_engine.database(database).open()
    await Municipalities(db).add("san-isidro", "San Isidro", "America/Lima", actor="test")
    await _cases(db)
    try:
        yield CaseViews(db)
    finally:
        await db.close()


async def _cases(db: Database) -> None:
    async def op(conn: Any) -> None:
        for number, (town, area, kind, due, state, answered) in CASES.items():
            report = report_id(town, number)
            await conn.execute(
                "INSERT INTO reports (id, municipality_id, type, priority, created_at,"
                " updated_at, caller, service) VALUES (?, ?, ?, 5, ?, ?, '987654321',"
                " 'participation')",
                (report, town, kind, "2026-11-01T15:00:00+00:00", "2026-11-01T15:00:00+00:00"))
            await conn.execute(
                "INSERT INTO cases (report_id, municipality_id, kind, area, intake, subject,"
                " received_on, business_days, due_on, state, answered_on, updated_at)"
                " VALUES (?, ?, ?, ?, 'counter', ?, '2026-11-01', 15, ?, ?, ?, ?)",
                (report, town, kind, area, f"case {number}", due, state, answered,
                 "2026-11-01T15:00:00+00:00"))

    await db.write(op)


def numbers(rows: list[dict[str, Any]]) -> list[int]:
    return [int(r["subject"].split()[1]) for r in rows]


def filters(**kw: Any) -> CaseFilters:
    return CaseFilters(today=TODAY, near_until=NEAR, **kw)


async def test_the_queue_is_overdue_first_then_by_due_date(views: CaseViews) -> None:
    assert numbers(await views.queue(1, None, filters())) == [1, 4, 2, 3]
    assert numbers(await views.queue(1, ["cleaning"], filters())) == [1, 2, 3]
    assert numbers(await views.queue(1, [], filters())) == []  # no area granted: nothing
    assert numbers(await views.queue(1, None, filters(state=""))) == [1, 4, 7, 6, 2, 5, 3]
    assert numbers(await views.queue(1, None, filters(due="overdue"))) == [1, 4]
    assert numbers(await views.queue(1, None, filters(due="near"))) == [2]
    assert numbers(await views.queue(1, None, filters(kind="query"))) == [2]
    assert numbers(await views.queue(1, None, filters(area="parks", state="closed"))) == [7, 6]
    first = await views.queue(1, None, filters(), per_page=2)
    assert numbers(first) == [1, 4, 2]  # one more than a page: there is a next page
    assert numbers(await views.queue(1, None, filters(page=1), per_page=2)) == [2, 3]
    assert numbers(await views.queue(2, None, filters())) == [8]


async def test_a_case_is_found_only_where_it_may_be_seen(views: CaseViews) -> None:
    parks = report_id(1, 4)
    found = await views.case(parks, 1, None)
    assert found is not None and found["area"] == "parks" and found["due_on"] == "2026-12-03"
    assert await views.case(parks, 1, ["parks"]) is not None
    assert await views.case(parks, 1, ["cleaning"]) is None
    assert await views.case(parks, 1, []) is None
    assert await views.case(report_id(2, 8), 1, None) is None  # another municipality's
    page = await views.case_page(parks, 1, ["parks"])
    assert page is not None and page["clips"] == [] and page["callbacks"] == []


async def test_supervision_figures_of_a_hand_made_set(views: CaseViews) -> None:
    rows = await views.by_area(1, TODAY, NEAR, MONTH)
    assert rows == [
        {"area": "cleaning", "open": 3, "near": 1, "overdue": 1, "on_time": 0, "late": 0},
        {"area": "parks", "open": 1, "near": 0, "overdue": 1, "on_time": 1, "late": 1},
    ]
    assert numbers(await views.overdue(1, TODAY)) == [1, 4]
    assert numbers(await views.overdue(2, TODAY)) == [8]
