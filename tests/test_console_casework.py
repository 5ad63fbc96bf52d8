"""What operators do on a report page, through the real console over HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.domain.roles import Role
from ivr.testing.wav import make_tone_wav
from tests.console_util import PASSWORD, Browser, console_site
from tests.e2e import report_number, running_line

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL


async def _file(b: Browser, **fields: str) -> int:
    data = {"channel": "radio", "type": "robbery", "summary": "asalto en Larco",
            "caller": "987654321", "zone": "3", "address": "Av. Larco 400", **fields}
    response = await b.post("/reports", data)
    assert response.status == 303, await response.text()
    found = re.fullmatch(r"/reports/(\d+)", response.headers["Location"])
    assert found
    return int(found.group(1))


async def _state(b: Browser, report: int, state: str, **extra: str) -> tuple[int, str]:
    response = await b.post(f"/reports/{report}/state", {"state": state, **extra})
    return response.status, await response.text()


async def test_manual_entry_records_channel_and_author(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("ana")
        number = await _file(b, channel="field")
        report = await site.console.queries.report(number)
        assert report and report["channel"] == "field" and report["summary"] == "asalto en Larco"
        (opened,) = await site.console.queries.history(number)
        assert opened["actor"] == "user:ana" and opened["data"]["channel"] == "field"
        refused = await b.post("/reports", {"channel": "ivr", "type": "robbery", "summary": "x"})
        assert refused.status == 400 and "channel" in (await refused.json())["error"]


async def test_the_whole_life_of_a_report(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("ana")
        number = await _file(b)
        assert (await _state(b, number, "acknowledged"))[0] == 303
        status, text = await _state(b, number, "dispatched")
        assert status == 400 and "unit" in text  # a dispatch names its unit
        assert (await _state(b, number, "dispatched", unit="M-12", note="va en camino"))[0] == 303
        assert (await _state(b, number, "on_scene"))[0] == 303
        assert (await b.post(f"/reports/{number}/notes", {"text": "detenido"})).status == 303
        assert (await _state(b, number, "resolved"))[0] == 303
        status, text = await _state(b, number, "acknowledged")
        assert status == 400 and "cannot become acknowledged" in text
        history = await site.console.queries.history(number)
        steps = [(e["kind"], e["data"].get("to")) for e in history]
        assert steps == [
            ("report.opened", None), ("report.state_changed", "acknowledged"),
            ("report.state_changed", "dispatched"), ("report.state_changed", "on_scene"),
            ("report.note", None), ("report.state_changed", "resolved"),
        ]
        assert all(e["actor"] == "user:ana" for e in history)
        dispatched = history[2]["data"]
        assert dispatched["unit"] == "M-12" and dispatched["note"] == "va en camino"
        page = await (await b.get(f"/reports/{number}")).text()
        assert "M-12" in page and "detenido" in page


async def test_duplicate_links_to_its_original(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("ana")
        original, copy = await _file(b), await _file(b)
        status, text = await _state(b, copy, "duplicate")
        assert status == 400 and "original" in text
        assert (await _state(b, copy, "duplicate", duplicate_of=str(copy)))[0] == 400
        assert (await _state(b, copy, "duplicate", duplicate_of="999"))[0] == 404
        assert (await _state(b, copy, "duplicate", duplicate_of=str(original)))[0] == 303
        report = await site.console.queries.report(copy)
        assert report and report["duplicate_of"] == original and report["state"] == "duplicate"
        assert f'href="/reports/{original}"' in await (await b.get(f"/reports/{copy}")).text()


async def test_bad_input_gets_a_clear_4xx(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("ana")
        number = await _file(b)
        assert (await _state(b, number, "flying"))[0] == 400
        assert (await b.post(f"/reports/{number}/notes", {"text": ""})).status == 400
        assert (await b.post(f"/reports/{number}/notes", {"text": "x" * 5000})).status == 400
        assert (await b.post(f"/reports/{number}/notes", {"text": "a\x00b"})).status == 400
        assert (await b.post("/reports/424242/notes", {"text": "hola"})).status == 404
        assert (await b.get("/reports/424242")).status == 404
        assert (await b.get("/reports?since=yesterday")).status == 400
        big = await b.post(f"/reports/{number}/notes", {"text": "x" * 400_000})
        assert big.status == 413
        assert (await site.console.queries.report(number)) is not None


async def test_search_filters_and_words_in_notes(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("ana")
        a = await _file(b, type="robbery", zone="3", summary="robo de celular")
        n = await _file(b, type="noise", zone="5", summary="fiesta con música alta",
                        caller="912345678")
        await b.post(f"/reports/{a}/notes", {"text": "sospechoso con casaca roja"})

        async def ids(query: str) -> list[int]:
            page = await (await b.get(f"/reports?{query}")).text()
            return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', page)]

        assert await ids("") == [n, a]
        assert await ids("type=noise") == [n]
        assert await ids("zone=3") == [a]
        assert await ids("caller=912345678") == [n]
        assert await ids("words=casaca") == [a]
        assert await ids("words=musica") == [n]  # accents folded
        assert await ids("words=cas") == [a]  # prefixes
        assert await ids("words=%22OR%22*") == []  # FTS syntax cannot be injected
        assert await ids("state=resolved") == []
        assert await ids(f"before={n}") == [a]


async def test_listening_is_audited_and_seekable(settings: Settings, tmp_path: Path) -> None:
    voice = tmp_path / "voice.wav"
    make_tone_wav(voice, 2.0)
    async with running_line(settings) as line, console_site(settings, db=line.svc.db) as site, \
            site.browser() as b:
        await b.login("ana")
        number = report_number(await line.call(keys=["1", "2", "1", "#", "1"], voice=voice))
        whole = await b.get(f"/reports/{number}/clip")
        assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
        body = await whole.read()
        assert body == voice.read_bytes() or body[:4] == b"RIFF"
        part = await b.get(f"/reports/{number}/clip", headers={"Range": "bytes=100-199"})
        assert part.status == 206 and len(await part.read()) == 100
        assert part.headers["Content-Range"].startswith("bytes 100-199/")
        listens = [e for e in await site.console.queries.history(number or 0)
                   if e["kind"] == "clip.listened"]
        assert len(listens) == 1 and listens[0]["actor"] == "user:ana"


async def test_callback_reservation(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as ana, site.browser() as sofia:
        await ana.login("ana")
        await sofia.login("sofia")
        number = await _file(ana)
        assert (await ana.post(f"/reports/{number}/reserve")).status == 303
        report = await site.console.queries.report(number)
        assert report and report["reserved_by"] == "ana"
        async with site.browser() as other:
            await site.console.users.add("beto", Role.OPERATOR, PASSWORD)
            await other.login("beto")
            refused = await other.post(f"/reports/{number}/reserve")
            assert refused.status == 400 and "ana" in (await refused.json())["error"]
        # A supervisor may take it over.
        assert (await sofia.post(f"/reports/{number}/reserve")).status == 303
        report = await site.console.queries.report(number)
        assert report and report["reserved_by"] == "sofia"


async def test_an_overdue_reservation_lapses_to_anyone(settings: Settings) -> None:
    async with console_site(settings, callback_release_minutes=10) as site, \
            site.browser() as ana, site.browser() as beto:
        await site.console.users.add("beto", Role.OPERATOR, PASSWORD)
        await ana.login("ana")
        await beto.login("beto")
        number = await _file(ana)
        await ana.post(f"/reports/{number}/reserve")

        async def age(minutes: int) -> None:  # as if the report came in that long ago
            async def op(conn):  # type: ignore[no-untyped-def]
                await conn.execute(
                    "UPDATE reports SET callback_due_at = strftime('%Y-%m-%dT%H:%M:%f+00:00',"
                    " 'now', ?), reserved_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', ?)"
                    " WHERE id = ?", (f"-{minutes} minutes", f"-{minutes + 60} minutes", number))
            await site.console.db.write(op)

        await age(5)  # overdue, but for less than the release time: still ana's
        assert (await beto.post(f"/reports/{number}/reserve")).status == 400
        await age(11)
        queue = (await (await beto.get("/api/queue")).json())["reports"]
        (row,) = [r for r in queue if r["id"] == number]
        assert row["overdue"] and row["reservation_lapsed"]
        supervision_page = await beto.get("/supervision")
        assert supervision_page.status == 403  # flagged to supervisors, not operators
        assert (await beto.post(f"/reports/{number}/reserve")).status == 303
        report = await site.console.queries.report(number)
        assert report and report["reserved_by"] == "beto"
