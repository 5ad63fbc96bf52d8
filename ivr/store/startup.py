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


async def close_interrupted_calls(db: Database, now: datetime,
                                  controller: str | None = None) -> list[int]:
    """Close the IVR calls this controller's last run left open (a crash, a kill -9).
    Calls opened from ``now`` on (this run's) are never touched, nor are other live
    controllers' (``ivr.store.controllers`` closes those of a controller that is gone).
    Calls that name no controller (made before there were several) count as ours.

    Each report gets ``call_outcome = 'interrupted'`` and a 'call.ended' event in
    the same transaction; that event's trigger queues the report's clip jobs at
    once (instead of the service's sweep an hour later). Returns the reports closed.
    """
    return await close_open_calls(db, now, controller=controller, mine=True,
                                  reason="the controller stopped during the call (crash or kill)")


async def close_open_calls(db: Database, now: datetime, *, controller: str | None,
                           reason: str, mine: bool = False) -> list[int]:
    """Close the calls ``controller`` left open before ``now`` (``mine``: and those that
    name no controller)."""
    at = iso(now)
    params: tuple[str, ...] = ()
    if controller is None:
        which = ""
    elif mine:
        which, params = " AND (controller = ? OR controller IS NULL)", (controller,)
    else:
        which, params = " AND controller = ?", (controller,)

    async def op(conn: aiosqlite.Connection) -> list[int]:
        rows = await conn.execute_fetchall(
            "SELECT id, call_last_step FROM reports"
            " WHERE channel = 'ivr' AND call_ended_at IS NULL AND created_at < ?" + which
            + " ORDER BY id", (at, *params)
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
                      "reason": reason},
            )
            closed.append(int(report))
        return closed

    return await db.write(op)


async def close_interrupted(db: Database, now: datetime,
                            controller: str | None = None) -> list[int]:
    """``close_interrupted_calls`` that logs instead of stopping the start-up on a store error.

    A store that cannot take this write now loses nothing: the reports stay open
    and the clip service's sweep still queues their clips later.
    """
    try:
        closed = await close_interrupted_calls(db, now, controller)
    except Exception:
        logger.exception("start-up: calls left open by a crash could not be closed")
        return []
    if closed:
        logger.warning(
            "start-up: %d call(s) cut short by a crash closed as interrupted: report(s) %s",
            len(closed), ", ".join(map(str, closed)),
        )
    return closed
