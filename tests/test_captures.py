"""Real Asterisk 22.10.1 captures (tests/fixtures/captures/) replayed through our parsers,
our callback outcome rules and our fakes.

The captures were taken with the project's own asterisk_conf/ and dialplans/
(see the README there). They are the reference: where a fake differs, the
fake is wrong.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest

from ivr.agi.protocol import (
    HANGUP_NOTICE,
    answer,
    get_data,
    parse_environment,
    parse_reply,
    record_file,
    set_variable,
    split_command,
    stream_file,
)
from ivr.ami import AmiLink, CallbackResult, CallbackUpdate, LinkState, OriginateRequest
from ivr.ami.originate import channel_id
from ivr.ami.outcome import CallbackTracker, normalize
from ivr.config import Settings
from ivr.testing.agi_wire import environment_block
from ivr.testing.ami_events import (
    OUTCOMES,
    ChannelNumbers,
    Fields,
    callback_events,
    parse_transcript,
)
from ivr.testing.ami_events import encode as ami_encode
from tests.test_console_callbacks import callback_desk, click, final_state

CAPTURES = Path(__file__).parent / "fixtures" / "captures"


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")

# -- the Originate the console sends -----------------------------------------------------------


async def test_the_operator_leg_carries_the_callback_prefix_once(settings: Settings) -> None:
    """The capture showed ``Uniqueid: alerta-cb-alerta-cb-<hex>``: the console's action id
    already starts with ``alerta-cb-`` and ChannelId added it again."""
    async with callback_desk(settings) as (site, fake, b, report):
        status, body = await click(b, report)
        assert status == 200, body
        await final_state(site, report)
        (originate,) = fake.actions("Originate")
        action_id = originate.get("ActionID") or ""
        assert re.fullmatch(r"alerta-cb-[0-9a-f]{16}", action_id), action_id
        assert originate.raw == (
            b"Action: Originate\r\n"
            b"ActionID: " + action_id.encode() + b"\r\n"
            b"Channel: PJSIP/1001\r\n"
            b"ChannelId: " + action_id.encode() + b"\r\n"
            b"Context: alerta-callback\r\n"
            b"Exten: 987654321\r\n"
            b"Priority: 1\r\n"
            b'CallerID: "Alerta"\r\n'
            b"Timeout: 30000\r\n"
            b"Async: true\r\n"
            b"Variable: ALERTA_REPORT=" + str(report).encode() + b"\r\n"
            b"Variable: ALERTA_RING_S=30\r\n"
            b"\r\n"
        )


# -- the AMI capture: two callbacks, one answered, one ending in congestion ---------------------

AMI_CAPTURE = CAPTURES / "ami-callback-answered-and-congestion.txt"
CHANNELVARS = ("ALERTA_REPORT", "ALERTA_STEP")
CALLBACK_ORIGINATE = {  # the Originate the console sent for these calls (after the fix)
    "Channel": "PJSIP/1001", "Context": "alerta-callback", "Exten": "991234567",
    "CallerID": '"Alerta"', "ActionID": "alerta-cb-0123456789abcdef",
    "ChannelId": "alerta-cb-0123456789abcdef",
}


def captured_callbacks() -> dict[str, list[Fields]]:
    """The capture's events split per callback (each starts with the operator's Newchannel)."""
    banner, messages = parse_transcript(read(AMI_CAPTURE))
    assert banner == "Asterisk Call Manager/11.0.0"
    events = [fields for way, fields in messages if way == "<<" and fields[0][0] == "Event"]
    starts = [i for i, e in enumerate(events)
              if e[0] == ("Event", "Newchannel") and ("Context", "operators") in e]
    assert len(starts) == 2
    return {"answered": events[starts[0]:starts[1]], "congestion": events[starts[1]:]}


def anonymous(events: list[Fields]) -> list[Fields]:
    """Events with what differs from run to run replaced by names given in order of
    appearance: channel names, unique ids, the bridge; no Timestamp; any ActionID."""
    names: dict[str, str] = {}
    for event in events:
        for key, value in event:
            if key in ("Channel", "DestChannel", "Uniqueid", "DestUniqueid", "BridgeUniqueid"):
                names.setdefault(value, f"<{key.removeprefix('Dest').lower()}{len(names)}>")
    longest_first = sorted(names.items(), key=lambda item: -len(item[0]))
    out = []
    for event in events:
        row = []
        for key, value in event:
            if key == "Timestamp":
                continue
            if key == "ActionID":
                value = "<action>"
            for real, name in longest_first:
                key, value = key.replace(real, name), value.replace(real, name)
            row.append((key, value))
        out.append(row)
    return out


def fake_events(outcome: str) -> list[Fields]:
    return callback_events(CALLBACK_ORIGINATE.get, ["ALERTA_REPORT=1", "ALERTA_RING_S=30"],
                           OUTCOMES[outcome], ChannelNumbers(), CHANNELVARS)


@pytest.mark.parametrize("outcome", ["answered", "congestion"])
def test_the_fake_sends_what_real_asterisk_sent(outcome: str) -> None:
    """Every event, every header, in order: the Originate's own Dial* events for the
    operator leg, caller-ID and device-state events, Cause 34 after congestion."""
    real = anonymous(captured_callbacks()[outcome])
    fake = anonymous(fake_events(outcome))
    assert [e[0][1] for e in fake] == [e[0][1] for e in real]
    for number, (got, wanted) in enumerate(zip(fake, real, strict=True)):
        assert got == wanted, f"event {number} ({wanted[0][1]})"


def as_the_link_sees(events: list[Fields], action_id: str) -> list[dict[str, str]]:
    """What CallbackTracker gets: lower-case keys, the first value of each. The capture was
    taken before the ChannelId fix (alerta-cb-alerta-cb-<hex>): its ids are given back the
    single prefix the Originate now sends."""
    out = []
    for event in events:
        fixed = [(k, v.replace("alerta-cb-alerta-cb-", "alerta-cb-")) for k, v in event]
        out.append(normalize({k: v for k, v in reversed(fixed)}))
    actions = {e["actionid"] for e in out if "actionid" in e}
    assert actions == {action_id}
    return out


def captured_action_id(events: list[Fields]) -> str:
    return next(v for e in events for k, v in e if k == "ActionID")


def response_moved(events: list[dict[str, str]], where: str) -> list[dict[str, str]]:
    response = [e for e in events if e["event"] == "OriginateResponse"]
    rest = [e for e in events if e["event"] != "OriginateResponse"]
    return response + rest if where == "first" else rest + response


CAPTURED_OUTCOMES = {
    "answered": (CallbackResult.ANSWERED, "citizen answered"),
    "congestion": (CallbackResult.FAILED,
                   "congestion on the way to the citizen (cause 34, Circuit/channel congestion)"),
}


@pytest.mark.parametrize("order", ["as captured", "first", "last"])
@pytest.mark.parametrize("outcome", sorted(CAPTURED_OUTCOMES))
def test_captured_callbacks_end_as_they_did(outcome: str, order: str) -> None:
    """The capture has the OriginateResponse before the operator leg's DialEnd (answered)
    and after it (congestion); the outcome holds in either order, and wherever it comes."""
    raw = captured_callbacks()[outcome]
    action_id = captured_action_id(raw)
    events = as_the_link_sees(raw, action_id)
    if order != "as captured":
        events = response_moved(events, order)
    tracker = CallbackTracker(action_id, channel_id(action_id))
    updates = [u for e in events for u in tracker.feed(e)]
    assert [(u.result, u.reason) for u in updates if u.final] == [CAPTURED_OUTCOMES[outcome]]
    assert [u.reason for u in updates if not u.final] == ["operator answered; calling the citizen"]
    assert updates[-1].final


def test_the_operator_legs_own_dial_end_is_not_the_citizen_answering() -> None:
    """The Originate's own DialEnd (ANSWER, DestUniqueid = our ChannelId) comes before the
    citizen is even dialled: taken for the citizen's, every callback would be ANSWERED."""
    raw = captured_callbacks()["congestion"]
    action_id = captured_action_id(raw)
    events = as_the_link_sees(raw, action_id)
    own = [e for e in events if e["event"] == "DialEnd" and "uniqueid" not in e]
    assert [(e["destuniqueid"], e["dialstatus"]) for e in own] == [(channel_id(action_id),
                                                                   "ANSWER")]
    tracker = CallbackTracker(action_id, channel_id(action_id))
    before_citizen = events[: events.index(own[0]) + 2]
    assert all(not u.final for e in before_citizen for u in tracker.feed(e))


async def test_the_link_reads_the_captured_bytes_to_the_same_outcomes() -> None:
    """The capture's own bytes over TCP, parsed by panoramisk inside AmiLink."""
    captured = captured_callbacks()
    async with ReplayAmi(captured) as server:
        updates: list[CallbackUpdate] = []
        done = asyncio.Event()

        async def on_update(update: CallbackUpdate) -> None:
            updates.append(update)
            if update.final:
                done.set()

        up = asyncio.Event()

        def on_state(state: LinkState, _detail: str) -> None:
            if state is LinkState.UP:
                up.set()

        link = AmiLink(host="127.0.0.1", port=server.port, username="alerta", secret="replay",
                       on_update=on_update, on_state=on_state, action_timeout_s=5.0)
        await link.start()
        try:
            async with asyncio.timeout(10):
                await up.wait()
                for outcome, (result, reason) in CAPTURED_OUTCOMES.items():
                    done.clear()
                    server.next_outcome = outcome
                    action_id = captured_action_id(captured[outcome])
                    first = await link.originate(dataclasses.replace(REQUEST, action_id=action_id))
                    assert first.result is CallbackResult.RINGING
                    await done.wait()
                    assert (updates[-1].action_id, updates[-1].result, updates[-1].reason) == (
                        action_id, result, reason)
        finally:
            await link.stop()


