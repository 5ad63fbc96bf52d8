"""``ivr.core.repositories.CaseRecords`` on SQLite: reports as people change them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite

from ivr.domain.reports import ReportState
from ivr.store import clip_views, events, handover, retention, transcripts
from ivr.store.casework import Casework
from ivr.store.db import Database
from ivr.store.queries import ConsoleQueries
from ivr.store.reports import iso


class CaseRecords:
    def __init__(self, db: Database, casework: Casework, queries: ConsoleQueries) -> None:
        self.db = db
        self.casework = casework
        self.queries = queries

    async def report(self, report: int) -> dict[str, Any] | None:
        return await self.queries.report(report)

    async def change_state(self, report: int, target: ReportState, actor: str, *, note: str,
                           unit: str, duplicate_of: int | None) -> None:
        await self.casework.change_state(report, target, actor, note=note, unit=unit,
                                         duplicate_of=duplicate_of)

    async def add_note(self, report: int, actor: str, text: str) -> None:
        await self.casework.add_note(report, actor, text)

    async def record_listen(self, report: int, clip: int, actor: str) -> None:
        await self.casework.record_listen(report, clip, actor)

    async def reserve(self, report: int, actor: str, *, release: bool) -> None:
        await self.casework.reserve(report, actor, release=release)

    async def set_legal_hold(self, report: int, on: bool, *, actor: str, reason: str,
                             now: datetime) -> None:
        await retention.set_legal_hold(self.db, report, on, actor=actor, reason=reason, now=now)

    async def release_clips(self, report: int, *, actor: str, now: datetime) -> None:
        await retention.release_clips(self.db, report, actor=actor, now=now)

    async def clip_exists(self, report: int, clip: int) -> bool:
        return await clip_views.clip_files(self.db, report, clip) is not None

    async def requeue_transcript(self, clip: int, now: datetime, actor: str) -> None:
        await transcripts.requeue(self.db, clip, "transcribe", now, actor)

    async def hand_over(self, report: int, neighbour: int, *, actor: str, note: str,
                        now: datetime) -> int:
        return await handover.hand_over(self.db, report, neighbour, actor=actor, note=note,
                                        moment=now)

    async def audit(self, kind: str, at: datetime, *, actor: str,
                    data: dict[str, Any], municipality: int | None = None) -> None:
        async def op(conn: aiosqlite.Connection) -> None:
            await events.append(conn, None, kind, iso(at), actor=actor, data=data,
                                municipality=municipality)

        await self.db.write(op)
