"""Citizens' texts to the municipality's number, through the use case and the real store
on both engines: a report opened with its number in the reply, a status told only to the
number that made the report, STOP and ALTA, floods, the same text delivered twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ivr.config import Settings
from ivr.core.intake import ReportIntake
from ivr.core.lines import PublishedLines
from ivr.core.messaging_ports import IncomingSms
from ivr.core.texts import TextLine, TextLineSettings
from ivr.domain import texting
from ivr.domain.municipalities import number_of
from ivr.domain.notices import TextSettings
from ivr.domain.reports import ReportState
from ivr.promptaudio.library import PromptLibrary
from ivr.store import engine as store_engine
from ivr.store.casework import Casework
from ivr.store.lines import LineStore
from ivr.store.outbox import Outbox
from ivr.store.texts import TextStore

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
CITIZEN = "51987654321"  # as the gateway gives it: the country code first
NUMBER = "1000"  # the municipality's SMS number


@dataclass
class Texting:
    line: TextLine
    store: TextStore
    outbox: Outbox
    work: Casework
    clock: list[datetime]

    async def send(self, text: str, sender: str = CITIZEN, ref: str | None = None) -> str:
        return await self.line.receive(IncomingSms(sender, NUMBER, text, ref))

    async def replies(self, to: str = "987654321") -> list[str]:
        rows = await self.outbox.listing(1, limit=100)
        return [r["body"] for r in reversed(rows) if r["recipient"] == to]


@pytest.fixture
async def texting_line(settings: Settings) -> AsyncIterator[Texting]:
    from ivr.core.line_seed import seed_lines
    from ivr.core.lines import LineAdmin

    db = await store_engine.database(settings.database).open()
    clock = [NOW]
    try:
        library = PromptLibrary(settings.prompt_library_folder).prepare()
        lines = LineStore(db, lambda: clock[0])
        await seed_lines(LineAdmin(lines, library), settings)
        catalogue = PublishedLines(lines, library)
        store = TextStore(db, settings.callback_deadlines())
        await store.save_settings(1, TextSettings(number=NUMBER), "user:root", NOW)
        intake = ReportIntake(Casework(db), catalogue.incident_types, lambda z: True)
        line = TextLine(store, intake, catalogue.type_keys, lambda: clock[0],
                        TextLineSettings(reports_per_hour=3))
        yield Texting(line, store, Outbox(db), Casework(db), clock)
    finally:
        await db.close()


async def _report_of_reply(reply: str) -> int:
    return int(reply.split("reporte ")[1].split(" ")[0])


async def test_a_text_opens_a_report_and_gets_its_number(texting_line: Texting,
                                                         settings: Settings) -> None:
    assert await texting_line.send("robo de celular en el parque Kennedy") == "report"
    (reply,) = await texting_line.replies()
    number = await _report_of_reply(reply)
    assert f"ESTADO {number}" in reply and texting.plain(reply) == reply
    found = await texting_line.store.report_of(number)
    assert found is not None and found[0] == "received" and found[1] == "987654321"
    db = texting_line.store.db
    row = await db.fetchone("SELECT channel, type, summary, entered_by, first_action_at"
                            " FROM reports WHERE id = ?", (number,))
    assert row is not None and row["channel"] == "sms" and row["type"] == "robbery"
    assert row["entered_by"] is None and row["first_action_at"] is None  # waits in the queue
    assert "parque Kennedy" in row["summary"]


async def test_the_menu_digit_picks_the_type(texting_line: Texting) -> None:
    keys = await texting_line.line.keys(1)
    digit, type_id = next((k, t) for k, t in sorted(keys.items()) if t != "emergency")
    assert await texting_line.send(f"{digit} algo pasa en la esquina") == "report"
    number = await _report_of_reply((await texting_line.replies())[-1])
    row = await texting_line.store.db.fetchone("SELECT type FROM reports WHERE id = ?",
                                               (number,))
    assert row is not None and row["type"] == type_id


async def test_status_is_told_to_the_number_that_made_the_report_and_no_one_else(
        texting_line: Texting) -> None:
    await texting_line.send("robo en Larco")
    number = await _report_of_reply((await texting_line.replies())[-1])
    await texting_line.work.change_state(number_of(number) and number, ReportState.ACKNOWLEDGED,
                                         "user:ana")
    assert await texting_line.send(f"estado {number}") == "status"
    assert "en revision por un operador" in (await texting_line.replies())[-1]
    assert await texting_line.send(f"ESTADO {number}", sender="51911111111") == "refused"
    refused = (await texting_line.replies("911111111"))[-1]
    assert "no hay un reporte" in refused and "revision" not in refused
    history = await texting_line.store.db.fetchall(
        "SELECT data FROM events WHERE report_id = ? AND kind = 'report.status_texted'"
        " ORDER BY id", (number,))
    assert [('"answered":true' in r["data"]) for r in history] == [True, False]
    assert await texting_line.send("ESTADO 99999") == "refused"  # no such report
    assert await texting_line.send("estado") == "refused"


async def test_stop_silences_follow_ups_and_alta_brings_them_back(texting_line: Texting
                                                                 ) -> None:
    assert await texting_line.send("STOP") == "stop"
    assert "no recibira mas mensajes" in (await texting_line.replies())[-1]
    rows = await texting_line.store.db.fetchall("SELECT number FROM sms_optouts")
    assert [r["number"] for r in rows] == ["987654321"]
    assert await texting_line.send("alta") == "start"
    assert await texting_line.store.db.fetchall("SELECT number FROM sms_optouts") == []


async def test_the_same_text_delivered_twice_is_handled_once(texting_line: Texting) -> None:
    assert await texting_line.send("robo en Larco", ref="kannel-1") == "report"
    assert await texting_line.send("robo en Larco", ref="kannel-1") == "repeated"
    rows = await texting_line.store.db.fetchall("SELECT id FROM reports")
    assert len(rows) == 1 and len(await texting_line.replies()) == 1


async def test_a_flood_from_one_number_is_answered_not_filed(texting_line: Texting) -> None:
    outcomes = [await texting_line.send(f"robo numero {i}") for i in range(5)]
    assert outcomes == ["report"] * 3 + ["limited"] * 2
    texting_line.clock[0] = NOW + timedelta(hours=1, minutes=1)
    assert await texting_line.send("robo otra vez") == "report"


async def test_a_text_to_no_municipalitys_number_is_kept_and_not_answered(
        texting_line: Texting) -> None:
    outcome = await texting_line.line.receive(IncomingSms(CITIZEN, "5555", "robo", "r9"))
    assert outcome == "unknown"
    row: Any = await texting_line.store.db.fetchone(
        "SELECT municipality_id, outcome FROM sms_incoming")
    assert row["municipality_id"] is None and row["outcome"] == "unknown"
    assert await texting_line.replies() == []
