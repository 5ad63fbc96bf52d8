"""Clip playback by report id: the path comes from the database, never from the request.

``web.FileResponse`` answers HTTP Range requests, so the player can seek. The
first request of a playback (no Range, or one starting at byte 0) is written
to the report's history as a listen.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from aiohttp import web

from ivr.domain.roles import Role
from operator_console.security import parse_id, person_of, requires
from operator_console.state import console_of, desk_of
from operator_console.views.reports import report_id

logger = logging.getLogger(__name__)

_FROM_START = re.compile(r"^bytes=0-\d*$")


def clip_file(root: Path, stored: str) -> Path | None:
    """The stored path under the voiceclips folder, or None if it would leave it."""
    try:
        full = (root / stored).resolve(strict=True)
        full.relative_to(root)
    except (OSError, ValueError, RuntimeError):
        return None
    return full if full.is_file() else None


async def record_listen_if_start(request: web.Request, report: int, clip_id: int) -> None:
    """A playback starts with no Range or one from byte 0; seeks are not new listens."""
    range_header = request.headers.get("Range", "")
    if request.method == "GET" and (not range_header or _FROM_START.match(range_header)):
        await desk_of(request).listened(report, clip_id, person_of(request))


@requires(Role.OPERATOR)
async def clip(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    number = await report_id(request)
    raw = request.match_info.get("clip")
    clip_id: int | None = None
    if raw is not None:
        clip_id = parse_id(raw)
        if clip_id is None:
            raise web.HTTPNotFound(text="no such clip")
    row = await console.queries.clip(number, clip_id)
    if row is None:
        raise web.HTTPNotFound(text="no such clip")
    if row["purged_at"]:
        raise web.HTTPGone(text="this clip was removed under the retention rules")
    root = console.settings.voiceclips.resolve()
    path = clip_file(root, row["path"])
    if path is None:
        logger.warning("report %d: clip %d is missing from %s", number, row["id"], root)
        raise web.HTTPNotFound(text="the clip file is missing")
    await record_listen_if_start(request, number, row["id"])
    return web.FileResponse(path, headers={
        "Content-Type": "audio/wav",
        "Content-Disposition": f'inline; filename="report-{number}-clip-{row["id"]}.wav"',
        "Cache-Control": "private, no-store",
    })
