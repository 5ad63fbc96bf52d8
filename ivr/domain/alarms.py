"""Silent alarms: what a signal from a shop's terminal or an alarm panel means.

Every intake (DC-09 over IP, the webhook, Contact ID by phone) turns what it received
into a ``Signal``; ``classify`` says what kind it is in plain words. Only the kinds in
``ALARMS`` open a report (channel ``pos``, an emergency, priority 1); a test, a poll,
a trouble or a restore is kept on the device's record only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# kind: (incident type of its report or None, Spanish words, English words)
KINDS: dict[str, tuple[str | None, str, str]] = {
    "holdup": ("alarm_holdup", "asalto en curso", "hold-up"),
    "panic": ("alarm_panic", "boton de panico", "panic"),
    "duress": ("alarm_duress", "coaccion (clave bajo amenaza)", "duress"),
    "silent": ("alarm_silent", "alarma silenciosa", "silent alarm"),
    "emergency": ("alarm_panic", "emergencia", "emergency"),
    "test": (None, "prueba periodica", "periodic test"),
    "poll": (None, "enlace vivo", "link poll"),
    "trouble": (None, "falla de comunicacion o equipo", "trouble"),
    "restore": (None, "restablecido", "restore"),
    "other": (None, "evento sin clasificar", "unclassified event"),
}
ALARMS = frozenset(k for k, (t, _, _) in KINDS.items() if t is not None)
ALARM_TYPES = {t: words for k, (t, words, _) in KINDS.items() if t is not None}

SIA = {"PA": "panic", "HA": "holdup", "HV": "holdup", "QA": "emergency", "DA": "duress",
       "RP": "test", "RX": "test", "YS": "trouble", "YK": "restore", "YT": "trouble",
       "YR": "restore", "PR": "restore", "HR": "restore"}
CONTACT_ID = {"120": "panic", "121": "duress", "122": "silent", "123": "panic",
              "124": "duress", "125": "duress", "129": "holdup", "100": "emergency",
              "101": "emergency", "602": "test", "603": "test", "350": "trouble",
              "354": "trouble", "351": "trouble"}


@dataclass(frozen=True, slots=True)
class Signal:
    """One thing a device said, as an intake received it."""

    device_kind: str  # dc09 | webhook | contact_id
    account: str  # which device
    code: str  # SIA two letters ('PA'), Contact ID 'E122' / 'R122', 'NULL' for a poll
    dedup_key: str  # the same line resent has the same key
    zone: str | None = None
    sent_at: datetime | None = None  # the device's time, in UTC
    raw: str = ""


def classify(code: str) -> str:
    """The kind of ``code``: a Contact ID event ('E122'; 'R...' is a restore), a SIA
    code ('HA'), or 'NULL' (a poll)."""
    code = code.strip().upper()
    if code in ("NULL", ""):
        return "poll"
    if len(code) == 4 and code[0] in "ER" and code[1:].isdigit():
        kind = CONTACT_ID.get(code[1:], "other")
        return "restore" if code[0] == "R" and kind not in ("test", "poll") else kind
    return SIA.get(code[:2], "other")


def words(kind: str, language: str = "es") -> str:
    _, es, en = KINDS.get(kind, KINDS["other"])
    return en if language == "en" else es


def contact_id_valid(digits: str) -> bool:
    """A 16-digit Contact ID message whose digits (0 counted as 10) sum to a multiple of 15."""
    if len(digits) != 16 or not all(c in "0123456789ABCDEF" for c in digits.upper()):
        return False
    values = [10 if c == "0" else int(c, 16) for c in digits.upper()]
    return sum(values) % 15 == 0


@dataclass(frozen=True, slots=True)
class Device:
    """A device as an intake needs it: its keys and clock, and the site it signals for."""

    id: int
    municipality: int
    kind: str
    account: str
    keys: tuple[str, ...] = ()  # DC-09: the AES key; webhook: its secrets (rotation)
    time_zone: str = "UTC"  # the zone its clock keeps (real panels send local time)
    tolerance_s: int = 60
    poll_s: int | None = None
    link: str = "unknown"
    site_id: int = 0
    site: str = ""
    address: str = ""
    zone: str | None = None
    lat: float | None = None
    lon: float | None = None
    contact_phone: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the store did with a signal; the intake acknowledges only after this."""

    signal_id: int
    kind: str
    duplicate: bool  # the same signal came before (a retransmission): stored once
    report_id: int | None = None


def in_window(sent_at: datetime, now: datetime, tolerance_s: int) -> bool:
    """Whether a device's timestamp (in UTC) is close enough to ours to be live, not a
    replay: within its tolerance either way."""
    return abs((sent_at - now).total_seconds()) <= tolerance_s
