"""The fake AMI server against literal AMI text over a raw socket, as Asterisk 22 answers.

Nothing of ivr.ami is used here: a test writes bytes, reads bytes, and compares
them with ASTERISK.md and the transcripts in tests/fixtures/ami/.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.testing.ami_events import OUTCOMES, CallbackScript, parse_transcript
from ivr.testing.fake_ami import FakeAmi

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
TRANSCRIPTS = sorted(FIXTURES.glob("*.txt"))
TEXTS = {path.stem: path.read_text(encoding="utf-8") for path in TRANSCRIPTS}
VARYING = {"Timestamp", "Uptime", "LastReload"}  # values that change from run to run

LOGIN = b"Action: Login\r\nActionID: a1\r\nUsername: alerta\r\nSecret: fake-secret\r\n\r\n"
ORIGINATE = (
    b"Action: Originate\r\nActionID: o1\r\nChannel: PJSIP/1001\r\nContext: alerta-callback\r\n"
    b"Exten: 5551234\r\nPriority: 1\r\nAsync: true\r\n\r\n"
)

Wire = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    async with FakeAmi() as server:
        yield server


async def connect(fake: FakeAmi, *, login: bool = False) -> Wire:
    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
    if login:
        writer.write(LOGIN)
        assert (await read_message(reader)).startswith(b"Response: Success\r\n")
        assert (await read_message(reader)).startswith(b"Event: FullyBooted\r\n")
    return reader, writer


async def read_message(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(5):
        return await reader.readuntil(b"\r\n\r\n")


async def exchange(wire: Wire, sent: bytes) -> bytes:
    wire[1].write(sent)
    return await read_message(wire[0])


def fields(message: bytes) -> list[tuple[str, str]]:
    lines = message.decode().removesuffix("\r\n\r\n").split("\r\n")
    return [(key, "*" if key in VARYING else value)
            for key, _, value in (line.partition(": ") for line in lines)]


# -- the session ---------------------------------------------------------------------------------


async def test_login_is_answered_then_fully_booted(fake: FakeAmi) -> None:
    reader, writer = await connect(fake)
    assert await exchange((reader, writer), LOGIN) == (
        b"Response: Success\r\nActionID: a1\r\nMessage: Authentication accepted\r\n\r\n"
    )
    booted = await read_message(reader)
    assert fields(booted) == [
        ("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", "*"),
        ("LastReload", "*"), ("Status", "Fully Booted"),
    ]
    assert re.search(rb"\r\nUptime: \d+\r\n", booted)
    assert fake.logins == 1
    writer.close()


async def test_a_refused_login_is_answered_then_the_connection_closes() -> None:
    async with FakeAmi(secret="the-right-one") as fake:
        reader, writer = await connect(fake)
        assert await exchange((reader, writer), LOGIN) == (
            b"Response: Error\r\nActionID: a1\r\nMessage: Authentication failed\r\n\r\n"
        )
        assert await reader.read() == b""
        assert (fake.logins, fake.failed_logins) == (0, 1)
        writer.close()


async def test_nothing_but_login_before_login(fake: FakeAmi) -> None:
    wire = await connect(fake)
    assert await exchange(wire, b"Action: Ping\r\nActionID: p1\r\n\r\n") == (
        b"Response: Error\r\nActionID: p1\r\nMessage: Permission denied\r\n\r\n"
    )
    assert await exchange(wire, ORIGINATE) == (
        b"Response: Error\r\nActionID: o1\r\nMessage: Permission denied\r\n\r\n"
    )
    wire[1].close()


async def test_ping_pong(fake: FakeAmi) -> None:
    wire = await connect(fake, login=True)
    pong = await exchange(wire, b"Action: Ping\r\nActionID: p1\r\n\r\n")
    assert re.fullmatch(
        rb"Response: Success\r\nActionID: p1\r\nPing: Pong\r\nTimestamp: \d+\.\d{6}\r\n\r\n", pong
    )
    wire[1].close()


async def test_unknown_and_missing_actions(fake: FakeAmi) -> None:
    wire = await connect(fake, login=True)
    command = b"Action: Command\r\nActionID: c1\r\nCommand: core stop now\r\n\r\n"
    assert await exchange(wire, command) == (
        b"Response: Error\r\nActionID: c1\r\nMessage: Invalid/unknown command\r\n\r\n"
    )
    assert await exchange(wire, b"ActionID: x1\r\n\r\n") == (
        b"Response: Error\r\nActionID: x1\r\nMessage: Missing action in request\r\n\r\n"
    )
    wire[1].close()


async def test_logoff_says_goodbye_and_closes(fake: FakeAmi) -> None:
    reader, writer = await connect(fake, login=True)
    assert await exchange((reader, writer), b"Action: Logoff\r\nActionID: l1\r\n\r\n") == (
        b"Response: Goodbye\r\nActionID: l1\r\nMessage: Thanks for all the fish.\r\n\r\n"
    )
    assert await reader.read() == b""
    writer.close()


async def test_every_byte_received_is_recorded(fake: FakeAmi) -> None:
    fake.script_next_originate("no_events")
    wire = await connect(fake, login=True)
    await exchange(wire, ORIGINATE)
    assert [a.name for a in fake.received] == ["Login", "Originate"]
    originate = fake.actions("Originate")[0]
    assert originate.raw == ORIGINATE
    assert originate.get("exten") == "5551234" and originate.connection == 1
    wire[1].close()


# -- Originate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", sorted(TEXTS))
async def test_callback_replays_its_transcript(fake: FakeAmi, outcome: str) -> None:
    banner, messages = parse_transcript(TEXTS[outcome])
    assert banner == "Asterisk Call Manager/11.0.0"
    fake.script_next_originate(outcome)
    reader, writer = await connect(fake)
    for direction, expected in messages:
        if direction == ">>":
            writer.write("".join(f"{k}: {v}\r\n" for k, v in expected).encode() + b"\r\n")
        else:
            got = fields(await read_message(reader))
            assert got == [(k, "*" if k in VARYING else v) for k, v in expected]
    await fake.wait_until(lambda: not fake.playing)
    writer.write(b"Action: Ping\r\nActionID: last\r\n\r\n")
    assert (await read_message(reader)).startswith(b"Response: Success\r\nActionID: last\r\n")
    writer.close()


def test_every_outcome_has_a_transcript() -> None:
    replayed = set(TEXTS)
    untested = {"no_events", "no_response", "congestion", "operator_rejects", "operator_congestion"}
    assert set(OUTCOMES) - untested == replayed


async def test_asterisk_refuses_an_originate_it_cannot_place() -> None:
    async with FakeAmi(write=()) as fake:
        wire = await connect(fake, login=True)
        assert await exchange(wire, ORIGINATE) == (
            b"Response: Error\r\nActionID: o1\r\nMessage: Permission denied\r\n\r\n"
        )
        wire[1].close()
    async with FakeAmi() as fake:
        wire = await connect(fake, login=True)
        no_channel = ORIGINATE.replace(b"Channel: PJSIP/1001\r\n", b"")
        answer = await exchange(wire, no_channel)
        assert answer.endswith(b"Message: Channel not specified\r\n\r\n")
        bad_channel = ORIGINATE.replace(b"PJSIP/1001", b"1001")
        assert (await exchange(wire, bad_channel)).endswith(b"Message: Invalid channel\r\n\r\n")
        fake.script_next_originate(CallbackScript(error="Originate failed"))
        assert (await exchange(wire, ORIGINATE)).endswith(b"Message: Originate failed\r\n\r\n")
        wire[1].close()


async def test_drop_on_next_closes_before_any_reply(fake: FakeAmi) -> None:
    reader, writer = await connect(fake, login=True)
    fake.drop_on_next("Originate")
    writer.write(ORIGINATE)
    assert await reader.read() == b""
    assert [a.raw for a in fake.actions("Originate")] == [ORIGINATE]
    writer.close()


async def test_asterisk_comes_back_on_the_same_port(fake: FakeAmi) -> None:
    port = fake.port
    reader, writer = await connect(fake, login=True)
    await fake.stop()
    assert await reader.read() == b""
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    assert await fake.start() == port
    (await connect(fake, login=True))[1].close()
    writer.close()


# -- what a header injection would have done -------------------------------------------------------


async def test_a_crlf_in_a_value_becomes_a_header(fake: FakeAmi) -> None:
    """What our checks prevent: the number "5551234\\r\\nApplication: System" unchecked."""
    fake.script_next_originate("no_events")
    wire = await connect(fake, login=True)
    exten = b"Exten: 5551234\r\n"
    injected = ORIGINATE.replace(exten, exten + b"Application: System\r\n")
    await exchange(wire, injected)
    assert fake.actions("Originate")[0].get("Application") == "System"
    wire[1].close()


async def test_an_empty_line_in_a_value_becomes_a_second_action(fake: FakeAmi) -> None:
    fake.script_next_originate("no_events")
    wire = await connect(fake, login=True)
    exten = b"Exten: 5551234\r\n"
    smuggled = b"\r\nAction: Command\r\nCommand: core stop now\r\n"
    injected = ORIGINATE.replace(exten, exten + smuggled)
    await exchange(wire, injected)
    await read_message(wire[0])  # the answer to the smuggled action
    assert [a.name for a in fake.received] == ["Login", "Originate", "Command"]
    assert fake.received[2].get("Command") == "core stop now"
    wire[1].close()


async def test_a_bare_lf_splits_the_header_and_the_fake_refuses_it(fake: FakeAmi) -> None:
    wire = await connect(fake, login=True)
    injected = ORIGINATE.replace(b"Exten: 5551234\r\n", b"Exten: 5551234\nApplication: System\r\n")
    answer = await exchange(wire, injected)
    assert answer.startswith(b"Response: Error\r\nActionID: o1\r\nMessage: FakeAmi refused")
    [refused] = fake.refused
    assert refused.bare_lf and refused.raw == injected
    assert ("Exten", "5551234") in refused.headers
    assert ("Application", "System") in refused.headers  # what Asterisk would have read
    writer = wire[1]
    writer.write(b"Action: Ping\r\nActionID: p2\r\n\r\n")
    assert (await read_message(wire[0])).startswith(b"Response: Success\r\nActionID: p2\r\n")
    assert not fake.playing  # no call was placed
    writer.close()
