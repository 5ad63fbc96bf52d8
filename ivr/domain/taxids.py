"""Peruvian tax ids typed on a phone keypad: DNI (8 digits) and RUC (11 digits).

A RUC starts with its kind (10: a person, the DNI follows; 15, 16, 17: other people, such as
foreigners; 20: a company or other legal entity) and ends with a check digit that SUNAT
computes with weights 5,4,3,2,7,6,5,4,3,2 over the first ten digits, mod 11.
A DNI has no check digit that a caller types (the card's ninth character is not part of the
number), so eight digits is all that can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DNI_LENGTH = 8
RUC_LENGTH = 11
RUC_PREFIXES = frozenset({"10", "15", "16", "17", "20"})
RUC_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
SECRET_DIGITS = range(4, 9)


@dataclass(frozen=True)
class TaxId:
    kind: Literal["dni", "ruc"]
    number: str


def _ascii_digits(text: str) -> bool:
    # str.isdigit() also accepts "²" and Arabic-Indic digits; a keypad sends ASCII only.
    return text.isascii() and text.isdigit()


def ruc_check_digit(first10: str) -> int:
    """SUNAT's check digit for the first ten digits of a RUC."""
    if len(first10) != len(RUC_WEIGHTS) or not _ascii_digits(first10):
        raise ValueError("a RUC check digit is computed over exactly ten digits")
    total = sum(int(digit) * weight for digit, weight in zip(first10, RUC_WEIGHTS, strict=True))
    remainder = 11 - total % 11
    return {10: 0, 11: 1}.get(remainder, remainder)


def parse_tax_id(typed: str) -> TaxId | None:
    """A DNI or a valid RUC from the digits a caller typed, or None for anything else."""
    if not _ascii_digits(typed):
        return None
    if len(typed) == DNI_LENGTH:
        return TaxId("dni", typed)
    if (
        len(typed) == RUC_LENGTH
        and typed[:2] in RUC_PREFIXES
        and ruc_check_digit(typed[:10]) == int(typed[10])
    ):
        return TaxId("ruc", typed)
    return None


def valid_secret(typed: str, digits: range = SECRET_DIGITS) -> bool:
    """The second secret printed on the tax bill: only digits, as many as ``digits``
    allows (4 to 8 by default)."""
    return _ascii_digits(typed) and len(typed) in digits
