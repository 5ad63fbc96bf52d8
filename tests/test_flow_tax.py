"""Every branch of the ``tax`` flow, as calls from the fake Asterisk over real AGI to the
real server, store and file adapter: amounts of every shape heard as prompt ids, a
date to pay by or overdue since, nothing owed, a wrong check digit, three wrong codes,
a blocked number, a tax service that is down, repeat, operator, and a hang-up at
every step."""

from __future__ import annotations

import socket
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.config import Settings
from ivr.domain import spoken
from ivr.store.reports import utc_now
from ivr.store.tax import TaxImports
from ivr.tax.file_backend import SecretHasher, ensure_key
from ivr.tax.importer import import_file
from tests.e2e import Line, running_line
from tests.tax_util import dni, ruc, write_csv, wrong_ruc

OWES = ruc("2010000000")
PAID = dni(12345678)
SECRET = "48291375"
TODAY = datetime.now(ZoneInfo("America/Lima")).date()
LATER = TODAY + timedelta(days=40)
EARLIER = TODAY - timedelta(days=10)


def ids(played: list[str]) -> list[str]:
    return [p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in played]


def after(heard: list[str], prompt: str) -> list[str]:
    return heard[heard.index(prompt):]


async def load(line: Line, tmp_path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    hasher = SecretHasher(ensure_key(line.svc.settings.tax_key_path))
    await import_file(write_csv(tmp_path / "cuentas.csv", rows), 1, TaxImports(line.svc.db),
                      hasher, actor="test", clock=utc_now)


async def audit(line: Line) -> list[dict[str, Any]]:
    rows = await line.svc.db.fetchall(
        "SELECT caller, tax_id, result FROM tax_lookups ORDER BY id")
    return [dict(r) for r in rows]


def owing(amount: str, due: date = LATER) -> list[tuple[str, str, str, str]]:
    return [(OWES, SECRET, amount, due.isoformat()), (PAID, "1111", "", "")]


def es(*prompt_ids: str) -> list[str]:
    return [f"es/{p}" for p in prompt_ids]


# --- what is heard ------------------------------------------------------------------

AMOUNTS = [
    ("0.01", ["number_un", "currency_centimo"]),
    ("1", ["number_un", "currency_sol"]),
    ("21", ["number_veintiun", "currency_soles"]),
    ("100", ["number_100", "currency_soles"]),
    ("101", ["hundreds_1", "number_un", "currency_soles"]),
    ("1000", ["number_thousand", "currency_soles"]),
    ("1000000", ["number_un", "number_million", "of", "currency_soles"]),
    ("0.50", ["number_50", "currency_centimos"]),
    ("21.21", ["number_veintiun", "currency_soles", "money_and", "number_veintiun",
               "currency_centimos"]),
    ("1234.56", ["number_thousand", "hundreds_2", "number_34", "currency_soles", "money_and",
                 "number_56", "currency_centimos"]),
]


@pytest.mark.parametrize(("amount", "words"), AMOUNTS, ids=[a for a, _ in AMOUNTS])
async def test_each_amount_is_heard_in_soles_and_centimos(
        settings: Settings, tmp_path: Path, amount: str, words: list[str]) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, owing(amount))
        result = await line.call(script="tax", keys=["1", f"{OWES}#", f"{SECRET}#"])
        heard = ids(result.played)
        told = es("tax_total_is", *words, "tax_pay_by", *spoken.day("es", LATER, TODAY))
        assert after(heard, "es/tax_total_is")[:len(told)] == told
        assert heard[-1] == "es/goodbye" and result.steps[-2:] == ["tax_told", "tax_options"]
        assert await audit(line) == [{"caller": "5551234", "tax_id": OWES, "result": "found"}]


async def test_in_english_with_two_debts_overdue_since_the_earliest(
        settings: Settings, tmp_path: Path) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, [(OWES, SECRET, "100", LATER.isoformat()),
                                    (OWES, SECRET, "0.50", EARLIER.isoformat())])
        result = await line.call(script="tax", keys=["2", f"{OWES}#", f"{SECRET}#"])
        heard = ids(result.played)
        told = ["en/tax_total_is", "en/hundreds_1", "en/currency_soles", "en/money_and",
                "en/number_50", "en/currency_centimos", "en/tax_overdue_since",
                *(f"en/{p}" for p in spoken.day("en", EARLIER, TODAY))]
        assert after(heard, "en/tax_total_is")[:len(told)] == told


@pytest.mark.parametrize("rows", [[(PAID, "1111", "", "")],
                                  [(PAID, "1111", "0", TODAY.isoformat())]],
                         ids=["no_debt", "zero"])
