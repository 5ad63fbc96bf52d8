"""The append-only event log: the audit trail and the console's feed."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from ivr.domain.municipalities import RANGE


async def append(
    conn: aiosqlite.Connection,
    report_id: int | None,
    kind: str,
    at: str,
    *,
    actor: str = "ivr",
    data: dict[str, Any] | None = None,
    municipality: int | None = None,
) -> int:
    """Add one event; call it inside the write transaction of the change it records.

    A report's events belong to the report's municipality (``municipality`` is then
    left out); an event about no report names its municipality, or none for the
    whole deployment.
    """
    if report_id is not None:
        municipality = report_id // RANGE + 1
    cur = await conn.execute(
        "INSERT INTO events (report_id, at, actor, kind, data, municipality_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (report_id, at, actor, kind, json.dumps(data or {}, separators=(",", ":")),
         municipality),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid
