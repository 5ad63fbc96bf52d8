"""Pure tests of the FastAGI wire format, on literal text from ASTERISK.md."""

from __future__ import annotations

import pytest

from ivr.agi import protocol
from ivr.agi.call_control import digits_result, key_of, record_result
from ivr.agi.protocol import Reply, parse_reply
from ivr.core.call_control import (
    CallControlError,
    CallerHungUp,
    CommandRejected,
    ProtocolViolation,
    RecordEnd,
    RecordResult,
)

# The environment block as Asterisk 22.10.1 sends it (ASTERISK.md), without the blank line.
REAL_ENVIRONMENT = (
    "agi_network: yes",
    "agi_network_script: report?lang=en",
    "agi_request: agi://127.0.0.1:4573/report?lang=en",
    "agi_channel: PJSIP/trunk-00000000",
    "agi_language: en",
    "agi_type: PJSIP",
    "agi_uniqueid: 1795584686.0",
    "agi_version: 22.10.1",
    "agi_callerid: 5551234",
    "agi_calleridname: Juan Perez",
    "agi_callingpres: 0",
    "agi_callingani2: 0",
    "agi_callington: 0",
    "agi_callingtns: 0",
    "agi_dnid: 1234",
    "agi_rdnis: unknown",
    "agi_context: alerta-in",
    "agi_extension: 1234",
    "agi_priority: 2",
    "agi_enhanced: 0.0",
    "agi_accountcode: ",
    "agi_threadid: 140185596241600",
    "agi_arg_1: first",
    "agi_arg_2: second arg",
)


# --- environment -------------------------------------------------------------------


def test_real_environment_is_parsed_without_prefix() -> None:
    env = protocol.parse_environment(REAL_ENVIRONMENT)
    assert env.malformed == ()
    assert env.values["uniqueid"] == "1795584686.0"
    assert env.values["calleridname"] == "Juan Perez"
    assert env.values["network_script"] == "report?lang=en"
    assert env.values["accountcode"] == ""
    assert not any(name.startswith("agi_") for name in env.values)


def test_malformed_environment_lines_are_skipped_and_reported() -> None:
    lines = [
        "agi_uniqueid: 1.0",
        "no colon here",
        ": no name",
        "agi_: empty name",
        "agi bad name: x",
        "callerid: 123",  # not an agi_ name
        "agi_callerid: 5551234",
    ]
    env = protocol.parse_environment(lines)
    assert env.values == {"uniqueid": "1.0", "callerid": "5551234"}
    assert env.malformed == tuple(lines[1:6])


def test_environment_value_keeps_colons_and_inner_spaces() -> None:
    assert protocol.parse_env_line("agi_request: agi://h:4573/x") == ("request", "agi://h:4573/x")
    assert protocol.parse_env_line("agi_calleridname:  Ana ") == ("calleridname", " Ana ")
    assert protocol.parse_env_line("agi_accountcode:") == ("accountcode", "")


def test_decode_line_replaces_invalid_utf8_and_says_so() -> None:
    assert protocol.decode_line(b"agi_calleridname: Jos\xc3\xa9\n") == (
        "agi_calleridname: José",
        False,
    )
    assert protocol.decode_line(b"agi_calleridname: Jos\xe9\r\n") == (
        "agi_calleridname: Jos\ufffd",
        True,
    )


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("report", ("report", {})),
        ("/report", ("report", {})),
        ("report?lang=en&x=1", ("report", {"lang": "en", "x": "1"})),
        ("/status?lang=es", ("status", {"lang": "es"})),
        ("report?flag&name=a%20b", ("report", {"flag": "", "name": "a b"})),
        ("", ("", {})),
    ],
)
def test_parse_script(script: str, expected: tuple[str, dict[str, str]]) -> None:
    assert protocol.parse_script(script) == expected


def test_positional_args_are_numbered_from_one() -> None:
    env = protocol.parse_environment(REAL_ENVIRONMENT).values
    assert protocol.positional_args(env) == {"1": "first", "2": "second arg"}


# --- arguments and commands ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("menu", '"menu"'),
        ("", '""'),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("José", '"José"'),
    ],
)
def test_quote(value: str, quoted: str) -> None:
    assert protocol.quote(value) == quoted
    assert protocol.split_command(quoted) == [value]


