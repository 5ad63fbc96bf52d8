"""Alerts to staff: what can cause one, who gets it, when, and in what words.

Pure rules, no input or output: ``ivr.core.notifier`` feeds them the events the store
reads, and the store writes the messages they return into the outbox.

- An *urgent* cause (an emergency, one still unacknowledged, a silent alarm, the AMI
  link down) goes at once, to everyone named, quiet hours or not.
- Any other cause waits for the recipient's quiet hours to end, and a burst of one
  cause to one recipient goes as one message: the first waits ``window_s`` for the
  rest (``group_key``), so 200 keyword alerts in a minute are one text, not 200.
- Audiences: ``on_duty:<role>`` (the first in the roster's order; everyone of that role
  when nobody is on duty, so an alert never falls on an empty roster), ``role:<role>``
  (everyone with it in the municipality) and ``user:<id>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

CAUSES = {
    # cause: (urgent, Spanish label, English label)
    "emergency": (True, "emergencia", "emergency"),
    "unacknowledged": (True, "emergencia sin atender", "emergency not acknowledged"),
    "silent_alarm": (True, "alarma silenciosa", "silent alarm"),
    "ami_down": (True, "central telefonica sin enlace", "telephony link down"),
    "keyword": (False, "palabra clave", "keyword"),
    "alarm_link_lost": (False, "alarma sin enlace", "alarm device link lost"),
    "callback_overdue": (False, "devolucion de llamada vencida", "callback overdue"),
    "journal_waiting": (False, "reportes en espera de la base", "reports waiting for the database"),
    "disk_low": (False, "disco casi lleno", "disk low"),
    "transcription_failing": (False, "transcripcion fallando", "transcription failing"),
    "case_overdue": (False, "caso vencido sin respuesta", "case overdue"),
    "tax_enumeration": (True, "consultas tributarias bloqueadas", "tax lookups blocked"),
}
# Causes that reach someone even before an admin writes a rule for them.
DEFAULT_AUDIENCES = {
    "case_overdue": "role:supervisor",  # escalated past the officers of the area
    "tax_enumeration": "role:supervisor",  # someone trying IDs or codes one after another
}
ROLES = ("operator", "supervisor", "admin")
EVENT_CAUSES = {  # an event kind and the cause it raises (emergency: see cause_of)
    "report.keyword_alert": "keyword",
    "alarm.link_lost": "alarm_link_lost",
    "alert.ami_down": "ami_down",
    "alert.callback_overdue": "callback_overdue",
    "alert.journal_waiting": "journal_waiting",
    "alert.disk_low": "disk_low",
    "clip.transcription_failed": "transcription_failing",
    "alert.case_overdue": "case_overdue",
    "alert.tax_enumeration": "tax_enumeration",
}


@dataclass(frozen=True, slots=True)
class Message:
    """One message to queue: to a staff member (``user_id``) or a citizen (None)."""

    channel: str  # sms | email
    recipient: str
    purpose: str  # alert.<cause> | citizen.<what>
    body: str
    not_before: datetime
    municipality: int | None
    report_id: int | None = None
    user_id: int | None = None
    urgent: bool = False
    subject: str = ""
    dedup_key: str | None = None
    group_key: str | None = None


class RuleError(ValueError):
    """A rule that cannot be kept, with a message fit to show."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    municipality: int
    cause: str
    audience: str
    sms: bool = True
    email: bool = True
    after_s: int = 0


def check_rule(cause: str, audience: str, sms: bool, email: bool, after_s: int) -> None:
    if cause not in CAUSES:
        raise RuleError(f"no such cause: {cause[:40]}")
    kind, _, who = audience.partition(":")
    if kind in ("on_duty", "role"):
        if who not in ROLES:
            raise RuleError("pick operator, supervisor or admin")
    elif kind == "user":
        if not who.isdigit():
            raise RuleError("pick a user")
    else:
        raise RuleError("pick who gets it: on duty, a role or a user")
    if not (sms or email):
        raise RuleError("pick text message, e-mail or both")
    if cause == "unacknowledged" and not 10 <= after_s <= 86400:
        raise RuleError("an escalation waits 10 s to 24 h")


