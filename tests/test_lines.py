"""Lines admins change without code: draft, publish, roll back, heard by real calls.

Every call here goes through the real FastAGI server with the fake Asterisk as the
caller; the admin's changes go through the use cases the console and the CLI call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr import variables
from ivr.config import Settings
from ivr.core.lines import LineAdmin, LineProblems, PublishedLines
from ivr.domain.lines import Action, Hours, IncidentType, LineConfig, Option, PromptText
from ivr.metrics import process_metrics
from ivr.testing import make_tone_wav
from tests.e2e import Line, report_number, running_line

# Spanish, key 2, confirm the caller ID, no zone, keep the message.
KEY_TWO = ["1", "2", "1", "#", "1"]


@pytest.fixture
async def line(settings: Settings) -> AsyncIterator[Line]:
    async with running_line(settings) as running:
        yield running


@pytest.fixture
def voice(tmp_path: Path) -> Path:
    return make_tone_wav(tmp_path / "voice.wav", 2.0)


def admin_of(line: Line) -> LineAdmin:
    assert line.svc.lines is not None
    return line.svc.lines


async def report_line_id(admin: LineAdmin) -> int:
    (row,) = [r for r in await admin.lines() if r.slug == "report"]
    return row.id


async def tone(admin: LineAdmin, tmp_path: Path, hz: float) -> str:
    wav = make_tone_wav(tmp_path / f"tone-{hz}.wav", 1.0, hz).read_bytes()
    return await admin.add_audio(wav, source="upload", actor="user:ana")


async def fire_on_key_two(admin: LineAdmin, line_id: int, tmp_path: Path) -> tuple[str, str]:
    """The admin's draft: key 2 now reports a fire, and the greeting is re-recorded."""
    fire_es, fire_en = await tone(admin, tmp_path, 700), await tone(admin, tmp_path, 750)
    greeting = await tone(admin, tmp_path, 900)

    def change(config: LineConfig) -> LineConfig:
        main = config.menu("main")
        assert main is not None
        options = tuple(Option("2", Action.TYPE, "fire") if o.key == "2" else o
                        for o in main.options)
        menus = tuple(dataclasses.replace(m, options=options) if m.id == "main" else m
                      for m in config.menus)
        fire = IncidentType("fire", 1, False, 20, {"es": "Incendio", "en": "Fire"})
        config = dataclasses.replace(config, menus=menus, types=(*config.types, fire))
        config = config.with_prompt("type_fire", "es", PromptText("Para un incendio,", fire_es))
        config = config.with_prompt("type_fire", "en", PromptText("For a fire,", fire_en))
        return config.with_prompt("greeting", "es", PromptText("Alerta Miraflores.", greeting))

    await admin.change_draft(line_id, change, actor="user:ana", what="fire on key 2")
    return fire_es, greeting


def same_bytes(a: str | Path, b: str | Path) -> bool:
    return Path(a).read_bytes() == Path(b).read_bytes()


def folder_of(played: list[str], prompt: str) -> str:
    """The folder a prompt was played from (the version's own folder)."""
    (path,) = [p for p in played if p.endswith(f"/es/{prompt}")][:1]
    return path.rsplit("/", 2)[0]


