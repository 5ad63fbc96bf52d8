"""Two municipalities on one deployment, through SIP: SIPp → real Asterisk → ``alerta serve``.

San Isidro is opened beside Miraflores with ``alerta municipalities add``'s use case
(its own lines and numbers, a greeting that names it, spoken by the speech engine)
while the controller runs. Two citizens call the two numbers at the same time: each
hears its own municipality's greeting (Asterisk's own log names every file it
played), each report is numbered by its municipality and lands in its queue, and
each status line answers only for its own municipality's numbers.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Iterator
from typing import Any

import pytest

from ivr.app import services
from ivr.core.municipalities import MunicipalityDesk
from ivr.core.ports import NewReport
from ivr.core.prompt_audio import PromptAudio
from ivr.domain.municipalities import report_id
from ivr.store.municipalities import Municipalities
from ivr.store.queries import ConsoleQueries
from tests.e2e_asterisk import Stack, callers_csv, finish, place, running_stack
from tests.e2e_dialogue import LANGUAGE_MENU, Step, dialogue, menu_until, prompt_s

SAN_ISIDRO, SAN_ISIDRO_STATUS = "5552000", "5552001"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e-towns"), playback_log=True) as running:
        yield running


def on_store(stack: Stack, action: Any) -> Any:
    async def run() -> Any:
        async with services(stack.settings, reconcile_clips=False) as svc:
            return await action(svc)

    return asyncio.run(run())


async def open_san_isidro(svc: Any) -> dict[str, Any]:
    desk = MunicipalityDesk(Municipalities(svc.db), svc.lines, PromptAudio(svc.lines))
    opened = await desk.open("san-isidro", "San Isidro", "America/Lima", actor="cli:test",
                             numbers={"report": [SAN_ISIDRO], "status": [SAN_ISIDRO_STATUS]})
    assert opened.warnings == [] and set(opened.published) == {"report", "status"}
    lines = {r.slug: r.id for r in await svc.lines.lines()}
    greeting = (await svc.lines.draft(opened.lines["report"])).prompts["greeting"]["es"]
    with wave.open(str(svc.lines.library.path(greeting.audio)), "rb") as wav:
        seconds = wav.getnframes() / wav.getframerate()
    return {"town": opened.municipality.id, "lines": lines, "greeting_s": seconds}


async def queues(svc: Any, town: int) -> dict[int, list[int]]:
    queries = ConsoleQueries(svc.db)
    return {m: [r["id"] for r in await queries.queue(m)] for m in (1, town)}


def test_two_municipalities_called_at_once_each_hear_and_keep_their_own(stack: Stack) -> None:
    made = on_store(stack, open_san_isidro)
    town, lines = made["town"], made["lines"]
    folder = stack.root / "dialogues"
    # The caller of San Isidro waits as long as its greeting is longer than the shipped one.
    extra = max(0.0, made["greeting_s"] - prompt_s("es", "greeting")) + 0.5
    key_two = [Step(LANGUAGE_MENU, "1"), Step(menu_until("2"), "2")]
    calls = {
        "miraflores": ("931000001", None, key_two),
        "san-isidro": ("932000001", SAN_ISIDRO,
                       [Step(LANGUAGE_MENU, "1", wait_s=extra), Step(menu_until("2"), "2")]),
    }
    placed = [place(stack, dialogue(folder, name, steps, listen_s=2.0),
                    callers_csv(stack.root / f"{name}.csv", [(who, name, who, "none")]),
                    name=name, line=number)
              for name, (who, number, steps) in calls.items()]
    finish(placed)
    ours, theirs = stack.report_of("931000001"), stack.report_of("932000001")
    assert (ours["municipality"], theirs["municipality"]) == (1, town)
    assert theirs["id"] == report_id(town, 1) and theirs["number"] == 1
    assert ours["type"] == theirs["type"] == "robbery"
    # Each report says which line and version its caller heard.
    assert stack.history(theirs["id"])[0]["data"].count("san_isidro_report v1") == 1
    assert '"line":"report v1"' in stack.history(ours["id"])[0]["data"]
    # Asterisk played each line's own greeting, from each version's own folder.
    greetings = [p for p in stack.pbx.played() if p.endswith("/es/greeting.slin")
                 or p.endswith("/es/greeting.wav") or "/es/greeting" in p]
    folders = sorted(p.split("/lines/")[1].split("/")[0] for p in greetings)
    assert folders == sorted([str(lines["report"]), str(lines["san_isidro_report"])]), greetings
    # Each lands in its own municipality's queue only.
    assert on_store(stack, lambda svc: queues(svc, town)) == {1: [ours["id"]],
                                                             town: [theirs["id"]]}

    # The status lines: San Isidro knows its 1 and not a number only Miraflores has;
    # Miraflores' line knows that number.
    only_ours = on_store(stack, lambda svc: svc.book.open_report(
        NewReport("noise", 5, False, "es", "second", "931000002", "931000002")))
    assert only_ours > 1
    asked = {"status-si-1": (SAN_ISIDRO_STATUS, "1"),
             "status-si-x": (SAN_ISIDRO_STATUS, str(only_ours)),
             "status-mf-x": (None, str(only_ours))}
    before = len(stack.pbx.played())
    for name, (number, typed) in asked.items():
        steps = [Step(("status_enter",), f"{typed}#")]
        finish([place(stack, dialogue(folder, name, steps, listen_s=3.0),
                      callers_csv(stack.root / f"{name}.csv", [("933000001", name, "933000001",
                                                                "none")]),
                      name=name, line=number or stack.settings.status_line)])
    answers = [p.rsplit("/", 1)[-1].split(".")[0] for p in stack.pbx.played()[before:]
               if "/status_" in p and "status_enter" not in p]
    assert answers[0] == "status_received", answers  # San Isidro's 1
    assert answers[1] == "status_not_found", answers  # Miraflores' number, not San Isidro's
    assert answers[-1] == "status_received", answers  # Miraflores' own
    assert stack.tracebacks() == [] and stack.our_errors() == []
