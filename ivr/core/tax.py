"""Tax lookups by keypad: the limits that stop an enumeration, the audit, the answer.

A caller types a DNI or RUC and the code printed on their tax bill. ``TaxService``
asks the municipality's tax system (a ``TaxBackend``: the imported file, or its HTTP
service) and tells the flow what is owed and by when; nothing else about the account
(no name, no address) ever reaches the call.

Every try is one audit row (``tax_lookups``): who called, on which line, the ID when
it was one, and the result; never the code. The same rows are what the limits count:

- failures (a wrong code, an unknown ID, an invalid ID) per calling number per hour;
- distinct IDs looked up per calling number per day;
- failures per ID per hour, from any numbers;
- distinct calling numbers per ID per day.

Reaching a limit blocks that number or that ID (``tax_blocks``) and raises one
``alert.tax_enumeration`` per block. Withheld numbers are one caller: a shared bucket
with limits of its own. An hour limit blocks for ``block_minutes``, a day limit for a
day; the counts of a number or an ID start again when its last block ends (or is
lifted), so a block lifted by a supervisor is not raised again by the same tries.

What a blocked ID answers: ``blocked``, as a blocked number does, not the answer of a
wrong code. The block is raised by the count of tries alone, and unknown IDs are
counted exactly as known ones are, so hearing "blocked" says nothing about whether
the account exists or what it owes; the back end is not asked at all for a blocked
ID, so even the right code learns nothing. Answering "wrong code" instead would send
the owner, bill in hand, round the three tries believing the code misread. An unknown
ID and a wrong code answer alike (``no_match``), and the file adapter spends the same
work on both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from ivr.core.ports import TaxAnswer, TaxQuery
from ivr.core.records import StoreError
from ivr.domain.taxids import valid_secret

logger = logging.getLogger(__name__)

WITHHELD = "withheld"  # the calling number of every withheld call, in blocks and counts
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
COUNTED = ("found", "nothing_owed", "no_match", "invalid_id")  # tries the limits count
FAILED = ("no_match", "invalid_id")


@dataclass(frozen=True, slots=True)
class Debt:
    amount_cents: int
    due_on: date


@dataclass(frozen=True, slots=True)
class BackendAnswer:
    found: bool  # the ID has an account
    secret_ok: bool = False  # and the code typed is its bill's
    debts: tuple[Debt, ...] = ()  # what is unpaid (only told when secret_ok)


class BackendUnavailable(Exception):
    """The tax system cannot answer now (down, slow, an answer we cannot read)."""


class TaxBackend(Protocol):
    async def account(self, municipality: int, tax_id: str, secret: str) -> BackendAnswer:
        """The account of ``tax_id`` and whether ``secret`` is its code; raises
        BackendUnavailable."""


@dataclass(frozen=True, slots=True)
class TaxLimits:
    """Reaching a limit blocks; each is documented with its setting in docs/tax.md."""

    failures_per_caller_hour: int = 6  # two whole calls of wrong codes
    ids_per_caller_day: int = 10  # a family, a small shop's accountant
    failures_per_id_hour: int = 6
    callers_per_id_day: int = 5
    withheld_failures_hour: int = 10  # every withheld caller together
    withheld_ids_day: int = 20
    block_minutes: int = 60  # an hour limit reached; a day limit blocks for a day


@dataclass(frozen=True, slots=True)
class Lookup:
    """One audit row."""

    municipality: int
    at: datetime
    caller: str | None
    call_id: str
    line: str
    tax_id: str | None
    result: str


@dataclass(frozen=True, slots=True)
class Counts:
    """What the limits look at, counted with the new row, since each key's last block."""

    caller_failures_hour: int
    caller_ids_day: int
    id_failures_hour: int = 0  # 0 when no ID was typed
    id_callers_day: int = 0


@dataclass(frozen=True, slots=True)
class Crossing:
    kind: str  # caller | tax_id
    value: str  # the number (or WITHHELD), or the ID
    reason: str  # failures_per_hour | ids_per_day | callers_per_day
    count: int
    limit: int
    until: datetime


class TaxLedger(Protocol):
    """The audit and the blocks in the store (``ivr.store.tax.TaxStore``)."""

    async def block_until(self, municipality: int, kind: str, value: str,
                          now: datetime) -> datetime | None:
        """The end of the block in force on this number or ID, or None."""

    async def record(self, lookup: Lookup,
                     decide: Callable[[Counts], list[Crossing]]) -> list[Crossing]:
        """In one transaction: add the audit row; when it is a counted try, count
        (``Counts``), block what ``decide`` says crosses a limit and append one
        ``alert.tax_enumeration`` per new block. Returns the blocks made."""

    async def lift(self, municipality: int, kind: str, value: str, actor: str,
                   now: datetime) -> bool:
        """End the block in force (audited ``tax.block_lifted``); False when none is."""


