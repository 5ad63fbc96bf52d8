"""The DC-09 receiver: alarm panels and communicators over TCP and UDP on
``alarm_host:alarm_dc09_port`` (``ivr.alarms.dc09`` reads and answers the lines).

Each line is answered only once its fate is sealed:

- not a DC-09 line (CRC, length, form), an account we do not have, a wrong key, a device
  with a key speaking in clear: ``DUH``. An unknown account gets DUH, not the NAK
  pysiaalarm sends: a NAK is the timestamp's answer, which makes the panel set its clock
  and repeat the line every few seconds, and the same DUH for an unknown account and a
  wrong key tells a prober nothing about which accounts exist;
- a timestamp outside the device's window (a replay, or a clock adrift): ``NAK`` with ours;
- otherwise the signal goes to ``AlarmIntake.receive`` and the ``ACK`` is sent only once
  that returned, i.e. once the signal and its report are committed. A store that cannot
  take it: no answer and the connection closed, so the panel sends the line again.

A TCP connection may carry many lines (several in one read, one split over reads);
bytes outside LF ... CR are skipped. A connection is closed when it idles, leaves a line
unfinished too long, sends too much that is not a line or too many refused lines in a
row, or would be one too many. Each refusal is logged on one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal as signals
from collections import Counter
from dataclasses import dataclass
from typing import cast

from ivr.alarms import dc09
from ivr.core.alarms import AlarmIntake
from ivr.core.records import StoreError
from ivr.domain.alarms import in_window

logger = logging.getLogger(__name__)

# Test hook, off unless set to "1" when the receiver starts: the process kills itself
# (SIGKILL) after a signal is committed and before its ACK goes, so that a test can show
# the resent line is stored once and acknowledged. Never set it in production.
DIE_BEFORE_ACK = "ALERTA_TEST_DIE_BEFORE_ACK"
READ_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int = 512
    idle_s: float = 120.0  # longer than the 85-90 s polls of a panel that keeps its link
    line_s: float = 10.0  # a line begun must end within this
    max_refused: int = 8  # lines refused in a row before the connection is closed
    max_skipped: int = 16384  # bytes outside any line before the connection is closed
    max_datagrams: int = 256  # UDP lines being handled at once; more are dropped
    backlog: int = 1024  # connections waiting to be accepted: panels all back after an outage


@dataclass(frozen=True, slots=True)
class Outcome:
    answer: bytes | None  # None: the store could not take it; the panel must send again
    verdict: str  # ack | nak | duh | unanswered


class Dc09Receiver:
    def __init__(self, intake: AlarmIntake, limits: Limits | None = None) -> None:
        self.intake = intake
        self.limits = limits or Limits()
        self.counts: Counter[str] = Counter()  # verdicts and refused connections
        self._die_before_ack = os.environ.get(DIE_BEFORE_ACK) == "1"
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._datagrams: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int, *, udp: bool = True) -> Dc09Receiver:
        self._server = await asyncio.start_server(self._connection, host, port,
                                                  backlog=self.limits.backlog)
        if udp:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, self.port))
            self._udp = transport  # uvloop's is no subclass of asyncio's: not checked
        if self._die_before_ack:
            logger.warning("dc09: %s is set: this receiver dies before each ACK (a test)",
                           DIE_BEFORE_ACK)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._udp is not None:
            self._udp.close()
        pending = [*self._connections, *self._datagrams]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def answer(self, line: bytes, peer: str = "-") -> Outcome:
        """What the panel gets for one line (its bytes between LF and CR)."""
        now = self.intake.clock()
        try:
            frame = dc09.parse_line(line)
        except dc09.Refused as exc:
            return self._refused("duh", dc09.duh(exc.header), peer, exc.header,
                                 f"{exc} ({line[:40]!r})")
        header = frame.header
        try:
            device = await self.intake.device(dc09.KIND, header.account)
        except StoreError as exc:
            return self._unanswered(peer, header, exc)
        if device is None:
            return self._refused("duh", dc09.duh(header), peer, header, "no such account")
        key = device.keys[0] if device.keys else None
        try:
            content = dc09.open_frame(frame, key)
            signal = dc09.to_signal(frame, content, time_zone=device.time_zone,
                                    received_at=now)
        except dc09.Refused as exc:
            return self._refused("duh", dc09.duh(header), peer, header, str(exc))
        if signal.sent_at is not None and not in_window(signal.sent_at, now,
                                                        device.tolerance_s):
            late = (now - signal.sent_at).total_seconds()
            return self._refused(
                "nak", dc09.nak(now, device.time_zone, key if header.encrypted else None),
                peer, header, f"its timestamp is {abs(late):.0f} s "
                              f"{'behind' if late > 0 else 'ahead of'} ours (tolerance "
                              f"{device.tolerance_s} s): a replay, or its clock adrift")
        try:
            await self.intake.receive(device, signal)
        except StoreError as exc:
            return self._unanswered(peer, header, exc)
        if self._die_before_ack and signal.code != "NULL":
            os.kill(os.getpid(), signals.SIGKILL)
        self.counts["ack"] += 1
        return Outcome(dc09.ack(header, key, self.intake.clock(), device.time_zone), "ack")

    def _refused(self, verdict: str, answer: bytes, peer: str, header: dc09.Header | None,
                 reason: str) -> Outcome:
        self.counts[verdict] += 1
        logger.warning("dc09: %s from %s, account %s seq %s: %s", verdict.upper(), peer,
                       header.account if header else "?", header.seq if header else "?",
                       reason)
        return Outcome(answer, verdict)

    def _unanswered(self, peer: str, header: dc09.Header, exc: Exception) -> Outcome:
        self.counts["unanswered"] += 1
        logger.error("dc09: no answer to %s, account %s seq %s: the store cannot take it "
                     "(%s); the panel will send it again", peer, header.account, header.seq,
                     exc)
        return Outcome(None, "unanswered")

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                          ) -> None:
        peer = _peer(writer.get_extra_info("peername"))
        if len(self._connections) >= self.limits.max_connections:
            self.counts["connections_refused"] += 1
            logger.warning("dc09: connection from %s closed: %d open already", peer,
                           len(self._connections))
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._talk(reader, writer, peer)
        except (ConnectionError, OSError) as exc:
            logger.info("dc09: connection from %s lost: %s", peer, exc)
        except Exception:
            logger.exception("dc09: connection from %s failed; closed unanswered", peer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    peer: str) -> None:
        limits, framer = self.limits, dc09.Framer()
        loop = asyncio.get_running_loop()
        refused, line_due = 0, 0.0
        while True:
            wait = line_due - loop.time() if framer.inside else limits.idle_s
            try:
                async with asyncio.timeout(max(wait, 0.0)):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                why = "a line left unfinished" if framer.inside else "idle"
                logger.info("dc09: connection from %s closed: %s", peer, why)
                return
            if not data:
                return
            begun, dropped = framer.begun, framer.dropped
            for line in framer.feed(data):
                outcome = await self.answer(line, peer)
                if outcome.answer is None:
                    return  # closed unanswered: the panel sends the line again
                writer.write(outcome.answer)
                await writer.drain()
                if outcome.verdict != "duh":
                    refused, framer.skipped = 0, 0
                elif (refused := refused + 1) >= limits.max_refused:
                    break
            if framer.dropped > dropped:
                refused += framer.dropped - dropped
                logger.warning("dc09: %s sent a line over %d bytes: dropped", peer,
                               framer.limit)
            if refused >= limits.max_refused or framer.skipped > limits.max_skipped:
                logger.warning("dc09: connection from %s closed: %d line(s) refused in a "
                               "row, %d byte(s) that were no line", peer, refused,
                               framer.skipped)
                return
            if framer.inside and framer.begun != begun:
                line_due = loop.time() + limits.line_s


class _Datagrams(asyncio.DatagramProtocol):
    """UDP: a datagram carries whole lines; each answer goes back to its sender."""

    def __init__(self, receiver: Dc09Receiver) -> None:
        self.receiver = receiver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's: duck-typed

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        peer = _peer(addr)
        lines = dc09.Framer().feed(data)
        if not lines:
            logger.warning("dc09: UDP from %s: %d byte(s) that were no line", peer, len(data))
        for line in lines:
            if len(self.receiver._datagrams) >= self.receiver.limits.max_datagrams:
                self.receiver.counts["datagrams_dropped"] += 1
                logger.warning("dc09: UDP from %s dropped: %d lines in hand already", peer,
                               len(self.receiver._datagrams))
                return
            task = asyncio.get_running_loop().create_task(self._answer(line, addr, peer))
            self.receiver._datagrams.add(task)
            task.add_done_callback(self.receiver._datagrams.discard)

    async def _answer(self, line: bytes, addr: tuple[str | int, ...], peer: str) -> None:
        try:
            outcome = await self.receiver.answer(line, "udp:" + peer)
        except Exception:
            logger.exception("dc09: UDP line from %s failed; unanswered", peer)
            return
        if outcome.answer is not None and self.transport is not None:
            self.transport.sendto(outcome.answer, addr)


def _peer(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


async def start_dc09(intake: AlarmIntake, host: str, port: int, *, udp: bool = True,
                     limits: Limits | None = None) -> Dc09Receiver:
    """A receiver listening on ``host:port`` (TCP, and UDP on the same port); port 0 picks
    a free one (``.port``). ``.stop()`` closes it."""
    return await Dc09Receiver(intake, limits).start(host, port, udp=udp)