@pytest.mark.parametrize(
    "bad", ["a\nHANGUP", "a\rb", "nul\x00", "tab\tx", "esc\x1b", "del\x7f", "c1\x85"]
)
def test_quote_refuses_control_characters(bad: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        protocol.quote(bad)
    with pytest.raises(ValueError, match="control character"):
        protocol.word(bad)


def test_word_is_bare_only_when_asterisk_reads_it_unchanged() -> None:
    assert protocol.word("CHANNEL(language)") == "CHANNEL(language)"
    assert protocol.word("/var/spool/clip-1") == "/var/spool/clip-1"
    assert protocol.word("has space") == '"has space"'
    assert protocol.word('q"uote') == '"q\\"uote"'
    assert protocol.word("") == '""'


def test_commands_byte_for_byte() -> None:
    assert protocol.answer() == "ANSWER"
    assert protocol.hangup() == "HANGUP"
    assert protocol.stream_file("beep", "") == 'STREAM FILE beep ""'
    assert protocol.stream_file("es/menu", "12#") == 'STREAM FILE es/menu "12#"'
    assert protocol.get_data("prompt", 5000, 4) == "GET DATA prompt 5000 4"
    assert (
        protocol.record_file("/path/clip", "wav", "#", 120000, beep=False, silence_s=5)
        == 'RECORD FILE /path/clip wav "#" 120000 s=5'
    )
    assert (
        protocol.record_file("/path/clip", "wav", "#", 120000, beep=True, silence_s=5)
        == 'RECORD FILE /path/clip wav "#" 120000 BEEP s=5'
    )
    assert protocol.get_variable("CALLERID(num)") == "GET VARIABLE CALLERID(num)"
    assert protocol.set_variable("NAME", "value") == 'SET VARIABLE NAME "value"'
    assert protocol.verbose("text") == 'VERBOSE "text" 1'
    assert protocol.goto("ctx", "s", 1) == "EXEC Goto ctx,s,1"
    assert protocol.queue("operators", 30) == 'EXEC Queue "operators,c,,,30"'


def test_injection_through_a_value_is_refused() -> None:
    with pytest.raises(ValueError):
        protocol.set_variable("ALERTA_STEP", 'x"\nEXEC Dial "PJSIP/premium')
    with pytest.raises(ValueError):
        protocol.verbose("caller said\r\nHANGUP")


def test_app_fields_with_a_comma_are_refused() -> None:
    with pytest.raises(ValueError, match="comma"):
        protocol.goto("ctx,evil", "s", 1)
    with pytest.raises(ValueError, match="comma"):
        protocol.queue("ops,,,,1", 30)
    with pytest.raises(ValueError):
        protocol.goto("", "s", 1)


def test_command_longer_than_asterisk_buffer_is_refused() -> None:
    # Asterisk would run the tail of a longer line as a second command.
    fits = "x" * (protocol.MAX_COMMAND_BYTES - len('VERBOSE "" 1'))
    assert len(protocol.verbose(fits)) == protocol.MAX_COMMAND_BYTES
    with pytest.raises(ValueError, match="longer than"):
        protocol.verbose(fits + "x")
    with pytest.raises(ValueError, match="longer than"):
        protocol.verbose("é" * (protocol.MAX_COMMAND_BYTES // 2))  # 2 bytes each in UTF-8


def test_split_command_matches_asterisk_parse_args() -> None:
    assert protocol.split_command('RECORD FILE /p wav "#" 120000 BEEP s=5') == [
        "RECORD",
        "FILE",
        "/p",
        "wav",
        "#",
        "120000",
        "BEEP",
        "s=5",
    ]
    assert protocol.split_command('STREAM FILE beep ""') == ["STREAM", "FILE", "beep", ""]
    assert protocol.split_command('SET VARIABLE X "a \\"b\\" c"') == [
        "SET",
        "VARIABLE",
        "X",
        'a "b" c',
    ]


# --- replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("200 result=0", Reply(200, "0", None, None, "200 result=0")),
        ("200 result=0 endpos=3404", Reply(200, "0", None, 3404, "200 result=0 endpos=3404")),
        ("200 result=123", Reply(200, "123", None, None, "200 result=123")),
        ("200 result=12 (timeout)", Reply(200, "12", "timeout", None, "200 result=12 (timeout)")),
        ("200 result= (timeout)", Reply(200, "", "timeout", None, "200 result= (timeout)")),
        ("200 result=", Reply(200, "", None, None, "200 result=")),
        ("200 result=49", Reply(200, "49", None, None, "200 result=49")),
        (
            "200 result=35 (dtmf) endpos=22400",
            Reply(200, "35", "dtmf", 22400, "200 result=35 (dtmf) endpos=22400"),
        ),
        (
            "200 result=-1 (hangup) endpos=12320",
            Reply(200, "-1", "hangup", 12320, "200 result=-1 (hangup) endpos=12320"),
        ),
        ("200 result=-1 endpos=0", Reply(200, "-1", None, 0, "200 result=-1 endpos=0")),
        ("200 result=1 (5551234)", Reply(200, "1", "5551234", None, "200 result=1 (5551234)")),
        ("200 result=6", Reply(200, "6", None, None, "200 result=6")),
    ],
)
def test_every_success_form(line: str, reply: Reply) -> None:
    assert parse_reply([line]) == reply


def test_variable_value_runs_from_first_to_last_parenthesis() -> None:
    reply = parse_reply(["200 result=1 (value with (parens))"])
    assert reply.data == "value with (parens)"
    assert parse_reply(["200 result=1 (a) endpos=3 (b)"]).data == "a) endpos=3 (b"
    assert parse_reply(["200 result=1 ()"]).data == ""


def test_511_is_a_hangup() -> None:
    with pytest.raises(CallerHungUp):
        parse_reply(["511 Command Not Permitted on a dead channel or intercept routine"])


def test_510_is_rejected() -> None:
    with pytest.raises(CommandRejected) as caught:
        parse_reply(["510 Invalid or unknown command"])
    assert caught.value.code == 510
    assert caught.value.message == "Invalid or unknown command"


def test_520_multi_line_usage_is_rejected_with_its_text() -> None:
    lines = [
        "520-Invalid command syntax.  Proper usage follows:",
        "Usage: GET DATA <file to be streamed> [timeout] [max digits]",
        "520 End of proper usage.",
    ]
    assert protocol.starts_usage(lines[0]) and not protocol.ends_usage(lines[1])
    assert protocol.ends_usage(lines[2])
    with pytest.raises(CommandRejected) as caught:
        parse_reply(lines)
    assert caught.value.code == 520
    assert "Usage: GET DATA" in caught.value.message


def test_520_single_line_is_rejected() -> None:
    with pytest.raises(CommandRejected) as caught:
        parse_reply(["520 Invalid command syntax.  Proper usage not available."])
    assert caught.value.code == 520


@pytest.mark.parametrize(
    "line",
    [
        "HANGUP",
        "",
        "hello world",
        "200",
        "200 result",
        "200 result=abc",
        "200 result=1 (unclosed",
        "200 result=0 endpos=",
        "200 result=0 trailing",
        "100 result=0 Trying...",
        "2000 result=0",
        "200 result=\ufffd",
    ],
)
def test_anything_else_is_a_protocol_violation(line: str) -> None:
    with pytest.raises(ProtocolViolation):
        parse_reply([line])


def test_empty_reply_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation):
        parse_reply([])