async def lift_block(ledger: TaxLedger, municipality: int, kind: str, value: str, *,
                     actor: str, now: datetime) -> bool:
    """A supervisor ends a block: its number or ID may look up again, its counts start
    from now. ValueError for what cannot be a block; False when none is in force."""
    if kind not in ("caller", "tax_id") or not (
            (kind == "caller" and value == WITHHELD)
            or (value.isascii() and value.isdigit() and 0 < len(value) <= 20)):
        raise ValueError("kind: caller or tax_id, and its number")
    return await ledger.lift(municipality, kind, value, actor, now)


def caller_key(caller: str | None) -> str:
    return caller or WITHHELD


def masked(tax_id: str) -> str:
    """An ID as an alert shows it: its last three digits."""
    return "*" * max(0, len(tax_id) - 3) + tax_id[-3:]


def crossings(counts: Counts, limits: TaxLimits, *, caller: str | None, tax_id: str | None,
              now: datetime) -> list[Crossing]:
    """Which blocks these counts call for. Pure: the store runs it inside its write."""
    hour = now + timedelta(minutes=limits.block_minutes)
    day = now + DAY
    withheld = caller is None
    key = caller_key(caller)
    fail_limit = limits.withheld_failures_hour if withheld else limits.failures_per_caller_hour
    ids_limit = limits.withheld_ids_day if withheld else limits.ids_per_caller_day
    out: list[Crossing] = []
    if counts.caller_failures_hour >= fail_limit:
        out.append(Crossing("caller", key, "failures_per_hour", counts.caller_failures_hour,
                            fail_limit, hour))
    elif counts.caller_ids_day >= ids_limit:
        out.append(Crossing("caller", key, "ids_per_day", counts.caller_ids_day, ids_limit, day))
    if tax_id is not None:
        if counts.id_failures_hour >= limits.failures_per_id_hour:
            out.append(Crossing("tax_id", tax_id, "failures_per_hour", counts.id_failures_hour,
                                limits.failures_per_id_hour, hour))
        elif counts.id_callers_day >= limits.callers_per_id_day:
            out.append(Crossing("tax_id", tax_id, "callers_per_day", counts.id_callers_day,
                                limits.callers_per_id_day, day))
    return out


def answer_of(found: BackendAnswer, today: date) -> TaxAnswer:
    """What the caller hears of an account whose code was right."""
    owed = sum(d.amount_cents for d in found.debts)
    if owed <= 0:
        return TaxAnswer("nothing_owed")
    due = min(d.due_on for d in found.debts if d.amount_cents > 0)
    return TaxAnswer("found", owed_cents=owed, due_on=due, overdue=due < today)


class TaxService:
    """Implements ``ivr.core.ports.TaxDesk``."""

    def __init__(self, backend: TaxBackend, ledger: TaxLedger, limits: TaxLimits,
                 clock: Callable[[], datetime]) -> None:
        self.backend = backend
        self.ledger = ledger
        self.limits = limits
        self.clock = clock

    async def blocked(self, municipality: int, caller: str | None) -> bool:
        try:
            return await self.ledger.block_until(municipality, "caller", caller_key(caller),
                                                 self.clock()) is not None
        except StoreError as exc:  # the lookup itself will say the service is down
            logger.warning("tax: blocks not read (%s)", exc)
            return False

    async def lookup(self, query: TaxQuery) -> TaxAnswer:
        now = self.clock()
        try:
            answer = await self._answer(query, now)
        except StoreError as exc:
            logger.warning("call %s: tax lookup not possible, the store failed (%s)",
                           query.call_id, exc)
            answer = TaxAnswer("unavailable")
        try:
            made = await self.ledger.record(
                Lookup(query.municipality, now, query.caller, query.call_id, query.line,
                       query.tax_id, answer.result),
                lambda counts: crossings(counts, self.limits, caller=query.caller,
                                         tax_id=query.tax_id, now=now))
        except StoreError as exc:
            # Not audited, not told: an account is never read out without its row.
            logger.error("call %s: tax lookup not audited (%s); the caller hears the "
                         "service is down", query.call_id, exc)
            return TaxAnswer("unavailable")
        for block in made:
            logger.warning("tax: %s %s blocked until %s (%s: %d, limit %d)", block.kind,
                           block.value if block.kind == "caller" else masked(block.value),
                           block.until.isoformat(timespec="seconds"), block.reason,
                           block.count, block.limit)
        return answer

    async def _answer(self, query: TaxQuery, now: datetime) -> TaxAnswer:
        ledger, municipality = self.ledger, query.municipality
        if await ledger.block_until(municipality, "caller", caller_key(query.caller), now):
            return TaxAnswer("blocked")
        if query.tax_id is None:
            return TaxAnswer("invalid_id")
        if await ledger.block_until(municipality, "tax_id", query.tax_id, now):
            return TaxAnswer("blocked")
        if not valid_secret(query.secret):  # no bill has such a code: the service is spared
            return TaxAnswer("no_match")
        try:
            found = await self.backend.account(municipality, query.tax_id, query.secret)
        except BackendUnavailable as exc:
            logger.warning("call %s: the tax system did not answer: %s", query.call_id, exc)
            return TaxAnswer("unavailable")
        if not (found.found and found.secret_ok):
            return TaxAnswer("no_match")
        return answer_of(found, query.today)
