"""Reports as the public may see them (Open311 ``requests``): no callers, no notes, no
participation cases (those are read with an API key: ``ivr.store.open311``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ivr.store.db import Database


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


async def page(db: Database, municipality: int, *, cutoff: datetime, ids: Sequence[int] = (),
               since: datetime | None = None, until: datetime | None = None,
               types: Sequence[str] = (), states: Sequence[str] = (), limit: int = 50,
               offset: int = 0) -> list[dict[str, Any]]:
    """One municipality's, newest first; only reports older than ``cutoff``; by id, or by
    window and filters."""
    where = ["municipality_id = ?", "created_at <= ?", "service IS NULL"]  # cases: by key
    params: list[Any] = [municipality, _iso(cutoff)]
    if ids:
        where.append(f"id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    else:
        for op, moment in ((">=", since), ("<=", until)):
            if moment is not None:
                where.append(f"created_at {op} ?")
                params.append(_iso(moment))
        for column, values in (("type", types), ("state", states)):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
    rows = await db.fetchall(
        "SELECT id, type, state, zone, created_at, updated_at FROM reports"
        f" WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset))
    return [dict(r) for r in rows]
