"""DNI and RUC as typed on a keypad; the RUC check digit against real, public RUCs."""

from __future__ import annotations

import pytest

from ivr.domain.taxids import TaxId, parse_tax_id, ruc_check_digit, valid_secret

# Public RUCs of public bodies, as SUNAT's own consultation page shows them.
REAL_RUCS = {
    "20131312955": "SUNAT",
    "20131380951": "Municipalidad Metropolitana de Lima",
    "20100030595": "Banco de la Nación",
}


def test_sunat_check_digit_by_hand() -> None:
    """20131312955: 2*5 + 0*4 + 1*3 + 3*2 + 1*7 + 3*6 + 1*5 + 2*4 + 9*3 + 5*2 = 94;
    94 % 11 = 6; 11 - 6 = 5, the last digit."""
    assert ruc_check_digit("2013131295") == 5


@pytest.mark.parametrize("ruc", sorted(REAL_RUCS))
def test_real_rucs_are_accepted(ruc: str) -> None:
    assert parse_tax_id(ruc) == TaxId("ruc", ruc)


@pytest.mark.parametrize("ruc", sorted(REAL_RUCS))
def test_every_other_check_digit_is_refused(ruc: str) -> None:
    wrong = [ruc[:10] + str(digit) for digit in range(10) if str(digit) != ruc[10]]
    assert [parse_tax_id(number) for number in wrong] == [None] * 9


def test_remainders_ten_and_eleven_map_to_zero_and_one() -> None:
    """1000000001: 1*5 + 1*2 = 7; 11 - 7 = 4, an ordinary digit.
    2000000001: 2*5 + 1*2 = 12; 12 % 11 = 1; 11 - 1 = 10 -> 0.
    2000000040: 2*5 + 4*3 = 22; 22 % 11 = 0; 11 - 0 = 11 -> 1."""
    assert ruc_check_digit("1000000001") == 4
    assert ruc_check_digit("2000000001") == 0
    assert ruc_check_digit("2000000040") == 1


@pytest.mark.parametrize("prefix", ["10", "15", "16", "17", "20"])
def test_every_ruc_kind_is_accepted_with_its_check_digit(prefix: str) -> None:
    first10 = prefix + "45678912"
    ruc = first10 + str(ruc_check_digit(first10))
    assert parse_tax_id(ruc) == TaxId("ruc", ruc)


@pytest.mark.parametrize("prefix", ["00", "11", "19", "21", "30", "99"])
def test_other_prefixes_are_refused_even_with_a_good_check_digit(prefix: str) -> None:
    first10 = prefix + "45678912"
    assert parse_tax_id(first10 + str(ruc_check_digit(first10))) is None


def test_a_dni_is_exactly_eight_digits() -> None:
    assert parse_tax_id("45678912") == TaxId("dni", "45678912")
    assert parse_tax_id("01234567") == TaxId("dni", "01234567")  # leading zero kept
    assert parse_tax_id("4567891") is None
    assert parse_tax_id("456789123") is None


@pytest.mark.parametrize(
    "typed",
    ["", "4567891a", "4567 8912", " 45678912", "45678912#", "2013131295*", "١٢٣٤٥٦٧٨", "²2345678",
     "2013131295", "201313129555"],
)
def test_anything_else_is_refused(typed: str) -> None:
    assert parse_tax_id(typed) is None


def test_the_check_digit_needs_exactly_ten_digits() -> None:
    with pytest.raises(ValueError):
        ruc_check_digit("201313129")
    with pytest.raises(ValueError):
        ruc_check_digit("20131312a5")


def test_the_bill_secret_is_four_to_eight_digits_by_default() -> None:
    assert valid_secret("1234")
    assert valid_secret("12345678")
    assert not valid_secret("123")
    assert not valid_secret("123456789")
    assert not valid_secret("12a4")
    assert not valid_secret("١٢٣٤")


def test_the_bill_secret_length_is_configurable() -> None:
    assert valid_secret("123456", range(6, 7))
    assert not valid_secret("12345", range(6, 7))
