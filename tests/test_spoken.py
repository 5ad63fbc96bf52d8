"""Amounts and dates said from recorded pieces: the ids, read back as the catalogue's words."""

from __future__ import annotations

import itertools
import random
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ivr.domain.spoken import MAX_CENTS, day, money, number

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ROOT / "prompts"
CATALOGUE = tomllib.loads((PROMPTS / "catalogue.toml").read_text(encoding="utf-8"))["prompt"]
TODAY = date(2026, 6, 15)


def said(language: str, prompt_ids: list[str]) -> str:
    """What the caller hears: each prompt's catalogue text, in order."""
    return " ".join(CATALOGUE[pid][language] for pid in prompt_ids)


def soles(amount: float) -> int:
    return round(amount * 100)


# --- money ------------------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "spanish", "english"), [
    (0, "cero soles", "zero soles"),
    (1, "un sol", "one sol"),
    (2, "dos soles", "two soles"),
    (21, "veintiún soles", "twenty one soles"),
    (31, "treinta y un soles", "thirty one soles"),
    (32, "treinta y dos soles", "thirty two soles"),
    (61, "sesenta y un soles", "sixty one soles"),
    (75, "setenta y cinco soles", "seventy five soles"),
    (90, "noventa soles", "ninety soles"),
    (100, "cien soles", "one hundred soles"),
    (101, "ciento un soles", "one hundred one soles"),
    (115, "ciento quince soles", "one hundred fifteen soles"),
    (200, "doscientos soles", "two hundred soles"),
    (521, "quinientos veintiún soles", "five hundred twenty one soles"),
    (1_000, "mil soles", "one thousand soles"),
    (1_001, "mil un soles", "one thousand one soles"),
    (2_021, "dos mil veintiún soles", "two thousand twenty one soles"),
    (21_000, "veintiún mil soles", "twenty one thousand soles"),
    (100_000, "cien mil soles", "one hundred thousand soles"),
    (101_000, "ciento un mil soles", "one hundred one thousand soles"),
    (1_000_000, "un millón de soles", "one million soles"),
    (2_000_000, "dos millones de soles", "two million soles"),
    (21_000_000, "veintiún millones de soles", "twenty one million soles"),
    (1_000_100, "un millón cien soles", "one million one hundred soles"),
    (1_001_000, "un millón mil soles", "one million one thousand soles"),
])
def test_whole_soles(amount: int, spanish: str, english: str) -> None:
    assert said("es", money("es", soles(amount))) == spanish
    assert said("en", money("en", soles(amount))) == english


@pytest.mark.parametrize(("amount", "spanish", "english"), [
    (0.01, "un céntimo", "one céntimo"),
    (0.21, "veintiún céntimos", "twenty one céntimos"),
    (0.50, "cincuenta céntimos", "fifty céntimos"),
    (12.50, "doce soles con cincuenta céntimos", "twelve soles and fifty céntimos"),
    (1.21, "un sol con veintiún céntimos", "one sol and twenty one céntimos"),
    (1.01, "un sol con un céntimo", "one sol and one céntimo"),
    (1_000_000.05, "un millón de soles con cinco céntimos",
     "one million soles and five céntimos"),
])
def test_centimos_with_and_without_soles(amount: float, spanish: str, english: str) -> None:
    """Zero soles and some céntimos is said as the céntimos alone, never "cero soles con"."""
    assert said("es", money("es", soles(amount))) == spanish
    assert said("en", money("en", soles(amount))) == english


def test_the_largest_amount() -> None:
    assert said("es", money("es", MAX_CENTS)) == (
        "novecientos noventa y nueve millones novecientos noventa y nueve mil "
        "novecientos noventa y nueve soles con noventa y nueve céntimos")
    assert said("en", money("en", MAX_CENTS)) == (
        "nine hundred ninety nine million nine hundred ninety nine thousand "
        "nine hundred ninety nine soles and ninety nine céntimos")


@pytest.mark.parametrize("cents", [-1, MAX_CENTS + 1, 10**15])
def test_a_negative_or_absurd_amount_is_refused(cents: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        money("es", cents)


@pytest.mark.parametrize("cents", [12.5, True, "1250"])
def test_an_amount_that_is_not_whole_cents_is_refused(cents: object) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        money("es", cents)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["qu", "ay", "es-PE", "", "xx"])
def test_other_languages_hear_spanish_amounts_and_dates(language: str) -> None:
    assert money(language, 2_100) == money("es", 2_100)
    assert day(language, date(2027, 7, 21), TODAY) == day("es", date(2027, 7, 21), TODAY)


def test_english_variants_are_english() -> None:
    assert said("en", money("en-US", 2_100)) == "twenty one soles"
    assert said("en", money("EN_gb", 100)) == "one sol"


