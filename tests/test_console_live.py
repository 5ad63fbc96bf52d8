"""Live updates: a simulated call's report reaches an open event stream; a stream that
reconnects with Last-Event-ID gets what it missed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse

from ivr.config import Settings
from ivr.testing.wav import make_tone_wav
from tests.console_util import Browser, console_site
from tests.e2e import report_number, running_line


async def read_events(response: ClientResponse, until: Any, limit_s: float = 10.0
                      ) -> list[dict[str, Any]]:
    """Parse server-sent events until ``until(events)`` is true (bounded in time)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}

    async def pump() -> None:
        nonlocal current
        while True:
            raw = await response.content.readline()
            if not raw:
                return
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in current:
                    events.append(current)
                    if until(events):
                        return
                current = {}
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(": ")
                current[field] = json.loads(value) if field == "data" and value[:1] in "{[" \
                    else value

    await asyncio.wait_for(pump(), limit_s)
    return events


def changes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e.get("event") == "change"]


async def stream(b: Browser, **headers: str) -> ClientResponse:
    response = await b.client.get("/events", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return response


async def test_a_call_reaches_an_open_stream(settings: Settings, tmp_path: Path) -> None:
    voice = tmp_path / "voice.wav"
    make_tone_wav(voice, 1.0)
    async with running_line(settings) as line, console_site(settings, db=line.svc.db) as site, \
            site.browser() as b:
        await b.login("ana")
        response = await stream(b)
        call = asyncio.create_task(line.call(keys=["1", "2", "1", "#", "1"], voice=voice))

        def ended(events: list[dict[str, Any]]) -> bool:
            return any(d["kind"] == "call.ended" for d in changes(events))

        events = await read_events(response, ended)
        result = await call
        number = report_number(result)
        kinds = [d["kind"] for d in changes(events) if d["report"] == number]
        assert kinds[0] == "report.opened" and kinds[-1] == "call.ended"
        assert "report.clip_attached" in kinds
        ids = [int(e["id"]) for e in events if e.get("event") == "change"]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        # The queue the console then fetches holds the new report.
        rows = (await (await b.get("/api/queue")).json())["reports"]
        assert [r["id"] for r in rows] == [number]
        response.close()


async def test_a_reconnecting_stream_gets_what_it_missed(settings: Settings,
                                                         tmp_path: Path) -> None:
    voice = tmp_path / "voice.wav"
    make_tone_wav(voice, 1.0)
    async with running_line(settings) as line, console_site(settings, db=line.svc.db) as site, \
            site.browser() as b:
        await b.login("ana")
        first = await line.call(keys=["1", "2", "1", "#", "1"], voice=voice)
        response = await stream(b, **{"Last-Event-ID": "0"})
        seen = await read_events(response, lambda ev: any(
            d["kind"] == "call.ended" for d in changes(ev)))
        last_id = max(int(e["id"]) for e in seen if e.get("event") == "change")
        response.close()  # the console loses its connection ...

        second = await line.call(keys=["1", "3", "1", "#", "1"], voice=voice)  # ... meanwhile
        await site.console.casework.add_note(report_number(first) or 0, "user:ana", "visto")

        again = await stream(b, **{"Last-Event-ID": str(last_id)})
        missed = await read_events(again, lambda ev: any(
            d["kind"] == "report.note" for d in changes(ev)))
        got = changes(missed)
        assert all(int(e["id"]) > last_id for e in missed if e.get("event") == "change")
        assert {d["report"] for d in got} == {report_number(first), report_number(second)}
        expected = await site.console.queries.events_after(last_id, 1)
        assert [d["id"] for d in got] == [row["id"] for row in expected]
        again.close()


async def test_stream_requires_a_session(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as anon:
        response = await anon.get("/events")
        assert response.status == 401
