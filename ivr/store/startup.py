"""Start-up of the controller: what a crash left open in the store is closed here."""

from __future__ import annotations

import logging
from datetime import datetime

import aiosqlite

from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted"


async def close_interrupted_calls(db: Database, now: datetime) -> list[int]:
    """Close every IVR call opened before ``now`` and still open: its controller is gone
    (a crash, a kill -9). Calls of this run (opened from ``now`` on) are never touched.

    Each report gets ``call_outcome = 'interrupted'`` and a 'call.ended' event in
    the same transaction; that event's trigger queues the report's clip jobs at
    once (instead of the service's sweep an hour later). Returns the reports closed.

    Only for the start-up of the single controller, before it takes calls: then
    every open call belongs to a controller that is gone. Several controllers on
    one store need each report to name the controller that runs its call (and a
    heartbeat or lease per controller), and must close only the calls of
    controllers whose lease ran out; never another live controller's calls.
    """
    at = iso(now)

    async def op(conn: aiosqlite.Connection) -> list[int]:
        rows = await conn.execute_fetchall(
            "SELECT id, call_last_step FROM reports"
            " WHERE channel = 'ivr' AND call_ended_at IS NULL AND created_at < ?"
            " ORDER BY id", (at,)
        )
        closed = []
        for report, last_step in rows:
            await conn.execute(
                "UPDATE reports SET call_outcome = ?1, call_ended_at = ?2,"
                " updated_at = ?2 WHERE id = ?3 AND call_ended_at IS NULL",
                (INTERRUPTED, at, report),
            )
            await events.append(
                conn, report, "call.ended", at, actor="system",
                data={"complete": False, "outcome": INTERRUPTED, "last_step": last_step,
                      "reason": "the controller stopped during the call (crash or kill)"},
            )
            closed.append(int(report))
        return closed

    return await db.write(op)



async def close_interrupted(db: Database, now: datetime) -> list[int]:
    """``close_interrupted_calls`` that logs instead of stopping the start-up on a store error.

    A store that cannot take this write now loses nothing: the reports stay open
    and the clip service's sweep still queues their clips later.
    """
    try:
        closed = await close_interrupted_calls(db, now)
    except Exception:
        logger.exception("start-up: calls left open by a crash could not be closed")
        return []
    if closed:
        logger.warning(
            "start-up: %d call(s) cut short by a crash closed as interrupted: report(s) %s",
            len(closed), ", ".join(map(str, closed)),
        )
    return closed
