"""The municipal areas of a participation line: who answers a complaint, suggestion or
query, by which key the caller picks it, and its own answer deadlines.

An area is catalogue data, edited with the rest of its line. Its ``days`` override the
business days a kind of case (a type of the line) is answered in; a kind it does not
name keeps the type's ``answer_days``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_ID = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
KEYS = "0123456789*#"
MAX_AREAS = 30
MAX_DAYS = 365  # business days; a deadline beyond a year is a typing slip


class AreaError(ValueError):
    """An area that cannot be read; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Area:
    id: str  # stable: cases and officers' grants keep it
    key: str  # the key a caller presses for it
    labels: Mapping[str, str] = field(default_factory=dict)  # language → label
    days: Mapping[str, int] = field(default_factory=dict)  # type id → business days

    def label(self, language: str, fallback: str = "") -> str:
        return (self.labels.get(language) or self.labels.get(fallback)
                or next(iter(self.labels.values()), "") or self.id)

    @property
    def announce(self) -> str:
        """The prompt that offers it: "Para limpieza pública," then press and the key."""
        return f"area_{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "labels": dict(sorted(self.labels.items())),
                "days": dict(sorted(self.days.items()))}


def read_areas(doc: Any, where: str) -> tuple[Area, ...]:
    if not isinstance(doc, list):
        raise AreaError(f"{where}: 'areas' must be a list")
    if len(doc) > MAX_AREAS:
        raise AreaError(f"{where}: at most {MAX_AREAS} areas")
    areas = tuple(_read_area(a, where) for a in doc)
    for attr in ("id", "key"):
        seen: set[str] = set()
        for a in areas:
            value = getattr(a, attr)
            if value in seen:
                raise AreaError(f"{where}: area {attr} {value!r} is used twice")
            seen.add(value)
    return areas


def _read_area(doc: Any, line: str) -> Area:
    if not isinstance(doc, Mapping):
        raise AreaError(f"{line}: an area must be an object")
    aid = doc.get("id")
    if not isinstance(aid, str) or not _ID.match(aid):
        raise AreaError(f"{line}: area id {str(aid)[:60]!r} must be lower-case letters, "
                        "digits and _")
    where = f"{line} area {aid}"
    key = doc.get("key")
    if not isinstance(key, str) or len(key) != 1 or key not in KEYS:
        raise AreaError(f"{where}: key must be one of {KEYS}")
    labels = doc.get("labels", {})
    if not isinstance(labels, Mapping) or not all(
            isinstance(v, str) and 0 < len(v) <= 80 and v.isprintable() for v in labels.values()):
        raise AreaError(f"{where}: labels must be up to 80 printable characters each")
    days = doc.get("days", {})
    if not isinstance(days, Mapping):
        raise AreaError(f"{where}: days must map a type id to business days")
    for kind, n in days.items():
        if not isinstance(kind, str) or not _ID.match(kind):
            raise AreaError(f"{where}: {str(kind)[:40]!r} is not a type id")
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_DAYS:
            raise AreaError(f"{where}: days for {kind} must be 1..{MAX_DAYS} business days")
    return Area(aid, key, dict(labels), dict(days))
