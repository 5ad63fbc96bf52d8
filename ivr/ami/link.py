"""The AMI link: one supervised connection to Asterisk, and operator callbacks over it.

State (``state``, ``detail``, ``since``; every change goes to ``on_state``):
DISABLED when no secret is configured (callbacks are off); CONNECTING from
``start()`` until the first login succeeds or fails; UP while logged in; DOWN
otherwise, with the last error and the next try in ``detail``. While DOWN the
link keeps retrying without leaving DOWN, so ``since`` says since when it has
been down. Retries back off exponentially from ``reconnect_min_s`` to
``reconnect_max_s``; a refused login waits ``reconnect_max_s`` at once, since a
wrong secret does not fix itself in half a second. While UP the link sends a
Ping every ``ping_interval_s``; no answer within ``action_timeout_s`` drops
the connection.

A callback (``originate``): the request is checked (``UnsafeValue``) before
anything is written, then written once, then the call waits for Asterisk's
Response for at most ``action_timeout_s``. It returns RINGING (queued),
FAILED (Asterisk refused it; its message is the reason) or UNKNOWN (no
Response in time, or the link dropped first: the call may or may not have been
placed). **It is never sent again**: not by us, and not by panoramisk, whose
re-sending of unanswered actions after a reconnect is switched off in
ivr/ami/session.py. Retrying is the console's decision, as a new request with
a new ``action_id``; an action id is accepted once per link.

After RINGING, the outcome comes from AMI events (ivr/ami/outcome.py) and is
delivered through ``on_update``, in order, one update at a time, never before
``originate()`` has returned. Each action id ends with exactly one final
update: the return value when that is final (FAILED, UNKNOWN), else exactly
one ``on_update`` with ``final=True``. When the link drops, is stopped, or no
outcome arrives in time (``outcome_timeout_s``, by default twice the ring
time plus a margin), open callbacks end as UNKNOWN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from ivr.ami.originate import (
    CallbackResult,
    CallbackUpdate,
    OriginateRequest,
    channel_id,
    originate_fields,
)
from ivr.ami.outcome import CallbackTracker
from ivr.ami.session import AmiSession, LinkLost, LoginRefused, WireAction
from ivr.ami.values import check_bounded_int, check_text
from ivr.core.records import TelephonyUnavailable

__all__ = [
    "AmiError",
    "AmiLink",
    "AmiUnavailable",
    "CallbackResult",
    "CallbackUpdate",
    "DuplicateActionId",
    "LinkState",
    "OriginateRequest",
]

log = logging.getLogger(__name__)

LOST_BEFORE_RESPONSE = "link lost after the call was requested; check before retrying"
LOST_BEFORE_OUTCOME = "link lost before the outcome arrived; the call may go on; check it"
QUEUED = "queued: ringing the operator's phone"
STOPPED = "the AMI link was stopped before the outcome arrived; check the call"
OUTCOME_MARGIN_S = 30.0
REMEMBERED_IDS = 10_000


class LinkState(StrEnum):
    DISABLED = "disabled"
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"


class AmiError(Exception):
    """Base of the link's own errors."""


class AmiUnavailable(AmiError, TelephonyUnavailable):
    """The link is not UP (disabled, connecting or down): nothing was sent."""


class DuplicateActionId(ValueError):
    """This action id was already used on this link: a retry needs a new one."""


def next_delay(delay_s: float, max_s: float) -> float:
    """Exponential backoff: double, capped."""
    return min(delay_s * 2, max_s)


@dataclass
class _Callback:
    tracker: CallbackTracker
    released: bool = False  # originate() has returned RINGING: updates may flow
    held: list[CallbackUpdate] = field(default_factory=list)
    watchdog: asyncio.TimerHandle | None = None


