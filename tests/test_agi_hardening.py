"""What one bad FastAGI peer, a full disk or a forged caller ID must not do to a call.

Everything runs the real server over TCP on loopback, with the fake Asterisk
from ``ivr.testing`` placing the real calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ivr.agi.call_control import record_result
from ivr.agi.handshakes import SUMMARY_INTERVAL_S, Drop, DropLog
from ivr.agi.protocol import parse_reply
from ivr.agi.server import AgiServer
from ivr.app import services
from ivr.config import Settings
from ivr.core.call_control import RecordEnd, RecordingFailed
from ivr.flows import routes
from ivr.testing import CallResult, make_tone_wav
from tests.e2e import Line, report_number, running_line

GUARD_S = 30.0  # only stops a broken test from hanging; no assertion is timed

# Spanish, robbery, confirm the caller ID, skip the zone (and keep the message).
TO_RECORD = ["1", "2", "1", "#"]
# Spanish, robbery, no callback number typed in three tries, skip the zone, keep.
NOTHING_TYPED = ["1", "2", "", "", "", "#", "1"]


@pytest.fixture
def voice(tmp_path: Path) -> Path:
    return make_tone_wav(tmp_path / "voice.wav", 2.0)


@pytest.fixture
async def line(settings: Settings) -> AsyncIterator[Line]:
    async with running_line(settings) as running:
        yield running


def prompt_ids(played: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1] for p in played]


async def events_of(line: Line, report: int, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(e["data"]) for e in await line.svc.reports.history(report) if e["kind"] == kind
    ]


def stored_caller_id_raw(settings: Settings, report: int) -> str | None:
    # Read-only look at the column no reader exposes: what the network sent.
    with sqlite3.connect(f"file:{settings.database}?mode=ro", uri=True) as conn:
        (value,) = conn.execute(
            "SELECT caller_id_raw FROM reports WHERE id = ?", (report,)
        ).fetchone()
    return value  # type: ignore[no-any-return]


# --- a recording Asterisk could not write (defect 4) ------------------------------------


def test_writefile_is_a_failed_recording_not_a_hangup() -> None:
    with pytest.raises(RecordingFailed):
        record_result(parse_reply(["200 result=-1 (writefile)"]))
    hung_up = record_result(parse_reply(["200 result=-1 (hangup) endpos=19520"]))
    assert hung_up.ended_by is RecordEnd.HANGUP and hung_up.samples == 19520


async def test_full_disk_at_record_still_reads_the_number_back_and_alerts(
    line: Line, voice: Path
) -> None:
    result = await line.call(keys=TO_RECORD, voice=voice, unwritable_takes=(1,))
    assert result.error is None and not result.hung_up
    assert result.goto is None  # not sent to the fallback
    number = report_number(result)
    assert number is not None
    heard = prompt_ids(result.played)
    # Told what happened, then the number, digit by digit.
    tail = heard[heard.index("record_failed") :]
    digits = [f"digit_{d}" for d in str(number)]
    assert tail == ["record_failed", "report_number_is", *digits, "thanks_goodbye"]
    assert "record_empty" not in heard and heard.count("beep") == 1  # no second try
    row = await line.report(number)
    assert row["call_outcome"] == "completed" and row["complete"] is False
    assert row["clip_path"] is None and row["caller"] == "5551234"
    (alert,) = await events_of(line, number, "alert.record_failed")
    assert alert["take"] == 1 and "writefile" in alert["detail"]
    assert not list(line.svc.vault.incoming.iterdir())


async def test_full_disk_on_the_second_take_keeps_the_first(line: Line, voice: Path) -> None:
    # Review menu: 2 = record again; that second take cannot be written.
    result = await line.call(keys=[*TO_RECORD, "2"], voice=voice, unwritable_takes=(2,))
    assert result.error is None and not result.hung_up
    number = report_number(result)
    assert number is not None
    heard = prompt_ids(result.played)
    assert "record_failed" not in heard and "message_saved" in heard
    row = await line.report(number)
    assert row["complete"] is True and row["clip_path"] is not None
    (alert,) = await events_of(line, number, "alert.record_failed")
    assert alert["take"] == 2


# --- the caller ID as callback number (defect 7) ----------------------------------------


async def test_overlong_caller_id_is_not_a_callback_number(
    line: Line, voice: Path, settings: Settings
) -> None:
    forty_digits = "1234567890" * 4
    result = await line.call(
        keys=["1", "2", "987654321#", "#", "1"], voice=voice, caller_id=forty_digits
    )
    assert result.error is None
    number = report_number(result)
    assert number is not None
    heard = prompt_ids(result.played)
    assert "callback_is" not in heard and "callback_enter" in heard
    row = await line.report(number)
    assert row["caller"] == "987654321" and row["caller_source"] == "typed"
    assert stored_caller_id_raw(settings, number) == forty_digits


@pytest.mark.parametrize("caller_id", ["12345", "1234567890123456"])
async def test_caller_id_outside_the_typed_length_rule_is_asked_for(
    line: Line, voice: Path, caller_id: str
) -> None:
    # callback_min_digits=6, callback_max_digits=15 by default: 5 and 16 digits fail.
    result = await line.call(keys=NOTHING_TYPED, voice=voice, caller_id=caller_id)
    number = report_number(result)
    assert number is not None
    row = await line.report(number)
    assert row["caller"] is None and row["caller_source"] == "none"


async def test_raw_caller_id_is_kept_but_capped(
    line: Line, voice: Path, settings: Settings
) -> None:
    name_like = "sip-peer-" + "x" * 500  # a SIP peer may send a name of any length
    result = await line.call(keys=NOTHING_TYPED, voice=voice, caller_id=name_like)
    number = report_number(result)
    assert number is not None
    assert stored_caller_id_raw(settings, number) == name_like[:80]


# --- idle and hostile FastAGI peers (defect 2 and friends) -------------------------------


class FakeClock:
    """The server's clock for handshake deadlines and log summaries: moves when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def clocked_line(
    settings: Settings, clock: FakeClock, **overrides: Any
) -> AsyncIterator[Line]:
    settings = dataclasses.replace(settings, **overrides)
    async with services(settings) as svc:
        server = AgiServer(settings.agi, routes(svc.deps), clock=clock)
        await server.start()
        try:
            yield Line(svc, server)
        finally:
            await server.stop(5.0)


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait for a state the server exposes no event for (bounded only by the hang guard)."""
    async with asyncio.timeout(GUARD_S):
        while not condition():  # noqa: ASYNC110 - polling a plain attribute
            await asyncio.sleep(0.01)


class Idlers:
    """Sockets that connect to the FastAGI port and send nothing (or what they are told)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.writers: list[asyncio.StreamWriter] = []

    async def open(self, count: int, *, send: bytes = b"") -> list[asyncio.StreamReader]:
        pairs = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", self.port) for _ in range(count))
        )
        for _, writer in pairs:
            self.writers.append(writer)
            if send:
                writer.write(send)
        return [reader for reader, _ in pairs]

    def close(self) -> None:
        for writer in self.writers:
            writer.transport.abort()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        async with asyncio.timeout(GUARD_S):
            rest = await reader.read()
    except ConnectionResetError:
        return True
    return rest == b""


