"""The tax line heard through SIP: SIPp → real Asterisk → ``alerta serve``.

The tax line (1238) is a default line a new database is given; the dialplan's
catch-all sends its number to the controller, which picks the flow by the number. The
tax accounts come in through ``alerta tax import``, as the nightly timer loads them,
into the database the running controller reads. What callers heard is Asterisk's own playback log.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.domain import spoken
from tests.e2e_asterisk import Stack, _env, callers_csv, finish, place, running_stack
from tests.e2e_dialogue import Step, dialogue
from tests.tax_util import ruc, write_csv, wrong_ruc

OWES_RUC = ruc("2013131295")
SECRET = "48291375"
OWED_CENTS = 100_002_150  # S/ 1,000,021.50: a million, a thousand's apocope and céntimos
DUE = date(2027, 3, 31)
TAX_LANGUAGES = ("tax_greeting", "es:language_option", "es:digit_1", "en:language_option",
                 "en:digit_2")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e-tax"), playback_log=True) as running:
        yield running


def alerta(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], env=_env(stack.settings),
                          cwd=stack.root, capture_output=True, text=True, timeout=120,
                          check=False)


def rows(stack: Stack, sql: str) -> list[sqlite3.Row]:
    with sqlite3.connect(stack.settings.database) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql).fetchall()


def heard(stack: Stack) -> list[list[str]]:
    """What each call heard (a channel each), as <lang>/<id> in order."""
    calls: dict[str, list[str]] = {}
    for entry in stack.pbx.played():
        channel, path = entry.split(" ", 1)
        parts = path.rsplit(".", 1)[0].rsplit("/", 2)
        calls.setdefault(channel, []).append(f"{parts[-2]}/{parts[-1]}")
    return list(calls.values())


def contains(seq: list[str], part: list[str]) -> bool:
    return any(seq[i:i + len(part)] == part for i in range(len(seq) - len(part) + 1))


def test_a_taxpayer_hears_the_amount_and_the_date_and_a_wrong_id_is_refused(
        stack: Stack) -> None:
    csv = write_csv(stack.root / "cuentas.csv", [
        (OWES_RUC, SECRET, f"{OWED_CENTS // 100}.{OWED_CENTS % 100:02d}", DUE.isoformat())])
    done = alerta(stack, "tax", "import", str(csv))
    assert done.returncode == 0, done.stdout + done.stderr

    folder = stack.root / "dialogues"
    found = [Step(TAX_LANGUAGES, "1"), Step(("tax_enter_id",), f"{OWES_RUC}#"),
             Step(("tax_enter_secret",), f"{SECRET}#")]
    refused = [Step(TAX_LANGUAGES, "1"),
               Step(("tax_enter_id",), f"{wrong_ruc('2013131295')}#"),
               Step(("tax_id_invalid", "tax_enter_id"), f"{OWES_RUC}#"),
               Step(("tax_enter_secret",), "1111#"),
               Step(("tax_not_matched", "tax_enter_id"), f"{OWES_RUC}#"),
               Step(("tax_enter_secret",), "2222#")]
    calls = []
    for name, steps, number in (("tax-found", found, "930000001"),
                                ("tax-refused", refused, "930000002")):
        csv_path = callers_csv(stack.root / f"{name}.csv", [(number, name, number, "none")])
        calls.append(place(stack, dialogue(folder, name, steps, listen_s=25.0), csv_path,
                           name=name, line=stack.settings.tax_line))
    finish(calls)

    audit = {(r["caller"], r["result"]) for r in rows(
        stack, "SELECT caller, result, tax_id FROM tax_lookups")}
    assert audit == {("930000001", "found"), ("930000002", "invalid_id"),
                     ("930000002", "no_match")}, stack.controller.log()[-3000:]
    assert not any(SECRET in r[0] for r in rows(stack, "SELECT data FROM events"))

    today = datetime.now(UTC).astimezone(ZoneInfo("America/Lima")).date()
    said = ["es/" + p for p in ("tax_total_is", *spoken.money("es", OWED_CENTS), "tax_pay_by",
                                *spoken.day("es", DUE, today))]
    calls_heard = [c for c in heard(stack) if c and c[0] == "es/tax_greeting"]
    told = [c for c in calls_heard if contains(c, said)]
    refusals = [c for c in calls_heard if c[-2:] == ["es/tax_refused", "es/goodbye"]]
    assert len(told) == 1 and len(refusals) == 1, calls_heard
    assert "es/tax_total_is" not in refusals[0]
    assert "es/currency_centimos" in said and "es/number_million" in said

    assert stack.tracebacks() == [] and stack.our_errors() == []
