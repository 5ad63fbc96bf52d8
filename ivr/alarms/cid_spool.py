"""Contact ID by phone: the events Asterisk's AlarmReceiver leaves in its spool folder.

An old alarm panel dials the alarm number (``[alerta-alarms]`` in the dialplan) and sends
each event as 16 DTMF digits. AlarmReceiver checks their checksum, writes the event into a
new file ``event-XXXXXX`` in its ``eventspooldir`` (alarmreceiver.conf: one file per
event) and only then sends the panel its kissoff::

    [metadata]

    PROTOCOL=ADEMCO_CONTACT_ID
    CHECKSUM=yes
    CALLINGFROM=5551234
    CALLERNAME=Bodega
    TIMESTAMP=2026-12-04T09:40:49+0000

    [events]

    1234181122010013

``ContactIdSpool`` reads the folder every second, turns each event into a ``Signal`` and
hands it to ``AlarmIntake.receive``; a file moves to ``done/`` only once every event in it
is committed. ``bad/`` takes what cannot be used (not Contact ID, a wrong checksum, a file
that never became readable text), ``unknown/`` files from an account no device has (move
them back into the folder once the device is added). A store that cannot take an event
leaves the file where it is, for the next pass; files left from before a restart are
simply there on the first pass.

Each event's key is the file's name, Asterisk's time of reception and the digits, so a
file read twice (a crash between the commit and the move) is stored once. A panel that
missed a kissoff sends the same digits again, into a new file: the same digits as that
account's previous event, within ``RESEND_S`` of it, are that event again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.core.alarms import AlarmIntake
from ivr.core.records import StoreError
from ivr.domain.alarms import Signal, contact_id_valid

logger = logging.getLogger(__name__)

CONTACT_ID = "ADEMCO_CONTACT_ID"  # PROTOCOL of a Contact ID file (the Express formats differ)
DONE, BAD, UNKNOWN = "done", "bad", "unknown"
POLL_S = 1.0
SETTLE_S = 10.0  # a file that is not whole yet (Asterisk writes it after creating it)
RESEND_S = 120.0
MAX_BYTES = 64 * 1024  # one event is about 150 bytes; a whole call's a few kB
# AlarmReceiver writes the keys it heard; Contact ID's digit values 11 to 15 travel as
# the DTMF keys * # A B C (its checksum table): as hexadecimal digits they are B to F.
_AS_HEX = str.maketrans("*#ABC", "BCDEF")
# qualifier: 1 a new event, 3 a restore, 6 a condition reported before and still there
# (a status report: kept on the device's record as an unclassified 'S' code, no report)
QUALIFIERS = {"1": "E", "3": "R", "6": "S"}
MESSAGE_TYPES = ("18", "98")


class SpoolFormatError(ValueError):
    """Not (or not yet) an event file as AlarmReceiver writes it."""


class BadEvent(ValueError):
    """A line of digits that is not a Contact ID event we can take."""


@dataclass(frozen=True)
class EventFile:
    metadata: Mapping[str, str]  # PROTOCOL, CHECKSUM, CALLINGFROM, CALLERNAME, TIMESTAMP
    events: tuple[str, ...]

    @property
    def protocol(self) -> str:
        return self.metadata.get("PROTOCOL", "")


@dataclass(frozen=True)
class ContactIdEvent:
    digits: str  # as AlarmReceiver wrote them
    account: str  # hexadecimal digits, as devices are registered
    qualifier: str
    event: str
    group: str
    zone: str

    @property
    def code(self) -> str:
        """'E122' (new), 'R122' (restore) or 'S122' (still present)."""
        return QUALIFIERS[self.qualifier] + self.event


def parse_event_file(text: str) -> EventFile:
    """The metadata and events of a file; both of AlarmReceiver's layouts are read (the
    sections, and ``no_group_meta``'s ``KEY=value`` lines with ``event=`` lines)."""
    if not text.endswith("\n"):
        raise SpoolFormatError("the file does not end with a whole line")
    metadata: dict[str, str] = {}
    events: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line in ("[metadata]", "[events]"):
            continue
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "event":
            events.append(value.strip())
        elif sep:
            metadata[key.strip().upper()] = value.strip()
        else:
            events.append(line)
    if "PROTOCOL" not in metadata:
        raise SpoolFormatError("no PROTOCOL line")
    if not events:
        raise SpoolFormatError("no event")
    return EventFile(metadata, tuple(events))


