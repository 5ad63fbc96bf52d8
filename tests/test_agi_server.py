"""The real FastAGI server over TCP, against a peer scripted line by line.

The peer plays Asterisk by hand (raw asyncio sockets), so every byte the server
sends is asserted. Each bad-input test runs a normal call on the same server
while the bad one is open, and that call must complete.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from ivr import variables
from ivr.agi.server import AgiServer, Flow
from ivr.config import Settings
from ivr.core.call_control import CallControl, CommandTimeout, RecordEnd, RecordResult

GUARD_S = 10.0  # only stops a broken test from hanging; no assertion is timed
FALLBACK = "EXEC Goto alerta-fallback,s,1"
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"

Calls = dict[str, list[object]]

# The demo flow's commands and the replies of a call that goes well.
NORMAL = [
    ("ANSWER", "200 result=0"),
    ('SET VARIABLE ALERTA_STEP "menu"', "200 result=1"),
    ("GET DATA alerta/menu 5000 3", "200 result=123"),
    ('STREAM FILE alerta/thanks "#"', "200 result=0 endpos=3404"),
    ('STREAM FILE alerta/bye "#"', "200 result=0 endpos=1200"),
    ('RECORD FILE /tmp/alerta/clip-1 wav "#" 120000 BEEP s=5', "200 result=35 (dtmf) endpos=22400"),
    ("GET VARIABLE CALLERID(num)", "200 result=1 (5551234)"),
    ('SET VARIABLE ALERTA_OUTCOME "reported"', "200 result=1"),
]
NORMAL_SEEN: list[object] = [
    {"lang": "en", "1": "first"},
    "Juan Perez",
    ("123", False),
    None,
    RecordResult(RecordEnd.DTMF, 22400, "#"),
    "5551234",
    "done",
]


def environment(
    uniqueid: str, script: str | None = "demo?lang=en", *, name: bytes = b"Juan Perez"
) -> bytes:
    """The environment block as Asterisk 22 sends it (ASTERISK.md), blank line included."""
    lines = [b"agi_network: yes"]
    if script is not None:
        lines += [
            b"agi_network_script: " + script.encode(),
            b"agi_request: agi://127.0.0.1:4573/" + script.encode(),
        ]
    lines += [
        b"agi_channel: PJSIP/trunk-00000000",
        b"agi_language: en",
        b"agi_type: PJSIP",
        b"agi_uniqueid: " + uniqueid.encode(),
        b"agi_version: 22.10.1",
        b"agi_callerid: 5551234",
        b"agi_calleridname: " + name,
        b"agi_callingpres: 0",
        b"agi_dnid: 1234",
        b"agi_context: alerta-in",
        b"agi_extension: 1234",
        b"agi_priority: 2",
        b"agi_accountcode: ",
        b"agi_arg_1: first",
    ]
    return b"\n".join(lines) + b"\n\n"


class Peer:
    """One FastAGI connection, playing Asterisk under the test's direction."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Peer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    async def reply(self, *lines: str) -> None:
        await self.send("".join(line + "\n" for line in lines))

    async def expect(self, command: str) -> None:
        async with asyncio.timeout(GUARD_S):
            line = await self.reader.readline()
        assert line == (command + "\n").encode()

    async def converse(self, script: list[tuple[str, str]]) -> None:
        for command, reply in script:
            await self.expect(command)
            await self.reply(reply)

    async def expect_closed(self) -> None:
        """The server closed the connection without sending anything more."""
        try:
            async with asyncio.timeout(GUARD_S):
                rest = await self.reader.read()
        except ConnectionResetError:
            rest = b""
        assert rest == b""

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


def demo_flow(calls: Calls) -> Flow:
    """Answer, menu, play, record, read a variable: what a report call does."""

    async def run(call: CallControl) -> None:
        seen = calls.setdefault(call.info["uniqueid"], [])
        seen += [dict(call.args), call.info["calleridname"]]
        await call.answer()
        await call.mark_step("menu")
        seen.append(await call.read_digits("alerta/menu", max_digits=3, timeout_s=5))
        seen.append(await call.play(["alerta/thanks", "alerta/bye"], keys="#"))
        seen.append(await call.record("/tmp/alerta/clip-1", max_s=120, silence_s=5))
        seen.append(await call.get_variable("CALLERID(num)"))
        await call.set_variable(variables.OUTCOME, "reported")
        seen.append("done")

    return run


def patient_flow(calls: Calls) -> Flow:
    """Shrugs off a command that timed out and goes on with the next one."""

    async def run(call: CallControl) -> None:
        seen = calls.setdefault(call.info["uniqueid"], [])
        try:
            await call.answer()
        except CommandTimeout:
            seen.append("answer timed out")
        seen.append(await call.get_variable("CALLERID(num)"))

    return run


