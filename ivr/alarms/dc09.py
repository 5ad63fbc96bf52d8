"""SIA DC-09 (alarm transmission over IP), the codec: pure functions from the bytes of one
line to a ``Signal``, and the answer the panel gets. The sockets are ``ivr.alarms.receiver``.

One message is a line, LF ... CR, that reads::

    480B0039"SIA-DCS"0011L0#AAA[#AAA|Nri0/RP0000]_09:17:30,02-20-2023
    crc len  id       seq  pref #acct [data]       timestamp

- crc: CRC-16/ARC (polynomial 0x8005 reflected, start 0) of every byte after the length,
  from the opening quote to the end of the timestamp, as 4 hex digits;
- len: the count of those same bytes, 4 hex digits ("0LLL");
- id: ``SIA-DCS`` (SIA event codes), ``ADM-CID`` (Contact ID) or ``NULL`` (a link poll);
  ``"*SIA-DCS"`` says the rest is encrypted;
- seq: 4 digits, the same on a retransmission; ``R``rcvr (optional) and ``L``pref, hex;
- ``#``acct: the device, 3 to 16 hex digits;
- [data], then optional [extended data] blocks, then the timestamp ``_HH:MM:SS,MM-DD-YYYY``
  (UTC by the standard; some panels keep local time: each device has its time zone).

Encrypted, everything after ``[`` is the uppercase hex of AES-CBC with an all-zero IV over
``<random padding>|<data>][<extended>]_<timestamp>``; the padding (no ``[``, ``]`` or
``|``) fills the plaintext to whole 16-byte blocks and stands in for the IV. The key is
the device's 16, 24 or 32 characters used as they are (AES-128/192/256), as pysiaalarm
and my-dc09-spt use them. An encrypted line must carry its timestamp: it is what makes a
replayed line stale.

Answers: ``ACK`` echoes seq, rcvr, pref and account (encrypted, with our timestamp inside,
when the message was); ``NAK`` (refused for its timestamp) carries our timestamp so that
the panel can set its clock; ``DUH`` (not understood) echoes what could be read.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ivr.domain.alarms import Signal

KIND = "dc09"  # the devices' kind in the store
MAX_LINE = 8 + 0xFFF  # crc and length, then at most what a 0LLL length can count
TIME_FORMAT = "%H:%M:%S,%m-%d-%Y"
# what the random padding of an encrypted line is drawn from
PAD_CHARS = "".join(c for c in string.ascii_letters + string.digits + string.punctuation
                    if c not in "[]|")


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC, as DC-09 asks (not CRC-16/XMODEM, which one public plugin uses)."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


class Framer:
    """Cuts a byte stream into lines: each begins after a LF and ends before the next CR.
    Bytes before a LF are skipped; a LF inside a line starts it over; a line longer than
    ``limit`` is dropped up to the next LF."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self.line: bytearray | None = None  # None: between lines
        self.skipped = 0  # bytes skipped since the counter was last reset
        self.dropped = 0  # lines over the limit
        self.begun = 0  # lines begun

    @property
    def inside(self) -> bool:
        return self.line is not None

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        at = 0
        while at < len(data):
            if self.line is None:
                start = data.find(b"\n", at)
                if start < 0:
                    self.skipped += len(data) - at
                    break
                self.skipped += start - at
                self.line, at = bytearray(), start + 1
                self.begun += 1
                continue
            ends = [i for i in (data.find(b"\r", at), data.find(b"\n", at)) if i >= 0]
            end = min(ends) if ends else len(data)
            self.line += data[at:end]
            if len(self.line) > self.limit:
                self.dropped += 1
                self.skipped += len(self.line)
                self.line, at = None, end  # from here, look for the next LF
            elif end == len(data):
                break
            elif data[end] == 0x0D:
                lines.append(bytes(self.line))
                self.line, at = None, end + 1
            else:  # a LF: what came before it was not a line
                self.skipped += len(self.line) + 1
                self.line, at = bytearray(), end + 1
                self.begun += 1
        return lines


@dataclass(frozen=True, slots=True)
class Header:
    """Who sent a line and which one it is: what an answer echoes."""

    id: str  # SIA-DCS | ADM-CID | NULL
    encrypted: bool
    seq: str  # 4 digits, as sent
    receiver: str | None  # the hex digits after R, as sent; None: no R
    prefix: str | None  # the hex digits after L, as sent; None: no L
    account: str  # as sent


class Refused(ValueError):
    """A line answered DUH, with the reason for the log and what of its header was read."""

    def __init__(self, reason: str, header: Header | None = None) -> None:
        super().__init__(reason)
        self.header = header


@dataclass(frozen=True, slots=True)
class Frame:
    header: Header
    body: str  # after '[': 'data]...[x]..._timestamp', or the hex when encrypted
    head: str  # the line up to and with '[', for the record


@dataclass(frozen=True, slots=True)
class Content:
    data: str  # between '[' and ']': '#AAA|Nri0/RP0000'; '' for a poll
    extended: tuple[str, ...]  # the [X...] blocks after it
    timestamp: str | None  # 'HH:MM:SS,MM-DD-YYYY' as sent
    text: str  # all of it, decrypted, for the record


