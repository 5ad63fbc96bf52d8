"""The append-only event log: the audit trail and the console's feed."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite


async def append(
    conn: aiosqlite.Connection,
    report_id: int | None,
    kind: str,
    at: str,
    *,
    actor: str = "ivr",
    data: dict[str, Any] | None = None,
) -> int:
    """Add one event; call it inside the write transaction of the change it records."""
    cur = await conn.execute(
        "INSERT INTO events (report_id, at, actor, kind, data) VALUES (?, ?, ?, ?, ?)",
        (report_id, at, actor, kind, json.dumps(data or {}, separators=(",", ":"))),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid
