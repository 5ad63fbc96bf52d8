"""The AMI link: outcome rules over recorded transcripts, then AmiLink against FakeAmi over TCP.

No test sleeps: each waits for the state or update it expects (with a safety
limit), and small backoff and timeout values keep the whole file fast.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from panoramisk import Manager

from ivr.ami import (
    AmiLink,
    AmiUnavailable,
    CallbackResult,
    CallbackUpdate,
    DuplicateActionId,
    LinkState,
    OriginateRequest,
    UnsafeValue,
)
from ivr.ami.link import LOST_BEFORE_OUTCOME, LOST_BEFORE_RESPONSE, STOPPED, next_delay
from ivr.ami.originate import channel_id, encode_originate
from ivr.ami.outcome import CallbackTracker
from ivr.testing.ami_events import CallbackScript, parse_transcript
from ivr.testing.fake_ami import FakeAmi

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
TEXTS = {path.stem: path.read_text(encoding="utf-8") for path in FIXTURES.glob("*.txt")}
SAFETY_S = 5.0

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

FINAL: dict[str, tuple[CallbackResult, str]] = {
    "answered": (CallbackResult.ANSWERED, "citizen answered"),
    "busy": (CallbackResult.BUSY, "citizen busy (cause 17, User busy)"),
    "no_answer": (
        CallbackResult.NO_ANSWER, "citizen did not answer (cause 19, User alerting, no answer)"
    ),
    "failed": (
        CallbackResult.FAILED,
        "the citizen's number could not be reached (cause 3, No route to destination)",
    ),
    "trunk_down": (CallbackResult.FAILED, "the citizen's number could not be reached"),
    "operator_hangs_up": (
        CallbackResult.FAILED,
        "the operator hung up while the citizen's phone rang (cause 16, Normal Clearing)",
    ),
    "refused_number": (
        CallbackResult.FAILED, "the dialplan refused the number; nothing was dialled"
    ),
    "operator_no_answer": (
        CallbackResult.FAILED, "operator phone rang without an answer (reason 3)"
    ),
    "operator_busy": (CallbackResult.FAILED, "operator phone was busy (reason 5)"),
    "operator_unreachable": (
        CallbackResult.FAILED, "operator phone failed: unknown or unreachable endpoint (reason 0)"
    ),
}
OPERATOR_NEVER_ANSWERS = {"operator_no_answer", "operator_busy", "operator_unreachable"}


# -- outcome rules, replaying transcripts ---------------------------------------------------------


def events_after_originate(outcome: str) -> list[dict[str, str]]:
    """The ``<<`` messages after the Originate, as the link sees them (first value per key)."""
    _, messages = parse_transcript(TEXTS[outcome])
    start = next(i for i, (way, m) in enumerate(messages) if way == ">>" and
                 ("Action", "Originate") in m)
    return [{k.lower(): v for k, v in reversed(m)} for way, m in messages[start + 2:]
            if way == "<<"]


def replay(events: list[dict[str, str]]) -> list[CallbackUpdate]:
    tracker = CallbackTracker("cb-1", channel_id("cb-1"))
    return [update for event in events for update in tracker.feed(event)]


def test_every_transcript_has_an_expected_outcome() -> None:
    assert set(TEXTS) == set(FINAL)


@pytest.mark.parametrize("outcome", sorted(FINAL))
def test_transcript_ends_with_one_final_update(outcome: str) -> None:
    updates = replay(events_after_originate(outcome))
    finals = [u for u in updates if u.final]
    assert [(u.result, u.reason) for u in finals] == [FINAL[outcome]]
    progress = [u for u in updates if not u.final]
    if outcome in OPERATOR_NEVER_ANSWERS:
        assert progress == []
    else:
        assert [u.reason for u in progress] == ["operator answered; calling the citizen"]
    assert updates[-1] is finals[0]


@pytest.mark.parametrize("outcome", sorted(FINAL))
def test_the_outcome_does_not_depend_on_event_order(outcome: str) -> None:
    """The OriginateResponse is raised by another thread: it may come later than the rest."""
    events = events_after_originate(outcome)
    response = [e for e in events if e["event"] == "OriginateResponse"]
    late = [e for e in events if e["event"] != "OriginateResponse"] + response
    finals = [u for u in replay(late) if u.final]
    assert [u.result for u in finals] == [FINAL[outcome][0]]


def test_events_of_other_calls_are_ignored() -> None:
    others = [
        {**event, "actionid": "cb-2", "uniqueid": "1795584686.99", "linkedid": "1795584686.99"}
        for event in events_after_originate("busy")
    ]
    assert replay(others) == []


def test_nothing_follows_a_final_update() -> None:
    tracker = CallbackTracker("cb-1", channel_id("cb-1"))
    events = events_after_originate("answered")
    updates = [u for e in events for u in tracker.feed(e)]
    assert updates[-1].result is CallbackResult.ANSWERED
    assert [u for e in events for u in tracker.feed(e)] == []
    assert tracker.give_up("link lost") == []


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = [0.5]
    for _ in range(7):
        delays.append(next_delay(delays[-1], 30.0))
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


# -- AmiLink against FakeAmi over TCP --------------------------------------------------------


class Recorder:
    """What the link reported through on_state and on_update."""

    def __init__(self) -> None:
        self.states: list[tuple[LinkState, str]] = []
        self.updates: list[CallbackUpdate] = []
        self._changed = asyncio.Event()

    def on_state(self, state: LinkState, detail: str) -> None:
        self.states.append((state, detail))
        self._changed.set()

    async def on_update(self, update: CallbackUpdate) -> None:
        self.updates.append(update)
        self._changed.set()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(SAFETY_S):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_state(self, state: LinkState, count: int = 1) -> None:
        await self.wait_until(lambda: self.kinds().count(state) >= count)

    def kinds(self) -> list[LinkState]:
        return [state for state, _ in self.states]

    def finals(self, action_id: str) -> list[CallbackUpdate]:
        return [u for u in self.updates if u.action_id == action_id and u.final]


LinkFactory = Callable[..., tuple[AmiLink, Recorder]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    async with FakeAmi() as server:
        yield server


@pytest.fixture
async def make_link(fake: FakeAmi) -> AsyncIterator[LinkFactory]:
    links: list[AmiLink] = []

    def make(**options: object) -> tuple[AmiLink, Recorder]:
        recorder = Recorder()
        settings: dict[str, object] = {
            "host": "127.0.0.1", "port": fake.port, "username": "alerta",
            "secret": "fake-secret", "action_timeout_s": 2.0, "reconnect_min_s": 0.01,
            "reconnect_max_s": 0.04, "on_state": recorder.on_state,
            "on_update": recorder.on_update,
        }
        link = AmiLink(**{**settings, **options})  # type: ignore[arg-type]
        links.append(link)
        return link, recorder

    yield make
    for link in links:
        await link.stop()


async def up_link(make_link: LinkFactory, **options: object) -> tuple[AmiLink, Recorder]:
    link, recorder = make_link(**options)
    await link.start()
    await recorder.wait_for_state(LinkState.UP)
    return link, recorder


async def settle(fake: FakeAmi, link: AmiLink) -> None:
    """Let the fake send every event, then stop the link: its Logoff is answered after them."""
    async with asyncio.timeout(SAFETY_S):
        await fake.wait_until(lambda: not fake.playing)
    await link.stop()


@pytest.mark.parametrize("outcome", ["answered", "busy", "no_answer", "failed",
                                     "operator_no_answer", "trunk_down", "operator_hangs_up"])
async def test_each_outcome_ends_with_exactly_one_final_update(
    fake: FakeAmi, make_link: LinkFactory, outcome: str
) -> None:
    link, recorder = await up_link(make_link)
    fake.script_next_originate(outcome)
    returned = await link.originate(REQUEST)
    assert returned == CallbackUpdate("cb-1", CallbackResult.RINGING, False,
                                      "queued: ringing the operator's phone")
    await recorder.wait_until(lambda: bool(recorder.finals("cb-1")))
    await settle(fake, link)
    assert [(u.result, u.reason) for u in recorder.finals("cb-1")] == [FINAL[outcome]]
    assert recorder.updates[-1].final  # nothing after the final one
    [originate] = fake.actions("Originate")
    assert originate.raw == encode_originate(REQUEST)


async def test_a_refused_unsafe_value_places_no_call(
    fake: FakeAmi, make_link: LinkFactory
) -> None:
    link, _ = await up_link(make_link)
    for change in ({"number": "5551234\r\nApplication: System"}, {"number": "555\n1234"},
                   {"endpoint": "PJSIP/1001&PJSIP/1002"}, {"caller_id_name": "A\u2028B"}):
        with pytest.raises(UnsafeValue):
            await link.originate(dataclasses.replace(REQUEST, **change))  # type: ignore[arg-type]
    await settle(fake, link)  # the Logoff is answered after anything sent before it
    assert [a.name for a in fake.received] == ["Login", "Logoff"]


async def test_link_lost_before_the_response_is_unknown_and_never_sent_again(
    fake: FakeAmi, make_link: LinkFactory
) -> None:
    link, recorder = await up_link(make_link)
    fake.drop_on_next("Originate")
    lost = await link.originate(REQUEST)
    assert lost == CallbackUpdate("cb-1", CallbackResult.UNKNOWN, True, LOST_BEFORE_RESPONSE)
    await recorder.wait_for_state(LinkState.UP, count=2)  # reconnected and logged in again
    assert fake.logins == 2
    # A later Originate on the new connection: any re-sent cb-1 would have arrived before it.
    fake.script_next_originate("busy")
    await link.originate(dataclasses.replace(REQUEST, action_id="cb-2"))
    await recorder.wait_until(lambda: bool(recorder.finals("cb-2")))
    await settle(fake, link)
    assert [a.get("ActionID") for a in fake.actions("Originate")] == ["cb-1", "cb-2"]
    assert [u for u in recorder.updates if u.action_id == "cb-1"] == []  # its final was returned
    assert recorder.kinds()[:4] == [LinkState.CONNECTING, LinkState.UP, LinkState.DOWN,
                                    LinkState.UP]


async def test_plain_panoramisk_would_have_placed_the_call_twice(fake: FakeAmi) -> None:
    """Why the guard exists: panoramisk re-sends an unanswered Originate after reconnecting."""
    manager = Manager(host="127.0.0.1", port=fake.port, username="alerta", secret="fake-secret",
                      reconnect_timeout=0, loop=asyncio.get_running_loop())
    manager.connect()
    try:
        async with asyncio.timeout(SAFETY_S):
            await fake.wait_until(lambda: fake.logins == 1)
            fake.drop_on_next("Originate")
            manager.send_action({"Action": "Originate", "ActionID": "cb-1",
                                 "Channel": "PJSIP/1001", "Context": "alerta-callback",
                                 "Exten": "5551234", "Priority": "1", "Async": "true"})
            await fake.wait_until(lambda: len(fake.actions("Originate")) == 2)
    finally:
        manager.close()
    assert [a.get("ActionID") for a in fake.actions("Originate")] == ["cb-1", "cb-1"]
    assert [a.connection for a in fake.actions("Originate")] == [1, 2]


async def test_link_lost_after_the_response_ends_the_callback_unknown(
    fake: FakeAmi, make_link: LinkFactory
) -> None:
    link, recorder = await up_link(make_link)
    fake.script_next_originate("no_events")
    assert (await link.originate(REQUEST)).result is CallbackResult.RINGING
    fake.drop_connections()
    await recorder.wait_until(lambda: bool(recorder.finals("cb-1")))
    assert recorder.finals("cb-1") == [
        CallbackUpdate("cb-1", CallbackResult.UNKNOWN, True, LOST_BEFORE_OUTCOME)
    ]
    await recorder.wait_for_state(LinkState.UP, count=2)
    await settle(fake, link)
    assert len(fake.actions("Originate")) == 1


async def test_an_action_timeout_is_unknown(fake: FakeAmi, make_link: LinkFactory) -> None:
    link, recorder = await up_link(make_link, action_timeout_s=0.05)
    fake.script_next_originate("no_response")
    timed_out = await link.originate(REQUEST)
    assert timed_out.result is CallbackResult.UNKNOWN and timed_out.final
    assert timed_out.reason == (
        "no response to the Originate within 0.05 s; the call may have been placed; "
        "check before retrying"
    )
    assert link.state is LinkState.UP  # one slow action does not drop the link
    await settle(fake, link)
    assert len(fake.actions("Originate")) == 1
    assert recorder.updates == []


async def test_no_outcome_in_time_is_unknown(fake: FakeAmi, make_link: LinkFactory) -> None:
    link, recorder = await up_link(make_link, outcome_timeout_s=0.05)
    fake.script_next_originate("no_events")
    await link.originate(REQUEST)
    await recorder.wait_until(lambda: bool(recorder.finals("cb-1")))
    assert recorder.finals("cb-1")[0].reason == (
        "no outcome from Asterisk within 0.05 s; check before retrying"
    )


async def test_asterisk_refusing_the_originate_is_failed_with_its_message(
    fake: FakeAmi, make_link: LinkFactory
) -> None:
    link, recorder = await up_link(make_link)
    fake.script_next_originate(CallbackScript(error="Permission denied"))
    refused = await link.originate(REQUEST)
    assert refused == CallbackUpdate("cb-1", CallbackResult.FAILED, True,
                                     "Asterisk refused the call: Permission denied")
    await settle(fake, link)
    assert recorder.updates == []


async def test_an_action_id_is_used_once(fake: FakeAmi, make_link: LinkFactory) -> None:
    link, _ = await up_link(make_link)
    fake.script_next_originate("no_events")
    await link.originate(REQUEST)
    with pytest.raises(DuplicateActionId, match="'cb-1' was used already"):
        await link.originate(REQUEST)
    await settle(fake, link)
    assert len(fake.actions("Originate")) == 1


async def test_stopping_ends_open_callbacks_unknown(fake: FakeAmi, make_link: LinkFactory) -> None:
    link, recorder = await up_link(make_link)
    fake.script_next_originate("no_events")
    await link.originate(REQUEST)
    await link.stop()
    assert recorder.finals("cb-1") == [
        CallbackUpdate("cb-1", CallbackResult.UNKNOWN, True, STOPPED)
    ]
    assert recorder.states[-1] == (LinkState.DOWN, "stopped")


async def test_stop_leaves_no_task_or_connection_behind(
    fake: FakeAmi, make_link: LinkFactory
) -> None:
    before = asyncio.all_tasks()
    link, _ = await up_link(make_link)
    fake.script_next_originate("no_events")
    await link.originate(REQUEST)
    await link.stop()
    async with asyncio.timeout(SAFETY_S):
        await fake.wait_until(lambda: fake.open_connections == 0)
    await asyncio.sleep(0)  # let the fake's connection handler return
    assert {t for t in asyncio.all_tasks() if not t.done()} <= before


# -- link state ---------------------------------------------------------------------------------


async def test_state_callbacks_follow_the_link(fake: FakeAmi, make_link: LinkFactory) -> None:
    link, recorder = make_link()
    assert (link.state, link.detail) == (LinkState.DOWN, "not started")
    await link.start()
    assert link.state is LinkState.CONNECTING  # at once, before any byte is exchanged
    await recorder.wait_for_state(LinkState.UP)
    assert recorder.states == [
        (LinkState.CONNECTING, f"connecting to 127.0.0.1:{fake.port}"),
        (LinkState.UP, f"logged in to 127.0.0.1:{fake.port} as alerta"),
    ]
    assert link.since > 0
    await link.stop()
    assert recorder.states[-1] == (LinkState.DOWN, "stopped")


async def test_no_secret_means_disabled(make_link: LinkFactory) -> None:
    link, recorder = make_link(secret="")
    await link.start()
    assert recorder.states == [(LinkState.DISABLED, "no AMI secret configured: callbacks are off")]
    with pytest.raises(UnsafeValue):  # a bad value is refused first, whatever the link
        await link.originate(dataclasses.replace(REQUEST, number="555\r\n1234"))
    with pytest.raises(AmiUnavailable, match="disabled: no AMI secret configured"):
        await link.originate(REQUEST)


async def test_originate_while_down_sends_nothing(fake: FakeAmi, make_link: LinkFactory) -> None:
    await fake.stop()
    link, recorder = make_link()
    await link.start()
    await recorder.wait_for_state(LinkState.DOWN)
    with pytest.raises(AmiUnavailable, match="the AMI link is down: cannot connect to"):
        await link.originate(REQUEST)


async def test_reconnects_with_backoff_after_asterisk_goes_away(
    fake: FakeAmi, make_link: LinkFactory
) -> None:
    link, recorder = await up_link(make_link)
    await fake.stop()
    await recorder.wait_for_state(LinkState.DOWN)
    down_since = link.since
    await recorder.wait_until(lambda: len(recorder.states) >= 7)  # four failed tries
    await fake.start()
    await recorder.wait_for_state(LinkState.UP, count=2)
    downs = [detail for state, detail in recorder.states if state is LinkState.DOWN]
    tries = [re.search(r"next try in ([\d.]+) s \(#(\d+)\)$", d) for d in downs]
    assert [(float(t[1]), int(t[2])) for t in tries[:5] if t] == [
        (0.01, 1), (0.02, 2), (0.04, 3), (0.04, 4), (0.04, 5)  # doubling, capped
    ]
    assert downs[0].startswith("connection closed by Asterisk")
    assert downs[1].startswith(f"cannot connect to 127.0.0.1:{fake.port}")
    kinds = recorder.kinds()
    assert kinds[:2] == [LinkState.CONNECTING, LinkState.UP] and kinds[-1] is LinkState.UP
    assert set(kinds[2:-1]) == {LinkState.DOWN}  # retries stay DOWN ...
    assert link.since > down_since  # ... and since says since when it is UP again


async def test_a_refused_login_is_reported_and_not_retried_in_a_tight_loop() -> None:
    async with FakeAmi(secret="the-right-one") as fake:
        recorder = Recorder()
        link = AmiLink(host="127.0.0.1", port=fake.port, username="alerta", secret="wrong",
                       reconnect_min_s=0.01, reconnect_max_s=60.0,
                       on_state=recorder.on_state, on_update=recorder.on_update)
        await link.start()
        await recorder.wait_for_state(LinkState.DOWN)
        assert link.detail == (
            "authentication failed for user 'alerta' (Authentication failed); "
            "next try in 60 s (#1)"
        )
        await link.stop()
        assert fake.failed_logins == 1


async def test_a_silent_asterisk_is_noticed_by_ping(make_link: LinkFactory) -> None:
    async with FakeAmi(answer_pings=False) as silent:
        link, recorder = make_link(port=silent.port, ping_interval_s=0.01, action_timeout_s=0.05)
        await link.start()
        await recorder.wait_for_state(LinkState.DOWN)
        assert recorder.states[2][1].startswith("no answer to Ping within 0.05 s")
        await recorder.wait_for_state(LinkState.UP, count=2)
        await link.stop()


def test_login_values_are_checked_before_panoramisk_sees_them() -> None:
    with pytest.raises(UnsafeValue, match="ami_secret"):
        AmiLink(host="127.0.0.1", port=5038, username="alerta", secret="s3cret\r\nAction: Hangup")
    with pytest.raises(UnsafeValue, match="ami_username"):
        AmiLink(host="127.0.0.1", port=5038, username="alerta\n", secret="s3cret")