_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_HEADER = re.compile(
    r'"(?P<star>\*?)(?P<id>SIA-DCS|ADM-CID|NULL)"(?P<seq>[0-9]{4})'
    r"(?:R(?P<rcvr>[0-9A-Fa-f]{1,6}))?(?:L(?P<pref>[0-9A-Fa-f]{0,6}))?"
    r"#(?P<acct>[0-9A-Fa-f]{3,16})\[(?P<body>.*)\Z", re.DOTALL)
_CONTENT = re.compile(
    r"(?P<data>[^\[\]]*)\](?P<ext>(?:\[[^\[\]]*\])*)"
    r"(?:_(?P<ts>[0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]{2}-[0-9]{2}-[0-9]{4}))?\Z")
_CIPHERTEXT = re.compile(r"(?:[0-9A-Fa-f]{32})+")
_ACCOUNT_PART = re.compile(r"(?:#[0-9A-Fa-f]{3,16})?\|?")
# SIA (DC-03) in DC-07 form: N (new) or O (old), modifiers in lower case with their values
# (ri area, id user, ti time, da date; a name between carets), then the event code in two
# capitals and its address (zone or user); several events are split by '/'.
_SIA_EVENT = re.compile(
    r"[NO]?(?:[a-z]{2}[0-9:.\-]*(?:\^[^^]*\^)?/?)*(?P<code>[A-Z]{2})(?P<address>[0-9]*)")
# Contact ID: qualifier (1 new, 3 restore, 6 still present), event, group, zone or user
_CONTACT_ID = re.compile(r"(?P<q>[136])(?P<event>[0-9]{3}) (?P<group>[0-9A-F]{2}) "
                         r"(?P<zone>[0-9A-F]{3})")


def parse_line(line: bytes) -> Frame:
    """One line (the bytes between LF and CR), its length and CRC checked."""
    if not 8 < len(line) <= MAX_LINE:
        raise Refused(f"a line of {len(line)} bytes")
    text = line.decode("latin-1")  # one character a byte: the CRC is over the bytes
    found = _HEADER.match(text, 8)
    header = None if found is None else Header(
        found["id"], bool(found["star"]), found["seq"], found["rcvr"], found["pref"],
        found["acct"])
    if not (_HEX4.fullmatch(text[:4]) and _HEX4.fullmatch(text[4:8])):
        raise Refused("no CRC and length in front", header)
    span = line[8:]
    if int(text[4:8], 16) != len(span):
        raise Refused(f"length {text[4:8]} but {len(span):04X} bytes", header)
    if int(text[:4], 16) != crc16(span):
        raise Refused(f"CRC {text[:4]} but the bytes give {crc16(span):04X}", header)
    if found is None or header is None:
        raise Refused("not a DC-09 message (id, sequence, account, data)")
    return Frame(header, found["body"], text[8:found.start("body")])


def open_frame(frame: Frame, key: str | None) -> Content:
    """The frame's content, decrypted with the device's key when it is encrypted. A device
    that has a key must encrypt: in clear, anyone could speak for it."""
    header = frame.header
    if not header.encrypted:
        if key:
            raise Refused("in clear from a device that has a key", header)
        return _content(frame.body, header)
    if not key:
        raise Refused("encrypted, but the device has no key", header)
    content = _content(decrypt(frame.body, key, header), header)
    if content.timestamp is None:
        raise Refused("encrypted without a timestamp", header)
    return content


def _content(text: str, header: Header) -> Content:
    found = _CONTENT.fullmatch(text)
    if found is None:
        raise Refused("no [data] and timestamp after the account", header)
    extended = tuple(found["ext"][1:-1].split("][")) if found["ext"] else ()
    return Content(found["data"], extended, found["ts"], text)


def _cipher(key: str, header: Header | None = None) -> Cipher[modes.CBC]:
    raw = key.encode("utf-8")
    if len(raw) not in (16, 24, 32):
        raise Refused("the device's key is not 16, 24 or 32 characters", header)
    return Cipher(algorithms.AES(raw), modes.CBC(bytes(16)))


def decrypt(body: str, key: str, header: Header | None = None) -> str:
    """What follows the padding: '#AAA|Nri1/PA001]_HH:MM:SS,MM-DD-YYYY'. A wrong key gives
    noise that has no padding ending in '|', or whose rest is not a message."""
    if not _CIPHERTEXT.fullmatch(body):
        raise Refused("the encrypted part is not whole AES blocks in hex", header)
    decryptor = _cipher(key, header).decryptor()
    plain = (decryptor.update(bytes.fromhex(body)) + decryptor.finalize()).decode("latin-1")
    padding, bar, rest = plain.partition("|")
    if not bar or "[" in padding or "]" in padding:
        raise Refused("it does not decrypt with the device's key", header)
    return rest


def encrypt(text: str, key: str) -> str:
    """``text`` behind random padding and '|', encrypted, in uppercase hex."""
    fill = -(len(text) + 1) % 16 or 16
    plain = "".join(secrets.choice(PAD_CHARS) for _ in range(fill)) + "|" + text
    encryptor = _cipher(key).encryptor()
    return (encryptor.update(plain.encode("ascii")) + encryptor.finalize()).hex().upper()


def event(message_id: str, data: str, header: Header | None = None) -> tuple[str, str | None]:
    """The event code the intake classifies, and its zone: 'RP' and '0' for
    '#AAA|Nri0/RP0000'; 'E602' and '1' for '#1002|1602 00 001'; 'NULL' for a poll."""
    if message_id == "NULL":
        return "NULL", None
    found_account = _ACCOUNT_PART.match(data)
    rest = data[found_account.end():] if found_account else data
    if message_id == "ADM-CID":
        cid = _CONTACT_ID.fullmatch(rest)
        if cid is None:
            raise Refused(f"not a Contact ID event: {rest[:40]!r}", header)
        # 6 is a condition reported before and still present: an event, not a restore
        return ("R" if cid["q"] == "3" else "E") + cid["event"], _zone(cid["zone"])
    sia = _SIA_EVENT.match(rest)
    if sia is None:
        raise Refused(f"no SIA event code in {rest[:40]!r}", header)
    return sia["code"], _zone(sia["address"])


def _zone(digits: str) -> str | None:
    return (digits.lstrip("0") or "0") if digits else None


def sent_time(timestamp: str, time_zone: str, header: Header | None = None) -> datetime:
    """A panel's timestamp, read in the time zone its clock keeps, in UTC."""
    try:
        local = datetime.strptime(timestamp, TIME_FORMAT)
    except ValueError:
        raise Refused(f"timestamp {timestamp} is not a time", header) from None
    return local.replace(tzinfo=_zone_info(time_zone, header)).astimezone(UTC)


def _zone_info(time_zone: str, header: Header | None = None) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refused(f"the device's time zone {time_zone!r} is unknown", header) from None


def stamp(now: datetime, time_zone: str = "UTC") -> str:
    """Our time as a panel reads it, '_HH:MM:SS,MM-DD-YYYY', in its clock's zone."""
    return "_" + now.astimezone(_zone_info(time_zone)).strftime(TIME_FORMAT)


def to_signal(frame: Frame, content: Content, *, time_zone: str, received_at: datetime
              ) -> Signal:
    """What the intake records. A retransmission is the same line, so the same key:
    account, seq and a hash of the data and timestamp. A line without a timestamp (only in
    clear) counts the hour it came in instead, so that the seq wrapping after 9999 never
    makes a new alarm look like an old one."""
    header = frame.header
    code, zone = event(header.id, content.data, header)
    sent_at = sent_time(content.timestamp, time_zone, header) if content.timestamp else None
    when = content.timestamp or received_at.astimezone(UTC).strftime("hour %Y-%m-%dT%H")
    digest = hashlib.sha256("\x1f".join(
        (header.id, content.data, *content.extended, when)).encode("utf-8")).hexdigest()
    account = header.account.upper()
    return Signal(KIND, account, code, f"dc09:{account}:{header.seq}:{digest[:20]}", zone,
                  sent_at, frame.head + content.text)


def _line(body: str) -> bytes:
    raw = body.encode("ascii")
    return b"\n%04X%04X" % (crc16(raw), len(raw)) + raw + b"\r"


def _echo(header: Header) -> str:
    receiver = "" if header.receiver is None else "R" + header.receiver
    prefix = "" if header.prefix is None else "L" + header.prefix
    return f"{header.seq}{receiver}{prefix}#{header.account}"


def ack(header: Header, key: str | None, now: datetime, time_zone: str = "UTC") -> bytes:
    """The acknowledgement, sent once the signal is stored."""
    if header.encrypted and key:
        return _line(f'"*ACK"{_echo(header)}[{encrypt("]" + stamp(now, time_zone), key)}')
    return _line(f'"ACK"{_echo(header)}[]')


# The NAK's fixed fields (seq 0000, R0, L0, account A0) are as pysiaalarm and ioBroker.sia
# send them; a panel reads the answer's kind and the timestamp at its end.
_NAK_FIELDS = "0000R0L0A0"


def nak(now: datetime, time_zone: str = "UTC", key: str | None = None) -> bytes:
    """Refused for its timestamp: ours, in the zone of the device's clock, so that it can
    set its clock and send again; encrypted when ``key`` (the message was)."""
    if key:
        return _line(f'"*NAK"{_NAK_FIELDS}[{encrypt("]" + stamp(now, time_zone), key)}')
    return _line(f'"NAK"{_NAK_FIELDS}[]{stamp(now, time_zone)}')


def duh(header: Header | None) -> bytes:
    """Not understood: echoes what could be read, in clear (there may be no key to use)."""
    return _line(f'"DUH"{_echo(header)}[]' if header else f'"DUH"{_NAK_FIELDS}[]')
