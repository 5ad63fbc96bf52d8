"""Lines changed by an admin, heard through SIP: SIPp → real Asterisk → ``alerta serve``.

The admin's changes go into the same database the running controller reads, through
the use cases the console and the CLI call; no restart between them. A draft is not
heard, a publish is heard by the next call, a restore brings the old version back,
and a number an admin gives a new line reaches it through the dialplan's catch-all.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from ivr.app import services
from ivr.core.lines import LineAdmin
from ivr.domain.lines import Action, IncidentType, LineConfig, Option, PromptText
from ivr.testing import make_tone_wav
from tests.e2e_asterisk import Stack, callers_csv, finish, place, running_stack
from tests.e2e_dialogue import LANGUAGE_MENU, Step, dialogue, menu_until

T = TypeVar("T")
NIGHT_NUMBER = "5550100"
KEY_TWO = [Step(LANGUAGE_MENU, "1"), Step(menu_until("2"), "2")]
ONE_LANGUAGE_KEY_TWO = [Step(("greeting", *menu_until("2")), "2")]


def admin_does(stack: Stack, action: Callable[[LineAdmin], Awaitable[T]]) -> T:
    """Run one admin action against the deployment's database, beside the controller."""
    async def run() -> T:
        async with services(stack.settings, reconcile_clips=False) as svc:
            assert svc.lines is not None
            return await action(svc.lines)

    return asyncio.run(run())


def caller(n: int) -> str:
    return f"93{n:07d}"


def call(stack: Stack, n: int, steps: list[Step], *, line: str | None = None) -> str:
    """Place one call and wait for it; returns the type of the report it opened."""
    folder = stack.root / "dialogues"
    csv = callers_csv(stack.root / f"caller-{n}.csv", [(caller(n), f"C{n}", caller(n), "none")])
    placed = place(stack, dialogue(folder, f"lines-{n}", steps, listen_s=2.0), csv,
                   name=f"lines-{n}", line=line)
    finish([placed])
    return str(stack.report_of(caller(n))["type"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e-lines")) as running:
        yield running


async def draft_fire_and_night_line(admin: LineAdmin, folder: Path) -> int:
    (report,) = [r for r in await admin.lines() if r.slug == "report"]
    live = await admin.draft(report.id)
    night = dataclasses.replace(live, slug="night", name="Night line", numbers=(NIGHT_NUMBER,),
                                languages=("es",))
    night_id = await admin.create(night, actor="user:ana")
    await admin.publish(night_id, actor="user:ana")

    fire = await admin.add_audio(make_tone_wav(folder / "fire.wav", 1.0, 700).read_bytes(),
                                 source="upload", actor="user:ana")

    def change(config: LineConfig) -> LineConfig:
        menus = tuple(dataclasses.replace(m, options=tuple(
            Option("2", Action.TYPE, "fire") if o.key == "2" else o for o in m.options))
            for m in config.menus)
        config = dataclasses.replace(config, menus=menus, types=(
            *config.types, IncidentType("fire", 1, False, 20, {"es": "Incendio"})))
        for language in config.languages:
            config = config.with_prompt("type_fire", language, PromptText("Incendio", fire))
        return config

    await admin.change_draft(report.id, change, actor="user:ana", what="fire on key 2")
    return report.id


def test_draft_publish_and_restore_are_heard_through_real_asterisk(stack: Stack) -> None:
    report_id = admin_does(stack, lambda a: draft_fire_and_night_line(a, stack.root))
    results: dict[str, str] = {}

    def both_before_publish() -> None:
        folder = stack.root / "dialogues"
        csvs = {n: callers_csv(stack.root / f"caller-{n}.csv",
                               [(caller(n), f"C{n}", caller(n), "none")]) for n in (1, 2)}
        finish([
            place(stack, dialogue(folder, "lines-1", KEY_TWO, listen_s=2.0), csvs[1],
                  name="lines-1"),
            place(stack, dialogue(folder, "lines-2", ONE_LANGUAGE_KEY_TWO, listen_s=2.0),
                  csvs[2], name="lines-2", line=NIGHT_NUMBER),
        ])
        results["draft"] = str(stack.report_of(caller(1))["type"])
        results["night"] = str(stack.report_of(caller(2))["type"])

    both_before_publish()
    assert results == {"draft": "robbery", "night": "robbery"}, stack.controller.log()[-3000:]

    assert admin_does(stack, lambda a: a.publish(report_id, actor="user:ana")) == 2
    assert call(stack, 3, KEY_TWO) == "fire"

    assert admin_does(stack, lambda a: a.restore(report_id, 1, actor="user:ana")) == 3
    assert call(stack, 4, KEY_TWO) == "robbery"

    # Asterisk played every prompt from the versions' folders: none missing or unreadable.
    unplayable = [line for line in stack.pbx.log_lines("WARNING")
                  if "prompt-library" in line or "Unable to open" in line]
    assert unplayable == []
    log = stack.controller.log()
    assert "Traceback" not in log
    assert f"number {NIGHT_NUMBER} is no line's" not in log  # the catch-all found the line
    assert stack.our_errors() == []
