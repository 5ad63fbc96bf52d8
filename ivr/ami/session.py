"""One AMI connection and login through panoramisk's ``Manager``, never reused after it ends.

What panoramisk 1.4 does on its own, and what this module turns off:

- **It re-sends unanswered actions after a reconnect.** ``AMIProtocol.send``
  keeps every action in ``protocol.responses`` until its response arrives.
  When the connection closes, ``AMIProtocol.close`` moves each one that got no
  response yet (and is not in ``forgetable_actions``, by default only ping and
  login) to ``Manager.awaiting_actions``; ``Manager.connection_lost`` schedules
  a reconnect, and the ``FullyBooted`` event after the next login runs
  ``send_awaiting_actions``, which writes them again with the same ActionID.
  An Originate whose response was lost with the link would ring the operator
  twice. Four guards, any one of which is enough: ``originate`` is in
  ``forgetable_actions``, so ``close`` never queues it; ``connection_lost``
  clears ``awaiting_actions``; the link settles every waiting future (a done
  future is skipped by ``send_awaiting_actions``); and a session is one
  ``Manager`` used for one connection only, so a later connection never sees
  an earlier one's queue.
- **It reconnects by itself** every ``reconnect_timeout`` whole seconds,
  forever, authentication failures included. Here a lost connection only
  resolves ``lost``; ``ivr.ami.link`` decides when to try again (exponential
  backoff, slower after a refused login).
- **It pings without a timeout** and never notices a dead peer. Its pinger is
  cancelled; the link sends Ping itself with a time limit.
- **It writes header values without a CR/LF check** and sorts the headers.
  Every action we send is a ``WireAction`` whose bytes ``encode_action``
  built and checked; the Login's username and secret are checked by the link
  before they reach panoramisk's own Login.
- With ``Async: true`` its Originate future waits for the OriginateResponse
  event. ``WireAction`` completes on the first Response instead, so the
  OriginateResponse is dispatched as an event like the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from panoramisk import Manager, actions

from ivr.ami.outcome import normalize
from ivr.ami.values import encode_action

# Events that can concern a callback (see ivr/ami/outcome.py).
EVENTS = ("OriginateResponse", "DialBegin", "DialEnd", "Hangup", "UserEvent")
FORGETABLE = ("ping", "login", "logoff", "originate")
NEVER_S = 10**9  # for panoramisk's own timers, which this module cancels or never lets run

_session_numbers = itertools.count(1)


class LoginRefused(Exception):
    """Asterisk answered the Login with an error (``Message: Authentication failed``)."""


class LinkLost(Exception):
    """The connection ended; ``str()`` says how."""


class WireAction(actions.Action):  # type: ignore[misc]
    """An action written exactly as ``encode_action`` encoded it, settled by its first Response."""

    def __init__(self, fields: Sequence[tuple[str, str]]) -> None:
        self.wire = encode_action(fields)
        headers = dict(fields)
        super().__init__({"Action": headers["Action"], "ActionID": headers["ActionID"]})

    def __str__(self) -> str:
        return self.wire.decode("utf-8")  # panoramisk encodes it back with utf-8

    @property
    def multi(self) -> bool:
        return False


class GuardedManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager without its reconnect, its pinger, or its re-sending."""

    def __init__(
        self, *, host: str, port: int, username: str, secret: str, on_lost: Callable[[str], None]
    ) -> None:
        super().__init__(
            host=host,
            port=port,
            username=username,
            secret=secret,
            events="on",
            loop=asyncio.get_running_loop(),
            ping_delay=NEVER_S,
            reconnect_timeout=NEVER_S,
            forgetable_actions=FORGETABLE,
        )
        self._on_lost = on_lost

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            return  # the link reports it and chooses when to retry
        super().connection_made(f)  # sends the Login
        self._cancel_pinger()

    def login(self, future: asyncio.Future[Any]) -> bool:
        self.authenticated_future = None
        ok = not future.cancelled() and future.exception() is None and future.result().success
        self.authenticated = bool(ok)
        return self.authenticated

    def ping(self) -> None:
        """The link pings, with a time limit."""

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        self.awaiting_actions.clear()  # nothing from a dead link is ever sent again
        self._cancel_pinger()
        if isinstance(exc, Mapping):  # panoramisk passes the Shutdown event itself
            self._on_lost("Asterisk is shutting down")
        else:
            self._on_lost(f"connection lost ({exc})" if exc else "connection closed by Asterisk")

    def _cancel_pinger(self) -> None:
        pinger: asyncio.TimerHandle | None = getattr(self, "pinger", None)
        if pinger is not None:
            pinger.cancel()
            setattr(self, "pinger", None)  # noqa: B010 (panoramisk's attribute, untyped)


class AmiSession:
    """Connect, log in, send actions, receive events; ``lost`` resolves once, with a reason."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_event: Callable[[dict[str, str]], None],
    ) -> None:
        self.number = next(_session_numbers)
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._ids = itertools.count(1)
        self._on_event = on_event
        self.manager = GuardedManager(
            host=host, port=port, username=username, secret=secret, on_lost=self._mark_lost
        )
        for name in EVENTS:
            self.manager.register_event(name, self._dispatch)

    async def open(self) -> None:
        """Connect and log in. Raises OSError, LoginRefused or LinkLost; the caller bounds time."""
        await self.manager.connect()
        login = self.manager.authenticated_future
        if login is None:
            raise LinkLost("panoramisk sent no Login")
        await asyncio.wait({login, self.lost}, return_when=asyncio.FIRST_COMPLETED)
        if login.done() and not login.cancelled() and login.exception() is None:
            response = login.result()
            if not response.success:
                raise LoginRefused(str(response.message or response.response))
            if not self.lost.done():
                return
        raise LinkLost(self.lost.result() if self.lost.done() else "login failed")

    def next_action_id(self, kind: str) -> str:
        return f"alerta-{kind}-{self.number}-{next(self._ids)}"

    def send(self, fields: Sequence[tuple[str, str]]) -> WireAction:
        """Write one action now; its ``future`` gets the first Response."""
        action = WireAction(fields)
        self.manager.send_action(action)
        return action

    async def response(self, action: WireAction, time_limit_s: float) -> dict[str, str]:
        """The action's Response. Raises TimeoutError or LinkLost; then forgets the action."""
        future = cast("asyncio.Future[Any]", action.future)
        try:
            async with asyncio.timeout(time_limit_s):
                await asyncio.wait({future, self.lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.forget(action)
        if future.done() and not future.cancelled():
            return normalize(future.result())
        if self.lost.done():
            raise LinkLost(self.lost.result())
        raise LinkLost("the action was abandoned")

    async def request(
        self, fields: Sequence[tuple[str, str]], time_limit_s: float
    ) -> dict[str, str]:
        return await self.response(self.send(fields), time_limit_s)

    def forget(self, action: WireAction) -> None:
        """Drop an action panoramisk still holds, so nothing can ever answer or re-send it."""
        future = action.future
        if not future.done():
            future.cancel()
        protocol = self.manager.protocol
        if protocol is not None:
            protocol.responses.pop(action.id, None)

    def close(self, reason: str) -> None:
        self._mark_lost(reason)
        with contextlib.suppress(Exception):  # an already-closed transport is fine
            self.manager.close()
        self.manager.awaiting_actions.clear()

    def _mark_lost(self, reason: str) -> None:
        if not self.lost.done():
            self.lost.set_result(reason)

    def _dispatch(self, _manager: object, message: Any) -> None:
        self._on_event(normalize(message))
