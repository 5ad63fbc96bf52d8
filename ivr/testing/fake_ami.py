"""A wire-level fake of Asterisk's manager interface (AMI): a real TCP server for tests.

It speaks AMI as ASTERISK.md describes Asterisk 22: the banner line, Login
answered ``Authentication accepted`` and ``Event: FullyBooted`` (or
``Authentication failed``, after which Asterisk closes the connection),
``Permission denied`` for anything but Login before it, Ping/Pong, Logoff
(``Goodbye``, then close), ``Invalid/unknown command`` for anything else. An
Originate is answered ``Originate successfully queued`` and followed by the
events Asterisk raises for a callback through dialplans/extensions.conf's
``[alerta-callback]`` context (``callback_events``, ivr/testing/ami_events.py).

It parses input the way Asterisk does: a line ends at CRLF *or at a bare LF*.
So a value with an LF in it arrives as two headers; the fake records exactly
what Asterisk would have read (``ReceivedAction.headers``) and every byte
(``raw``).

Scripting, per test: ``script_next_originate`` (the outcome of the next
Originate, ``OUTCOMES`` or a ``CallbackScript``), ``drop_on_next`` (close the
connection right after receiving an action, before any reply),
``drop_connections``, ``stop`` / ``start(port)`` (Asterisk goes away and comes
back), ``answer_pings``.

Where the fake knowingly differs from Asterisk, for the tests' sake:
- A message with a bare LF is recorded, logged and *refused* (``Response:
  Error``) instead of acted upon, so an injection can never make a test pass
  by accident. Asterisk would have acted on the split headers.
- ``Authentication failed`` comes at once; Asterisk waits a second
  (``login_failure_delay_s`` restores that).
- Every Originate is handled as ``Async: true``; the operator's phone is the
  originated channel itself (with a Local channel, the ``;2`` half's events
  are not sent); no Newexten or VarSet events (our AMI user cannot read the
  dialplan class anyway). The answered and congestion sequences are those of
  real Asterisk 22.10.1 (tests/fixtures/captures/), the others follow them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.testing.ami_events import (
    OUTCOMES,
    CallbackScript,
    ChannelNumbers,
    Fields,
    callback_events,
    encode,
)

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LINE_LIMIT = 4096  # a longer line closes the connection (Asterisk would drop the line)
BOOT_TIME = time.time()


@dataclass(frozen=True)
class ReceivedAction:
    """One message as Asterisk would have read it, and the bytes it came in."""

    connection: int
    headers: tuple[tuple[str, str], ...]
    raw: bytes
    bare_lf: bool = False  # a line ended in LF alone: what a header injection looks like

    @property
    def name(self) -> str:
        return self.get("Action") or ""

    def get(self, key: str) -> str | None:
        """The first header of that name, as Asterisk's astman_get_header reads it."""
        values = self.values(key)
        return values[0] if values else None

    def values(self, key: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == key.lower()]


@dataclass
class _Connection:
    number: int
    writer: asyncio.StreamWriter
    logged_in: bool = False
    events: bool = True

    def send(self, fields: Fields) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(fields))


