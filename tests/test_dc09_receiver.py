"""The DC-09 receiver over real TCP and UDP on loopback, with the real store on both
engines. The panel is my-dc09-spt, an independent transmitter: it builds every line (CRC,
length, encryption, timestamp) and checks every answer (CRC, length, sequence, our
encrypted timestamp); only the socket is ours, to see what comes back and when.

Policies: an alarm is answered ACK only once it is committed and stored once however
often it comes; a stale line gets NAK with our time; a line we cannot read or trust gets
DUH; a store that cannot take it gets no answer; a receiver killed between the commit and
the ACK is sent the line again and stores it once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from my_dc09_spt.comm.transpathudp import TransPathUDP
from my_dc09_spt.msg.dc03_msg import dc03_msg
from my_dc09_spt.msg.dc05_msg import dc05_msg
from my_dc09_spt.msg.dc09_msg import dc09_msg

from ivr.alarms.receiver import DIE_BEFORE_ACK, Dc09Receiver, Limits, start_dc09
from ivr.core.alarms import AlarmIntake
from ivr.core.records import StoreError
from ivr.domain.alarms import Device, Recorded, Signal
from ivr.store import engine as store_engine
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.alarms import AlarmStore
from ivr.store.db import Database
from ivr.store.reports import utc_now
from tests.conftest import ROOT

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

WAIT_S = 30.0  # a bound so that a broken receiver fails the test instead of hanging it
PLAIN, CIPHER = "1234", "5678"  # a panel in clear and one with AES-128
KEY = "Clave-de-16-char"
PANIC = ("SIA-DCS", {"code": "PA", "zone": 1})


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


class Panel:
    """A transmitter talking to the receiver: my-dc09-spt makes the lines and reads the
    answers; each exchange is one TCP connection unless one is given."""

    def __init__(self, port: int, account: str, key: str | None = None, *,
                 offset_s: int = 0) -> None:
        self.port = port
        self.account = account
        self.dc09 = dc09_msg(account, key.encode() if key else None, None, 0, offset_s)
        self.seq = 0
        self.offset = 0.0  # what the last answer's timestamp said of the panel's clock

    def line(self, kind: str = "NULL", params: dict[str, Any] | None = None,
             seq: int | None = None) -> tuple[int, bytes]:
        if seq is None:
            self.seq += 1
            seq = self.seq
        if kind == "SIA-DCS":
            block = self.dc09.dc09block(seq, kind, dc03_msg.dc03event(self.account, params))
        elif kind == "ADM-CID":
            block = self.dc09.dc09block(seq, kind, dc05_msg.dc05event(self.account, params))
        else:
            block = self.dc09.dc09block(seq)
        return seq, block.encode("ascii")

    async def send(self, raw: bytes, seq: int) -> str | None:
        """The answer's kind (ACK, NAK, DUH), or None: closed without one."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(raw)
            await writer.drain()
            answer = await next_answer(reader)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return None if answer is None else self.read(seq, answer)

    def read(self, seq: int, answer: bytes) -> str:
        kind, offset = self.dc09.dc09answer(seq, answer.decode("ascii"))
        self.offset = self.offset if offset is None else offset
        return str(kind)

    async def event(self, kind: str = "NULL", params: dict[str, Any] | None = None
                    ) -> str | None:
        seq, raw = self.line(kind, params)
        return await self.send(raw, seq)


async def next_answer(reader: asyncio.StreamReader) -> bytes | None:
    try:
        async with asyncio.timeout(WAIT_S):
            return await reader.readuntil(b"\r")
    except asyncio.IncompleteReadError as exc:
        assert exc.partial == b"", exc.partial  # closed, and nothing half-said before
        return None


@dataclass
class Station:
    db: Database
    book: HookedBook
    intake: AlarmIntake
    receiver: Dc09Receiver

    def panel(self, account: str, key: str | None = None, **kw: Any) -> Panel:
        return Panel(self.receiver.port, account, key, **kw)

    async def count(self, table: str, where: str = "1 = 1") -> int:
        row = await self.db.fetchone(f"SELECT count(*) AS n FROM {table} WHERE {where}")
        assert row is not None
        return int(row["n"])

    async def codes(self) -> list[str]:
        rows = await self.db.fetchall("SELECT code FROM alarm_signals ORDER BY id")
        return [r["code"] for r in rows]