REQUEST = OriginateRequest(
    action_id="set-per-test", endpoint="PJSIP/1001", number="991234567",
    context="alerta-callback", report_id=1, caller_id_name="Alerta", caller_id_number="",
    ring_timeout_s=30,
)


class ReplayAmi:
    """Answers a Login and each Originate, then writes the captured events of one callback
    byte for byte (ids given the single prefix, see ``as_the_link_sees``)."""

    def __init__(self, captured: dict[str, list[Fields]]) -> None:
        self.captured = captured
        self.next_outcome = ""
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ReplayAmi:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                headers = await self._read_action(reader)
                if headers is None:
                    break
                action, action_id = headers.get("action", ""), headers.get("actionid", "")
                answer = {"login": "Authentication accepted", "originate":
                          "Originate successfully queued"}.get(action.lower())
                if answer is None:
                    writer.write(ami_encode([("Response", "Success"), ("ActionID", action_id),
                                             ("Ping", "Pong")]))
                    continue
                writer.write(ami_encode([("Response", "Success"), ("ActionID", action_id),
                                         ("Message", answer)]))
                if action.lower() == "originate":
                    for event in self.captured[self.next_outcome]:
                        writer.write(ami_encode(
                            [(k, v.replace("alerta-cb-alerta-cb-", "alerta-cb-"))
                             for k, v in event]))
                await writer.drain()
        finally:
            writer.close()

    @staticmethod
    async def _read_action(reader: asyncio.StreamReader) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode().rstrip("\r\n")
            if not text:
                if headers:
                    return headers
                continue
            key, _, value = text.partition(":")
            headers.setdefault(key.strip().lower(), value.strip())


# -- the AGI capture: a report call whose caller hangs up during the message -----------------

AGI_CAPTURE = CAPTURES / "agi-report-call-hangup-in-record.txt"
AGI_LINE = re.compile(r"\d\d:\d\d:\d\d\.\d{3} AGI (Tx >>|Rx <<) ?(.*)")


