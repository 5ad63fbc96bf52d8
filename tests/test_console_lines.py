"""Admins change lines in the console; calls through the real FastAGI server hear it.

The console and the controller share one database, as in ``alerta serve``; every
admin action is an HTTP request to the real console (session, CSRF, roles); every
call is the fake Asterisk dialling the real server.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.testing import make_tone_wav
from tests.console_util import Browser, Site, console_site
from tests.e2e import Line, report_number, running_line
from tests.test_startup_resilience import fill, small_disk

KEY_TWO = ["1", "2", "1", "#", "1"]


@pytest.fixture
async def both(settings: Settings) -> AsyncIterator[tuple[Line, Site]]:
    async with running_line(settings) as line, console_site(settings, db=line.svc.db) as site:
        yield line, site


@pytest.fixture
async def admin(both: tuple[Line, Site]) -> AsyncIterator[Browser]:
    async with both[1].browser() as b:
        assert (await b.login("root")).status == 302
        yield b


@pytest.fixture
def voice(tmp_path: Path) -> Path:
    return make_tone_wav(tmp_path / "voice.wav", 2.0)


def file_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


async def report_line(site: Site) -> int:
    assert site.console.lines is not None
    (row,) = [r for r in await site.console.lines.lines() if r.slug == "report"]
    return row.id


async def ok(response_awaitable: object) -> str:
    response = await response_awaitable  # type: ignore[misc]
    assert response.status in (200, 303), (response.status, await response.text())
    location = response.headers.get("Location", "")
    assert "error=" not in location, location
    return location


async def upload(b: Browser, url: str, data: bytes, name: str) -> tuple[int, dict[str, str]]:
    r = await b.client.post(url, data=data, headers={
        "Origin": b.origin, "X-CSRF-Token": b.csrf, "X-Filename": name,
        "Content-Type": "application/octet-stream"})
    return r.status, await r.json()


async def page_of(b: Browser, line_id: int) -> str:
    r = await b.get(f"/admin/lines/{line_id}", headers={"Accept": "text/html"})
    assert r.status == 200
    return await r.text()


async def test_edit_publish_and_restore_from_the_console_are_heard_by_calls(
    both: tuple[Line, Site], admin: Browser, voice: Path, tmp_path: Path
) -> None:
    line, site = both
    line_id = await report_line(site)
    base = f"/admin/lines/{line_id}"
    # The draft: a new type on key 2 (menu), its label and prompt, a new greeting.
    await ok(admin.post(f"{base}/types", {"id": "fire", "label_es": "Incendio",
                                          "label_en": "Fire", "priority": "1"}))
    menu = re.search(r'name="options"[^>]*>([^<]*)</textarea>', await page_of(admin, line_id))
    assert menu is not None and "2 type robbery" in menu.group(1)
    options = menu.group(1).replace("2 type robbery", "2 type fire")
    await ok(admin.post(f"{base}/menus", {"id": "main", "intro": "menu_intro", "options": options,
                                          "tries": "3", "timeout_s": "1",
                                          "on_fail": "operator"}))
    tone = make_tone_wav(tmp_path / "greeting.wav", 1.0, 880).read_bytes()
    status, answer = await upload(admin, f"{base}/prompts/greeting/es/upload", tone,
                                  "saludo.wav")
    assert status == 200, answer
    for lang, text in (("es", "Para un incendio,"), ("en", "For a fire,")):
        await ok(admin.post(f"{base}/prompts/type_fire/{lang}/speak", {"text": text}))

    drafted = await line.call(keys=KEY_TWO, voice=voice)
    assert (await line.report(report_number(drafted) or 0))["type"] == "robbery"

    await ok(admin.post(f"{base}/publish", {"note": "fire on 2"}))
    published = await line.call(keys=KEY_TWO, voice=voice)
    assert (await line.report(report_number(published) or 0))["type"] == "fire"
    assert any(p.endswith("/es/type_fire") for p in published.played)
    # What the caller heard is the upload as the console serves it for preview.
    greeting = next(p for p in published.played if p.endswith("/es/greeting"))
    served = await (await admin.get(f"/admin/lines/audio/{answer['audio']}")).read()
    assert file_bytes(greeting + ".wav") == served

    await ok(admin.post(f"{base}/restore", {"version": "1"}))
    restored = await line.call(keys=KEY_TWO, voice=voice)
    assert (await line.report(report_number(restored) or 0))["type"] == "robbery"
    html = await page_of(admin, line_id)
    assert "restored version 1" in html and "fire on 2" in html


async def test_a_third_language_added_entirely_from_the_console(
    both: tuple[Line, Site], admin: Browser, voice: Path, tmp_path: Path
) -> None:
    line, site = both
    line_id = await report_line(site)
    base = f"/admin/lines/{line_id}"
    await ok(admin.post(f"{base}/settings", {"name": "Línea de alerta", "numbers": "1234",
                                             "languages": "es, en, qu",
                                             "timezone": "America/Lima",
                                             "operator_queue": "operators"}))
    html = await page_of(admin, line_id)
    assert "prompt greeting has no audio in qu" in html
    needed = sorted(set(re.findall(r'/prompts/([a-z0-9_]+)/qu/speak', html)))
    assert "language_option" in needed and "digit_3" in needed
    # Texts in Quechua for every prompt, then every one spoken at once; the greeting uploaded.
    for prompt in needed:
        await ok(admin.post(f"{base}/prompts", {"prompt": prompt, "language": "qu",
                                                "text": f"{prompt.replace('_', ' ')} qichwapi"}))
    await ok(admin.post(f"{base}/speak-missing", {"language": "qu"}))
    mp3 = tmp_path / "napaykuy.wav"
    make_tone_wav(mp3, 1.5, 520)
    status, answer = await upload(admin, f"{base}/prompts/greeting/qu/upload", mp3.read_bytes(),
                                  "napaykuy.wav")
    assert status == 200 and float(answer["seconds"]) > 1.0
    html = await page_of(admin, line_id)
    assert "El borrador está completo." in html
    await ok(admin.post(f"{base}/publish", {"note": "quechua"}))

    result = await line.call(keys=["3", "2", "1", "#", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    assert row["language"] == "qu" and row["type"] == "robbery"
    assert any(p.endswith("/qu/language_option") for p in result.played)
    assert any(p.endswith("/qu/menu_intro") for p in result.played)


async def test_publishing_an_incomplete_line_is_refused_with_what_is_missing(
    both: tuple[Line, Site], admin: Browser
) -> None:
    _, site = both
    line_id = await report_line(site)
    base = f"/admin/lines/{line_id}"
    await ok(admin.post(f"{base}/menus", {"id": "more", "intro": "menu_more",
                                          "options": "1 type flood\n* repeat"}))
    refused = await admin.post(f"{base}/publish", {"note": "x"})
    assert refused.status == 303 and "error=" in refused.headers["Location"]
    html = await (await admin.get(refused.headers["Location"],
                                  headers={"Accept": "text/html"})).text()
    assert "not published" in html
    assert "menu more key 1 leads to incident type &#39;flood&#39;, which does not exist" in html
    assert "menu more cannot be reached from the start menu main" in html
    assert "prompt menu_more has no audio" not in html.split("not published")[0]


async def test_bad_input_is_refused_clearly(both: tuple[Line, Site], admin: Browser) -> None:
    _, site = both
    line_id = await report_line(site)
    base = f"/admin/lines/{line_id}"
    status, answer = await upload(admin, f"{base}/prompts/greeting/es/upload",
                                  b"not audio at all" * 20, "notes.txt")
    assert status == 422 and "'notes.txt' is not an audio file" in answer["error"]
    bad = await admin.post(f"{base}/menus", {"id": "main", "intro": "menu_intro",
                                             "options": "2 jump robbery"})
    assert "should+read+like" in bad.headers["Location"]
    bad = await admin.post(f"{base}/settings", {"name": "x", "languages": "es, Klingon!"})
    assert "is+not+a+language+code" in bad.headers["Location"]
    assert (await admin.get("/admin/lines/audio/../../etc/passwd")).status == 404
    assert (await admin.get("/admin/lines/audio/" + "0" * 64)).status == 404
    assert (await admin.get("/admin/lines/999")).status == 404


ROUTES = [
    ("GET", "/admin/lines"), ("POST", "/admin/lines"), ("POST", "/admin/lines/import"),
    ("GET", "/admin/lines/audio/" + "a" * 64), ("GET", "/admin/lines/1"),
    ("POST", "/admin/lines/1/settings"), ("POST", "/admin/lines/1/menus"),
    ("POST", "/admin/lines/1/types"), ("POST", "/admin/lines/1/prompts"),
    ("POST", "/admin/lines/1/prompts/greeting/es/upload"),
    ("POST", "/admin/lines/1/prompts/greeting/es/speak"),
    ("POST", "/admin/lines/1/speak-missing"), ("POST", "/admin/lines/1/publish"),
    ("POST", "/admin/lines/1/restore"), ("POST", "/admin/lines/1/discard"),
    ("GET", "/admin/lines/1/export"),
]


@pytest.mark.parametrize("who", ["ana", "sofia"])
async def test_only_admins_reach_the_lines(both: tuple[Line, Site], who: str) -> None:
    _, site = both
    async with site.browser() as b:
        assert (await b.login(who)).status == 302
        for method, path in ROUTES:
            r = await (b.get(path) if method == "GET" else b.post(path, {"version": "1"}))
            assert r.status == 403, (who, method, path, r.status)
    async with site.browser() as nobody:
        for method, path in ROUTES:
            r = await (nobody.get(path) if method == "GET" else nobody.post(path, csrf=False))
            assert r.status in (401, 403), (method, path, r.status)


async def test_an_admin_without_the_csrf_token_changes_nothing(
    both: tuple[Line, Site], admin: Browser
) -> None:
    _, site = both
    line_id = await report_line(site)
    r = await admin.post(f"/admin/lines/{line_id}/publish", {"note": "x"}, csrf=False)
    assert r.status == 403
    r = await admin.client.post(f"/admin/lines/{line_id}/prompts/greeting/es/upload",
                                data=b"RIFF", headers={"Origin": admin.origin})
    assert r.status == 403
    assert site.console.lines is not None
    assert [v.version for v in await site.console.lines.versions(line_id)] == [1]


async def test_operators_see_the_types_admins_publish(
    both: tuple[Line, Site], admin: Browser
) -> None:
    _, site = both
    line_id = await report_line(site)
    base = f"/admin/lines/{line_id}"
    await ok(admin.post(f"{base}/types", {"id": "fire", "label_es": "Incendio forestal",
                                          "label_en": "Wildfire", "priority": "1",
                                          "callback_minutes": "20"}))
    async with site.browser() as operator:
        assert (await operator.login("ana")).status == 302
        form = await (await operator.get("/reports/new", headers={"Accept": "text/html"})).text()
        assert "Incendio forestal" not in form  # a draft: not offered yet
        await ok(admin.post(f"{base}/publish", {"note": "fire"}))
        form = await (await operator.get("/reports/new", headers={"Accept": "text/html"})).text()
        assert '<option value="fire">Incendio forestal</option>' in form
        filed = await operator.post("/reports", {"channel": "radio", "type": "fire",
                                                 "summary": "humo en el parque",
                                                 "caller": "987654321"})
        assert filed.status == 303, await filed.text()
        number = int(filed.headers["Location"].rsplit("/", 1)[1])
        row = await site.console.db.fetchone(
            "SELECT priority, created_at, callback_due_at FROM reports WHERE id = ?", (number,))
        assert row is not None and row["priority"] == 1
        created = datetime.fromisoformat(row["created_at"])
        due = datetime.fromisoformat(row["callback_due_at"])
        assert round((due - created).total_seconds() / 60) == 20
        queue = await (await operator.get("/", headers={"Accept": "text/html"})).text()
        assert "Incendio forestal" in queue


async def test_a_full_prompt_disk_is_said_clearly_and_nothing_goes_live(
    settings: Settings, tmp_path: Path
) -> None:
    """The library's disk fills: an upload is refused with the reason and keeps nothing;
    a publish that brings no new audio still works (its folder is only hard links), and
    calls go on."""
    with small_disk(tmp_path / "library", "size=32m") as disk:
        settings = dataclasses.replace(settings, prompt_library=disk)
        async with running_line(settings) as line, \
                console_site(settings, db=line.svc.db) as site, site.browser() as b:
            assert (await b.login("root")).status == 302
            line_id = await report_line(site)
            base = f"/admin/lines/{line_id}"
            await ok(b.post(f"{base}/prompts", {"prompt": "greeting", "language": "es",
                                                "text": "Nuevo saludo"}))
            filler = fill(disk)
            tone = make_tone_wav(tmp_path / "tone.wav", 1.0, 700).read_bytes()
            status, answer = await upload(b, f"{base}/prompts/greeting/es/upload", tone, "t.wav")
            assert status == 422 and "could not keep the audio" in answer["error"]
            assert site.console.lines is not None
            assert (await site.console.lines.draft(line_id)).prompts["greeting"]["es"].audio == (
                (await site.console.lines.versions(line_id))[0].document["prompts"]["greeting"]
                ["es"]["audio"])  # the draft still has the old audio
            await ok(b.post(f"{base}/publish", {"note": "text only"}))
            assert [v.version for v in await site.console.lines.versions(line_id)] == [2, 1]
            filler.unlink()
            result = await line.call(keys=KEY_TWO, voice=make_tone_wav(tmp_path / "v.wav", 1.0))
            assert report_number(result) is not None  # calls go on with version 1


async def test_hours_read_as_people_write_them_and_a_taken_number_is_refused(
    both: tuple[Line, Site], admin: Browser
) -> None:
    _, site = both
    lines = site.console.lines
    assert lines is not None
    line_id = await report_line(site)
    await ok(admin.post(f"/admin/lines/{line_id}/settings", {
        "name": "Línea de alerta", "numbers": "1234", "languages": "es, en",
        "timezone": "America/Lima", "operator_queue": "operators",
        "hours": "mon-fri 08:00-20:00\nsat 09:00-13:00"}))
    hours = (await lines.draft(line_id)).hours
    assert [(h.days, h.start, h.end) for h in hours] == [
        ((0, 1, 2, 3, 4), "08:00", "20:00"), ((5,), "09:00", "13:00")]

    made = await admin.post("/admin/lines", {"copy_of": str(line_id), "slug": "copy",
                                             "name": "Copia", "numbers": "1234"})
    copy_id = int(made.headers["Location"].rsplit("/", 1)[1])
    refused = await admin.post(f"/admin/lines/{copy_id}/publish", {"note": "x"})
    assert "number+1234+already+reaches+line+report" in refused.headers["Location"]
    assert (await lines.line(copy_id)).live_version is None