def read_event(digits: str) -> ContactIdEvent:
    """``AAAA MT Q EEE GG ZZZ S``: raises BadEvent saying what is wrong with it."""
    hexed = digits.strip().upper().translate(_AS_HEX)
    if len(hexed) != 16 or any(c not in "0123456789ABCDEF" for c in hexed):
        raise BadEvent("not 16 Contact ID digits")
    if not contact_id_valid(hexed):
        raise BadEvent("wrong checksum")
    if hexed[4:6] not in MESSAGE_TYPES:
        raise BadEvent(f"message type {hexed[4:6]} is not Contact ID (18 or 98)")
    if hexed[6] not in QUALIFIERS:
        raise BadEvent(f"qualifier {hexed[6]} is none of 1 (new), 3 (restore), 6 (status)")
    if not hexed[7:10].isdigit():
        raise BadEvent(f"event code {hexed[7:10]} is not three digits")
    return ContactIdEvent(digits.strip(), hexed[:4], hexed[6], hexed[7:10], hexed[10:12],
                          hexed[12:15])


def received_at(metadata: Mapping[str, str], fallback: datetime) -> datetime:
    """When Asterisk took the event (alarmreceiver.conf's timestampformat), in UTC; the
    file's own time when the stamp is in another format."""
    try:
        return datetime.strptime(metadata.get("TIMESTAMP", ""),
                                 "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except ValueError:
        return fallback


@dataclass(frozen=True)
class _Found:
    name: str
    mtime: float
    text: str | None  # None: it could not be read
    error: str = ""


class ContactIdSpool:
    """Watches AlarmReceiver's spool folder and records each event once (module docs)."""

    def __init__(self, folder: Path, intake: AlarmIntake, *, poll_s: float = POLL_S,
                 settle_s: float = SETTLE_S) -> None:
        self.folder = folder
        self.intake = intake
        self.poll_s = poll_s
        self.settle_s = settle_s
        self._task: asyncio.Task[None] | None = None
        self._previous: dict[str, tuple[str, datetime, str]] = {}  # account: digits, at, key
        self._said: set[str] = set()  # files (or the folder) already logged as waiting
        self._missing = False

    def start(self) -> ContactIdSpool:
        self._task = asyncio.get_running_loop().create_task(self.run(),
                                                            name="alerta-contact-id-spool")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run(self) -> None:
        while True:
            await self.sweep()
            await asyncio.sleep(self.poll_s)

    async def sweep(self) -> Counter[str]:
        """One pass over the folder; what became of each file (done, bad, unknown, retry,
        waiting, unreadable, failed)."""
        outcomes: Counter[str] = Counter()
        for found in await asyncio.to_thread(self._scan):
            try:
                outcomes[await self._take(found)] += 1
            except Exception:  # one odd file must not stop the files after it
                if self._say_once(found.name):
                    logger.exception("alarms: %s could not be handled; tried again",
                                     self.folder / found.name)
                outcomes["failed"] += 1
        return outcomes

    def _scan(self) -> list[_Found]:
        try:
            entries = [e for e in os.scandir(self.folder)
                       if e.name.startswith("event-") and e.is_file(follow_symlinks=False)]
        except FileNotFoundError:
            if not self._missing:
                logger.warning("alarms: the Contact ID spool %s does not exist: events from "
                               "alarm panels are not read until it does (docs/alarms.md)",
                               self.folder)
            self._missing = True
            return []
        if self._missing:
            logger.info("alarms: the Contact ID spool %s is there now", self.folder)
            self._missing = False
        dated = []
        for entry in entries:
            try:
                dated.append((entry.stat().st_mtime, entry.name))
            except FileNotFoundError:
                continue
        found = []
        for mtime, name in sorted(dated):  # oldest first: a panel's events in their order
            try:
                with open(self.folder / name, "rb") as file:
                    text = file.read(MAX_BYTES).decode("ascii", errors="replace")
                found.append(_Found(name, mtime, text))
            except FileNotFoundError:
                continue
            except OSError as exc:
                found.append(_Found(name, mtime, None, str(exc)))
        return found

    async def _take(self, found: _Found) -> str:
        path = self.folder / found.name
        if found.text is None:
            if self._say_once(found.name):
                logger.error("alarms: cannot read %s (%s): AlarmReceiver creates its files "
                             "0600, see docs/alarms.md for the permissions", path, found.error)
            return "unreadable"
        try:
            parsed = parse_event_file(found.text)
        except SpoolFormatError as exc:
            if time.time() - found.mtime < self.settle_s:
                return "waiting"  # created, not written yet
            logger.warning("alarms: %s is not an AlarmReceiver event file (%s): moved to %s/",
                           path, exc, BAD)
            return await self._move(found.name, BAD)
        if parsed.protocol != CONTACT_ID:
            logger.warning("alarms: %s holds %s, not Contact ID: moved to %s/", path,
                           parsed.protocol, BAD)
            return await self._move(found.name, BAD)
        at = received_at(parsed.metadata, datetime.fromtimestamp(found.mtime, UTC))
        refused = unknown = False
        for digits in parsed.events:
            try:
                event = read_event(digits)
            except BadEvent as exc:
                logger.warning("alarms: %s: event %r refused (%s)", path, digits, exc)
                refused = True
                continue
            try:
                device = await self.intake.device("contact_id", event.account)
                if device is None:
                    logger.warning("alarms: %s: Contact ID account %s (from %s) is no device "
                                   "of ours: kept in %s/", path, event.account,
                                   parsed.metadata.get("CALLINGFROM", "?"), UNKNOWN)
                    unknown = True
                    continue
                await self.intake.receive(device, self._signal(found.name, parsed, event, at))
            except StoreError as exc:
                if self._say_once(found.name):
                    logger.warning("alarms: %s waits: the store cannot take it (%s)", path, exc)
                return "retry"
            logger.info("alarms: Contact ID %s %s zone %s from %s: recorded", event.account,
                        event.code, event.zone, parsed.metadata.get("CALLINGFROM", "?"))
        return await self._move(found.name, UNKNOWN if unknown else BAD if refused else DONE)

    def _signal(self, name: str, parsed: EventFile, event: ContactIdEvent, at: datetime
                ) -> Signal:
        key = f"cid:{name}:{at:%Y%m%dT%H%M%SZ}:{event.digits}"
        previous = self._previous.get(event.account)
        if previous and previous[0] == event.digits and abs(
                at - previous[1]) <= timedelta(seconds=RESEND_S):
            key = previous[2]  # the panel missed our kissoff and sent it again
        self._previous[event.account] = (event.digits, at, key)
        meta = parsed.metadata
        raw = (f"{event.digits} from {meta.get('CALLINGFROM', '?')} "
               f"({meta.get('CALLERNAME', '?')}) at {meta.get('TIMESTAMP', '?')}, "
               f"group {event.group}, {name}")
        # Contact ID carries no time: sent_at is when Asterisk took the event.
        return Signal("contact_id", event.account, event.code, key,
                      zone=None if event.zone == "000" else event.zone, sent_at=at, raw=raw)

    async def _move(self, name: str, into: str) -> str:
        def move() -> None:
            folder = self.folder / into
            folder.mkdir(exist_ok=True)
            target = folder / name
            if target.exists():  # mkstemp may give a name again once the first is gone
                target = folder / f"{name}.{time.time_ns()}"
            os.replace(self.folder / name, target)

        try:
            await asyncio.to_thread(move)
        except FileNotFoundError:
            pass  # moved by someone else meanwhile
        except OSError as exc:
            if self._say_once(name):
                logger.error("alarms: cannot move %s into %s/ (%s); its events are stored, "
                             "it is read again (as duplicates) until it can be moved",
                             self.folder / name, into, exc)
            return "retry"
        self._said.discard(name)
        return into

    def _say_once(self, name: str) -> bool:
        if name in self._said:
            return False
        self._said.add(name)
        return True
