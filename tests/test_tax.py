"""Tax lookups on the real store, both engines: the import (replace, refusals, a crash
part-way), the file adapter's answers, the limits that stop an enumeration (many IDs
from one number, one ID from many numbers), one alert per block, blocks that expire
or are lifted, and an audit that never holds the bill's code."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Settings
from ivr.core.ports import TaxQuery
from ivr.core.tax import (
    BackendAnswer,
    BackendUnavailable,
    Debt,
    TaxLimits,
    TaxService,
    answer_of,
)
from ivr.store import engine as store_engine
from ivr.store.db import Database
from ivr.store.tax import TaxImports, TaxStore
from ivr.tax.file_backend import FileBackend, SecretHasher
from ivr.tax.importer import TaxFileError, cents, import_file, parse_row
from tests.tax_util import KEY_ENV, Clock, dni, ruc, write_csv, wrong_ruc

pytestmark = pytest.mark.store

HASHER = SecretHasher(KEY_ENV["ALERTA_TAX_KEY"].encode())
OWES = ruc("2010000000")  # a company that owes two debts
PAID = dni(12345678)  # owes nothing
SECRET = "48291375"
LIMITS = TaxLimits()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    opened = await store_engine.database(settings.database).open()
    try:
        yield opened
    finally:
        await opened.close()


def accounts_file(tmp_path: Path, name: str = "cuentas.csv") -> Path:
    return write_csv(tmp_path / name, [
        (OWES, SECRET, "1234.50", "2026-12-31"),
        (OWES, SECRET, "100", "2026-11-30"),
        (PAID, "1111", "", ""),
    ])


async def imported(db: Database, path: Path, clock: Clock, municipality: int = 1) -> Any:
    return await import_file(path, municipality, TaxImports(db), HASHER, actor="cli:test",
                             clock=clock)


def desk(db: Database, clock: Clock, limits: TaxLimits = LIMITS) -> TaxService:
    return TaxService(FileBackend(TaxStore(db), Path("/nonexistent"), env=KEY_ENV),
                      TaxStore(db), limits, clock)


def query(tax_id: str | None, secret: str = SECRET, caller: str | None = "987654321",
          call: str = "c1") -> TaxQuery:
    return TaxQuery(1, caller, call, "tax v1", tax_id, secret, date(2026, 12, 4))


async def rows(db: Database, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetchall(sql, args)]


async def alerts(db: Database) -> list[dict[str, Any]]:
    found = await rows(db, "SELECT data, municipality_id FROM events"
                           " WHERE kind = 'alert.tax_enumeration' ORDER BY id")
    return [{**json.loads(r["data"]), "municipality": r["municipality_id"]} for r in found]


# --- the import ---------------------------------------------------------------------


def test_rows_are_parsed_strictly() -> None:
    assert cents("1234.50") == 123450 and cents("7") == 700 and cents("0.5") == 50
    assert cents("1,234.50") is None and cents("12.345") is None and cents("") is None

    def why(tax_id: str, secret: str = "1234", amount: str = "1", due: str = "2026-12-31"
            ) -> object:
        return parse_row({"tax_id": tax_id, "secret": secret, "amount": amount, "due_on": due})

    assert why(wrong_ruc("2010000000")) == "RUC with a wrong check digit (or kind)"
    assert why("1234567") == "tax_id is not a DNI (8 digits) or a RUC (11 digits)"
    assert why(PAID, amount="-5") == "negative amount"
    assert why(PAID, due="2026-02-30") == "due date '2026-02-30' does not exist"
    assert why(PAID, due="31/12/2026") == "due date '31/12/2026' is not YYYY-MM-DD"
    assert why(PAID, secret="12") == "the bill's code must be 4 to 8 digits"
    assert SECRET not in repr(why(OWES, secret=SECRET))


async def test_import_refuses_bad_lines_and_replaces_the_accounts(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    path = write_csv(tmp_path / "noche.csv", [
        (OWES, SECRET, "1234.50", "2026-12-31"),
        (wrong_ruc("2010000001"), "1234", "10.00", "2026-12-31"),  # line 3
        (PAID, "1111", "", ""),
        (dni(22222222), "2222", "-3.00", "2026-12-31"),  # line 5
        (dni(33333333), "3333", "5.00", "mañana"),  # line 6
        (OWES, "9999", "1.00", "2026-12-31"),  # line 7: another code for the same ID
        (OWES, SECRET, "100", "2026-11-30"),
    ])
    first = await imported(db, path, clock)
    assert (first.accounts, first.debts, first.refused) == (2, 2, 4)
    assert [r.split(":")[0] for r in first.refusals] == ["line 3", "line 5", "line 6", "line 7"]
    assert first.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    backend = FileBackend(TaxStore(db), Path("/nonexistent"), env=KEY_ENV)
    owed = await backend.account(1, OWES, SECRET)
    assert owed.found and owed.secret_ok
    assert sorted(owed.debts, key=lambda d: d.due_on) == [
        Debt(10000, date(2026, 11, 30)), Debt(123450, date(2026, 12, 31))]
    assert await backend.account(1, OWES, "9999") == BackendAnswer(True, False)
    assert await backend.account(1, dni(99999999), SECRET) == BackendAnswer(False)
    assert await backend.account(2, OWES, SECRET) == BackendAnswer(False)  # another town

    clock.advance(days=1)
    second = await imported(db, write_csv(tmp_path / "luego.csv", [(PAID, "1111", "", "")]),
                            clock)
    assert (second.accounts, second.debts, second.refused) == (1, 0, 0)
    assert await backend.account(1, OWES, SECRET) == BackendAnswer(False)  # gone
    assert (await backend.account(1, PAID, "1111")).secret_ok
    states = await rows(db, "SELECT id, state, accounts, refused FROM tax_imports ORDER BY id")
    assert [(r["state"], r["accounts"], r["refused"]) for r in states] == [
        ("replaced", 2, 4), ("current", 1, 0)]
    left = await rows(db, "SELECT count(*) AS n FROM tax_accounts")
    assert left[0]["n"] == 1  # the replaced generation is deleted
    stored = json.dumps(await rows(db, "SELECT * FROM tax_accounts")) + json.dumps(
        await rows(db, "SELECT * FROM tax_imports"))
    assert SECRET not in stored and "1111" not in stored


async def test_a_file_with_no_account_or_no_header_keeps_the_current_data(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    with pytest.raises(TaxFileError, match="no usable account"):
        await imported(db, write_csv(tmp_path / "vacio.csv", []), clock)
    with pytest.raises(TaxFileError, match="header lacks"):
        await imported(db, write_csv(tmp_path / "mal.csv", [(OWES, SECRET, "1", "2026-12-31")],
                                     header="dni,clave,monto,vence"), clock)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"tax_id,secret,amount,due_on,name\n"
                      + f"{PAID},1111,,,Mu\xf1oz\n".encode("latin-1"))
    with pytest.raises(TaxFileError, match="not UTF-8"):
        await imported(db, latin, clock)
    backend = FileBackend(TaxStore(db), Path("/nonexistent"), env=KEY_ENV)
    assert (await backend.account(1, OWES, SECRET)).secret_ok
    states = [r["state"] for r in await rows(db, "SELECT state FROM tax_imports ORDER BY id")]
    assert states == ["current", "failed", "failed", "failed"]


async def test_a_crash_part_way_leaves_the_old_data_and_the_next_import_tidies(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    imports = TaxImports(db)
    # A process killed while loading: its generation stays "loading", half there.
    crashed = await imports.begin(1, "killed.csv", "cli:test", clock())
    await imports.load(crashed, 1, clock(), [(dni(44444444), HASHER.digest(1, dni(44444444),
                                                                           "4444"))], [])
    backend = FileBackend(TaxStore(db), Path("/nonexistent"), env=KEY_ENV)
    assert (await backend.account(1, OWES, SECRET)).secret_ok
    assert not (await backend.account(1, dni(44444444), "4444")).found
    await imported(db, write_csv(tmp_path / "n.csv", [(PAID, "1111", "", "")]), clock)
    states = [r["state"] for r in await rows(db, "SELECT state FROM tax_imports ORDER BY id")]
    assert states == ["replaced", "failed", "current"]
    assert [r["tax_id"] for r in await rows(db, "SELECT tax_id FROM tax_accounts")] == [PAID]


# --- answers and the audit ----------------------------------------------------------


def test_what_an_account_answers() -> None:
    today = date(2026, 12, 4)
    assert answer_of(BackendAnswer(True, True), today).result == "nothing_owed"
    due = answer_of(BackendAnswer(True, True, (Debt(100, date(2026, 12, 31)),
                                               Debt(250, date(2027, 1, 31)))), today)
    assert (due.result, due.owed_cents, due.due_on, due.overdue) == (
        "found", 350, date(2026, 12, 31), False)
    late = answer_of(BackendAnswer(True, True, (Debt(100, date(2026, 12, 3)),)), today)
    assert late.overdue and late.due_on == date(2026, 12, 3)


async def test_lookups_answer_and_every_try_is_audited_without_the_code(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock)
    found = await tax.lookup(query(OWES))
    assert (found.result, found.owed_cents, found.due_on, found.overdue) == (
        "found", 133450, date(2026, 11, 30), True)
    assert (await tax.lookup(query(PAID, "1111"))).result == "nothing_owed"
    assert (await tax.lookup(query(OWES, "731975"))).result == "no_match"
    assert (await tax.lookup(query(dni(87654321)))).result == "no_match"  # unknown: the same
    assert (await tax.lookup(query(None))).result == "invalid_id"
    audit = await rows(db, "SELECT caller, call_id, line, tax_id, result FROM tax_lookups"
                           " ORDER BY id")
    assert [(r["tax_id"], r["result"]) for r in audit] == [
        (OWES, "found"), (PAID, "nothing_owed"), (OWES, "no_match"),
        (dni(87654321), "no_match"), (None, "invalid_id")]
    assert {r["caller"] for r in audit} == {"987654321"} and audit[0]["line"] == "tax v1"
    everything = json.dumps(await rows(db, "SELECT * FROM tax_lookups")) + json.dumps(
        await rows(db, "SELECT data FROM events"))
    assert SECRET not in everything and "731975" not in everything
    assert SECRET not in repr(query(OWES))


class DownBackend:
    async def account(self, municipality: int, tax_id: str, secret: str) -> BackendAnswer:
        raise BackendUnavailable("connection refused")


async def test_a_back_end_that_is_down_answers_unavailable_and_is_not_counted(
        db: Database) -> None:
    clock = Clock()
    tax = TaxService(DownBackend(), TaxStore(db), TaxLimits(failures_per_caller_hour=2), clock)
    for _ in range(5):
        assert (await tax.lookup(query(OWES))).result == "unavailable"
    assert not await tax.blocked(1, "987654321") and await alerts(db) == []
    assert len(await rows(db, "SELECT id FROM tax_lookups WHERE result = 'unavailable'")) == 5


# --- limits -------------------------------------------------------------------------


async def test_wrong_codes_from_one_number_block_it_with_one_alert(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock)
    for n in range(LIMITS.failures_per_caller_hour):  # a few IDs: the number's limit
        assert (await tax.lookup(query(dni(70000000 + n % 2), caller="987000111"))).result == (
            "no_match")
    assert await tax.blocked(1, "987000111") and not await tax.blocked(1, "987000222")
    # Blocked: even the right code is not looked up.
    assert (await tax.lookup(query(OWES, caller="987000111"))).result == "blocked"
    assert (await tax.lookup(query(OWES, "1", caller="987000111"))).result == "blocked"
    (alert,) = await alerts(db)
    assert alert["kind"] == "caller" and alert["who"] == "******111"
    assert "987000111" not in json.dumps(alert)  # events reach operators' consoles too
    assert alert["reason"] == "failures_per_hour" and alert["municipality"] == 1
    results = [r["result"] for r in await rows(
        db, "SELECT result FROM tax_lookups WHERE caller = '987000111' ORDER BY id")]
    assert results[-2:] == ["blocked", "blocked"]


async def test_many_ids_from_one_number_are_stopped_and_alerted_once(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock)
    answered = []
    for n in range(LIMITS.ids_per_caller_day + 3):
        answered.append((await tax.lookup(query(dni(40000000 + n), caller="955000000",
                                                secret=SECRET))).result)
        clock.advance(minutes=15)  # slow enough that the hourly failures never trip
    # Spread out, the wrong codes never reach the hourly limit: the IDs do.
    assert answered == ["no_match"] * 10 + ["blocked"] * 3
    (alert,) = await alerts(db)
    assert (alert["kind"], alert["reason"], alert["count"]) == ("caller", "ids_per_day", 10)
    assert "40000000" not in json.dumps(alert)


async def test_distinct_ids_per_number_block_even_when_every_code_is_right(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    lines = [(dni(50000000 + n), "5555", "", "") for n in range(12)]
    await imported(db, write_csv(tmp_path / "f.csv", lines), clock)
    tax = desk(db, clock, TaxLimits(ids_per_caller_day=4))
    heard = [(await tax.lookup(query(dni(50000000 + n), "5555", caller="944"))).result
             for n in range(6)]
    assert heard == ["nothing_owed"] * 4 + ["blocked", "blocked"]
    (alert,) = await alerts(db)
    assert (alert["reason"], alert["count"], alert["limit"]) == ("ids_per_day", 4, 4)


async def test_one_id_from_many_numbers_blocks_the_id_and_alerts_once(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock)
    heard = [(await tax.lookup(query(OWES, f"{n:06d}", caller=f"9870000{n:02d}"))).result
             for n in range(LIMITS.callers_per_id_day + 2)]
    assert heard == ["no_match"] * 5 + ["blocked"] * 2
    # The owner, bill in hand, hears "blocked" too (not "wrong code"): docs/tax.md.
    assert (await tax.lookup(query(OWES, caller="999999999"))).result == "blocked"
    (alert,) = await alerts(db)
    assert (alert["kind"], alert["reason"]) == ("tax_id", "callers_per_day")
    assert alert["who"] == "*" * 8 + OWES[-3:] and OWES not in json.dumps(alert)
    assert not await tax.blocked(1, "987000000")  # the numbers themselves are not blocked


async def test_wrong_codes_for_one_id_from_a_few_numbers_block_the_id(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock)
    heard = [(await tax.lookup(query(OWES, f"{n:06d}", caller=f"97{n % 3}"))).result
             for n in range(LIMITS.failures_per_id_hour + 1)]
    assert heard == ["no_match"] * 6 + ["blocked"]
    (alert,) = await alerts(db)
    assert (alert["kind"], alert["reason"], alert["count"]) == ("tax_id", "failures_per_hour", 6)


async def test_many_numbers_for_one_id_in_a_day_block_it(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock)
    heard = []
    for n in range(LIMITS.callers_per_id_day + 1):
        heard.append((await tax.lookup(query(OWES, caller=f"96{n:07d}"))).result)
        clock.advance(minutes=30)
    assert heard == ["found"] * 5 + ["blocked"]
    (alert,) = await alerts(db)
    assert alert["reason"] == "callers_per_day"


async def test_withheld_numbers_share_one_bucket(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock)
    for n in range(LIMITS.withheld_failures_hour):
        await tax.lookup(query(dni(60000000 + n % 3), caller=None, call=f"w{n}"))
    assert await tax.blocked(1, None)  # every withheld caller, from now on
    assert (await tax.lookup(query(OWES, caller=None, call="other"))).result == "blocked"
    assert not await tax.blocked(1, "987654321")
    (alert,) = await alerts(db)
    assert (alert["kind"], alert["who"]) == ("caller", "withheld")


async def test_invalid_ids_count_as_failures_of_the_number(db: Database) -> None:
    clock = Clock()
    tax = desk(db, clock, TaxLimits(failures_per_caller_hour=3))
    for _ in range(3):
        assert (await tax.lookup(query(None, caller="933"))).result == "invalid_id"
    assert await tax.blocked(1, "933")


async def test_a_block_expires_and_the_counts_start_again(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock, TaxLimits(failures_per_caller_hour=2, block_minutes=30))
    for _ in range(2):
        await tax.lookup(query(OWES, "000000", caller="922"))
    assert await tax.blocked(1, "922")
    clock.advance(minutes=29)
    assert await tax.blocked(1, "922")
    clock.advance(minutes=2)
    assert not await tax.blocked(1, "922")
    # The two old failures are still within the hour, but counted no more.
    assert (await tax.lookup(query(OWES, "000000", caller="922"))).result == "no_match"
    assert not await tax.blocked(1, "922")
    assert (await tax.lookup(query(OWES, caller="922"))).result == "found"
    assert len(await alerts(db)) == 1


async def test_a_supervisor_lifts_a_block_and_it_is_audited(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock, TaxLimits(failures_per_caller_hour=2))
    store = TaxStore(db)
    for _ in range(2):
        await tax.lookup(query(OWES, "000000", caller="911"))
    (block,) = await store.blocks(1, clock())
    assert block["active"] and block["value"] == "911"
    clock.advance(minutes=5)
    assert await store.lift(1, "caller", "911", "user:sofia", clock())
    assert not await store.lift(1, "caller", "911", "user:sofia", clock())  # once
    assert not await tax.blocked(1, "911")
    clock.advance(minutes=1)
    assert (await tax.lookup(query(OWES, caller="911"))).result == "found"
    (lifted,) = await rows(db, "SELECT actor, data FROM events WHERE kind = 'tax.block_lifted'")
    assert lifted["actor"] == "user:sofia" and json.loads(lifted["data"])["who"] == "911"
    assert not (await store.blocks(1, clock()))[0]["active"]


async def test_limits_are_per_municipality(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    tax = desk(db, clock, TaxLimits(failures_per_caller_hour=2))
    for _ in range(2):
        await tax.lookup(query(None, caller="900"))
    assert await tax.blocked(1, "900") and not await tax.blocked(2, "900")


async def test_the_console_reads_the_audit_filtered_and_paged(db: Database, tmp_path: Path
                                                              ) -> None:
    clock = Clock()
    await imported(db, accounts_file(tmp_path), clock)
    tax = desk(db, clock)
    for n in range(5):
        await tax.lookup(query(OWES if n % 2 else PAID, "1111", caller=f"90{n}"))
        clock.advance(minutes=1)
    store = TaxStore(db)
    page = await store.lookups(1, limit=2)
    assert [r["caller"] for r in page] == ["904", "903"]
    older = await store.lookups(1, limit=2, before=page[-1]["id"])
    assert [r["caller"] for r in older] == ["902", "901"]
    assert [r["caller"] for r in await store.lookups(1, tax_id=OWES)] == ["903", "901"]
    assert [r["result"] for r in await store.lookups(1, result="nothing_owed")] == [
        "nothing_owed"] * 3
    assert [r["caller"] for r in await store.lookups(1, caller="902")] == ["902"]
    assert await store.lookups(2) == []