def agi_capture() -> tuple[list[str], list[tuple[str, list[str]]], list[str]]:
    """(environment lines, [(command we sent, the reply lines)], lines Asterisk sent unasked)."""
    lines = []
    for text in read(AGI_CAPTURE).splitlines():
        found = AGI_LINE.fullmatch(text)
        assert found, f"not a capture line: {text!r}"
        lines.append(("asterisk" if found[1] == "Tx >>" else "us", found[2]))
    blank = lines.index(("asterisk", ""))
    environment = [text for _, text in lines[:blank]]
    exchanges: list[tuple[str, list[str]]] = []
    unasked = []
    for way, text in lines[blank + 1:]:
        if way == "us":
            exchanges.append((text, []))
        elif text == HANGUP_NOTICE:
            unasked.append(text)
        else:
            exchanges[-1][1].append(text)
    return environment, exchanges, unasked


def test_the_captured_environment_parses_cleanly() -> None:
    environment, _, _ = agi_capture()
    env = parse_environment(environment)
    assert env.malformed == ()
    assert env.values["network_script"] == "report"
    assert env.values["priority"] == "5"  # the AGI() line of [alerta-in]
    assert env.values["accountcode"] == ""  # "agi_accountcode: ": a space, then nothing
    assert (env.values["callerid"], env.values["calleridname"]) == ("991234567", "Juan Perez")


def test_the_fake_asterisk_opens_a_session_as_real_asterisk_did() -> None:
    environment, _, _ = agi_capture()
    fake = environment_block(
        script="report", request="agi://127.0.0.1:4573/report", channel="PJSIP/sipp-000000d8",
        uniqueid="1796287189.216", language="es", caller_id="991234567",
        caller_name="Juan Perez", threadid=140380041455296, extra={},
    )
    assert fake == [*environment, ""]


CAPTURED_REPLIES = {  # every reply form of the capture: (result, data, endpos)
    "200 result=0": ("0", None, None),
    "200 result=1": ("1", None, None),
    "200 result=0 endpos=31821": ("0", None, 31821),
    "200 result=50 endpos=8160": ("50", None, 8160),  # '2' pressed during the prompt
    "200 result=": ("", None, None),  # GET DATA answered with # alone
    "200 result=-1 (hangup) endpos=19520": ("-1", "hangup", 19520),
}


def test_every_captured_reply_parses_as_the_capture_says() -> None:
    _, exchanges, unasked = agi_capture()
    assert unasked == [HANGUP_NOTICE, HANGUP_NOTICE]
    seen = set()
    for command, reply in exchanges:
        assert len(reply) == 1, (command, reply)
        parsed = parse_reply(reply)
        shape = re.sub(r"endpos=\d+", "endpos=N", reply[0])
        seen.add(shape)
        if reply[0] in CAPTURED_REPLIES:
            assert (parsed.result, parsed.data, parsed.endpos) == CAPTURED_REPLIES[reply[0]]
        assert parsed.code == 200 and parsed.raw == reply[0]
    assert {re.sub(r"endpos=\d+", "endpos=N", r) for r in CAPTURED_REPLIES} == seen


def test_every_captured_command_is_what_our_protocol_writes() -> None:
    """Rebuilt from its own words with ivr.agi.protocol, each command comes out identical."""
    builders = {
        "ANSWER": lambda args: answer(),
        "SET VARIABLE": lambda args: set_variable(args[0], args[1]),
        "STREAM FILE": lambda args: stream_file(args[0], args[1]),
        "GET DATA": lambda args: get_data(args[0], int(args[1]), int(args[2])),
        "RECORD FILE": lambda args: record_file(
            args[0], args[1], args[2], int(args[3]), beep="BEEP" in args[4:],
            silence_s=int(next(a for a in args if a.startswith("s="))[2:])),
    }
    _, exchanges, _ = agi_capture()
    for command, _reply in exchanges:
        words = split_command(command)
        name = " ".join(words[:2]) if " ".join(words[:2]) in builders else words[0]
        args = words[len(name.split()):]
        assert builders[name](args) == command