async def add_devices(db: Database) -> None:
    admin = AlarmAdmin(db)
    now = utc_now()
    site = await admin.add_site(1, "Joyeria Larco", address="Av. Larco 345", zone="3",
                                actor="user:root", now=now)
    await admin.add_device(1, site, "dc09", PLAIN, poll_s=90, actor="user:root", now=now)
    await admin.add_device(1, site, "dc09", CIPHER, keys=[KEY], poll_s=90,
                           actor="user:root", now=now)


@pytest.fixture
async def station(database: Any) -> AsyncIterator[Station]:
    db = await store_engine.database(database).open()
    await add_devices(db)
    book = HookedBook(AlarmStore(db))
    intake = AlarmIntake(book, utc_now)
    receiver = await start_dc09(intake, "127.0.0.1", 0)
    try:
        yield Station(db, book, intake, receiver)
    finally:
        await receiver.stop()
        await db.close()


@pytest.mark.parametrize("key", [None, KEY], ids=["in-clear", "encrypted"])
async def test_panic_holdup_test_and_poll_are_each_stored_once_and_acked_after(
        station: Station, key: str | None) -> None:
    panel = station.panel(CIPHER if key else PLAIN, key)
    events = [(PANIC, "PA"), (("SIA-DCS", {"code": "HA", "zone": 2}), "HA"),
              (("ADM-CID", {"code": "120", "zone": 3}), "E120"),
              (("SIA-DCS", {"code": "RP", "zone": 0}), "RP")]
    for number, ((kind, params), code) in enumerate(events, 1):
        assert await panel.event(kind, params) == "ACK"
        assert await station.codes() == [code for _, code in events[:number]]  # already in
    assert await panel.event() == "ACK"  # the poll: the device heard, nothing kept
    assert await station.count("alarm_signals") == 4
    assert await station.count("reports", "channel = 'pos' AND emergency = 1") == 3
    seen = await station.db.fetchone(
        "SELECT link, last_seen_at FROM alarm_devices WHERE account = ?", (panel.account,))
    assert seen is not None and seen["link"] == "ok" and seen["last_seen_at"]


async def test_the_ack_waits_for_the_commit(station: Station) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        entered.set()
        await release.wait()

    station.book.before_record = held
    answer = asyncio.create_task(station.panel(CIPHER, KEY).event(*PANIC))
    await entered.wait()
    done, _ = await asyncio.wait({answer}, timeout=0.3)
    assert not done  # the store has not taken it: the panel hears nothing yet
    release.set()
    assert await answer == "ACK"
    assert await station.codes() == ["PA"]


async def test_a_store_that_cannot_take_it_gets_no_answer_and_the_resend_is_stored_once(
        station: Station) -> None:
    async def away() -> None:
        raise StoreError("the database is away")

    station.book.before_record = away
    panel = station.panel(CIPHER, KEY)
    seq, raw = panel.line(*PANIC)
    assert await panel.send(raw, seq) is None  # no answer: closed
    assert await station.count("alarm_signals") == 0
    station.book.before_record = None
    assert await panel.send(raw, seq) == "ACK"  # the panel sends the same line again
    assert await panel.send(raw, seq) == "ACK"  # and once more: it lost that ACK
    assert await station.count("alarm_signals") == 1
    assert await station.count("reports") == 1
    assert station.receiver.counts["unanswered"] == 1