def test_number_of_a_non_numeric_result_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation):
        _ = parse_reply(["200 result="]).number


# --- reading a reply for one command (pure helpers of the channel) ------------------


def test_key_of_stream_file_results() -> None:
    assert key_of(parse_reply(["200 result=0 endpos=3404"])) is None
    assert key_of(parse_reply(["200 result=49 endpos=100"])) == "1"
    assert key_of(parse_reply(["200 result=35"])) == "#"
    with pytest.raises(ProtocolViolation):
        key_of(parse_reply(["200 result=99999"]))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=123", ("123", False)),
        ("200 result=12 (timeout)", ("12", True)),
        ("200 result= (timeout)", ("", True)),
        ("200 result=", ("", False)),
        ("200 result=12*3", ("12*3", False)),
    ],
)
def test_get_data_results(line: str, expected: tuple[str, bool]) -> None:
    assert digits_result(parse_reply([line])) == expected


def test_get_data_minus_one_is_a_hangup() -> None:
    with pytest.raises(CallerHungUp):
        digits_result(parse_reply(["200 result=-1"]))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=35 (dtmf) endpos=22400", RecordResult(RecordEnd.DTMF, 22400, "#")),
        ("200 result=0 (timeout) endpos=8000", RecordResult(RecordEnd.TIMEOUT, 8000)),
        ("200 result=-1 (hangup) endpos=12320", RecordResult(RecordEnd.HANGUP, 12320)),
        ("200 result=-1 (waitfor) endpos=400", RecordResult(RecordEnd.HANGUP, 400)),
        ("200 result=-1 (randomerror) endpos=0", RecordResult(RecordEnd.HANGUP, 0)),
        ("200 result=35 (randomerror) endpos=0", RecordResult(RecordEnd.DTMF, 0, "#")),
    ],
)
def test_record_results(line: str, expected: RecordResult) -> None:
    assert record_result(parse_reply([line])) == expected


def test_record_write_failure_is_an_error_not_a_hangup() -> None:
    with pytest.raises(CallControlError) as caught:
        record_result(parse_reply(["200 result=-1 (writefile)"]))
    assert not isinstance(caught.value, CallerHungUp)
