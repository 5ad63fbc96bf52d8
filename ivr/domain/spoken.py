"""Amounts of money and dates, as the prompt ids that say them, from recorded pieces.

Asterisk's SayMoney speaks only US dollars in English, so the tax and participation
lines build what they say from prompts/catalogue.toml: ``money("es", 1250)`` is
``["number_12", "currency_soles", "money_and", "number_50", "currency_centimos"]``,
"doce soles con cincuenta céntimos". The flow plays the ids in order.

Conventions:

- ``language`` is a line language ("es", "en", "es-PE", "qu"...). English ("en",
  "en-*") gets English grammar; every other language gets Spanish grammar, so a
  caller on a Quechua line hears amounts and dates in Spanish. The prompt ids are
  the same in every language; the flow plays them from the call's language folder
  with the usual fallback to the line's first language.
- Spanish apocope: a number is "uno", "veintiuno", "treinta y uno" when said alone
  (``number``, the day of a date, a year), and "un", "veintiún", "treinta y un" before
  a masculine noun or "mil"/"millón" (soles, céntimos): "veintiún mil soles".
- Zero soles and some céntimos are said as the céntimos alone: "cincuenta céntimos",
  "un céntimo", never "cero soles con...". Zero is "cero soles".
- "Un millón de soles", "dos millones de soles": "de" only when the millions are
  the last thing before "soles" ("un millón cien soles").
- ``day`` returns no article: the prompt before it carries it (tax_pay_by is
  "y vence el", English "and is due on"), so "el"/"on" lives in the lead-in
  prompt, never here.
"""

from __future__ import annotations

from datetime import date

MAX_CENTS = 99_999_999_999  # 999 999 999.99 soles
MAX_NUMBER = 999_999_999

_AND = "number_and"  # Spanish "y" between tens and units
_THOUSAND = "number_thousand"
_MILLION = "number_million"
_MILLIONS = "number_millions"  # Spanish only: English says "two million"
_OF = "of"  # "de": "un millón de soles", "de dos mil veintisiete"
_SOL, _SOLES = "currency_sol", "currency_soles"
_CENTIMO, _CENTIMOS = "currency_centimo", "currency_centimos"
_AND_CENTS = "money_and"  # "con" / "and" between soles and céntimos
# Numbers up to here are one recorded prompt (number_0..number_60); above, tens and units.
_WHOLE_UP_TO = 60


def is_english(language: str) -> bool:
    return language.split("-")[0].split("_")[0].lower() == "en"


def number(language: str, n: int) -> list[str]:
    """The cardinal ``n`` (0..999 999 999) as said on its own: "veintiuno", "twenty one"."""
    _check(n, MAX_NUMBER, "number")
    if is_english(language):
        return _english(n)
    return _spanish(n, apocope=False)


def money(language: str, cents: int) -> list[str]:
    """An amount in soles and céntimos, from 0 up to 999 999 999.99 soles.

    Raises ValueError for a negative amount or one above ``MAX_CENTS``.
    """
    _check(cents, MAX_CENTS, "amount in cents")
    soles, centimos = divmod(cents, 100)
    english = is_english(language)
    said: list[str] = []
    if soles or not centimos:
        said += _english(soles) if english else _spanish(soles, apocope=True)
        if not english and soles >= 1_000_000 and soles % 1_000_000 == 0:
            said.append(_OF)
        said.append(_SOL if soles == 1 else _SOLES)
    if centimos:
        if said:
            said.append(_AND_CENTS)
        said += _english(centimos) if english else _spanish(centimos, apocope=True)
        said.append(_CENTIMO if centimos == 1 else _CENTIMOS)
    return said


def day(language: str, when: date, today: date) -> list[str]:
    """``when`` as a due date, without article: "primero de agosto", "July twenty first";
    the year is said only when it is not ``today``'s ("... de dos mil veintisiete")."""
    month = f"month_{when.month}"
    other_year = when.year != today.year
    if is_english(language):
        said = [month, *_english_ordinal(when.day)]
        return said + _english(when.year) if other_year else said
    # month_n is "de agosto" in Spanish: the day comes first and the month takes its "de".
    said = ["ordinal_1" if when.day == 1 else f"number_{when.day}", month]
    return [*said, _OF, *_spanish(when.year, apocope=False)] if other_year else said


def _check(n: int, limit: int, what: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    if not 0 <= n <= limit:
        raise ValueError(f"{what} {n} is outside 0..{limit}")


# --- Spanish ---------------------------------------------------------------------------


def _spanish(n: int, apocope: bool) -> list[str]:
    if n == 0:
        return ["number_0"]
    millions, rest = divmod(n, 1_000_000)
    thousands, units = divmod(rest, 1000)
    said: list[str] = []
    if millions == 1:
        said += ["number_un", _MILLION]
    elif millions:
        said += [*_spanish_below_1000(millions, apocope=True), _MILLIONS]
    if thousands > 1:
        # Always "veintiún mil", "ciento un mil": the count stands before "mil".
        said += _spanish_below_1000(thousands, apocope=True)
    if thousands:
        said.append(_THOUSAND)  # "mil", never "un mil"
    if units:
        said += _spanish_below_1000(units, apocope)
    return said


def _spanish_below_1000(n: int, apocope: bool) -> list[str]:
    hundreds, rest = divmod(n, 100)
    if hundreds == 1 and rest == 0:
        return ["number_100"]  # "cien"; "ciento" only when more follows
    said = [f"hundreds_{hundreds}"] if hundreds else []
    return said + _spanish_below_100(rest, apocope) if rest else said


def _spanish_below_100(n: int, apocope: bool) -> list[str]:
    if apocope and n == 1:
        return ["number_un"]
    if apocope and n == 21:
        return ["number_veintiun"]
    tens, unit = divmod(n, 10)
    if n < 30 or unit == 0 or (n <= _WHOLE_UP_TO and not (apocope and unit == 1)):
        return [f"number_{n}"]
    return [f"number_{tens * 10}", _AND, "number_un" if apocope and unit == 1
            else f"number_{unit}"]


# --- English ---------------------------------------------------------------------------


def _english(n: int) -> list[str]:
    if n == 0:
        return ["number_0"]
    millions, rest = divmod(n, 1_000_000)
    thousands, units = divmod(rest, 1000)
    said: list[str] = []
    if millions:
        said += [*_english_below_1000(millions), _MILLION]
    if thousands:
        said += [*_english_below_1000(thousands), _THOUSAND]
    if units:
        said += _english_below_1000(units)
    return said


def _english_below_1000(n: int) -> list[str]:
    hundreds, rest = divmod(n, 100)
    said = [f"hundreds_{hundreds}"] if hundreds else []  # "one hundred one": no "and"
    return said + _english_below_100(rest) if rest else said


def _english_below_100(n: int) -> list[str]:
    tens, unit = divmod(n, 10)
    if n <= _WHOLE_UP_TO or unit == 0:
        return [f"number_{n}"]
    return [f"number_{tens * 10}", f"number_{unit}"]


def _english_ordinal(n: int) -> list[str]:
    """1..31 as ordinals: ordinal_1..ordinal_20 and ordinal_30 are recorded;
    "twenty first" is number_20 then ordinal_1."""
    if n <= 20 or n == 30:
        return [f"ordinal_{n}"]
    tens, unit = divmod(n, 10)
    return [f"number_{tens * 10}", f"ordinal_{unit}"]