async def test_an_old_line_replayed_gets_a_nak_with_our_time_and_nothing_is_stored(
        station: Station) -> None:
    panel = station.panel(CIPHER, KEY, offset_s=-3600)  # a line an hour old
    seq, raw = panel.line(*PANIC)
    assert await panel.send(raw, seq) == "NAK"
    assert await panel.send(raw, seq) == "NAK"  # replayed again: still stale
    assert abs(panel.offset) < 30  # the NAK carried our time: the panel's clock is right
    plain = station.panel(PLAIN)
    span = '"SIA-DCS"0007L0#1234[#1234|Nri1/PA001]_08:00:00,01-01-2024'
    stale = b"\n%04X%04X%s\r" % (dc09_msg.dc09crc(span), len(span), span.encode())
    assert await plain.send(stale, 7) == "NAK"
    assert await station.count("alarm_signals") == 0
    panel.dc09.set_offset(int(panel.offset))  # the panel sets its clock by our NAK
    seq, raw = panel.line(*PANIC, seq=seq)
    assert await panel.send(raw, seq) == "ACK"
    assert await station.count("alarm_signals") == 1


async def test_a_wrong_crc_an_unknown_account_and_garbage_get_duh(station: Station) -> None:
    panel = station.panel(PLAIN)
    seq, raw = panel.line(*PANIC)
    wrong_crc = raw[:1] + (b"0000" if raw[1:5] != b"0000" else b"FFFF") + raw[5:]
    assert await panel.send(wrong_crc, seq) == "DUH"
    stranger = station.panel("ABCDEF")
    assert await stranger.event(*PANIC) == "DUH"
    assert await panel.send(b"\nHELLO?\r", 0) is not None
    assert await station.count("alarm_signals") == 0
    assert station.receiver.counts["duh"] == 3


async def test_a_wrong_key_or_clear_text_for_a_keyed_device_is_refused(station: Station
                                                                       ) -> None:
    assert await station.panel(CIPHER, "Otra-clave-16-ch").event(*PANIC) == "DUH"
    assert await station.panel(CIPHER).event(*PANIC) == "DUH"  # in clear: anyone could
    assert await station.panel(PLAIN, KEY).event(*PANIC) == "DUH"  # no key to read it
    assert await station.count("alarm_signals") == 0
    assert await station.count("reports") == 0


async def test_a_flood_of_garbage_is_cut_off_while_a_panel_is_served(station: Station
                                                                     ) -> None:
    noise = random.Random(14)

    async def flood() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", station.receiver.port)
        heard = b""
        try:
            for _ in range(200):
                writer.write(noise.randbytes(2000) + b"\n" + noise.randbytes(30) + b"\r")
                await writer.drain()
                await asyncio.sleep(0)
            async with asyncio.timeout(WAIT_S):
                while chunk := await reader.read(65536):
                    heard += chunk
        except ConnectionError:
            pass  # cut off while still writing
        finally:
            writer.close()
        return heard

    flooding = asyncio.create_task(flood())
    assert await station.panel(CIPHER, KEY).event(*PANIC) == "ACK"
    heard = await flooding
    answers = [a for a in heard.split(b"\r") if a]
    assert all(b'"DUH"' in a for a in answers) and len(answers) < 200
    assert await station.codes() == ["PA"]


async def test_a_retransmission_is_acked_each_time_and_stored_once(station: Station
                                                                   ) -> None:
    panel = station.panel(CIPHER, KEY)
    seq, raw = panel.line(*PANIC)
    assert await panel.send(raw, seq) == "ACK"
    assert await panel.send(raw, seq) == "ACK"
    seq_test, test = panel.line("SIA-DCS", {"code": "RP"})
    # one connection: a line twice in one write, then one split over two writes
    reader, writer = await asyncio.open_connection("127.0.0.1", station.receiver.port)
    writer.write(raw + raw + test[:20])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(test[20:])
    answers = [await next_answer(reader) for _ in range(3)]
    writer.close()
    assert [panel.read(s, a or b"") for s, a in zip((seq, seq, seq_test), answers, strict=True)
            ] == ["ACK", "ACK", "ACK"]
    assert await station.codes() == ["PA", "RP"]
    assert await station.count("reports") == 1