async def test_nothing_owed(settings: Settings, tmp_path: Path,
                            rows: list[tuple[str, str, str, str]]) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, rows)
        result = await line.call(script="tax", keys=["1", f"{PAID}#", "1111#"])
        heard = ids(result.played)
        assert "es/tax_nothing_owed" in heard and "es/tax_total_is" not in heard
        assert heard[-1] == "es/goodbye"


async def test_repeat_then_operator(settings: Settings, tmp_path: Path) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, owing("21"))
        result = await line.call(script="tax", keys=["1", f"{OWES}#", f"{SECRET}#", "1", "0"],
                                 queue_status=None)
        heard = ids(result.played)
        assert heard.count("es/tax_total_is") == 2 and heard.count("es/tax_options") == 2
        assert heard[-1] == "es/connecting_operator"
        assert any(c.startswith("EXEC Queue") for c in result.commands)
        assert result.steps[-1] == "operator"


async def test_no_operator_on_the_line_offers_only_to_repeat(settings: Settings,
                                                             tmp_path: Path) -> None:
    async with running_line(settings, operator_queue="") as line:
        await load(line, tmp_path, owing("21"))
        result = await line.call(script="tax", keys=["1", f"{OWES}#", f"{SECRET}#", "0"])
        heard = ids(result.played)
        assert "es/tax_options_repeat" in heard and "es/tax_options" not in heard
        assert not any(c.startswith("EXEC Queue") for c in result.commands)


async def test_an_operator_who_does_not_answer_ends_in_goodbye(settings: Settings,
                                                               tmp_path: Path) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, owing("21"))
        result = await line.call(script="tax", keys=["1", f"{OWES}#", f"{SECRET}#", "0"])
        assert ids(result.played)[-2:] == ["es/connecting_operator", "es/goodbye"]


# --- tries ----------------------------------------------------------------------------


async def test_a_wrong_check_digit_is_an_invalid_id_then_the_right_one_answers(
        settings: Settings, tmp_path: Path) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, owing("1"))
        result = await line.call(script="tax", keys=[
            "1", f"{wrong_ruc('2010000000')}#", f"{OWES}#", f"{SECRET}#"])
        heard = ids(result.played)
        assert heard[heard.index("es/tax_enter_id") + 1] == "es/tax_id_invalid"
        assert "es/tax_total_is" in heard
        # The wrong RUC asked for no code and looked nothing up, but is a try, audited.
        assert heard.count("es/tax_enter_secret") == 1
        assert [r["result"] for r in await audit(line)] == ["invalid_id", "found"]
        assert (await audit(line))[0]["tax_id"] is None


async def test_three_wrong_codes_are_refused_politely(settings: Settings, tmp_path: Path
                                                      ) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, owing("1"))
        result = await line.call(script="tax", keys=[
            "1", f"{OWES}#", "1111#", f"{OWES}#", "2222#", f"{OWES}#", "3333#"])
        heard = ids(result.played)
        assert heard.count("es/tax_not_matched") == 2  # after the first two; then refused
        assert heard[-2:] == ["es/tax_refused", "es/goodbye"]
        assert "es/tax_total_is" not in heard and result.commands[-1] == "HANGUP"
        assert [r["result"] for r in await audit(line)] == ["no_match"] * 3
        text = str(await line.svc.db.fetchall("SELECT * FROM tax_lookups"))
        assert "1111" not in text and "3333" not in text


async def test_an_unknown_id_sounds_like_a_wrong_code(settings: Settings, tmp_path: Path
                                                      ) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, owing("1"))
        result = await line.call(script="tax", keys=["1", f"{dni(87654321)}#", "1111#",
                                                     f"{OWES}#", f"{SECRET}#"])
        heard = ids(result.played)
        assert heard[heard.index("es/tax_enter_secret") + 1] == "es/tax_not_matched"


async def test_silence_is_asked_again_without_a_lookup(settings: Settings, tmp_path: Path
                                                       ) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, owing("1"))
        result = await line.call(script="tax", keys=["1", "", "", ""])
        heard = ids(result.played)
        assert heard.count("es/no_input") == 2 and heard[-2:] == es("tax_refused", "goodbye")
        assert await audit(line) == []


# --- limits, down, withheld -----------------------------------------------------------


async def test_an_enumerating_number_is_blocked_and_told_so_on_its_next_call(
        settings: Settings, tmp_path: Path) -> None:
    async with running_line(settings, tax_ids_per_caller_day=3) as line:
        await load(line, tmp_path, owing("1"))
        first = await line.call(script="tax", keys=[
            "1", f"{dni(1)}#", "1111#", f"{dni(2)}#", "1111#", f"{dni(3)}#", "1111#"])
        assert ids(first.played)[-2:] == es("tax_refused", "goodbye")
        again = await line.call(script="tax", keys=["1", f"{OWES}#", f"{SECRET}#"])
        heard = ids(again.played)
        assert heard[0] == "es/tax_greeting"  # the line names itself, then the languages
        assert heard[-2:] == es("tax_blocked", "goodbye")
        assert "es/tax_enter_id" not in heard
        other = await line.call(script="tax", caller_id="5559876",
                                keys=["1", f"{OWES}#", f"{SECRET}#"])
        assert "es/tax_total_is" in ids(other.played)
        alerts = await line.svc.db.fetchall(
            "SELECT data FROM events WHERE kind = 'alert.tax_enumeration'")
        assert len(alerts) == 1 and "****234" in alerts[0][0] and "5551234" not in alerts[0][0]


