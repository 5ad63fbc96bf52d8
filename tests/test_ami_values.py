"""Pure checks of every AMI value, and the exact bytes of the actions we send."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from ivr.ami import OriginateRequest, UnsafeValue
from ivr.ami.originate import channel_id, encode_originate, originate_fields
from ivr.ami.values import (
    check_action_id,
    check_caller_name,
    check_context,
    check_endpoint,
    check_number,
    check_text,
    encode_action,
)

REQUEST = OriginateRequest(
    action_id="cb-1",
    endpoint="PJSIP/1001",
    number="5551234",
    context="alerta-callback",
    report_id=42,
    caller_id_name="Alerta",
    caller_id_number="1234",
    ring_timeout_s=30,
)


def number(value: str) -> str:
    return check_number("number", value, min_digits=6, max_digits=15)


# -- what is accepted, unchanged -------------------------------------------------------------


def test_safe_values_come_back_unchanged() -> None:
    assert check_text("note", "Informe 42: Ñuñoa, calle Ñandú") == "Informe 42: Ñuñoa, calle Ñandú"
    assert number("5551234") == "5551234"
    assert number("123456") == "123456"
    assert number("123456789012345") == "123456789012345"
    assert check_endpoint("endpoint", "PJSIP/1001") == "PJSIP/1001"
    assert check_endpoint("endpoint", "PJSIP/operator.north-2") == "PJSIP/operator.north-2"
    assert check_endpoint("endpoint", "Local/1001@operators") == "Local/1001@operators"
    assert check_context("context", "alerta-callback") == "alerta-callback"
    assert check_action_id("action_id", "0f8e7c52-3b7a-4f0e-9a51-2b1d8c6e4a10") is not None
    assert check_caller_name("caller_id_name", "Alerta 911") == "Alerta 911"


def test_digit_limits_are_per_call() -> None:
    assert check_number("number", "12345", min_digits=5, max_digits=5) == "12345"
    with pytest.raises(UnsafeValue, match="has 5 digits; a number has 6 to 15"):
        number("12345")


def test_impossible_digit_limits_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"must lie within 1\.\.32") as raised:
        check_number("number", "123456", min_digits=0, max_digits=15)
    assert not isinstance(raised.value, UnsafeValue)


# -- what is refused, and how it is said ----------------------------------------------------------

def endpoint(value: str) -> str:
    return check_endpoint("endpoint", value)


UNSAFE: list[tuple[str, Callable[[str], str], str, str]] = [
    # (field, check, value, words the message must hold)
    ("number", number, "555\r1234", "CR (U+000D) at position 3"),
    ("number", number, "555\n1234", "LF (U+000A) at position 3"),
    ("number", number, "5551234\r\nApplication: System", "CR (U+000D) at position 7"),
    ("number", number, "555\x001234", "NUL (U+0000)"),
    ("number", number, "555\t1234", "TAB (U+0009)"),
    ("number", number, "555\x1b1234", "U+001B"),
    ("number", number, "555\x7f1234", "DEL (U+007F)"),
    ("number", number, "555\u00851234", "U+0085"),
    ("number", number, "555\u20281234", "LINE SEPARATOR (U+2028)"),
    ("number", number, "555\u20291234", "PARAGRAPH SEPARATOR (U+2029)"),
    ("number", number, "555\u200b1234", "ZERO WIDTH SPACE (U+200B)"),
    ("number", number, "\ufeff5551234", "ZERO WIDTH NO-BREAK SPACE (U+FEFF)"),
    ("number", number, "", "is empty"),
    ("number", number, "12345", "has 5 digits; a number has 6 to 15"),
    ("number", number, "1234567890123456", "has 16 digits"),
    ("number", number, "9" * 40, "is 40 characters long; the limit is 32"),
    ("number", number, "+5551234", "digits 0-9 only"),
    ("number", number, "555-1234", "digits 0-9 only"),
    ("number", number, "٥٥٥١٢٣٤", "digits 0-9 only"),  # Arabic-Indic digits: isdigit() says yes
    ("number", number, " 5551234", "starts or ends with a space"),
    ("endpoint", endpoint, "PJSIP/1001&PJSIP/1002", "single"),
    ("endpoint", endpoint, "PJSIP/1001/sip:x@evil.example", "single"),
    ("endpoint", endpoint, "SIP/1001", "single"),
    ("endpoint", endpoint, "PJSIP/", "single"),
    ("endpoint", endpoint, "DAHDI/g1/5551234", "single"),
    ("endpoint", endpoint, "PJSIP/1001,,tTr", "single"),
    ("endpoint", endpoint, "PJSIP/1001\n", "LF"),
    ("context", lambda v: check_context("context", v), "alerta callback", "context name"),
    ("context", lambda v: check_context("context", v), "default,s,1", "context name"),
    ("action_id", lambda v: check_action_id("action_id", v), "cb 1", "letters, digits"),
    ("action_id", lambda v: check_action_id("action_id", v), "a" * 65, "limit is 64"),
    ("caller_id_name", lambda v: check_caller_name("caller_id_name", v), 'Al"erta', "caller ID"),
    ("caller_id_name", lambda v: check_caller_name("caller_id_name", v), "A<1>", "caller ID"),
    ("note", lambda v: check_text("note", v), "x" * 81, "is 81 characters long; the limit is 80"),
]


def _case_id(part: object) -> str:
    """Stable test ids (a function's repr holds its address, which differs per process)."""
    return getattr(part, "__name__", None) or repr(part)


@pytest.mark.parametrize(("field", "check", "value", "words"), UNSAFE, ids=_case_id)
def test_unsafe_value_is_refused_naming_the_field(
    field: str, check: Callable[[str], str], value: str, words: str
) -> None:
    with pytest.raises(UnsafeValue) as raised:
        check(value)
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert words in error.problem
    assert str(error).startswith(f"AMI field {field}: ")


def test_the_message_says_refused_not_removed() -> None:
    with pytest.raises(UnsafeValue) as raised:
        number("555\r1234")
    assert str(raised.value) == (
        "AMI field number: holds CR (U+000D) at position 3; control characters and line breaks "
        "are refused, not removed"
    )


def test_non_text_is_refused() -> None:
    with pytest.raises(UnsafeValue, match="must be text, not int"):
        check_text("number", 5551234)  # type: ignore[arg-type]


# -- the bytes ----------------------------------------------------------------------------------


def test_an_action_is_crlf_lines_and_an_empty_line() -> None:
    assert encode_action([("Action", "Ping"), ("ActionID", "p1")]) == (
        b"Action: Ping\r\nActionID: p1\r\n\r\n"
    )


def test_the_encoder_checks_every_key_and_value_again() -> None:
    with pytest.raises(UnsafeValue) as raised:
        encode_action([("Action", "Originate"), ("Exten", "555\r\nApplication: System")])
    assert raised.value.field == "Exten"
    with pytest.raises(UnsafeValue, match="header name"):
        encode_action([("Action", "Originate"), ("Exten\r\nApplication", "System")])
    with pytest.raises(ValueError, match="starts with its Action header"):
        encode_action([("ActionID", "x"), ("Action", "Ping")])


def test_originate_byte_for_byte() -> None:
    assert encode_originate(REQUEST) == (
        b"Action: Originate\r\n"
        b"ActionID: cb-1\r\n"
        b"Channel: PJSIP/1001\r\n"
        b"ChannelId: alerta-cb-cb-1\r\n"
        b"Context: alerta-callback\r\n"
        b"Exten: 5551234\r\n"
        b"Priority: 1\r\n"
        b'CallerID: "Alerta" <1234>\r\n'
        b"Timeout: 30000\r\n"
        b"Async: true\r\n"
        b"Variable: ALERTA_REPORT=42\r\n"
        b"Variable: ALERTA_RING_S=30\r\n"
        b"\r\n"
    )
    assert channel_id("cb-1") == "alerta-cb-cb-1"


def test_a_caller_id_without_number_is_the_quoted_name_alone() -> None:
    fields = originate_fields(dataclasses.replace(REQUEST, caller_id_number=""))
    assert ("CallerID", '"Alerta"') in fields


def test_non_ascii_names_are_sent_as_utf8() -> None:
    wire = encode_originate(dataclasses.replace(REQUEST, caller_id_name="Alerta Ñuñoa"))
    assert b'CallerID: "Alerta \xc3\x91u\xc3\xb1oa" <1234>\r\n' in wire


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"number": "5551234\r\nApplication: System"}, "number"),
        ({"number": "555 1234"}, "number"),
        ({"number": "12345678"}, "number"),  # too long for this request's own limits
        ({"endpoint": "PJSIP/1001&PJSIP/1002"}, "endpoint"),
        ({"context": "alerta-callback\n"}, "context"),
        ({"action_id": "cb-1\r\nAction: Hangup"}, "action_id"),
        ({"caller_id_name": "Alerta\u2028Evil"}, "caller_id_name"),
        ({"caller_id_number": "12a"}, "caller_id_number"),
        ({"ring_timeout_s": 0}, "ring_timeout_s"),
        ({"ring_timeout_s": 301}, "ring_timeout_s"),
        ({"ring_timeout_s": True}, "ring_timeout_s"),
        ({"report_id": 0}, "report_id"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_every_originate_field_is_checked(change: dict[str, object], field: str) -> None:
    request = dataclasses.replace(REQUEST, **change)  # type: ignore[arg-type]
    if field == "number" and change["number"] == "12345678":
        request = dataclasses.replace(request, max_digits=7)
    with pytest.raises(UnsafeValue) as raised:
        originate_fields(request)
    assert raised.value.field == field