def long_then_short_flow(calls: Calls) -> Flow:
    """A command with a long limit of its own (a 2-minute recording), then a plain one."""

    async def run(call: CallControl) -> None:
        seen = calls.setdefault(call.info["uniqueid"], [])
        seen.append(await call.record("/tmp/alerta/clip-1", max_s=120, silence_s=5))
        try:
            await call.answer()
        except CommandTimeout:
            seen.append("answer timed out")

    return run


async def failing_flow(call: CallControl) -> None:
    await call.answer()
    raise RuntimeError("bug in the flow")


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait for a state the server exposes no event for (bounded only by the hang guard)."""
    async with asyncio.timeout(GUARD_S):
        while not condition():  # noqa: ASYNC110 - polling a plain attribute
            await asyncio.sleep(0.01)


async def settle(server: AgiServer) -> None:
    await eventually(lambda: server.open_connections == 0)


async def normal_call(server: AgiServer, calls: Calls, uniqueid: str = "normal.1") -> None:
    """A complete good call; asserts every command and what the flow saw."""
    peer = await Peer.connect(server.port)
    await peer.send(environment(uniqueid))
    await peer.converse(NORMAL)
    await peer.expect_closed()
    await peer.close()
    assert calls[uniqueid] == NORMAL_SEEN


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def calls() -> Calls:
    return {}


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="ivr.agi"):
        yield caplog


ServerFactory = Callable[..., Awaitable[AgiServer]]


@pytest.fixture
async def make_server(calls: Calls) -> AsyncIterator[ServerFactory]:
    servers: list[AgiServer] = []

    async def make(**overrides: Any) -> AgiServer:
        values = {"agi_port": 0, "agi_env_timeout_s": 5.0, "agi_command_timeout_s": 5.0}
        settings = dataclasses.replace(Settings(), **{**values, **overrides})
        routes = {
            "demo": demo_flow(calls),
            "patient": patient_flow(calls),
            "long": long_then_short_flow(calls),
            "boom": failing_flow,
        }
        server = AgiServer(settings.agi, routes)
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        async with asyncio.timeout(GUARD_S):
            await server.stop(grace_s=0)


@pytest.fixture
async def server(make_server: ServerFactory) -> AgiServer:
    return await make_server()


# --- normal calls and the HANGUP line --------------------------------------------------


async def test_normal_call_byte_for_byte(server: AgiServer, calls: Calls) -> None:
    await normal_call(server, calls)
    await settle(server)
    assert (server.calls_total, server.calls_failed, server.bad_sessions) == (1, 0, 0)


async def test_hangup_line_between_command_and_reply_shifts_nothing(
    server: AgiServer, calls: Calls
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("late.1"))
    for command, reply in NORMAL:
        await peer.expect(command)
        if command.startswith("GET DATA"):
            await peer.send("HANGUP\n")  # before the reply, after the command
        await peer.reply(reply)
    await peer.expect_closed()
    await peer.close()
    assert calls["late.1"] == NORMAL_SEEN


async def test_hangup_line_right_after_a_reply_shifts_nothing(
    server: AgiServer, calls: Calls
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("after.1"))
    for command, reply in NORMAL:
        await peer.expect(command)
        await peer.reply(reply, "HANGUP") if command == "ANSWER" else await peer.reply(reply)
    await peer.expect_closed()
    await peer.close()
    assert calls["after.1"] == NORMAL_SEEN


async def test_hangup_while_recording_keeps_the_clip_then_511_ends_quietly(
    server: AgiServer, calls: Calls
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("rec.1"))
    await peer.converse(NORMAL[:5])
    await peer.expect(NORMAL[5][0])
    await peer.reply("200 result=-1 (hangup) endpos=12320", "HANGUP")
    await peer.converse([("GET VARIABLE CALLERID(num)", "200 result=1 (5551234)")])
    await peer.expect('SET VARIABLE ALERTA_OUTCOME "reported"')
    await peer.reply(DEAD)
    await peer.expect_closed()  # a hangup is normal: no fallback Goto
    await peer.close()
    assert calls["rec.1"][4:] == [RecordResult(RecordEnd.HANGUP, 12320), "5551234"]
    await settle(server)
    assert server.calls_failed == 0


async def test_hangup_during_playback_ends_the_flow_quietly(
    server: AgiServer, calls: Calls
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("play.1"))
    await peer.converse(NORMAL[:3])
    await peer.expect(NORMAL[3][0])
    await peer.reply("200 result=-1 endpos=1200", "HANGUP")
    await peer.expect_closed()
    await peer.close()
    assert calls["play.1"][-1] == ("123", False)
    await settle(server)
    assert server.calls_failed == 0


# --- the last-resort fallback ----------------------------------------------------------


@pytest.mark.parametrize("script", ["nosuch", "/nosuch?lang=en", None])
async def test_unknown_or_missing_script_goes_to_fallback(
    server: AgiServer, calls: Calls, caplog_info: pytest.LogCaptureFixture, script: str | None
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("lost.1", script))
    await normal_call(server, calls)
    await peer.converse([(FALLBACK, "200 result=0")])
    await peer.expect_closed()
    await peer.close()
    await settle(server)
    assert server.calls_failed == 1
    errors = [r for r in caplog_info.records if r.levelno == logging.ERROR]
    assert any("lost.1" in r.getMessage() for r in errors)


async def test_flow_error_goes_to_fallback_and_is_logged_with_uniqueid(
    server: AgiServer, calls: Calls, caplog_info: pytest.LogCaptureFixture
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("boom.1", "boom"))
    await peer.expect("ANSWER")
    await normal_call(server, calls)
    await peer.reply("200 result=0")
    await peer.converse([(FALLBACK, "200 result=0")])
    await peer.expect_closed()
    await peer.close()
    await settle(server)
    assert server.calls_failed == 1
    failures = [r for r in caplog_info.records if "boom.1" in r.getMessage() and r.exc_info]
    assert failures and "bug in the flow" in str(failures[0].exc_info)


async def test_rejected_command_with_usage_text_goes_to_fallback(
    server: AgiServer, calls: Calls
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("usage.1"))
    await peer.converse([NORMAL[0]])
    await peer.expect(NORMAL[1][0])
    await normal_call(server, calls)
    await peer.reply(
        "520-Invalid command syntax.  Proper usage follows:",
        "Usage: SET VARIABLE <variablename> <value>",
        "520 End of proper usage.",
    )
    await peer.converse([(FALLBACK, "200 result=0")])  # read after all three lines
    await peer.expect_closed()
    await peer.close()


async def test_too_many_calls_go_to_fallback(make_server: ServerFactory, calls: Calls) -> None:
    server = await make_server(agi_max_calls=1)
    first = await Peer.connect(server.port)
    await first.send(environment("first.1"))
    await first.expect("ANSWER")
    extra = await Peer.connect(server.port)
    await extra.send(environment("extra.1"))
    await extra.converse([(FALLBACK, "200 result=0")])
    await extra.expect_closed()
    await extra.close()
    await first.reply("200 result=0")
    await first.converse(NORMAL[1:])
    await first.expect_closed()
    await first.close()
    assert calls["first.1"] == NORMAL_SEEN
    assert "extra.1" not in calls
    await settle(server)
    assert server.calls_failed == 1


async def test_stalled_reply_times_out_to_fallback_and_the_late_reply_is_skipped(
    make_server: ServerFactory, calls: Calls
) -> None:
    server = await make_server(agi_command_timeout_s=0.5)
    peer = await Peer.connect(server.port)
    await peer.send(environment("slow.1"))
    await peer.expect("ANSWER")  # and say nothing until the server gives up
    await normal_call(server, calls)
    await peer.expect(FALLBACK)
    await peer.reply("200 result=0", "200 result=0")  # ANSWER's late reply, then Goto's
    await peer.expect_closed()
    await peer.close()
    await settle(server)
    assert server.calls_failed == 1


async def test_late_reply_to_a_timed_out_command_is_not_taken_for_the_next_one(
    make_server: ServerFactory, calls: Calls
) -> None:
    server = await make_server(agi_command_timeout_s=0.5)
    peer = await Peer.connect(server.port)
    await peer.send(environment("patient.1", "patient"))
    await peer.expect("ANSWER")  # and say nothing until the server gives up
    await normal_call(server, calls)
    await peer.expect("GET VARIABLE CALLERID(num)")
    await peer.reply("200 result=0", "200 result=1 (5551234)")  # ANSWER's late reply first
    await peer.expect_closed()
    await peer.close()
    assert calls["patient.1"] == ["answer timed out", "5551234"]


async def test_a_short_command_after_a_long_one_times_out_on_its_own_limit(
    make_server: ServerFactory, calls: Calls
) -> None:
    # The RECORD FILE may take 120 s more than the 0.5 s limit; the ANSWER after it
    # may not: the one watchdog timer, set for the recording, must be brought forward.
    server = await make_server(agi_command_timeout_s=0.5)
    peer = await Peer.connect(server.port)
    await peer.send(environment("long.2", "long"))
    await peer.converse([NORMAL[5]])
    await peer.expect("ANSWER")  # and say nothing: the flow gives up well short of 120 s
    await peer.expect_closed()
    await peer.close()
    assert calls["long.2"] == [RecordResult(RecordEnd.DTMF, 22400, "#"), "answer timed out"]


async def test_replies_split_across_packets_and_ended_by_crlf_are_framed(
    server: AgiServer, calls: Calls
) -> None:
    peer = await Peer.connect(server.port)
    env = environment("split.1")
    await peer.send(env[:37])
    await peer.send(env[37:])
    for command, reply in NORMAL:
        await peer.expect(command)
        wire = (reply + "\r\n").encode()
        await peer.send(wire[:5])
        await asyncio.sleep(0)  # most likely two reads on the server's side
        await peer.send(wire[5:])
    await peer.expect_closed()
    await peer.close()
    assert calls["split.1"] == NORMAL_SEEN


# --- bad input ---------------------------------------------------------------------------


async def test_malformed_environment_lines_are_skipped_and_logged(
    server: AgiServer, calls: Calls, caplog_info: pytest.LogCaptureFixture
) -> None:
    peer = await Peer.connect(server.port)
    first, rest = environment("odd.1").split(b"\n", 1)
    await peer.send(b"no colon at all\n: no name\n" + first + b"\nagi bad: x\n" + rest)
    await normal_call(server, calls)
    await peer.converse(NORMAL)
    await peer.expect_closed()
    await peer.close()
    assert calls["odd.1"] == NORMAL_SEEN
    assert any("3 malformed" in r.getMessage() for r in caplog_info.records)


@pytest.mark.parametrize(
    ("flood", "reason"),
    [
        (b"agi_flood: " + b"y" * 52 + b"\n", "larger than 16384 bytes"),
        (b"y" * 64, "line too long"),  # one endless line
    ],
)
async def test_header_flood_is_cut_at_the_cap(
    server: AgiServer,
    calls: Calls,
    caplog_info: pytest.LogCaptureFixture,
    flood: bytes,
    reason: str,
) -> None:
    peer = await Peer.connect(server.port)
    peer.writer.write(flood * (1024 * 1024 // len(flood)))  # 1 MiB, and the socket stays open
    await normal_call(server, calls)
    await peer.expect_closed()
    await peer.close()
    await settle(server)
    assert server.bad_sessions == 1
    assert any(reason in r.getMessage() for r in caplog_info.records)


@pytest.mark.parametrize(
    "sent", [b"agi_network: yes\nagi_uniqueid: 1.2\n", b"agi_network: yes\nagi_uniq"]
)
async def test_eof_before_the_blank_line_drops_the_session(
    server: AgiServer, calls: Calls, sent: bytes
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(sent)
    await normal_call(server, calls)
    peer.writer.write_eof()
    await peer.expect_closed()
    await peer.close()
    await settle(server)
    assert (server.bad_sessions, server.calls_failed) == (1, 0)


@pytest.mark.parametrize("partial", [b"", b"200 res"])
async def test_eof_mid_session_ends_the_call(
    server: AgiServer, calls: Calls, partial: bytes
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("gone.1"))
    await peer.converse(NORMAL[:2])
    await peer.expect(NORMAL[2][0])
    await normal_call(server, calls)
    await peer.send(partial)
    peer.writer.write_eof()  # Asterisk went away
    await peer.expect_closed()
    await peer.close()
    await settle(server)
    assert (server.calls_failed, server.bad_sessions) == (0, 0)


async def test_invalid_utf8_caller_name_still_reports(
    server: AgiServer, calls: Calls, caplog_info: pytest.LogCaptureFixture
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("latin1.1", name=b"Jos\xe9 P\xe9rez"))
    await normal_call(server, calls)
    await peer.converse(NORMAL)
    await peer.expect_closed()
    await peer.close()
    assert calls["latin1.1"][1] == "Jos\ufffd P\ufffdrez"
    assert calls["latin1.1"][-1] == "done"
    assert any("not UTF-8" in r.getMessage() for r in caplog_info.records)


async def test_invalid_utf8_in_a_reply_is_replaced(server: AgiServer, calls: Calls) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("latin1.2"))
    await peer.converse(NORMAL[:6])
    await peer.expect(NORMAL[6][0])
    await normal_call(server, calls)
    await peer.send(b"200 result=1 (Jos\xe9)\n")
    await peer.converse(NORMAL[7:])
    await peer.expect_closed()
    await peer.close()
    assert calls["latin1.2"][-2:] == ["Jos\ufffd", "done"]


@pytest.mark.parametrize("garbage", ["hello world", "200 result=abc", "HANGUP!", "200 result=1 ("])
async def test_garbage_reply_goes_to_fallback(
    server: AgiServer, calls: Calls, garbage: str
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("junk.1"))
    await peer.expect("ANSWER")
    await normal_call(server, calls)
    await peer.reply(garbage)
    await peer.converse([(FALLBACK, "200 result=0")])
    await peer.expect_closed()
    await peer.close()
    await settle(server)
    assert server.calls_failed == 1


async def test_overlong_reply_line_still_sends_fallback(server: AgiServer, calls: Calls) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("long.1"))
    await peer.expect("ANSWER")
    await normal_call(server, calls)
    await peer.send(b"200 result=1 (" + b"x" * 20000)
    await peer.expect(FALLBACK)  # written blind: its reply could not be framed
    await peer.expect_closed()
    await peer.close()
    await settle(server)
    assert server.calls_failed == 1


async def test_stalled_environment_times_out(
    make_server: ServerFactory, calls: Calls, caplog_info: pytest.LogCaptureFixture
) -> None:
    server = await make_server(agi_env_timeout_s=0.3)
    peer = await Peer.connect(server.port)
    await peer.send(b"agi_network: yes\n")  # and nothing more
    await normal_call(server, calls)
    await peer.expect_closed()
    await peer.close()
    await settle(server)
    assert server.bad_sessions == 1
    assert any("no complete environment" in r.getMessage() for r in caplog_info.records)


# --- shutdown and leaks ------------------------------------------------------------------


async def connection_refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except (ConnectionRefusedError, ConnectionResetError):
        return True  # reset: it was still in the backlog when the listener closed
    writer.close()
    await writer.wait_closed()
    return False


async def test_stop_lets_the_call_in_progress_finish_and_refuses_new_ones(
    server: AgiServer, calls: Calls
) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("inflight.1"))
    await peer.expect("ANSWER")
    stopping = asyncio.create_task(server.stop(grace_s=GUARD_S))
    async with asyncio.timeout(GUARD_S):
        while not await connection_refused(server.port):  # noqa: ASYNC110 - probing a socket
            await asyncio.sleep(0.01)
    assert not stopping.done()
    await peer.reply("200 result=0")
    await peer.converse(NORMAL[1:])
    await peer.expect_closed()
    await peer.close()
    async with asyncio.timeout(GUARD_S):
        await stopping
    assert calls["inflight.1"] == NORMAL_SEEN
    assert server.open_connections == 0


async def test_stop_after_grace_sends_the_call_to_fallback(server: AgiServer, calls: Calls) -> None:
    peer = await Peer.connect(server.port)
    await peer.send(environment("cut.1"))
    await peer.expect("ANSWER")
    stopping = asyncio.create_task(server.stop(grace_s=0.2))
    await peer.expect(FALLBACK)
    await peer.reply("200 result=0", "200 result=0")  # ANSWER's reply, then Goto's
    await peer.expect_closed()
    await peer.close()
    async with asyncio.timeout(GUARD_S):
        await stopping
    assert server.open_connections == 0
    assert "done" not in calls["cut.1"]


async def test_no_task_or_socket_outlives_bad_sessions(
    make_server: ServerFactory, calls: Calls
) -> None:
    server = await make_server(agi_env_timeout_s=0.3)
    tasks_before = asyncio.all_tasks()
    fds_before = open_fds()

    stalled = await Peer.connect(server.port)
    await stalled.send(b"agi_network: yes\n")
    flood = await Peer.connect(server.port)
    flood.writer.write(b"z" * 1024 * 1024)
    eof = await Peer.connect(server.port)
    await eof.send(b"agi_network: yes\n")
    eof.writer.write_eof()
    boom = await Peer.connect(server.port)
    await boom.send(environment("boom.2", "boom"))
    await boom.converse([("ANSWER", "200 result=0"), (FALLBACK, "200 result=0")])
    junk = await Peer.connect(server.port)
    await junk.send(environment("junk.2"))
    await junk.converse([("ANSWER", "garbage"), (FALLBACK, "garbage too")])
    await normal_call(server, calls)
    for peer in (stalled, flood, eof, boom, junk):
        await peer.expect_closed()
        await peer.close()

    await settle(server)
    assert server.bad_sessions == 3
    assert server.calls_failed == 2
    await eventually(lambda: asyncio.all_tasks() == tasks_before)
    assert open_fds() == fds_before
