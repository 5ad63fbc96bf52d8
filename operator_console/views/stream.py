"""Server-sent events: every new ``events`` row of the session's municipality, resumable
with ``Last-Event-ID`` (a resume from any id never yields another municipality's rows)."""

from __future__ import annotations

import contextlib
import json

from aiohttp import web

from ivr.domain.roles import Role
from operator_console.security import municipality_id, requires
from operator_console.state import CONSOLE, Console, console_of

KEEPALIVE_S = 15.0
BATCH = 500


def _start_id(request: web.Request, newest: int) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after", "")
    if raw.isascii() and raw.isdigit() and len(raw) < 19:
        return min(int(raw), newest)
    return newest


@requires(Role.OPERATOR)
async def events(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    console.metrics.console_streams.inc()
    try:
        await _stream(request, response, console)
    finally:
        console.metrics.console_streams.dec()
    return response


async def _stream(request: web.Request, response: web.StreamResponse, console: Console) -> None:
    feed = console.feed
    here = municipality_id(request)
    last = _start_id(request, await console.queries.last_event_id())
    generation = feed.generation
    extra_sent: dict[str, str] = {}
    await response.write(b"retry: 1000\n\n")
    try:
        while True:
            for name, payload in list(feed.extra.items()):
                if extra_sent.get(name) != payload:
                    extra_sent[name] = payload
                    await response.write(f"event: {name}\ndata: {payload}\n\n".encode())
            while True:
                rows = await console.queries.events_after(last, here, BATCH)
                more = len(rows) >= BATCH
                for row in rows:
                    last = row["id"]
                    if row.get("skip"):  # other municipalities' events, read past
                        more = True
                        continue
                    body = json.dumps({
                        "id": row["id"], "report": row["report_id"], "kind": row["kind"],
                        "at": row["at"], "actor": row["actor"], "data": json.loads(row["data"]),
                    }, ensure_ascii=False, separators=(",", ":"))
                    await response.write(f"id: {last}\nevent: change\ndata: {body}\n\n".encode())
                if not more:
                    break
            new_generation = await feed.wait(generation, KEEPALIVE_S)
            if new_generation == generation:
                await response.write(b": keepalive\n\n")
            generation = new_generation
            if request.transport is None or request.transport.is_closing():
                break
            if request.app[CONSOLE].value is None:  # shutting down
                break
    except ConnectionResetError:
        pass  # the console went away; it will resume from Last-Event-ID
    with contextlib.suppress(Exception):
        await response.write_eof()
