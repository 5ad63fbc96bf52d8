"""The byte side of one FastAGI connection: an asyncio protocol that frames lines.

A FastAGI conversation is one short line each way per command, thousands of
times a second on a busy controller. ``asyncio.StreamReader`` spends several
calls, a buffer copy and a search per line; this protocol splits what arrives
into lines once, as it arrives, and wakes the one coroutine waiting for them.
It knows nothing of AGI: the server reads the environment through it and the
channel its replies.

It is a ``BufferedProtocol``: asyncio's plain protocols read with
``recv(256 KiB)``, and glibc serves an allocation that large with ``mmap``, so
every short reply cost mmap, mremap and munmap system calls and a page fault.
Here the socket is read into one buffer per thread, reused by every connection:
the selector event loop (and uvloop) hands it out and takes it back within one
callback. (Windows' proactor loop does not, and is not supported.)
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from time import perf_counter
from typing import cast

READ_CHUNK = 1 << 16
_per_thread = threading.local()


def read_buffer() -> memoryview:
    """This thread's receive buffer: filled by one read and emptied before the next."""
    view: memoryview | None = getattr(_per_thread, "view", None)
    if view is None:
        view = _per_thread.view = memoryview(bytearray(READ_CHUNK))
    return view


def _untimed(seconds: float) -> None:
    pass


class LineTooLong(Exception):
    """A line ran past the limit: whatever follows it cannot be framed."""


class ConnectionEnded(Exception):
    """The peer closed (or reset) the connection before the line wanted arrived."""

    def __init__(self, partial: bytes, error: Exception | None) -> None:
        super().__init__(str(error) if error else "end of stream")
        self.partial = partial  # the start of a line that never got its end
        self.error = error  # the reset, when it was not a clean close


class AgiConnection(asyncio.BufferedProtocol):
    """Lines in (without their ``\\n``), bytes out, one waiting reader at a time."""

    def __init__(
        self,
        line_max: int,
        on_open: Callable[[AgiConnection], None],
        reply_timer: Callable[[float], None] | None = None,
    ) -> None:
        self._line_max = line_max
        # Told the seconds from each write to the next line read: a command's round trip.
        self._timed = reply_timer is not None
        self._reply_timer: Callable[[float], None] = reply_timer or _untimed
        self._sent_at = 0.0  # set by write() only when timed
        # Complete lines nobody has read yet; past this much, stop reading the socket.
        self._high_water = max(4 * line_max, 1 << 16)
        self._on_open = on_open
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = read_buffer()
        self._lines: deque[bytes] = deque()
        self._held = 0  # bytes in self._lines
        self._partial = b""
        self.bytes_received = 0  # lets the server tell a silent connection from a slow one
        self._overrun = False
        self._ended = False  # EOF or connection lost: no more lines will come
        self._error: Exception | None = None
        self._lost: asyncio.Future[None] | None = None
        self._read_paused = False
        self._write_paused = False
        self._waiter: asyncio.Future[None] | None = None

    # --- asyncio.BufferedProtocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._loop = asyncio.get_running_loop()
        self._lost = self._loop.create_future()
        self._on_open(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        if self._overrun:
            return  # nothing after an unframed line can be trusted
        if self._partial:
            data = self._partial + data
        line_max = self._line_max
        start = 0
        end = data.find(b"\n")
        while end >= 0:
            if end - start > line_max:
                self._overflow()
                break
            self._lines.append(data[start:end])
            self._held += end - start + 1
            start = end + 1
            end = data.find(b"\n", start)
        else:
            self._partial = data[start:] if start else data
            if len(self._partial) > line_max:
                self._overflow()
        if self._held > self._high_water and not self._read_paused:
            self._pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._ended = True
        self._wake()
        return True  # keep our side open: a last command may still be written

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        self._error = exc
        self._write_paused = False
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        self._wake()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # --- for the server and the channel ------------------------------------------------

    @property
    def transport(self) -> asyncio.Transport:
        assert self._transport is not None
        return self._transport

    async def readline(self) -> bytes:
        """The next line without its ``\\n``; raises LineTooLong or ConnectionEnded."""
        lines = self._lines
        while not lines:
            if self._overrun:
                raise LineTooLong(f"a line longer than {self._line_max} bytes")
            if self._ended:
                raise ConnectionEnded(self._partial, self._error)
            # self._wait(), inlined: this is the path of every reply.
            assert self._loop is not None
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        line = lines.popleft()
        sent_at = self._sent_at
        if sent_at:  # the first line after a command: its reply (or a HANGUP before it)
            self._sent_at = 0.0
            self._reply_timer(perf_counter() - sent_at)
        self._held -= len(line) + 1
        if self._read_paused and self._held <= self._high_water // 2 and not self._overrun:
            self._read_paused = False
            self.transport.resume_reading()
        return line

    def holds_blank_line(self) -> bool:
        """True when an empty line (the end of a FastAGI environment) waits to be read."""
        return any(not line or line == b"\r" for line in self._lines)

    def write(self, data: bytes) -> None:
        if self._timed:
            self._sent_at = perf_counter()
        self.transport.write(data)

    @property
    def must_drain(self) -> bool:
        """True when the socket stopped taking bytes: call ``drain()`` before writing more."""
        return self._write_paused

    async def drain(self) -> None:
        while self._write_paused and not self._ended:
            await self._wait()

    def is_closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def interrupt(self, exc: Exception) -> bool:
        """Make the pending ``readline()`` or ``drain()`` raise ``exc``; False if none waits."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return False
        waiter.set_exception(exc)
        return True

    async def close(self, wait_s: float) -> None:
        """Close the socket; abort it if the peer will not take our last bytes in time."""
        transport = self.transport
        transport.close()
        assert self._lost is not None
        try:
            async with asyncio.timeout(wait_s):
                await asyncio.shield(self._lost)
        except TimeoutError:
            transport.abort()
        except asyncio.CancelledError:
            transport.abort()
            raise

    # --- inside --------------------------------------------------------------------------

    async def _wait(self) -> None:
        assert self._loop is not None
        waiter = self._loop.create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _overflow(self) -> None:
        self._overrun = True
        self._partial = b""
        self._pause_reading()

    def _pause_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._read_paused = True
            self._transport.pause_reading()
