"""Citizens' cases counted: the monthly figures per area and kind as the report, its CSV
and the public page lay them out (from ``Participation.monthly``). Counts only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Figures:
    area: str
    kind: str  # "" for the area's total
    received: int
    on_time: int
    late: int
    overdue: int

    @property
    def rate(self) -> float | None:
        """The share answered on time of the cases answered or already overdue."""
        settled = self.on_time + self.late + self.overdue
        return self.on_time / settled if settled else None


def _count(source: Any, name: str) -> int:
    value = source.get(name, 0) if isinstance(source, dict) else getattr(source, name, 0)
    return int(value or 0)


def figures(monthly: Iterable[Any]) -> list[Figures]:
    """``Participation.monthly``'s areas as rows: each area's kinds, then its total."""
    rows: list[Figures] = []
    for area in monthly:
        area_id = area["area"] if isinstance(area, dict) else area.area
        kinds = area["by_kind"] if isinstance(area, dict) else area.by_kind
        for kind, counts in sorted(kinds.items()):
            rows.append(Figures(area_id, kind, _count(counts, "received"),
                                _count(counts, "on_time"), _count(counts, "late"),
                                _count(counts, "overdue")))
        rows.append(Figures(area_id, "", _count(area, "received"), _count(area, "on_time"),
                            _count(area, "late"), _count(area, "overdue")))
    return rows
