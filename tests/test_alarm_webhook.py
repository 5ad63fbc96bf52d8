"""The silent-alarm webhook over real HTTP on loopback, with the real store on both
engines: a signed panic opens one report and is answered only once stored; a resend is
a duplicate; rotation, refusals (nothing stored), heartbeats and a store that is away."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from ivr.alarms.webhook import EVENT_CODES, MAX_BODY, PATH, WebhookRunner, start_webhook
from ivr.alarms.webhook_signing import read_headers, sign, verified
from ivr.app import services
from ivr.config import Settings
from ivr.core.alarm_links import AlarmLinkWatch
from ivr.core.alarms import AlarmIntake
from ivr.domain.alarms import Device, Recorded, Signal, classify
from ivr.store import engine as store_engine
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.alarm_links import AlarmLinkStore
from ivr.store.alarms import AlarmStore
from ivr.store.db import Database

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

START = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
OLD = "whsec_" + base64.b64encode(b"the secret of pos-0042, year one").decode()
NEW = "whsec_" + base64.b64encode(b"the secret of pos-0042, year two").decode()
RETIRED = "whsec_" + base64.b64encode(b"a secret nobody holds any longer").decode()
PANIC = {"device": "pos-0042", "event": "panic", "zone": "caja 2",
         "at": "2026-12-04T09:59:58-05:00"}


def signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """What a Standard Webhooks sender computes, written out here, not imported."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class HookedBook:
    """The real alarm store, with a hook run before a signal is recorded."""

    def __init__(self, inner: AlarmStore) -> None:
        self.inner = inner
        self.before_record: Callable[[], Awaitable[None]] | None = None

    async def device(self, kind: str, account: str) -> Device | None:
        return await self.inner.device(kind, account)

    async def record(self, device: Device, signal: Signal, kind: str, now: datetime
                     ) -> Recorded:
        if self.before_record is not None:
            await self.before_record()
        return await self.inner.record(device, signal, kind, now)

    async def seen(self, device: Device, now: datetime) -> None:
        await self.inner.seen(device, now)


