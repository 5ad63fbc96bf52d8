"""Prompt recordings by phone: one row per ring of an admin's phone, audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import aiosqlite

from ivr.core.ports import Recording
from ivr.core.records import FINAL_RECORDING_STATES, RECORDING_STATES
from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso, utc_now

STATES = RECORDING_STATES
FINAL = FINAL_RECORDING_STATES


class RecordingStore:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def create(self, rec: Recording) -> None:
        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO prompt_recordings (token, line_id, prompt_id, language, cue_audio,"
                " requested_by, endpoint, state, takes, kept_audio, detail, requested_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, ?, ?, ?)",
                (rec.token, rec.line_id, rec.prompt_id, rec.language, rec.cue_audio,
                 rec.requested_by, rec.endpoint, rec.state, rec.detail, rec.requested_at,
                 rec.updated_at))
            await events.append(conn, None, "prompt.phone_requested", rec.requested_at,
                                actor=rec.requested_by, data=_data(rec))

        await self.db.write(op)

    async def get(self, token: str) -> Recording | None:
        row = await self.db.fetchone("SELECT * FROM prompt_recordings WHERE token = ?", (token,))
        return Recording(**{k: row[k] for k in row.keys()}) if row else None

    async def update(self, token: str, state: str, *, detail: str = "",
                     kept_audio: str | None = None, take: bool = False) -> Recording | None:
        """Move a recording on; a final state is kept (a late update changes nothing)."""
        assert state in STATES
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            cur = await conn.execute(
                "UPDATE prompt_recordings SET state = ?, detail = ?, updated_at = ?,"
                " kept_audio = coalesce(?, kept_audio), takes = takes + ?"
                " WHERE token = ? AND state NOT IN ('kept', 'abandoned', 'failed')",
                (state, detail[:300], now, kept_audio, int(take), token))
            if cur.rowcount and state in FINAL:
                row = await (await conn.execute(
                    "SELECT * FROM prompt_recordings WHERE token = ?", (token,))).fetchone()
                assert row is not None
                rec = Recording(**{k: row[k] for k in row.keys()})
                await events.append(conn, None, f"prompt.phone_{state}", now,
                                    actor=rec.requested_by, data=_data(rec))

        await self.db.write(op)
        return await self.get(token)


def _data(rec: Recording) -> dict[str, object]:
    return {"line": rec.line_id, "prompt": rec.prompt_id, "language": rec.language,
            "endpoint": rec.endpoint, "takes": rec.takes, "audio": rec.kept_audio,
            "detail": rec.detail}
