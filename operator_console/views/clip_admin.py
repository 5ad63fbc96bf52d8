"""Clip audio in the console: the playback copy, the waveform, retention and re-transcription.

The playback copy (trimmed, loudness-normalised) is served by clip id with the
same rule as the original: the path comes from the database and must stay
inside the voiceclips folder. The original is never changed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.domain.roles import Role
from ivr.store import clip_views
from operator_console.security import parse_id, person_of, requires
from operator_console.state import console_of, desk_of
from operator_console.views.clips import clip_file, record_listen_if_start
from operator_console.views.reports import done, report_id

WAVE_BARS = 120  # the overview the player draws: at most this many bars


def waveform_bars(levels: list[float], seconds: float, width: int = 600,
                  height: int = 48) -> dict[str, Any]:
    """Bars (x, y, w, h) for an SVG overview of ``levels`` (0..1), resampled to WAVE_BARS."""
    if not levels:
        return {"bars": [], "width": width, "height": height, "seconds": seconds}
    count = min(WAVE_BARS, len(levels))
    step = len(levels) / count
    bars = []
    bar_w = width / count
    for i in range(count):
        chunk = levels[int(i * step): max(int((i + 1) * step), int(i * step) + 1)]
        level = max(0.0, min(1.0, max(chunk)))
        h = max(1.0, level * height)
        bars.append({"x": round(i * bar_w, 2), "y": round((height - h) / 2, 2),
                     "w": round(max(1.0, bar_w - 1), 2), "h": round(h, 2)})
    return {"bars": bars, "width": width, "height": height, "seconds": seconds}


def _clip_id(request: web.Request) -> int:
    clip_id = parse_id(request.match_info["clip"])
    if clip_id is None:
        raise web.HTTPNotFound(text="no such clip")
    return clip_id


@requires(Role.OPERATOR)
async def playback(request: web.Request) -> web.StreamResponse:
    """The playback copy of a clip; the original when no copy has been made (yet)."""
    console = console_of(request)
    number, clip_id = await report_id(request), _clip_id(request)
    row = await clip_views.clip_files(console.db, number, clip_id)
    if row is None:
        raise web.HTTPNotFound(text="no such clip")
    if row["purged_at"]:
        raise web.HTTPGone(text="this clip was removed under the retention rules")
    root = console.settings.voiceclips.resolve()
    path = clip_file(root, row["playback_path"]) if row["playback_path"] else None
    path = path or clip_file(root, row["path"])
    if path is None:
        raise web.HTTPNotFound(text="the clip file is missing")
    await record_listen_if_start(request, number, row["id"])
    return web.FileResponse(path, headers={
        "Content-Type": "audio/wav", "Cache-Control": "private, no-store",
        "Content-Disposition": f'inline; filename="report-{number}-clip-{row["id"]}-play.wav"',
    })


@requires(Role.SUPERVISOR)
async def legal_hold(request: web.Request) -> web.StreamResponse:
    number = await report_id(request)
    form = await request.post()
    await desk_of(request).legal_hold(number, form.get("on") == "1",
                                      str(form.get("reason", "")), person_of(request))
    return done(request, number)


@requires(Role.SUPERVISOR)
async def release_clips(request: web.Request) -> web.StreamResponse:
    number = await report_id(request)
    await desk_of(request).release_clips(number, person_of(request))
    return done(request, number)


@requires(Role.OPERATOR)
async def retranscribe(request: web.Request) -> web.StreamResponse:
    number, clip_id = await report_id(request), _clip_id(request)
    await desk_of(request).retranscribe(number, clip_id, person_of(request))
    return done(request, number)