async def test_a_draft_is_heard_only_once_published_and_a_rollback_restores_it(
    line: Line, voice: Path, tmp_path: Path
) -> None:
    admin = admin_of(line)
    line_id = await report_line_id(admin)
    first = await line.call(keys=KEY_TWO, voice=voice)
    assert (await line.report(report_number(first) or 0))["type"] == "robbery"
    v1_folder = folder_of(first.played, "greeting")

    await fire_on_key_two(admin, line_id, tmp_path)
    drafted = await line.call(keys=KEY_TWO, voice=voice)
    assert (await line.report(report_number(drafted) or 0))["type"] == "robbery"
    assert folder_of(drafted.played, "greeting") == v1_folder
    assert not any(p.endswith("/type_fire") for p in drafted.played)

    assert await admin.publish(line_id, actor="user:ana", note="fire") == 2
    published = await line.call(keys=KEY_TWO, voice=voice)
    row = await line.report(report_number(published) or 0)
    assert row["type"] == "fire" and row["priority"] == 1
    v2_folder = folder_of(published.played, "greeting")
    assert v2_folder != v1_folder
    assert any(p == f"{v2_folder}/es/type_fire" for p in published.played)
    # The new greeting is the uploaded audio, byte for byte.
    assert same_bytes(f"{v2_folder}/es/greeting.wav", tmp_path / "tone-900.wav")

    assert await admin.restore(line_id, 1, actor="user:ana") == 3
    restored = await line.call(keys=KEY_TWO, voice=voice)
    assert (await line.report(report_number(restored) or 0))["type"] == "robbery"
    assert folder_of(restored.played, "greeting") == v1_folder
    versions = await admin.versions(line_id)
    assert [(v.version, v.note) for v in versions] == [
        (3, "restored version 1"), (2, "fire"), (1, "from the configuration file")]
    kinds = [r["kind"] for r in await line.svc.db.fetchall(
        "SELECT kind FROM events WHERE report_id IS NULL ORDER BY id")]
    assert kinds[-3:] == ["line.draft_saved", "line.published", "line.restored"]


async def test_a_call_in_progress_finishes_on_the_version_it_started_with(
    line: Line, voice: Path, tmp_path: Path
) -> None:
    admin = admin_of(line)
    line_id = await report_line_id(admin)
    await fire_on_key_two(admin, line_id, tmp_path)
    from ivr.testing import CallScript, place_call

    early = CallScript(keys=KEY_TWO, voice=voice, hold_at="language")
    ongoing = asyncio.create_task(place_call("127.0.0.1", line.server.port, early))
    await early.holding.wait()  # the call has its line; the caller lingers at the greeting
    await admin.publish(line_id, actor="user:ana")
    later = await line.call(keys=KEY_TWO, voice=voice)
    early.release.set()
    held = await ongoing
    assert (await line.report(report_number(held) or 0))["type"] == "robbery"
    assert (await line.report(report_number(later) or 0))["type"] == "fire"


async def test_publishing_refuses_an_incomplete_line_and_says_what_is_missing(
    line: Line, tmp_path: Path
) -> None:
    admin = admin_of(line)
    line_id = await report_line_id(admin)

    def change(config: LineConfig) -> LineConfig:
        main = config.menu("main")
        assert main is not None
        menus = (dataclasses.replace(main, options=(
            *main.options, Option("7", Action.TYPE, "flood"), Option("8", Action.MENU, "more"))),)
        return dataclasses.replace(config, languages=(*config.languages, "qu"), menus=menus)

    await admin.change_draft(line_id, change, actor="user:ana", what="quechua")
    with pytest.raises(LineProblems) as refused:
        await admin.publish(line_id, actor="user:ana")
    problems = refused.value.problems
    assert "menu main key 7 leads to incident type 'flood', which does not exist" in problems
    assert "menu main key 8 leads to menu 'more', which does not exist" in problems
    assert ("prompt greeting has no audio in qu (needed by the report flow)" in problems)
    assert "prompt type_flood has no audio in es, en, qu (needed by menu main key 7)" in problems
    assert any(p.startswith("prompt language_option has no audio in qu") for p in problems)
    # Nothing went live: the line still answers with version 1.
    assert [v.version for v in await admin.versions(line_id)] == [1]