@dataclass(frozen=True, slots=True)
class Person:
    user_id: int
    name: str
    role: str
    phone: str | None
    email: str | None
    language: str = "es"
    quiet_from: str | None = None  # 'HH:MM', the municipality's clock
    quiet_until: str | None = None
    duty_rank: int | None = None  # on duty now: the roster's rank; None: off duty
    duty_since: str = ""


def on_duty(people: Sequence[Person], role: str) -> list[list[Person]]:
    """Those of ``role`` on duty, in escalation order: a list per rank, lowest first."""
    ranks: dict[int, list[Person]] = {}
    for p in sorted(people, key=lambda p: (p.duty_rank or 0, p.duty_since, p.user_id)):
        if p.role == role and p.duty_rank is not None:
            ranks.setdefault(p.duty_rank, []).append(p)
    return [ranks[r] for r in sorted(ranks)]


def ladder(rule: Rule, people: Sequence[Person]) -> list[list[Person]]:
    """Who gets ``rule``'s message, step by step: the first step at once, each next one
    when an emergency is still unacknowledged (``unacknowledged`` rules). For
    ``on_duty:<role>``: each rank on duty, then the rest of the role, then the admins;
    nobody on duty makes the whole role the first step, never an alert to no one."""
    kind, _, who = rule.audience.partition(":")
    if kind == "user":
        return [[p for p in people if str(p.user_id) == who][:1]]
    everyone = [p for p in people if p.role == who]
    if kind == "role":
        return [everyone]
    steps = on_duty(people, who)
    taken = {p.user_id for rank in steps for p in rank}
    steps.append([p for p in everyone if p.user_id not in taken])
    if who != "admin":
        steps.append([p for p in people if p.role == "admin"])
    return [step for step in steps if step]


def audience(rule: Rule, people: Sequence[Person], step: int = 0) -> list[Person]:
    """The ``step``-th step of ``rule``'s ladder; nobody once it is climbed."""
    steps = ladder(rule, people)
    return steps[step] if step < len(steps) else []


def quiet_until(person: Person, local_now: datetime) -> datetime | None:
    """When ``person``'s quiet hours end, if they are in them at ``local_now``."""
    if not (person.quiet_from and person.quiet_until):
        return None
    start, end = _hhmm(person.quiet_from), _hhmm(person.quiet_until)
    if start == end:
        return None
    now = local_now.time()
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    ends = local_now.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return ends if ends > local_now else ends + timedelta(days=1)


def _hhmm(text: str) -> time:
    hour, _, minute = text.partition(":")
    return time(int(hour) % 24, int(minute or 0) % 60)


def check_hhmm(text: str) -> str:
    hour, sep, minute = text.strip().partition(":")
    if not (sep and hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise RuleError("quiet hours are HH:MM")
    return f"{int(hour):02d}:{int(minute):02d}"


def backoff_s(attempts: int, urgent: bool = False) -> int:
    """How long a message waits after its ``attempts``-th failed try: 5 s doubling to 5 min
    (30 s for an urgent one: an emergency is never long behind a gateway that is back)."""
    return int(min(30 if urgent else 300, 5 * 2 ** max(0, min(attempts - 1, 10))))


def label(cause: str, language: str) -> str:
    _, es, en = CAUSES[cause]
    return en if language == "en" else es


def staff_text(cause: str, language: str, municipality: str, number: int | None,
               detail: str = "") -> tuple[str, str]:
    """The subject and body of one alert to staff: short enough for one text message,
    without accented letters (they would halve what fits; see ivr.domain.sms)."""
    what = label(cause, language).upper()
    if number is not None:
        word = "report" if language == "en" else "reporte"
        body = f"{municipality}: {what}, {word} {number}"
    else:
        body = f"{municipality}: {what}"
    if detail:
        body += f". {detail}"
    return body[:150], body[:150]


def grouped_text(cause: str, language: str, municipality: str, numbers: Sequence[int],
                 items: int) -> str:
    """One message for ``items`` alerts of ``cause`` (``numbers``: their reports)."""
    what = label(cause, language)
    alerts = "alerts" if language == "en" else "alertas"
    body = f"{municipality}: {items} {alerts} ({what})"
    if numbers:
        shown = ", ".join(str(n) for n in numbers[:8])
        more = len(numbers) - 8
        body += (": " + shown + (f" +{more}" if more > 0 else ""))
    return body[:300]