class AmiLink:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        action_timeout_s: float = 10.0,
        reconnect_max_s: float = 30.0,
        on_state: Callable[[LinkState, str], None] | None = None,
        on_update: Callable[[CallbackUpdate], Awaitable[None]] | None = None,
        reconnect_min_s: float = 0.5,
        ping_interval_s: float = 20.0,
        outcome_timeout_s: float | None = None,
    ) -> None:
        # Checked here because panoramisk writes its own Login without any check.
        self._host = check_text("ami_host", host, max_len=255)
        self._port = check_bounded_int("ami_port", port, 1, 65535)
        self._username = check_text("ami_username", username, max_len=80)
        self._secret = check_text("ami_secret", secret, max_len=256) if secret else ""
        times = (action_timeout_s, reconnect_min_s, reconnect_max_s, ping_interval_s)
        if min(times) <= 0 or reconnect_min_s > reconnect_max_s:
            raise ValueError("AMI timeouts must be positive and reconnect_min_s <= reconnect_max_s")
        self._action_timeout_s = action_timeout_s
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self._ping_interval_s = ping_interval_s
        self._outcome_timeout_s = outcome_timeout_s
        self._on_state = on_state
        self._on_update = on_update
        self.state = LinkState.DISABLED if not secret else LinkState.DOWN
        self.detail = "no AMI secret configured: callbacks are off" if not secret else "not started"
        self.since = time.time()
        self._session: AmiSession | None = None
        self._callbacks: dict[str, _Callback] = {}
        self._used_ids: set[str] = set()
        self._used_order: deque[str] = deque()
        self._updates: asyncio.Queue[CallbackUpdate | None] = asyncio.Queue()
        self._supervisor: asyncio.Task[None] | None = None
        self._deliverer: asyncio.Task[None] | None = None
        self._stopping = False

    # -- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Connect in the background and return at once; DISABLED without a secret."""
        if not self._secret:
            self._set_state(LinkState.DISABLED, self.detail, always=True)
            return
        if self._supervisor is not None:
            return
        self._stopping = False
        self._set_state(LinkState.CONNECTING, self._connecting_detail())
        self._deliverer = asyncio.create_task(self._deliver_updates(), name="ami-updates")
        self._supervisor = asyncio.create_task(self._supervise(), name="ami-link")

    async def stop(self) -> None:
        """Log off, close, end open callbacks as UNKNOWN, deliver the last updates."""
        self._stopping = True
        session = self._session
        if session is not None:
            with contextlib.suppress(TimeoutError, LinkLost):
                logoff = [("Action", "Logoff"), ("ActionID", session.next_action_id("logoff"))]
                await session.request(logoff, min(self._action_timeout_s, 1.0))
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        self._give_up_all(STOPPED)
        if self._deliverer is not None:
            self._updates.put_nowait(None)
            await self._deliverer
            self._deliverer = None
        if self.state is not LinkState.DISABLED:
            self._set_state(LinkState.DOWN, "stopped")

    # -- callbacks ------------------------------------------------------------------

    async def originate(self, request: OriginateRequest) -> CallbackUpdate:
        """Place one callback; see the module docstring for what the result means."""
        fields = originate_fields(request)  # UnsafeValue before anything else happens
        session = self._session
        if self.state is not LinkState.UP or session is None or session.lost.done():
            raise AmiUnavailable(f"the AMI link is {self.state.value}: {self.detail}")
        action_id = request.action_id
        if action_id in self._used_ids:
            raise DuplicateActionId(f"action id {action_id!r} was used already; use a new one")
        self._remember(action_id)
        callback = _Callback(CallbackTracker(action_id, channel_id(action_id)))
        self._callbacks[action_id] = callback
        action: WireAction = session.send(fields)
        try:
            response = await session.response(action, self._action_timeout_s)
        except TimeoutError:
            return self._settle(
                action_id,
                f"no response to the Originate within {self._action_timeout_s:g} s; "
                "the call may have been placed; check before retrying",
            )
        except LinkLost:
            return self._settle(action_id, LOST_BEFORE_RESPONSE)
        except asyncio.CancelledError:
            # Nobody will read a return value: the final update goes through on_update.
            self._release(callback, request)
            gave_up = callback.tracker.give_up("cancelled before Asterisk answered; check the call")
            self._emit(callback, gave_up)
            raise
        if response.get("response") != "Success":
            message = response.get("message") or response.get("response") or "no message"
            return self._settle(action_id, f"Asterisk refused the call: {message}", failed=True)
        self._release(callback, request)
        return CallbackUpdate(action_id, CallbackResult.RINGING, False, QUEUED)

    async def send_action(self, fields: list[tuple[str, str]]) -> dict[str, str]:
        """Send one checked action (an Originate that is not a callback, say) and return
        Asterisk's Response; its outcome is followed elsewhere, not by this link."""
        session = self._session
        if self.state is not LinkState.UP or session is None or session.lost.done():
            raise AmiUnavailable(f"the AMI link is {self.state.value}: {self.detail}")
        action_id = dict(fields).get("ActionID", "")
        if action_id in self._used_ids:
            raise DuplicateActionId(f"action id {action_id!r} was used already; use a new one")
        self._remember(action_id)
        try:
            return await session.response(session.send(fields), self._action_timeout_s)
        except TimeoutError:
            raise AmiError(f"no response within {self._action_timeout_s:g} s") from None
        except LinkLost:
            raise AmiUnavailable(LOST_BEFORE_RESPONSE) from None

    def _settle(self, action_id: str, reason: str, *, failed: bool = False) -> CallbackUpdate:
        """The Response settled it: the return value is the one final update."""
        self._callbacks.pop(action_id, None)
        result = CallbackResult.FAILED if failed else CallbackResult.UNKNOWN
        return CallbackUpdate(action_id, result, True, reason)

    def _release(self, callback: _Callback, request: OriginateRequest) -> None:
        callback.released = True
        held, callback.held = callback.held, []
        self._emit(callback, held)
        if callback.tracker.final is None:
            limit = self._outcome_timeout_s or 2 * request.ring_timeout_s + OUTCOME_MARGIN_S
            callback.watchdog = asyncio.get_running_loop().call_later(
                limit, self._expire, callback, limit
            )

    def _expire(self, callback: _Callback, limit_s: float) -> None:
        reason = f"no outcome from Asterisk within {limit_s:g} s; check before retrying"
        self._emit(callback, callback.tracker.give_up(reason))

    def _emit(self, callback: _Callback, updates: list[CallbackUpdate]) -> None:
        if not callback.released:
            callback.held.extend(updates)
            return
        for update in updates:
            self._updates.put_nowait(update)
        if callback.tracker.final is not None:
            self._callbacks.pop(callback.tracker.action_id, None)
            if callback.watchdog is not None:
                callback.watchdog.cancel()

    def _give_up_all(self, reason: str) -> None:
        for callback in list(self._callbacks.values()):
            self._emit(callback, callback.tracker.give_up(reason))

    def _on_event(self, event: dict[str, str]) -> None:
        for callback in list(self._callbacks.values()):
            updates = callback.tracker.feed(event)
            if updates:
                self._emit(callback, updates)

    async def _deliver_updates(self) -> None:
        while (update := await self._updates.get()) is not None:
            log.info("callback %s: %s (%s)", update.action_id, update.result, update.reason)
            if self._on_update is None:
                continue
            try:
                await self._on_update(update)
            except Exception:  # the console's problem must not stop later updates
                log.exception("on_update failed for %s", update.action_id)

    def _remember(self, action_id: str) -> None:
        self._used_ids.add(action_id)
        self._used_order.append(action_id)
        if len(self._used_order) > REMEMBERED_IDS:
            self._used_ids.discard(self._used_order.popleft())

    # -- the connection ----------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self._reconnect_min_s
        tries = 0  # since the link was last UP
        while not self._stopping:
            session = AmiSession(
                host=self._host,
                port=self._port,
                username=self._username,
                secret=self._secret,
                on_event=self._on_event,
            )
            try:
                why, delay, was_up = await self._run_session(session, delay)
            finally:
                self._session = None
                session.close("stopped" if self._stopping else "closed")
                self._give_up_all(STOPPED if self._stopping else LOST_BEFORE_OUTCOME)
            if self._stopping:
                return
            tries = 1 if was_up else tries + 1
            self._set_state(LinkState.DOWN, f"{why}; next try in {delay:g} s (#{tries})")
            await asyncio.sleep(delay)
            delay = next_delay(delay, self._reconnect_max_s)

    async def _run_session(
        self, session: AmiSession, delay: float
    ) -> tuple[str, float, bool]:
        """Connect, log in, stay up; say why it ended, the next delay, and if it was UP."""
        where = f"{self._host}:{self._port}"
        try:
            async with asyncio.timeout(self._action_timeout_s):
                await session.open()
        except LoginRefused as exc:
            why = f"authentication failed for user {self._username!r} ({exc})"
            log.error("AMI %s: %s", where, why)
            return why, self._reconnect_max_s, False
        except TimeoutError:
            why = f"no login answer from {where} within {self._action_timeout_s:g} s"
            return why, delay, False
        except (OSError, LinkLost) as exc:
            return f"cannot connect to {where}: {exc}", delay, False
        self._session = session
        self._set_state(LinkState.UP, f"logged in to {where} as {self._username}")
        why = await self._keep_alive(session)
        log.warning("AMI %s: %s", where, why)
        return why, self._reconnect_min_s, True

    async def _keep_alive(self, session: AmiSession) -> str:
        while True:
            done, _ = await asyncio.wait({session.lost}, timeout=self._ping_interval_s)
            if done:
                return session.lost.result()
            ping = [("Action", "Ping"), ("ActionID", session.next_action_id("ping"))]
            try:
                await session.request(ping, self._action_timeout_s)
            except TimeoutError:
                return f"no answer to Ping within {self._action_timeout_s:g} s"
            except LinkLost as exc:
                return str(exc)

    def _connecting_detail(self) -> str:
        return f"connecting to {self._host}:{self._port}"

    def _set_state(self, state: LinkState, detail: str, *, always: bool = False) -> None:
        if (state, detail) == (self.state, self.detail) and not always:
            return
        if state is not self.state:
            self.since = time.time()
        self.state, self.detail = state, detail
        if self._on_state is not None:
            try:
                self._on_state(state, detail)
            except Exception:  # a broken display must not stop the link
                log.exception("on_state failed")
