"""Connections that have not sent their environment yet: a budget, a deadline, a quiet log.

A FastAGI connection is not a call until its environment block has arrived:
Asterisk writes that block the instant it connects, so a connection that stays
silent is a probe, a broken peer or a flood. Such connections get a budget of
their own (``agi_max_handshakes``), far smaller than the call budget, and a
deadline (``agi_env_timeout_s``), so they can never take a call's place.

When the budget is full the *oldest* silent handshake is evicted, not the new
connection refused: a real Asterisk connection is the youngest one and sends
its environment at once, so refusing newcomers would hand an idle flood every
slot until the deadline, while evicting the oldest costs a real call nothing.
Eviction considers only connections that have had a chance to read what was
already waiting in their socket (a few loop turns), takes one that has sent
nothing before one that has sent part of an environment, and never one whose
environment has arrived whole: a burst of real calls larger than the budget
is let through, over budget for a moment.

Drops are logged quietly: the first of each kind in an interval gets its own
line (peer and reason), the rest one summary line at the end of the interval.
A flood of 10,000 idle sockets is a few lines, not 10,000.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ivr.agi.connection import AgiConnection

logger = logging.getLogger(__name__)

SUMMARY_INTERVAL_S = 10.0
# Loop turns an eviction waits, so a connection accepted in this turn has read
# the bytes already in its socket (accept; register the reader; read).
_TURNS_BEFORE_EVICTION = 3


class Drop(StrEnum):
    """Why a connection ended before it became a call (the summary's words)."""

    EVICTED = "evicted (handshake budget full)"
    LATE = "past the handshake deadline"
    BAD = "bad environment"
    PROBE = "closed without a request"


@dataclass(eq=False, slots=True)
class Handshake:
    """One connection waiting for its environment."""

    conn: AgiConnection
    opened_at: float
    seq: int  # admission order
    dropped: Drop | None = None  # set when the server closed it before the environment


class Handshakes:
    """The connections still in their handshake, oldest first."""

    def __init__(self, budget: int, timeout_s: float, clock: Callable[[], float]) -> None:
        self.budget = budget
        self.timeout_s = timeout_s
        self._clock = clock
        self._waiting: dict[Handshake, None] = {}  # insertion order is age order
        self._admitted = 0
        self._eviction_due = False
        self._evictable_upto = 0  # handshakes admitted up to this seq may be evicted
        self.evicted = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def open(self, conn: AgiConnection) -> Handshake:
        self._admitted += 1
        handshake = Handshake(conn, self._clock(), self._admitted)
        self._waiting[handshake] = None
        self._schedule_eviction()
        return handshake

    def _schedule_eviction(self) -> None:
        if len(self._waiting) > self.budget and not self._eviction_due:
            self._eviction_due = True
            self._evictable_upto = self._admitted
            _after_turns(_TURNS_BEFORE_EVICTION, self._evict)

    def done(self, handshake: Handshake) -> None:
        """The environment arrived, or the session ended: no longer a handshake."""
        self._waiting.pop(handshake, None)

    def expire(self) -> int:
        """Close every handshake past the deadline; returns how many.

        One whose environment is already in, waiting for its session to read it, is spared.
        """
        cutoff = self._clock() - self.timeout_s
        late = []
        for handshake in self._waiting:
            if handshake.opened_at > cutoff:
                break  # the rest are younger
            if not handshake.conn.holds_blank_line():
                late.append(handshake)
        for handshake in late:
            self._drop(handshake, Drop.LATE)
        self.expired += len(late)
        return len(late)

    def _evict(self) -> None:
        self._eviction_due = False
        excess = len(self._waiting) - self.budget
        if excess <= 0:
            return
        settled = [h for h in self._waiting if h.seq <= self._evictable_upto]
        victims = [h for h in settled if h.conn.bytes_received == 0][:excess]
        if len(victims) < excess:  # only then one that has sent part of its environment
            chosen = set(victims)
            partial = [h for h in settled if h not in chosen and not h.conn.holds_blank_line()]
            victims += partial[: excess - len(victims)]
        for handshake in victims:
            self._drop(handshake, Drop.EVICTED)
        self.evicted += len(victims)
        self._schedule_eviction()  # newcomers since, if still over budget

    def _drop(self, handshake: Handshake, why: Drop) -> None:
        handshake.dropped = why
        self._waiting.pop(handshake, None)
        handshake.conn.transport.abort()  # its session sees the end and reports `why`


def _after_turns(turns: int, callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    if turns <= 1:
        loop.call_soon(callback)
    else:
        loop.call_soon(_after_turns, turns - 1, callback)


class DropLog:
    """Per interval: the first drop of each kind in full, then one summary line."""

    def __init__(self, clock: Callable[[], float], interval_s: float = SUMMARY_INTERVAL_S) -> None:
        self._clock = clock
        self.interval_s = interval_s
        self._started = clock()
        self._counts: dict[Drop, int] = {}
        self._unlogged = 0

    def note(self, why: Drop, peer: object, detail: str) -> None:
        seen = self._counts.get(why, 0)
        self._counts[why] = seen + 1
        if seen:
            self._unlogged += 1
        elif why is Drop.PROBE:
            logger.info("AGI connection from %s closed without a request", peer)
        else:
            logger.warning("AGI connection from %s dropped: %s", peer, detail)

    def flush(self, *, force: bool = False) -> None:
        """At the end of an interval (or when forced), one line for the drops not logged
        one by one."""
        now = self._clock()
        if now - self._started < self.interval_s and not force:
            return
        if self._unlogged:
            total = sum(self._counts.values())
            kinds = ", ".join(f"{n:,} {why.value}" for why, n in self._counts.items())
            level = logging.INFO if set(self._counts) == {Drop.PROBE} else logging.WARNING
            logger.log(
                level,
                "dropped %s FastAGI connection(s) before their environment in the last %.0f s: %s",
                f"{total:,}", now - self._started, kinds,
            )
        self._started = now
        self._counts.clear()
        self._unlogged = 0
