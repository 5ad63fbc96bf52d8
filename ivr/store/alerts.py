"""Alerts for the command centre: an event row the console's feed shows at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite

from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso


async def raise_alert(
    db: Database, report: int | None, kind: str, now: datetime, data: dict[str, Any]
) -> int:
    """Record an alert (kind ``alert.*``); returns the event id."""
    if not kind.startswith("alert."):
        raise ValueError(f"alert kinds start with 'alert.', not {kind!r}")

    async def op(conn: aiosqlite.Connection) -> int:
        return await events.append(conn, report, kind, iso(now), actor="system", data=data)

    return await db.write(op)