def test_number_alone_is_not_apocopated() -> None:
    assert said("es", number("es", 21)) == "veintiuno"
    assert said("es", number("es", 31)) == "treinta y uno"
    assert said("es", number("es", 71)) == "setenta y uno"
    assert said("es", number("es", 1_001)) == "mil uno"
    assert said("es", number("es", 21_000)) == "veintiún mil"  # before "mil" it is
    assert said("en", number("en", 71)) == "seventy one"
    with pytest.raises(ValueError):
        number("es", 1_000_000_000)


def spanish_amounts(count: int) -> Iterator[int]:
    chooser = random.Random(20260615)
    for _ in range(count):
        digits = chooser.randint(1, 11)
        yield chooser.randint(0, 10**digits - 1)


def test_spanish_never_says_uno_before_a_noun_nor_un_mil() -> None:
    nouns = {"soles", "sol", "mil", "céntimos", "céntimo", "millón", "millones", "de"}
    for cents in spanish_amounts(5000):
        words = said("es", money("es", cents)).split()
        text = " ".join(words)
        for before, after in itertools.pairwise(words):
            assert not (before in ("uno", "veintiuno") and after in nouns), (cents, text)
            assert not (before == "ciento" and after in nouns), (cents, text)  # "cien mil"
        # A thousand is "mil", never "un mil" ("treinta y un mil" is right).
        assert not text.startswith("un mil ") and " millón un mil" not in text, (cents, text)
        assert " millones un mil" not in text, (cents, text)
        assert (words[0] == "mil") == (1_000 <= cents // 100 < 2_000), (cents, text)
        assert ("de soles" in text) == (cents >= 100_000_000 and cents // 100 % 10**6 == 0)
        assert text.count("cero") == (1 if cents == 0 else 0), (cents, text)


# --- dates ------------------------------------------------------------------------------

@pytest.mark.parametrize(("when", "spanish", "english"), [
    (date(2026, 8, 1), "primero de agosto", "August first"),
    (date(2026, 7, 21), "veintiuno de julio", "July twenty first"),
    (date(2026, 12, 31), "treinta y uno de diciembre", "December thirty first"),
    (date(2026, 9, 30), "treinta de setiembre", "September thirtieth"),
    (date(2026, 2, 12), "doce de febrero", "February twelfth"),
    (date(2027, 1, 2), "dos de enero de dos mil veintisiete",
     "January second two thousand twenty seven"),
    (date(2021, 3, 1), "primero de marzo de dos mil veintiuno",
     "March first two thousand twenty one"),
])
def test_due_dates(when: date, spanish: str, english: str) -> None:
    assert said("es", day("es", when, TODAY)) == spanish
    assert said("en", day("en", when, TODAY)) == english


def test_the_article_is_in_the_prompt_before_the_date() -> None:
    due = day("es", date(2026, 8, 1), TODAY)
    assert said("es", ["tax_pay_by", *due]) == "y vence el primero de agosto"
    assert said("es", ["tax_overdue_since", *due]) == "y está vencida desde el primero de agosto"
    assert said("es", ["case_answer_by", *due]).endswith("a más tardar el primero de agosto")
    assert said("en", ["tax_pay_by", *day("en", date(2026, 8, 1), TODAY)]) == (
        "and it is due on August first")
    assert said("es", ["tax_total_is", *money("es", 1_250)]) == (
        "Su deuda es de doce soles con cincuenta céntimos")


# --- every piece is recorded ------------------------------------------------------------

def every_id_said() -> set[str]:
    ids: set[str] = set()
    centimos = (0, 1, 21, 50, 99)
    for language in ("es", "en"):
        for n in range(1000):
            ids.update(number(language, n))
            for whole in (n, n * 1000, n * 1_000_000, n * 1_001_001, n * 1000 + 1):
                for cents in centimos:
                    ids.update(money(language, whole * 100 + cents))
        for cents in range(100):
            ids.update(money(language, cents))
        for month in range(1, 13):
            for day_of_month in range(1, 32):
                try:
                    when = date(2026, month, day_of_month)
                except ValueError:
                    continue
                ids.update(day(language, when, TODAY))
                ids.update(day(language, when.replace(year=2027), TODAY))
        for year in range(2000, 2100):
            ids.update(day(language, date(year, 1, 1), TODAY))
    return ids


def test_every_piece_money_and_day_say_is_a_shipped_wav() -> None:
    ids = every_id_said()
    assert len(ids) > 100
    missing = sorted(f"{lang}/{pid}.wav" for pid in ids for lang in ("es", "en")
                     if not (PROMPTS / lang / f"{pid}.wav").is_file())
    assert not missing
    assert ids <= set(CATALOGUE)