async def test_idle_unfinished_and_one_too_many_connections_are_closed(station: Station
                                                                       ) -> None:
    impatient = await start_dc09(station.intake, "127.0.0.1", 0, udp=False,
                                 limits=Limits(idle_s=0.2, line_s=0.2))
    capped = await start_dc09(station.intake, "127.0.0.1", 0, udp=False,
                              limits=Limits(max_connections=2))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", impatient.port)
        assert await next_answer(reader) is None  # said nothing: closed
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", impatient.port)
        writer.write(b'junk\n480B0039"SIA-DCS"00')  # and never the rest
        assert await next_answer(reader) is None
        writer.close()
        panel = Panel(capped.port, PLAIN)
        held = [await asyncio.open_connection("127.0.0.1", capped.port) for _ in range(2)]
        for reader, writer in held:  # each is being served: both answered
            seq, raw = panel.line()
            writer.write(raw)
            assert panel.read(seq, await next_answer(reader) or b"") == "ACK"
        extra = await asyncio.open_connection("127.0.0.1", capped.port)
        assert await next_answer(extra[0]) is None  # one too many: closed at once
        for _, writer in [*held, extra]:
            writer.close()
        assert capped.counts["connections_refused"] == 1
    finally:
        await impatient.stop()
        await capped.stop()


async def test_a_panel_over_udp_is_answered_where_it_sent_from(station: Station) -> None:
    panel = station.panel(CIPHER, KEY)
    seq, raw = panel.line(*PANIC)

    def exchange() -> bytes | None:
        path = TransPathUDP("127.0.0.1", station.receiver.port, timeout=WAIT_S)
        path.connect()
        try:
            answer: bytes | None = path.sendAndReceive(raw)
            return answer
        finally:
            path.disconnect()

    answer = await asyncio.to_thread(exchange)
    assert answer is not None and panel.read(seq, answer) == "ACK"
    assert await station.codes() == ["PA"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def alerta_serve(config: Path, *, die_before_ack: bool
                       ) -> AsyncIterator[asyncio.subprocess.Process]:
    """``alerta serve`` as its own process, once its DC-09 receiver listens."""
    env = {k: v for k, v in os.environ.items() if k != DIE_BEFORE_ACK}
    if die_before_ack:
        env[DIE_BEFORE_ACK] = "1"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "--config", str(config), "serve", env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stderr is not None
    log: list[str] = []
    drain: asyncio.Task[bytes] | None = None
    try:
        async with asyncio.timeout(WAIT_S):
            while not any("DC-09 receiver listening" in line for line in log):
                line = await proc.stderr.readline()
                assert line, "alerta serve exited at start-up:\n" + "".join(log)
                log.append(line.decode())
        drain = asyncio.create_task(proc.stderr.read())
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        if drain is not None:
            await drain


async def test_a_receiver_killed_between_commit_and_ack_is_sent_the_line_again_and_keeps_it_once(
        database: Any, tmp_path: Path) -> None:
    async with store_engine.database(database) as db:
        await add_devices(db)
    port = free_port()
    config = tmp_path / "alerta.toml"
    config.write_text(
        f'database = "{database}"\nvoiceclips = "{tmp_path / "voiceclips"}"\n'
        f'prompts = "{ROOT / "prompts"}"\nagi_port = {free_port()}\n'
        f"console_port = {free_port()}\nmetrics_port = 0\nalarm_dc09_port = {port}\n"
        "min_free_mb = 0\n")
    panel = Panel(port, CIPHER, KEY)
    seq, raw = panel.line(*PANIC)
    async with alerta_serve(config, die_before_ack=True) as dying:
        assert await panel.send(raw, seq) is None  # committed, then killed: no ACK
        assert await dying.wait() == -signal.SIGKILL
    async with store_engine.database(database) as db:
        stored = await db.fetchone("SELECT count(*) AS n FROM alarm_signals")
        assert stored is not None and stored["n"] == 1  # it was committed before the kill
    async with alerta_serve(config, die_before_ack=False):
        assert await panel.send(raw, seq) == "ACK"  # the panel's resend, to the new process
    async with store_engine.database(database) as db:
        row = await db.fetchone("SELECT count(*) AS n, min(code) AS code FROM alarm_signals")
        assert row is not None and (row["n"], row["code"]) == (1, "PA")
        reports = await db.fetchone("SELECT count(*) AS n FROM reports")
        assert reports is not None and reports["n"] == 1