async def test_a_third_language_is_reached_by_its_key(
    line: Line, voice: Path, tmp_path: Path
) -> None:
    admin = admin_of(line)
    line_id = await report_line_id(admin)
    quechua = await tone(admin, tmp_path, 620)

    def change(config: LineConfig) -> LineConfig:
        config = dataclasses.replace(config, languages=(*config.languages, "qu"))
        for pid in list(config.prompts):
            config = config.with_prompt(pid, "qu", PromptText(f"{pid} (qu)", quechua))
        return config

    await admin.change_draft(line_id, change, actor="user:ana", what="quechua")
    assert await admin.problems(line_id) == []
    await admin.publish(line_id, actor="user:ana")
    result = await line.call(keys=["3", "2", "1", "#", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    assert row["language"] == "qu" and row["type"] == "robbery"
    offered = [p.rsplit("/", 2)[-2:] for p in result.played[:7]]
    assert offered[1:7] == [["es", "language_option"], ["es", "digit_1"],
                            ["en", "language_option"], ["en", "digit_2"],
                            ["qu", "language_option"], ["qu", "digit_3"]]
    assert result.variables[variables.LANGUAGE] == "qu"
    assert any(p.endswith("/qu/menu_intro") for p in result.played)


async def test_a_prompt_missing_in_the_callers_language_falls_back_and_is_counted(
    line: Line, voice: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A restored or imported version can lack a prompt the flow plays: the caller hears
    the line's first language, and it is logged and counted."""
    admin = admin_of(line)
    line_id = await report_line_id(admin)
    config = await admin.draft(line_id)
    prompts = {pid: dict(by) for pid, by in config.prompts.items()}
    del prompts["menu_intro"]["en"]
    await admin.store.publish(line_id, dataclasses.replace(config, prompts=prompts),
                              actor="user:ana", note="english menu intro lost")
    counter = process_metrics().prompt_fallbacks.labels("language")
    before = counter._value.get()
    result = await line.call(keys=["2", "5", "1", "#", "1"], voice=voice)
    assert (await line.report(report_number(result) or 0))["language"] == "en"
    assert any(p.endswith("/es/menu_intro") for p in result.played)
    assert not any(p.endswith("/en/menu_intro") for p in result.played)
    assert counter._value.get() > before
    assert "prompt menu_intro has no audio in en; played in es" in caplog.text


async def test_the_dialled_number_picks_the_line(
    line: Line, voice: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.flows.common")
    admin = admin_of(line)
    base = await admin.draft(await report_line_id(admin))
    night = dataclasses.replace(base, slug="night", name="Night line", numbers=("5550100",),
                                languages=("es",))
    night = night.with_prompt("greeting", "es", PromptText("Noche", await tone(admin, tmp_path,
                                                                              300)))
    night_id = await admin.create(night, actor="user:ana")
    await admin.publish(night_id, actor="user:ana")

    at_night = await line.call(keys=["2", "1", "#", "1"], voice=voice, script="line",
                               extra_env={"agi_extension": "5550100"})
    assert at_night.error is None
    assert not any("language_option" in p for p in at_night.played)  # one language: no menu
    assert (await line.report(report_number(at_night) or 0))["type"] == "robbery"
    assert same_bytes(f"{folder_of(at_night.played, 'greeting')}/es/greeting.wav",
                      tmp_path / "tone-300.wav")

    stray = await line.call(keys=KEY_TWO, voice=voice, extra_env={"agi_extension": "999"})
    assert stray.error is None and report_number(stray) is not None
    assert "number 999 is no line's; the default report line report takes it" in caplog.text

    status = await line.call(keys=["0#"], script="line", extra_env={"agi_extension": "1235"})
    assert status.steps == ["status"]


async def test_an_export_imports_into_another_deployment(
    line: Line, settings: Settings, tmp_path: Path, voice: Path
) -> None:
    admin = admin_of(line)
    line_id = await report_line_id(admin)
    await fire_on_key_two(admin, line_id, tmp_path)
    await admin.publish(line_id, actor="user:ana")
    exported = await admin.export(line_id, actor="user:ana")

    other = dataclasses.replace(settings, database=tmp_path / "other" / "alerta.sqlite3",
                                voiceclips=tmp_path / "other" / "clips")
    async with running_line(other) as second:
        their = admin_of(second)
        their_id, created = await their.import_document(exported, actor="user:bo")
        assert not created  # the same slug: the import is a draft of their report line
        assert (await their.draft(their_id)).to_dict() == exported["line"]
        await their.publish(their_id, actor="user:bo")
        result = await second.call(keys=KEY_TWO, voice=voice)
        assert (await second.report(report_number(result) or 0))["type"] == "fire"

    tampered = {**exported, "audio": dict(exported["audio"])}
    sha = next(iter(tampered["audio"]))
    tampered["audio"][sha] = tampered["audio"][next(reversed(tampered["audio"]))]
    with pytest.raises(ValueError, match="does not match its name"):
        await admin.import_document(tampered, actor="user:ana")


async def test_off_duty_hours_say_so_and_take_a_message_instead_of_queueing(
    line: Line, voice: Path
) -> None:
    admin = admin_of(line)
    line_id = await report_line_id(admin)
    tomorrow = (datetime.now(ZoneInfo("America/Lima")).weekday() + 1) % 7

    def only_tomorrow(config: LineConfig) -> LineConfig:
        return dataclasses.replace(config, hours=(Hours((tomorrow,), "08:00", "20:00"),))

    await admin.change_draft(line_id, only_tomorrow, actor="user:ana", what="hours")
    await admin.publish(line_id, actor="user:ana")
    # Key 1 is the emergency: on duty it queues for an operator first.
    result = await line.call(keys=["1", "1", "1", "#", "1"], voice=voice)
    ids = [p.rsplit("/", 1)[-1] for p in result.played]
    assert ids[ids.index("greeting"):].index("closed") > 0
    assert "operator_unavailable" not in ids  # said once, as "closed"
    assert not any(c.startswith("EXEC Queue") for c in result.commands)
    row = await line.report(report_number(result) or 0)
    assert row["type"] == "emergency" and row["complete"] is True


async def test_the_incident_types_of_the_live_lines_are_what_the_console_labels(
    line: Line, tmp_path: Path
) -> None:
    admin = admin_of(line)
    catalogue = line.svc.deps.lines
    assert isinstance(catalogue, PublishedLines)
    before = [t.id for t in await catalogue.incident_types()]
    assert before == ["emergency", "robbery", "suspicious", "noise", "accident", "other"]
    line_id = await report_line_id(admin)
    await fire_on_key_two(admin, line_id, tmp_path)
    assert [t.id for t in await catalogue.incident_types()] == before  # a draft changes nothing
    await admin.publish(line_id, actor="user:ana")
    types = {t.id: t for t in await catalogue.incident_types()}
    assert types["fire"].label("en") == "Fire" and types["fire"].label("qu", "es") == "Incendio"


async def test_a_first_start_without_all_prompts_publishes_once_they_are_copied(
    settings: Settings, tmp_path: Path, voice: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An upgrade that forgot to copy the new prompts: no line goes live (calls go to the
    fallback context, the log says what is missing); copied and restarted, it does."""
    shipped = tmp_path / "prompts"
    shutil.copytree(settings.prompts, shipped)
    for lang in ("es", "en"):
        (shipped / lang / "language_option.wav").rename(tmp_path / f"{lang}-option.wav")
    settings = dataclasses.replace(settings, prompts=shipped)
    async with running_line(settings) as first:
        rows = await admin_of(first).lines()
        assert {r.slug: r.live_version for r in rows} == {"report": None, "status": 1,
                                                          "tax": None, "participation": None}
        lost = await first.call(keys=KEY_TWO, voice=voice)
        assert lost.goto is not None and "alerta-fallback" in lost.goto
    assert "line report is not published" in caplog.text
    assert "prompt language_option has no audio in es, en" in caplog.text
    for lang in ("es", "en"):
        (tmp_path / f"{lang}-option.wav").rename(shipped / lang / "language_option.wav")
    async with running_line(settings) as second:
        rows = await admin_of(second).lines()
        assert {r.slug: r.live_version for r in rows} == {"report": 1, "status": 1, "tax": 1,
                                                          "participation": 1}
        result = await second.call(keys=KEY_TWO, voice=voice)
        assert (await second.report(report_number(result) or 0))["type"] == "robbery"