@pytest.fixture
def agi_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="ivr.agi"):
        yield caplog


def drop_lines(log: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in log.records
        if r.name.startswith("ivr.agi") and "dropped" in r.getMessage()
    ]


def assert_reported(result: CallResult) -> int:
    assert result.error is None and result.goto is None, (result.error, result.goto)
    number = report_number(result)
    assert number is not None
    assert result.steps[-1] == "readback"
    return number


# Many more idle sockets than the handshake budget, yet few enough file descriptors
# (twice this, client side) for a CI machine's default limit of 1024.
IDLE = 300


async def test_idle_sockets_never_take_a_call_slot_and_are_logged_as_one_summary(
    settings: Settings, voice: Path, agi_log: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    async with clocked_line(
        settings, clock, agi_max_calls=6, agi_max_handshakes=16
    ) as line:
        server = line.server
        idlers = Idlers(server.port)
        try:
            await idlers.open(IDLE)
            await eventually(lambda: server.calls_total >= IDLE)
            await eventually(lambda: len(server.handshakes) <= 16)
            # Six real callers while the flood reopens as many sockets at once.
            *results, _ = await asyncio.gather(
                *(line.call(keys=["1", "2", "1", "#", "1"], voice=voice) for _ in range(6)),
                idlers.open(IDLE),
            )
            numbers = [assert_reported(result) for result in results]
            for number in numbers:
                row = await line.report(number)
                assert row["complete"] is True and row["call_outcome"] == "completed"
            assert server.calls_failed == 0
            await eventually(lambda: server.calls_total >= 2 * IDLE + 6)
            await eventually(lambda: len(server.handshakes) <= 16)
            evicted = server.handshakes.evicted
            assert evicted >= 2 * IDLE - 16
            # So far one line for the first eviction, whatever the flood's size.
            assert len(drop_lines(agi_log)) == 1

            waiting = len(server.handshakes)
            clock.advance(SUMMARY_INTERVAL_S)  # past the deadline and the interval
            server.housekeeping()
            await eventually(lambda: server.open_connections == 0)
            lines = drop_lines(agi_log)
            # The summary of the evictions, then the first of the idlers closed at the deadline.
            assert len(lines) == 3
            assert f"dropped {evicted:,} FastAGI connection(s)" in lines[1]
            assert f"{evicted:,} evicted" in lines[1]
            assert "no complete environment within 3 s" in lines[2]

            clock.advance(SUMMARY_INTERVAL_S)
            server.housekeeping()  # the rest of them: one summary line
            (late,) = drop_lines(agi_log)[3:]
            assert f"{waiting} past the handshake deadline" in late
            assert server.bad_sessions == evicted + waiting
        finally:
            idlers.close()


async def test_a_handshake_budget_full_of_half_sent_environments_lets_a_call_in(
    settings: Settings, voice: Path
) -> None:
    clock = FakeClock()
    async with clocked_line(settings, clock, agi_max_handshakes=8) as line:
        idlers = Idlers(line.server.port)
        try:
            readers = await idlers.open(20, send=b"agi_network: yes\nagi_uniq")
            await eventually(lambda: line.server.handshakes.evicted >= 12)
            assert_reported(await line.call(keys=["1", "2", "1", "#", "1"], voice=voice))
            closed = [await closed_by_server(r) for r in readers[:12]]
            assert all(closed)  # the oldest twelve went
        finally:
            idlers.close()


async def test_a_burst_of_real_calls_larger_than_the_handshake_budget_all_get_through(
    settings: Settings, voice: Path
) -> None:
    # Their environments arrive whole at once: none is evicted, the budget bends briefly.
    clock = FakeClock()
    async with clocked_line(settings, clock, agi_max_handshakes=2) as line:
        results = await asyncio.gather(
            *(line.call(keys=["1", "2", "1", "#", "1"], voice=voice) for _ in range(30))
        )
        assert len({assert_reported(result) for result in results}) == 30
        assert line.server.handshakes.evicted == 0


async def test_slowloris_environment_is_cut_at_the_deadline_however_it_trickles(
    settings: Settings, voice: Path, agi_log: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    async with clocked_line(settings, clock, agi_env_timeout_s=3.0) as line:
        reader, writer = await asyncio.open_connection("127.0.0.1", line.server.port)
        try:
            for byte in b"agi_network: yes\n":
                writer.write(bytes([byte]))
                await writer.drain()
                clock.advance(0.15)  # 17 bytes: 2.55 s, under the deadline
                line.server.housekeeping()
            await eventually(lambda: line.server.calls_total == 1)
            assert len(line.server.handshakes) == 1  # still waiting: not yet late
            assert_reported(await line.call(keys=["1", "2", "1", "#", "1"], voice=voice))
            clock.advance(0.5)
            line.server.housekeeping()
            assert await closed_by_server(reader)
            assert any("no complete environment" in m for m in drop_lines(agi_log))
        finally:
            writer.transport.abort()


JUNK = bytes(range(256)) * 16  # NUL, controls, every byte; one "\n" in each 256


@pytest.mark.parametrize(
    "junk",
    [
        JUNK,  # binary lines, never a blank one
        b"\x00" * 20000,  # one endless binary line
        b"agi_network: yes\nagi_callerid: 555" + b"9" * 9000,  # a line cut off, then too long
        b"agi_network: yes\nagi_request: agi://127.0.0.1/rep",  # cut off mid-line, then silence
    ],
    ids=["binary-lines", "nul-flood", "huge-line", "cut-off"],
)
async def test_junk_before_the_environment_ends_that_connection_alone(
    settings: Settings, voice: Path, junk: bytes
) -> None:
    clock = FakeClock()
    async with clocked_line(settings, clock) as line:
        reader, writer = await asyncio.open_connection("127.0.0.1", line.server.port)
        try:
            writer.write(junk)
            assert_reported(await line.call(keys=["1", "2", "1", "#", "1"], voice=voice))
            clock.advance(settings.agi_env_timeout_s)
            line.server.housekeeping()
            assert await closed_by_server(reader)
            await eventually(lambda: line.server.open_connections == 0)
            assert line.server.bad_sessions == 1 and line.server.calls_failed == 0
        finally:
            writer.transport.abort()


@pytest.mark.parametrize(
    "junk",
    [b"\n", b"\xff\xfe\x00junk\n\x01\x02: \x7f\n\n", b"agi_network: yes\nagi_callerid: 1\n\n"],
    ids=["blank-line", "binary-then-blank", "no-channel"],
)
async def test_a_block_that_is_not_an_asterisk_environment_is_dropped_not_called(
    settings: Settings, voice: Path, agi_log: pytest.LogCaptureFixture, junk: bytes
) -> None:
    # No call slot, no Goto to the fallback: Asterisk always names the channel and the call.
    clock = FakeClock()
    async with clocked_line(settings, clock) as line:
        reader, writer = await asyncio.open_connection("127.0.0.1", line.server.port)
        try:
            writer.write(junk)
            assert await closed_by_server(reader)  # without a word
            assert_reported(await line.call(keys=["1", "2", "1", "#", "1"], voice=voice))
            await eventually(lambda: line.server.open_connections == 0)
            assert (line.server.bad_sessions, line.server.calls_failed) == (1, 0)
            assert any("not an Asterisk environment" in m for m in drop_lines(agi_log))
        finally:
            writer.transport.abort()


def report_environment(uniqueid: str) -> bytes:
    """A complete environment block for the ``report`` flow, as Asterisk 22 sends it."""
    lines = [
        "agi_network: yes",
        "agi_network_script: report",
        "agi_request: agi://127.0.0.1:4573/report",
        "agi_channel: PJSIP/trunk-000000ff",
        "agi_uniqueid: " + uniqueid,
        "agi_callerid: 5551234",
        "agi_callingpres: 0",
    ]
    return ("\n".join(lines) + "\n\n").encode()


async def test_binary_junk_for_a_reply_sends_that_call_alone_to_the_fallback(
    settings: Settings, voice: Path
) -> None:
    clock = FakeClock()
    async with clocked_line(settings, clock) as line:
        reader, writer = await asyncio.open_connection("127.0.0.1", line.server.port)
        try:
            writer.write(report_environment("junk.1"))
            async with asyncio.timeout(GUARD_S):
                assert await reader.readline() == b"ANSWER\n"
            writer.write(b"\x00\xff\x1b[2J\x7f" + bytes(range(32)).replace(b"\n", b"") + b"\n")
            assert_reported(await line.call(keys=["1", "2", "1", "#", "1"], voice=voice))
            async with asyncio.timeout(GUARD_S):
                assert await reader.readline() == b"EXEC Goto alerta-fallback,s,1\n"
            writer.write(b"200 result=0\n")
            assert await closed_by_server(reader)
            assert line.server.calls_failed == 1
        finally:
            writer.transport.abort()


async def test_a_reply_trickled_byte_by_byte_does_not_stretch_the_command_limit(
    settings: Settings, voice: Path
) -> None:
    # The limit runs from the command, not from the last byte: the watchdog ends it
    # while bytes keep coming, and the other call is untouched.
    clock = FakeClock()
    async with clocked_line(settings, clock, agi_command_timeout_s=0.5) as line:
        reader, writer = await asyncio.open_connection("127.0.0.1", line.server.port)
        try:
            writer.write(report_environment("trickle.1"))
            async with asyncio.timeout(GUARD_S):
                assert await reader.readline() == b"ANSWER\n"
            fallback = asyncio.ensure_future(reader.readline())
            async with asyncio.timeout(GUARD_S):
                while not fallback.done():
                    writer.write(b"2")  # "222..." never ends its line
                    await asyncio.sleep(0.02)
            assert fallback.result() == b"EXEC Goto alerta-fallback,s,1\n"
            assert_reported(await line.call(keys=["1", "2", "1", "#", "1"], voice=voice))
        finally:
            writer.transport.abort()


def test_drop_log_writes_the_first_of_each_kind_then_one_summary_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    drops = DropLog(clock)
    with caplog.at_level(logging.INFO, logger="ivr.agi"):
        for n in range(2431):
            drops.note(Drop.EVICTED, ("127.0.0.1", n), "evicted")
        for n in range(5):
            drops.note(Drop.PROBE, ("127.0.0.1", n), "")
        drops.flush()  # the interval is not over: nothing more
        assert len(caplog.records) == 2
        clock.advance(SUMMARY_INTERVAL_S)
        drops.flush()
        drops.flush()  # a new, empty interval: silent
    first, probe, summary = caplog.records
    assert first.levelno == logging.WARNING and "evicted" in first.getMessage()
    assert probe.levelno == logging.INFO and "without a request" in probe.getMessage()
    assert summary.levelno == logging.WARNING
    assert summary.getMessage() == (
        "dropped 2,436 FastAGI connection(s) before their environment in the last 10 s:"
        " 2,431 evicted (handshake budget full), 5 closed without a request"
    )
