"""The FastAGI server: accept, read the environment, route to a flow, clean up.

Every connection is its own task. Whatever a peer sends, or fails to send, it
ends in this session alone, and the socket is closed. A connection becomes a
call only once its environment has arrived: until then it is a handshake, with
a budget and a deadline of its own (``ivr.agi.handshakes``), so idle sockets
never take a call's place. A call the flow could not finish goes to the
fallback context, so the caller never hears dead air.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from ivr.agi import protocol
from ivr.agi.call_control import AgiCallControl
from ivr.agi.connection import AgiConnection, ConnectionEnded, LineTooLong
from ivr.agi.handshakes import Drop, DropLog, Handshake, Handshakes
from ivr.core.call_control import CallControl, CallerHungUp
from ivr.metrics import Metrics, process_metrics
from ivr.settings_sections import AgiSection

logger = logging.getLogger(__name__)

Flow = Callable[[CallControl], Awaitable[object]]

# Asterisk opens a burst of connections when many calls arrive at once; a small
# listen backlog would drop them before we ever see them.
MIN_BACKLOG = 128
# How long the last-resort Goto may wait for its reply (never the full command timeout).
FALLBACK_WAIT_S = 5.0
# How long a close may wait for unsent bytes to leave before the socket is aborted.
CLOSE_WAIT_S = 2.0
# The longest a handshake outlives its deadline (the housekeeping period, at most).
HOUSEKEEPING_MAX_S = 1.0
# Asterisk always names the channel and the call. A block without them (a bare
# blank line, junk) is no call: it is dropped, never given a call slot or a Goto.
REQUIRED_ENV = ("channel", "uniqueid")


class _BadEnvironment(Exception):
    """The peer did not send a usable environment block."""


class AgiServer:
    """Serves FastAGI calls: ``agi://host:port/<script>`` runs ``routes[<script>]``.

    Counters: ``calls_total`` connections accepted; ``calls_failed`` calls sent to
    the fallback (flow error, unknown script, too many calls); ``bad_sessions``
    connections dropped for a bad, oversized, late or missing environment, or
    evicted while the handshake budget was full. The same, by outcome and last
    step, go to ``metrics`` (the process's by default).

    ``clock`` (seconds, monotonic; the loop's clock by default) times handshake
    deadlines and the log summaries; ``housekeeping()`` applies them, and runs
    by itself every fraction of a second. A test passes its own clock.
    """

    def __init__(
        self,
        settings: AgiSection,
        routes: Mapping[str, Flow],
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = process_metrics() if metrics is None else metrics
        self._reply_timer = self._metrics.agi_command_seconds.observe
        self._metrics.watch_calls(self)  # calls in flight: counted when scraped
        self._routes = dict(routes)
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._clock = clock
        self._handshakes: Handshakes | None = None
        self._drops: DropLog | None = None
        self._housekeeper: asyncio.Task[None] | None = None
        self._calls = 0
        self.calls_total = 0
        self.calls_failed = 0
        self.bad_sessions = 0

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``agi_port=0``)."""
        if self._port is None:
            raise RuntimeError("AgiServer is not started")
        return self._port

    @property
    def active_calls(self) -> int:
        """Calls in progress: connections whose environment has arrived."""
        return self._calls

    @property
    def open_connections(self) -> int:
        """Every connection not yet closed: calls and handshakes."""
        return len(self._tasks)

    @property
    def handshakes(self) -> Handshakes:
        if self._handshakes is None:
            raise RuntimeError("AgiServer is not started")
        return self._handshakes

    def housekeeping(self) -> None:
        """Close handshakes past their deadline; write the drop summary when it is due."""
        if self._handshakes is not None and self._drops is not None:
            self._handshakes.expire()
            self._drops.flush()

    async def _housekeep(self, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                self.housekeeping()
            except Exception:  # never expected; a dead housekeeper would end all deadlines
                logger.exception("FastAGI housekeeping failed")

    async def start(self) -> None:
        settings = self._settings
        loop = asyncio.get_running_loop()
        clock = self._clock or loop.time
        timeout_s = settings.env_timeout_s
        self._handshakes = Handshakes(settings.max_handshakes, timeout_s, clock)
        self._drops = DropLog(clock)
        line_max = settings.line_max_bytes
        self._server = await loop.create_server(
            lambda: AgiConnection(line_max, self._on_connect, self._reply_timer),
            settings.host,
            settings.port,
            backlog=max(settings.backlog, MIN_BACKLOG),
        )
        period_s = min(HOUSEKEEPING_MAX_S, timeout_s / 4)
        self._housekeeper = loop.create_task(self._housekeep(period_s))
        self._port = self._server.sockets[0].getsockname()[1]
        logger.info("FastAGI listening on %s:%d", settings.host, self._port)

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop accepting; let calls finish for ``grace_s``; then cut the rest short."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        grace = self._settings.shutdown_grace_s if grace_s is None else grace_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        # A connection accepted just before close() may register a moment later: loop.
        while self._tasks and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=remaining)
        if self._tasks:
            logger.warning("shutdown: cutting %d call(s) short", len(self._tasks))
        while self._tasks:
            for task in self._tasks:
                task.cancel()
            await asyncio.wait(set(self._tasks))
        await server.wait_closed()
        housekeeper, self._housekeeper = self._housekeeper, None
        if housekeeper is not None:
            housekeeper.cancel()
            await asyncio.wait([housekeeper])
        if self._drops is not None:
            self._drops.flush(force=True)
        logger.info("FastAGI stopped")

    def _on_connect(self, conn: AgiConnection) -> None:
        # A plain callback, so the task and the handshake are registered before
        # anything can run.
        self.calls_total += 1
        handshake = self.handshakes.open(conn)
        task = asyncio.get_running_loop().create_task(self._session(conn, handshake))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session(self, conn: AgiConnection, handshake: Handshake) -> None:
        try:
            try:
                env = await self._receive_environment(conn, handshake)
            finally:
                self.handshakes.done(handshake)
            if env is None:
                return
            # Only now is it a call, and only calls count against agi_max_calls.
            self._calls += 1
            try:
                await self._converse(conn, env, self._calls > self._settings.max_calls)
            finally:
                self._calls -= 1
        except Exception:
            # Never expected; logged so one broken session cannot go unnoticed.
            logger.exception("AGI session crashed")
        finally:
            await conn.close(CLOSE_WAIT_S)

    async def _converse(self, conn: AgiConnection, env: dict[str, str], overloaded: bool) -> None:
        uniqueid = env.get("uniqueid", "?")
        script = env.get("network_script")
        name, query = protocol.parse_script(script or "")
        args = {**query, **protocol.positional_args(env)}
        channel = AgiCallControl(conn, self._settings, info=env, args=args)
        try:
            flow = self._routes.get(name) if script is not None else None
            if flow is None or overloaded:
                self.calls_failed += 1
                self._metrics.call_ended(name if flow else "unknown",
                                         "overloaded" if overloaded else "no_flow", None)
                reason = "too many calls" if overloaded else f"no flow for script {script!r}"
                logger.error("call %s: %s", uniqueid, reason)
                await self._fallback(channel, uniqueid)
                return
            await self._run_flow(flow, channel, name, uniqueid)
        finally:
            channel.finish()

    async def _run_flow(
        self, flow: Flow, channel: AgiCallControl, name: str, uniqueid: str
    ) -> None:
        outcome: object = "error"
        try:
            outcome = await flow(channel)
        except CallerHungUp:
            outcome = "hung_up"
            logger.info("call %s: caller hung up during %s", uniqueid, name)
        except asyncio.CancelledError:
            outcome = "interrupted"
            logger.warning("call %s: %s cut short by shutdown", uniqueid, name)
            await self._fallback(channel, uniqueid)
            raise
        except Exception:
            self.calls_failed += 1
            logger.exception("call %s: flow %s failed", uniqueid, name)
            await self._fallback(channel, uniqueid)
        finally:
            self._metrics.call_ended(name, outcome, channel.step)

    async def _fallback(self, channel: AgiCallControl, uniqueid: str) -> None:
        context = self._settings.fallback_context
        wait_s = min(self._settings.command_timeout_s, FALLBACK_WAIT_S)
        if await channel.send_to_fallback(context, wait_s):
            logger.info("call %s: sent to %s", uniqueid, context)

    async def _receive_environment(
        self, conn: AgiConnection, handshake: Handshake
    ) -> dict[str, str] | None:
        """The environment as a mapping, or None when the session must be dropped.

        No timer here: the handshake deadline closes the socket (``housekeeping``).
        """
        try:
            lines, undecodable = await self._read_env_lines(conn)
            env = _checked_environment(lines, undecodable)
            if missing := [name for name in REQUIRED_ENV if not env.get(name)]:
                raise _BadEnvironment(f"not an Asterisk environment: no agi_{missing[0]}")
        except _BadEnvironment as exc:
            reason = str(exc)
        else:
            return env
        why = handshake.dropped
        if why is Drop.LATE:
            reason = f"no complete environment within {self._settings.env_timeout_s:g} s"
        elif why is Drop.EVICTED:
            reason = (
                f"evicted: {self._settings.max_handshakes} newer connections"
                " were waiting to send their environment"
            )
        else:
            why = Drop.BAD if reason else Drop.PROBE
        if why is not Drop.PROBE:
            self.bad_sessions += 1
            self._metrics.agi_sessions_dropped.inc()
        assert self._drops is not None
        self._drops.note(why, conn.transport.get_extra_info("peername"), reason)
        return None

    async def _read_env_lines(self, conn: AgiConnection) -> tuple[list[str], bool]:
        """Lines up to the blank one, within the total size cap. Raises _BadEnvironment."""
        cap = self._settings.env_max_bytes
        lines: list[str] = []
        total = 0
        undecodable = False
        while True:
            try:
                raw = await conn.readline()
            except ConnectionEnded as exc:
                if exc.error is not None:
                    raise _BadEnvironment(f"connection error: {exc.error}") from None
                if total == 0 and not exc.partial:
                    raise _BadEnvironment("") from None  # a probe, not a call
                raise _BadEnvironment("closed before the end of the environment") from None
            except LineTooLong:
                raise _BadEnvironment("environment line too long") from None
            total += len(raw) + 1
            if total > cap:
                raise _BadEnvironment(f"environment larger than {cap} bytes")
            text, bad = protocol.decode_line(raw)
            if not text:
                return lines, undecodable
            lines.append(text)
            undecodable = undecodable or bad


def _checked_environment(lines: list[str], undecodable: bool) -> dict[str, str]:
    env = protocol.parse_environment(lines)
    uniqueid = env.values.get("uniqueid", "?")
    if undecodable:
        logger.warning("call %s: environment is not UTF-8; bad bytes replaced", uniqueid)
    if env.malformed:
        logger.warning(
            "call %s: skipped %d malformed environment line(s), first %r",
            uniqueid,
            len(env.malformed),
            protocol.excerpt(env.malformed[0]),
        )
    return env.values