@dataclass
class Terminal:
    db: Database
    clock: Clock
    book: HookedBook
    runner: WebhookRunner
    http: aiohttp.ClientSession
    answered: Any = None  # the last answer's headers

    async def post(self, payload: dict[str, Any] | bytes, *, message_id: str = "msg_1",
                   secrets: tuple[str, ...] = (NEW,), skew_s: int = 0,
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        timestamp = str(int(self.clock.now.timestamp()) + skew_s)
        sent = {"webhook-id": message_id, "webhook-timestamp": timestamp,
                "webhook-signature": " ".join(signature(s, message_id, timestamp, body)
                                              for s in secrets),
                "content-type": "application/json", **(headers or {})}
        url = f"http://127.0.0.1:{self.runner.port}{PATH}"
        async with self.http.post(url, data=body, headers=sent) as answer:
            self.answered = answer.headers
            return answer.status, await answer.json()

    async def count(self, table: str) -> int:
        row = await self.db.fetchone(f"SELECT count(*) AS n FROM {table}")
        assert row is not None
        return int(row["n"])


@pytest.fixture
async def terminal(database: Any) -> AsyncIterator[Terminal]:
    db = await store_engine.database(database).open()
    admin = AlarmAdmin(db)
    site = await admin.add_site(1, "Bodega Don Lucho", address="Av. Larco 812", zone="3",
                                lat=-12.12, lon=-77.03, actor="user:root", now=START)
    await admin.add_device(1, site, "webhook", "pos-0042", keys=[OLD, NEW], poll_s=60,
                           actor="user:root", now=START)
    clock = Clock()
    book = HookedBook(AlarmStore(db))
    runner = await start_webhook(AlarmIntake(book, clock), "127.0.0.1", 0)
    http = aiohttp.ClientSession()
    terminal = Terminal(db, clock, book, runner, http)
    try:
        yield terminal
    finally:
        await http.close()
        await runner.cleanup()
        await terminal.db.close()


async def test_a_signed_panic_opens_one_report_answered_only_once_stored(
        terminal: Terminal) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        entered.set()
        await release.wait()

    terminal.book.before_record = held
    answer = asyncio.create_task(terminal.post(PANIC))
    await entered.wait()
    done, _ = await asyncio.wait({answer}, timeout=0.3)
    assert not done  # the store has not taken it: the terminal hears nothing yet
    release.set()
    status, body = await answer
    assert status == 200 and body["duplicate"] is False and body["kind"] == "panic"
    row = await terminal.db.fetchone(
        "SELECT id, dedup_key, code, zone, sent_at, report_id FROM alarm_signals")
    assert row is not None and row["id"] == body["signal"]
    assert (row["dedup_key"], row["code"], row["zone"]) == ("webhook:pos-0042:msg_1", "PA",
                                                            "caja 2")
    assert row["sent_at"].startswith("2026-12-04T14:59:58")  # the terminal's time, in UTC
    report = await terminal.db.fetchone(
        "SELECT channel, type, emergency FROM reports WHERE id = ?", (row["report_id"],))
    assert report is not None and (report["channel"], report["type"], report["emergency"]
                                   ) == ("pos", "alarm_panic", 1)


async def test_the_same_webhook_id_again_is_a_duplicate_stored_once(terminal: Terminal
                                                                    ) -> None:
    status, first = await terminal.post(PANIC, message_id="msg_2KWPBgLlAfxdpx2AI54p")
    assert status == 200 and first["duplicate"] is False
    terminal.clock.now += timedelta(seconds=5)  # the sender's retry: signed anew
    status, again = await terminal.post(PANIC, message_id="msg_2KWPBgLlAfxdpx2AI54p")
    assert status == 200 and again == {**first, "duplicate": True}
    assert await terminal.count("alarm_signals") == 1
    assert await terminal.count("reports") == 1


async def test_while_keys_rotate_one_valid_signature_is_enough(terminal: Terminal) -> None:
    status, _ = await terminal.post(PANIC, message_id="m1", secrets=(RETIRED, NEW))
    assert status == 200
    status, _ = await terminal.post(PANIC, message_id="m2", secrets=(OLD,))
    assert status == 200  # the device still holds its old secret too
    status, _ = await terminal.post(PANIC, message_id="m3", secrets=(RETIRED,))
    assert status == 401
    assert await terminal.count("alarm_signals") == 2


async def test_refused_requests_get_their_status_and_store_nothing(terminal: Terminal
                                                                   ) -> None:
    bad_signature = await terminal.post(PANIC, secrets=(RETIRED,))
    unknown = await terminal.post({**PANIC, "device": "pos-9999"})
    assert bad_signature == unknown == (401, {"error": "signature not verified"})  # no oracle
    assert (await terminal.post(PANIC, skew_s=-360))[0] == 401  # 6 minutes old
    assert (await terminal.post(PANIC, skew_s=360))[0] == 401  # 6 minutes ahead
    assert (await terminal.post(b'{"device": "pos-0042", "event": "panic", "pad": "'
                                + b"x" * MAX_BODY + b'"}'))[0] == 413
    assert (await terminal.post(b'{"device": "pos-0042", "event": '))[0] == 400
    assert (await terminal.post(b'["pos-0042", "panic"]'))[0] == 400
    status, body = await terminal.post({**PANIC, "event": "panik"})
    assert status == 400 and "holdup" in body["error"]
    assert (await terminal.post({**PANIC, "at": "yesterday"}))[0] == 400
    assert (await terminal.post(PANIC, message_id="msg.1"))[0] == 400
    assert (await terminal.post(PANIC, headers={"webhook-timestamp": "soon"}))[0] == 400
    assert (await terminal.post(PANIC, headers={"webhook-signature": "v1,bm9wZQ=="}))[0] == 401
    assert await terminal.count("alarm_signals") == 0
    assert await terminal.count("reports") == 0


async def test_a_heartbeat_keeps_the_device_alive_and_restores_a_lost_link(
        terminal: Terminal) -> None:
    watch = AlarmLinkWatch(AlarmLinkStore(terminal.db), terminal.clock)
    terminal.clock.now = START + timedelta(seconds=200)  # three polls missed
    assert await watch.check() == 1
    status, body = await terminal.post({"device": "pos-0042", "event": "heartbeat"},
                                       message_id="hb_1")
    assert status == 200 and body == {"signal": None, "duplicate": False, "kind": "poll"}
    row = await terminal.db.fetchone("SELECT link, last_seen_at FROM alarm_devices")
    assert row is not None and row["link"] == "ok"
    restored = await terminal.db.fetchall(
        "SELECT id FROM events WHERE kind = 'alarm.link_restored'")
    assert len(restored) == 1
    assert await terminal.count("alarm_signals") == 0  # a heartbeat is not kept
    terminal.clock.now += timedelta(seconds=100)
    assert await watch.check() == 0  # heard 100 s ago: within 2.5 polls


async def test_the_store_away_answers_503_so_the_sender_sends_again(
        terminal: Terminal, database: Any) -> None:
    terminal.book.before_record = terminal.db.close  # gone between lookup and write
    status, body = await terminal.post(PANIC, message_id="msg_away")
    assert status == 503 and "send again" in body["error"]
    assert terminal.answered.get("Retry-After") == "10"
    status, _ = await terminal.post(PANIC, message_id="msg_away")  # gone before the lookup
    assert status == 503
    terminal.db = await store_engine.database(database).open()
    terminal.book.inner = AlarmStore(terminal.db)
    terminal.book.before_record = None
    assert await terminal.count("alarm_signals") == 0  # nothing was acknowledged
    terminal.clock.now += timedelta(seconds=10)
    status, body = await terminal.post(PANIC, message_id="msg_away")
    assert status == 200 and body["duplicate"] is False
    assert await terminal.count("alarm_signals") == 1


async def test_the_controller_runs_the_webhook_and_the_link_watch_and_stops_both(
        settings: Settings) -> None:
    with socket.socket() as probe:  # a port free now, for the setting
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = dataclasses.replace(settings, alarm_webhook_port=port)
    url = f"http://127.0.0.1:{port}{PATH}"
    async with services(settings, messaging=True) as svc:
        assert svc.alarm_webhook is not None and svc.alarm_webhook.port == port
        assert "alerta-alarm-links" in {t.get_name() for t in asyncio.all_tasks()}
        admin = AlarmAdmin(svc.db)
        site = await admin.add_site(1, "Grifo Central", lat=-12.1, lon=-77.0,
                                    actor="user:root", now=START)
        await admin.add_device(1, site, "webhook", "pos-0042", keys=[NEW], actor="user:root",
                               now=START)
        body = json.dumps(PANIC).encode()
        timestamp = str(int(datetime.now(UTC).timestamp()))
        headers = {"webhook-id": "msg_live", "webhook-timestamp": timestamp,
                   "webhook-signature": signature(NEW, "msg_live", timestamp, body)}
        async with aiohttp.ClientSession() as http, http.post(url, data=body,
                                                              headers=headers) as answer:
            assert answer.status == 200
        assert len(await svc.db.fetchall("SELECT id FROM alarm_signals")) == 1
    assert "alerta-alarm-links" not in {t.get_name() for t in asyncio.all_tasks()}
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.post(url, data=body, headers=headers)


def test_signatures_match_the_standard_webhooks_reference_vector() -> None:
    # From the Standard Webhooks Python library's own tests (libraries/python/tests).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body) == expected
    headers = read_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                           "v1a,c2lnbmVk v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
                           + expected)
    assert verified(headers, body, [secret])
    assert not verified(headers, body + b" ", [secret])
    assert not verified(headers, body, ["whsec_" + base64.b64encode(b"x" * 24).decode()])


def test_every_event_means_what_it_says() -> None:
    assert {event: classify(code) for event, code in EVENT_CODES.items()} == {
        "holdup": "holdup", "panic": "panic", "duress": "duress", "silent": "silent",
        "emergency": "emergency", "test": "test", "heartbeat": "poll", "trouble": "trouble",
        "restore": "restore"}
