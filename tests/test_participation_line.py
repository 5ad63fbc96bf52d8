"""The participation line as admins get it: seeded on a new database and on one made
before it existed, and the checks that stop a broken one from being published."""

from __future__ import annotations

import dataclasses

from ivr.config import Settings
from ivr.core.line_seed import participation_line
from ivr.domain.areas import Area
from ivr.domain.line_check import day_prompts, problems, required_prompts
from ivr.domain.lines import Action, IncidentType, Menu, Option
from ivr.store.reports import utc_now


def test_the_default_line_needs_its_prompts_and_has_no_other_problem() -> None:
    line = participation_line(Settings())
    need = required_prompts(line)
    for pid in ("part_greeting", "part_kind_intro", "part_area_intro", "area_cleaning",
                "area_other", "type_query", "part_record_instructions", "case_number_is",
                "case_answer_by", "case_thanks", "month_7", "ordinal_1", "digit_9"):
        assert pid in need, pid
    assert set(day_prompts()) <= set(need)
    assert "record_instructions" not in need and "zone_enter" not in need
    assert [p for p in problems(line) if "audio" not in p] == []
    assert [(a.id, a.key) for a in line.areas] == [
        ("cleaning", "1"), ("parks", "2"), ("transit", "3"), ("licences", "4"),
        ("works", "5"), ("other", "9")]
    assert {t.id: t.answer_days for t in line.types} == {
        "complaint": 30, "suggestion": 30, "query": 10}


def test_the_settings_give_the_seeded_deadlines() -> None:
    line = participation_line(dataclasses.replace(Settings(), participation_query_days=5,
                                                  participation_line="1777"))
    assert line.type("query") is not None and line.answer_days("query", "parks") == 5
    assert line.numbers == ("1777",)


def test_a_broken_kind_menu_and_a_kind_without_days_are_refused() -> None:
    line = participation_line(Settings())
    menu = line.menus[0]
    broken = dataclasses.replace(
        line,
        menus=(dataclasses.replace(menu, options=(*menu.options,
                                                  Option("8", Action.STATUS),
                                                  Option("7", Action.TYPE, "praise"))),),
        types=(*line.types, IncidentType("compliment", 5)))
    found = [p for p in problems(broken) if "audio" not in p]
    assert "menu main key 8 must lead to a kind of case (a type of the line)" in found
    assert "menu main key 7 must lead to a kind of case (a type of the line)" in found
    assert "kind compliment has no business days to answer in (set answer_days)" in found
    # days on every area will do
    areas = tuple(dataclasses.replace(a, days={"compliment": 5}) for a in line.areas)
    fixed = dataclasses.replace(broken, menus=(menu,), areas=areas)
    assert [p for p in problems(fixed) if "audio" not in p] == []
    no_areas = dataclasses.replace(line, areas=())
    assert "the line has no municipal area to pick" in problems(no_areas)
    twice = dataclasses.replace(line, areas=(*line.areas, Area("roads", "1")))
    assert "area key 1 is used twice" in problems(twice)
    empty = dataclasses.replace(line, menus=(Menu("main", "part_kind_intro", ()),))
    assert "menu main offers no kind of case" in problems(empty)


async def test_a_database_made_before_participation_lines_gets_one_on_start(
        settings: Settings) -> None:
    from ivr.core.line_seed import _create, report_line, seed_lines, status_line, tax_line
    from ivr.core.lines import LineAdmin
    from ivr.promptaudio.library import PromptLibrary
    from ivr.store import engine as store_engine
    from ivr.store.lines import LineStore

    async with store_engine.database(settings.database) as db:
        admin = LineAdmin(LineStore(db, utc_now),
                          PromptLibrary(settings.prompt_library_folder).prepare())
        await _create([report_line(settings), status_line(settings), tax_line(settings)],
                      admin, settings.prompts.resolve())  # as an older version seeded it
        assert await seed_lines(admin, settings)
        lines = {r.slug: (r.flow, r.live_version) for r in await admin.lines()}
        assert lines["participation"] == ("participation", 1)
        assert not await seed_lines(admin, settings)  # once