async def test_one_id_from_many_numbers_is_blocked_mid_call(settings: Settings,
                                                            tmp_path: Path) -> None:
    async with running_line(settings, tax_callers_per_id_day=2) as line:
        await load(line, tmp_path, owing("1"))
        for caller in ("5550001", "5550002"):
            await line.call(script="tax", caller_id=caller, keys=["1", f"{OWES}#", "1111#"])
        result = await line.call(script="tax", caller_id="5550003",
                                 keys=["1", f"{OWES}#", f"{SECRET}#"])
        assert ids(result.played)[-2:] == es("tax_blocked", "goodbye")
        assert [r["result"] for r in await audit(line)][-1] == "blocked"


async def test_withheld_numbers_can_look_up(settings: Settings, tmp_path: Path) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, owing("1"))
        result = await line.call(script="tax", caller_id=None,
                                 keys=["1", f"{OWES}#", f"{SECRET}#"])
        assert "es/tax_total_is" in ids(result.played)
        assert (await audit(line))[0]["caller"] is None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_tax_service_down_is_said_then_an_operator(settings: Settings) -> None:
    url = f"http://127.0.0.1:{closed_port()}/cuentas"
    async with running_line(settings, tax_backend="http", tax_http_url=url) as line:
        result = await line.call(script="tax", keys=["1", f"{OWES}#", f"{SECRET}#"],
                                 queue_status=None)
        heard = ids(result.played)
        assert after(heard, "es/tax_unavailable") == es("tax_unavailable", "connecting_operator")
        assert [r["result"] for r in await audit(line)] == ["unavailable"]


async def test_tax_service_down_and_no_operator_says_so_and_goodbye(settings: Settings) -> None:
    async with running_line(settings, operator_queue="") as line:  # nothing imported: no key
        result = await line.call(script="tax", keys=["1", f"{OWES}#", f"{SECRET}#"])
        assert ids(result.played)[-2:] == es("tax_unavailable", "goodbye")


# --- hang-ups -------------------------------------------------------------------------

HANGUPS = [
    ("language", ("GET DATA", "WAIT FOR DIGIT", "STREAM FILE"), []),
    ("tax_id", ("GET DATA",), []),
    ("tax_secret", ("GET DATA",), []),
    ("tax_told", ("STREAM FILE",), ["found"]),
    ("tax_options", ("GET DATA",), ["found"]),
    ("operator", ("EXEC",), ["found"]),
]


@pytest.mark.parametrize(("step", "on", "looked_up"), HANGUPS, ids=[h[0] for h in HANGUPS])
async def test_a_hangup_at_each_step_ends_cleanly(
        settings: Settings, tmp_path: Path, step: str, on: tuple[str, ...],
        looked_up: list[str]) -> None:
    async with running_line(settings) as line:
        await load(line, tmp_path, owing("1"))
        result = await line.call(script="tax", keys=["", f"{OWES}#", f"{SECRET}#", "0"],
                                 hangup_at=step, hangup_on=on)
        assert result.hung_up and result.error is None and result.goto is None
        assert step in result.steps
        assert line.server.active_calls == 0
        assert [r["result"] for r in await audit(line)] == looked_up


# --- the line -------------------------------------------------------------------------


async def test_a_database_made_before_tax_lines_gets_one_on_start(settings: Settings) -> None:
    from ivr.core.line_seed import _create, report_line, seed_lines, status_line
    from ivr.core.lines import LineAdmin
    from ivr.promptaudio.library import PromptLibrary
    from ivr.store import engine as store_engine
    from ivr.store.lines import LineStore

    async with store_engine.database(settings.database) as db:
        admin = LineAdmin(LineStore(db, utc_now),
                          PromptLibrary(settings.prompt_library_folder).prepare())
        await _create([report_line(settings), status_line(settings)], admin,
                      settings.prompts.resolve())  # as an older version seeded it
        assert await seed_lines(admin, settings)
        lines = {r.slug: (r.flow, r.live_version) for r in await admin.lines()}
        assert lines["tax"] == ("tax", 1)
        assert not await seed_lines(admin, settings)  # once
    async with running_line(settings) as line:
        result = await line.call(script="line", extra_env={"extension": settings.tax_line},
                                 keys=["1", f"{OWES}#", "1111#"])
        assert "es/tax_greeting" in ids(result.played)
