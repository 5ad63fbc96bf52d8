"""The controller runs on uvloop or on the stdlib loop, with the same results.

``alerta serve`` picks uvloop when it is installed and ``event_loop`` allows it.
The FastAGI connection reads every socket into one receive buffer per thread,
which relies on the loop handing the buffer out and taking it back within one
callback: both loops are run here through real report calls over TCP, many at
once so that their reads interleave, and through the server's byte-for-byte
call with a reply split across packets.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from ivr.cli import loop_factory
from ivr.config import Settings, load
from ivr.domain.incidents import ConfigError
from ivr.testing import CallResult, make_tone_wav
from tests.e2e import report_number, running_line
from tests.test_agi_server import NORMAL, NORMAL_SEEN, Calls, Peer, demo_flow, environment

T = TypeVar("T")
LOOPS = ["asyncio", "uvloop"]
CONCURRENT_CALLS = 20
GUARD_S = 60.0  # only stops a broken test from hanging; no assertion is timed


def run_on(loop_name: str, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a fresh loop of the kind ``event_loop = loop_name`` gives."""
    factory, name = loop_factory(loop_name)
    assert name == loop_name
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(make())


@pytest.mark.parametrize("loop_name", LOOPS)
def test_report_calls_complete_on_either_loop(
    loop_name: str, settings: Settings, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.5)

    async def scenario() -> tuple[type, list[CallResult], list[dict[str, Any]]]:
        loop_kind = type(asyncio.get_running_loop())
        async with asyncio.timeout(GUARD_S), running_line(settings) as line:
            results = await asyncio.gather(*(
                line.call(keys=["1", "2", "1", "#", "1"], voice=voice, language="es")
                for _ in range(CONCURRENT_CALLS)
            ))
            return loop_kind, results, await line.reports()

    loop_kind, results, reports = run_on(loop_name, scenario)

    assert issubclass(loop_kind, uvloop.Loop) == (loop_name == "uvloop")
    assert [r.error for r in results] == [None] * CONCURRENT_CALLS
    numbers = sorted(report_number(r) or 0 for r in results)
    assert numbers == list(range(1, CONCURRENT_CALLS + 1))
    assert sorted(row["number"] for row in reports) == numbers
    assert all(row["clip_path"] for row in reports)
    assert all(r.commands[-1] == "HANGUP" for r in results)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_byte_for_byte_call_with_split_replies_on_either_loop(
    loop_name: str, settings: Settings
) -> None:
    from ivr.agi.server import AgiServer

    calls: Calls = {}

    async def scenario() -> None:
        server = AgiServer(settings.agi, {"demo": demo_flow(calls)})
        await server.start()
        try:
            async with asyncio.timeout(GUARD_S):
                peer = await Peer.connect(server.port)
                await peer.send(environment("split.1"))
                for command, reply in NORMAL:
                    await peer.expect(command)
                    for byte in (reply + "\r\n").encode():  # one byte per packet
                        await peer.send(bytes([byte]))
                await peer.expect_closed()
                await peer.close()
        finally:
            await server.stop(grace_s=5.0)

    run_on(loop_name, scenario)
    assert calls["split.1"] == NORMAL_SEEN


def test_auto_prefers_uvloop_and_asyncio_means_the_stdlib_loop() -> None:
    assert loop_factory("auto") == (uvloop.new_event_loop, "uvloop")
    assert loop_factory("asyncio") == (None, "asyncio")


def test_auto_falls_back_to_the_stdlib_loop_when_uvloop_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now fails
    assert loop_factory("auto") == (None, "asyncio")
    with pytest.raises(ConfigError, match="not installed"):
        loop_factory("uvloop")


def test_an_unknown_event_loop_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="event_loop"):
        load(env={"ALERTA_EVENT_LOOP": "trio"})
    assert load(env={"ALERTA_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"