@dataclass
class FakeAmi:
    username: str = "alerta"
    secret: str = "fake-secret"
    write: tuple[str, ...] = ("originate",)  # the user's write classes (manager.conf)
    answer_pings: bool = True
    login_failure_delay_s: float = 0.0
    channelvars: tuple[str, ...] = ("ALERTA_REPORT", "ALERTA_STEP")  # manager.conf channelvars
    host: str = "127.0.0.1"
    port: int = 0
    received: list[ReceivedAction] = field(default_factory=list)
    refused: list[ReceivedAction] = field(default_factory=list)
    logins: int = 0
    failed_logins: int = 0
    connections: int = 0

    def __post_init__(self) -> None:
        self._scripts: deque[CallbackScript] = deque()
        self._drop_on: list[str] = []
        self._open: dict[int, _Connection] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # event sequences being played
        self._handlers: set[asyncio.Task[None]] = set()  # one per open connection
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._numbers = ChannelNumbers()

    # -- control ----------------------------------------------------------------------

    async def start(self, port: int | None = None) -> int:
        """Listen (again) on ``port``, by default the last one, or a free one the first time."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port if port is None else port, limit=LINE_LIMIT,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Asterisk goes away: stop listening and cut every connection."""
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._handlers, *self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeAmi:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def script_next_originate(self, script: CallbackScript | str) -> None:
        """What the next Originate leads to; queued, one per Originate; default "answered"."""
        self._scripts.append(OUTCOMES[script] if isinstance(script, str) else script)

    def drop_on_next(self, action: str) -> None:
        """Close the connection right after receiving the next ``action``, before replying."""
        self._drop_on.append(action.lower())

    def drop_connections(self) -> None:
        for connection in list(self._open.values()):
            connection.writer.transport.abort()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    @property
    def playing(self) -> bool:
        """Some Originate's events are still being sent."""
        return bool(self._tasks)

    def actions(self, name: str) -> list[ReceivedAction]:
        return [a for a in self.received if a.name.lower() == name.lower()]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, checked after everything the fake records."""
        while not condition():
            self._changed.clear()
            await self._changed.wait()

    def _note(self) -> None:
        self._changed.set()

    # -- the wire ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self.connections += 1
        connection = _Connection(self.connections, writer)
        self._open[connection.number] = connection
        self._note()
        try:
            writer.write(BANNER)
            while (message := await _read_message(reader)) is not None:
                raw, lines, bare_lf = message
                action = ReceivedAction(connection.number, _headers(lines), raw, bare_lf)
                self.received.append(action)
                self._note()
                if not await self._handle(connection, action):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass  # a reset, or a line over the limit: the connection ends
        finally:
            del self._open[connection.number]
            writer.close()
            self._handlers.discard(handler)
            self._note()

    async def _handle(self, connection: _Connection, action: ReceivedAction) -> bool:
        """Answer one action; False closes the connection."""
        name = action.name.lower()
        if action.bare_lf:
            log.warning("FakeAmi refused a message with a bare LF: %r", action.raw)
            self.refused.append(action)
            connection.send(_response(action, "Error", "FakeAmi refused a bare LF: Asterisk "
                                      "would have read the rest of that value as a new header"))
            return True
        if name in self._drop_on:
            self._drop_on.remove(name)
            connection.writer.transport.abort()
            return False
        if not name:
            connection.send(_response(action, "Error", "Missing action in request"))
        elif name == "login":
            return await self._login(connection, action)
        elif name == "logoff":
            connection.send(_response(action, "Goodbye", "Thanks for all the fish."))
            return False
        elif not connection.logged_in:
            connection.send(_response(action, "Error", "Permission denied"))
        elif name == "ping":
            if self.answer_pings:
                connection.send([*_response(action, "Success"), ("Ping", "Pong"),
                                 ("Timestamp", f"{time.time():.6f}")])
        elif name == "originate":
            self._originate(connection, action)
        else:
            connection.send(_response(action, "Error", "Invalid/unknown command"))
        return True

    async def _login(self, connection: _Connection, action: ReceivedAction) -> bool:
        if action.get("Username") != self.username or action.get("Secret") != self.secret:
            self.failed_logins += 1
            if self.login_failure_delay_s:
                await asyncio.sleep(self.login_failure_delay_s)
            connection.send(_response(action, "Error", "Authentication failed"))
            await connection.writer.drain()
            return False  # Asterisk ends the session after a failed login
        connection.logged_in = True
        connection.events = (action.get("Events") or "on").lower() != "off"
        self.logins += 1
        connection.send(_response(action, "Success", "Authentication accepted"))
        now = time.time()
        connection.send([
            ("Event", "FullyBooted"), ("Privilege", "system,all"),
            ("Uptime", str(int(now - BOOT_TIME))), ("LastReload", str(int(now - BOOT_TIME))),
            ("Status", "Fully Booted"),
        ])
        return True

    def _originate(self, connection: _Connection, action: ReceivedAction) -> None:
        problem = _originate_problem(action, self.write)
        if problem:
            connection.send(_response(action, "Error", problem))
            return
        script = self._scripts.popleft() if self._scripts else OUTCOMES["answered"]
        if not script.respond:
            return
        if script.error:
            connection.send(_response(action, "Error", script.error))
            return
        connection.send(_response(action, "Success", "Originate successfully queued"))
        if script.events:
            events = callback_events(action.get, action.values("Variable"), script,
                                     self._numbers, self.channelvars)
            task = asyncio.create_task(self._play(events, script.event_delay_s))
            self._tasks.add(task)
            task.add_done_callback(self._played)

    def _played(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._note()

    async def _play(self, events: list[Fields], delay_s: float) -> None:
        for fields in events:
            await asyncio.sleep(delay_s)  # 0: just let the Response go first
            stamped = [*fields[:2], ("Timestamp", f"{time.time():.6f}"), *fields[2:]]
            for connection in list(self._open.values()):
                if connection.logged_in and connection.events:
                    connection.send(stamped)


def _response(action: ReceivedAction, response: str, message: str | None = None) -> Fields:
    fields = [("Response", response)]
    action_id = action.get("ActionID")
    if action_id:
        fields.append(("ActionID", action_id))
    if message is not None:
        fields.append(("Message", message))
    return fields


def _originate_problem(action: ReceivedAction, write: tuple[str, ...]) -> str | None:
    """Asterisk's own refusals, checked in its order (manager.c action_originate)."""
    channel = action.get("Channel") or ""
    priority, timeout = action.get("Priority"), action.get("Timeout")
    if "originate" not in write and "all" not in write:
        return "Permission denied"
    if not channel:
        return "Channel not specified"
    if priority and not priority.lstrip("-").isdigit():
        return "Invalid priority"
    if timeout and not timeout.lstrip("-").isdigit():
        return "Invalid timeout"
    if "/" not in channel:
        return "Invalid channel"
    return None


async def _read_message(reader: asyncio.StreamReader) -> tuple[bytes, list[str], bool] | None:
    """One message up to its empty line, split as Asterisk splits lines (CRLF or bare LF)."""
    raw = bytearray()
    lines: list[str] = []
    bare_lf = False
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None  # the client closed; a half-sent message is dropped, as by Asterisk
        raw += line
        ends_crlf = line.endswith(b"\r\n")
        bare_lf = bare_lf or not ends_crlf
        text = line[: -2 if ends_crlf else -1]
        if text:
            lines.append(text.decode("utf-8", "replace"))
        elif lines:
            return bytes(raw), lines, bare_lf
        else:  # empty lines between messages are skipped
            raw.clear()
            bare_lf = False


def _headers(lines: list[str]) -> tuple[tuple[str, str], ...]:
    """``Key: value`` pairs; like Asterisk, blanks after the colon are skipped."""
    pairs = []
    for line in lines:
        key, colon, value = line.partition(":")
        if colon:
            pairs.append((key.strip(), value.lstrip(" \t")))
    return tuple(pairs)

