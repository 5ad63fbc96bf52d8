"""AgiConnection, the line framing under the server: bytes in as TCP delivers them."""

from __future__ import annotations

import asyncio

import pytest

from ivr.agi.connection import AgiConnection, ConnectionEnded, LineTooLong, read_buffer


class FakeTransport(asyncio.Transport):
    """Records what the protocol asks of its transport."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.paused = False
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return self.closing


def connected(line_max: int = 64) -> tuple[AgiConnection, FakeTransport]:
    opened: list[AgiConnection] = []
    conn = AgiConnection(line_max, opened.append)
    transport = FakeTransport()
    conn.connection_made(transport)
    assert opened == [conn]
    return conn, transport


def feed(conn: AgiConnection, data: bytes) -> None:
    """Deliver ``data`` the way the event loop does: into the shared buffer, then a count."""
    buffer = conn.get_buffer(-1)
    buffer[: len(data)] = data
    conn.buffer_updated(len(data))


async def test_a_reply_split_across_reads_is_one_line() -> None:
    conn, _ = connected()
    feed(conn, b"200 res")
    feed(conn, b"ult=0 endpos=8000\r")
    feed(conn, b"\nHANGUP\n")
    assert await conn.readline() == b"200 result=0 endpos=8000\r"  # the channel drops the CR
    assert await conn.readline() == b"HANGUP"


async def test_a_reader_waiting_before_the_bytes_arrive_gets_them() -> None:
    conn, _ = connected()
    waiting = asyncio.create_task(conn.readline())
    await asyncio.sleep(0)
    assert not waiting.done()
    feed(conn, b"200 result=1\n")
    assert await waiting == b"200 result=1"


async def test_lines_before_an_overlong_one_are_delivered_then_it_fails() -> None:
    conn, transport = connected(line_max=16)
    feed(conn, b"200 result=0\n" + b"x" * 40)
    assert await conn.readline() == b"200 result=0"
    with pytest.raises(LineTooLong):
        await conn.readline()
    assert transport.paused  # nothing more is read from a peer that cannot be framed
    feed(conn, b"\n200 result=1\n")  # and nothing after it is believed
    with pytest.raises(LineTooLong):
        await conn.readline()


async def test_a_complete_line_over_the_limit_fails_too() -> None:
    conn, _ = connected(line_max=16)
    feed(conn, b"y" * 17 + b"\n")
    with pytest.raises(LineTooLong):
        await conn.readline()


async def test_eof_gives_the_lines_already_in_then_says_what_was_cut_off() -> None:
    conn, _ = connected()
    feed(conn, b"agi_network: yes\nagi_uniq")
    assert conn.eof_received() is True  # our side stays open for a last command
    assert await conn.readline() == b"agi_network: yes"
    with pytest.raises(ConnectionEnded) as ended:
        await conn.readline()
    assert ended.value.partial == b"agi_uniq" and ended.value.error is None


async def test_a_reset_ends_a_waiting_reader_with_its_error() -> None:
    conn, _ = connected()
    waiting = asyncio.create_task(conn.readline())
    await asyncio.sleep(0)
    conn.connection_lost(ConnectionResetError("reset by peer"))
    with pytest.raises(ConnectionEnded) as ended:
        await waiting
    assert isinstance(ended.value.error, ConnectionResetError)


async def test_a_flood_of_lines_nobody_reads_stops_the_socket_until_they_are_read() -> None:
    conn, transport = connected(line_max=16)
    line = b"agi_flood: yyyy\n"
    for _ in range(8192):
        feed(conn, line)
        if transport.paused:
            break
    assert transport.paused
    while transport.paused:
        assert await conn.readline() == line[:-1]
    assert await conn.readline() == line[:-1]  # what was held is still all there


async def test_interrupt_raises_in_the_waiting_reader_only() -> None:
    conn, _ = connected()
    assert conn.interrupt(TimeoutError()) is False  # nobody waits: nothing happens
    waiting = asyncio.create_task(conn.readline())
    await asyncio.sleep(0)
    assert conn.interrupt(TimeoutError()) is True
    with pytest.raises(TimeoutError):
        await waiting
    feed(conn, b"200 result=0\n")
    assert await conn.readline() == b"200 result=0"  # the late reply is still framed


async def test_connections_of_one_thread_share_one_receive_buffer() -> None:
    first, _ = connected()
    second, _ = connected()
    assert first.get_buffer(-1) is second.get_buffer(-1) is read_buffer()
    assert len(read_buffer()) >= 4096


async def test_a_connection_says_whether_it_sent_anything_and_whether_a_blank_line_waits() -> None:
    conn, _ = connected()
    assert conn.bytes_received == 0 and not conn.holds_blank_line()
    feed(conn, b"agi_network: yes\nagi_uniq")
    assert conn.bytes_received == 25 and not conn.holds_blank_line()
    feed(conn, b"ueid: 1.2\r\n\r\n")
    assert conn.holds_blank_line()  # the end of an environment block, CRLF or not
    assert await conn.readline() == b"agi_network: yes"
    assert await conn.readline() == b"agi_uniqueid: 1.2\r"
    assert await conn.readline() == b"\r"
    assert not conn.holds_blank_line()
