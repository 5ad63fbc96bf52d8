"""Use case: turn what happens into messages. The notifier reads the event log after its
cursor, and for each event the admins' rules name (an emergency, a keyword alert, a
silent alarm, a callback overdue, the AMI link down, ...) queues a text message and/or
an e-mail to each person the rule names; it queues the citizens' texts (the receipt
after a call, dispatched, resolved) the same way, and climbs the escalation ladder of an
emergency nobody has acknowledged.

Deciding is pure (``plan``); reading and writing is one store transaction per batch
(``ivr.store.alert_feed``), so each event becomes its messages exactly once. Sending is
``ivr.core.sender``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ivr.core.messaging_ports import AlertFeed
from ivr.core.records import StoreError
from ivr.domain import texting
from ivr.domain.alerting import (
    CAUSES,
    EVENT_CAUSES,
    Message,
    Person,
    Rule,
    audience,
    ladder,
    quiet_until,
    staff_text,
)
from ivr.domain.municipalities import number_of
from ivr.domain.notices import Context, Escalation, FeedEvent, Place, Plan, ReportFacts

logger = logging.getLogger(__name__)

KINDS = frozenset({"report.opened", "call.ended", "report.state_changed",
                   "report.text_opened", "case.answered", *EVENT_CAUSES})


@dataclass(frozen=True, slots=True)
class NotifySettings:
    window_s: int = 60  # a burst of one cause to one person waits this long, then goes as one
    mobile_pattern: str = r"9\d{8}"  # numbers texts can reach (Peru's mobiles by default)
    sms: bool = True  # a gateway is configured
    email: bool = True  # a mail server is configured
    tick_s: float = 1.0
    overdue_every_s: float = 30.0


def plan(ctx: Context, cfg: NotifySettings) -> Plan:
    out = Plan()
    for event in ctx.events:
        report = ctx.reports.get(event.report_id) if event.report_id else None
        cause = _cause(event, report)
        if cause is not None:
            if report is not None:
                where = [ctx.places[report.municipality]] if (
                    report.municipality in ctx.places) else []
            elif event.municipality is not None:
                where = [ctx.places[event.municipality]] if (
                    event.municipality in ctx.places) else []
            else:
                where = list(ctx.places.values())
            for place in where:
                _alert(out, place, cause, event, report, ctx.now, cfg)
        if report is not None and report.municipality in ctx.places:
            _citizen(out, ctx.places[report.municipality], event, report, ctx, cfg)
    for due in ctx.due:
        report = ctx.reports.get(due.report_id)
        if report is None or report.municipality not in ctx.places:
            continue
        place = ctx.places[report.municipality]
        rule = next((r for r in place.rules if r.id == due.rule_id), None)
        if rule is None or report.state != "received":
            continue  # acknowledged (or the rule removed): the ladder stops here
        people = audience(rule, place.people, due.step)
        for person in people:
            _to(out, place, rule, person, "unacknowledged", report, ctx.now, cfg,
                key=f"esc{report.id}.{rule.id}.{due.step}")
        if people and due.step + 1 < len(ladder(rule, place.people)):
            out.escalations.append(Escalation(report.id, due.step + 1,
                                              ctx.now + timedelta(seconds=rule.after_s),
                                              rule.id))
    return out


def _cause(event: FeedEvent, report: ReportFacts | None) -> str | None:
    if event.kind == "report.opened":
        if report is not None and report.channel == "pos":
            return "silent_alarm"  # a shop's or a panel's alarm: its own rules
        return "emergency" if report is not None and report.emergency else None
    return EVENT_CAUSES.get(event.kind)


def _alert(out: Plan, place: Place, cause: str, event: FeedEvent, report: ReportFacts | None,
           now: datetime, cfg: NotifySettings) -> None:
    told_at_once: set[str] = set()
    for rule in place.rules_for(cause):
        told_at_once.add(rule.audience)
        for person in audience(rule, place.people, 0):
            _to(out, place, rule, person, cause, report, now, cfg, key=f"ev{event.id}",
                detail=_detail(event, report))
    if cause in ("emergency", "silent_alarm") and report is not None:
        for rule in place.rules_for("unacknowledged"):
            # The first step up is past whoever an emergency rule already told.
            first = 1 if rule.audience in told_at_once else 0
            if first < len(ladder(rule, place.people)):
                out.escalations.append(Escalation(
                    report.id, first, now + timedelta(seconds=rule.after_s), rule.id))


def _detail(event: FeedEvent, report: ReportFacts | None) -> str:
    data = event.data
    if event.kind == "report.keyword_alert":
        return "; ".join(str(w) for w in (data.get("words") or data.get("hits") or [])[:3])
    if event.kind == "alert.disk_low":
        return f"{data.get('free_mb', '?')} MB libres" if "free_mb" in data else ""
    if report is not None:
        return report.type
    return str(data.get("detail", ""))[:60]


def _to(out: Plan, place: Place, rule: Rule, person: Person, cause: str,
        report: ReportFacts | None, now: datetime, cfg: NotifySettings, *, key: str,
        detail: str = "") -> None:
    urgent = CAUSES[cause][0]
    number = number_of(report.id) if report is not None else None
    subject, body = staff_text(cause, person.language, place.name, number, detail)
    when = now
    group = None
    if not urgent:
        when = now + timedelta(seconds=cfg.window_s)
        quiet = quiet_until(person, place.local(now))
        if quiet is not None:
            when = max(when, quiet - timedelta(minutes=place.utc_offset_minutes))
    channels = []
    if rule.sms and cfg.sms and person.phone:
        channels.append(("sms", person.phone))
    if rule.email and cfg.email and person.email:
        channels.append(("email", person.email))
    for channel, recipient in channels:
        if not urgent:
            group = f"{place.id}.{cause}.{channel}.{recipient}"
        out.messages.append(Message(
            channel, recipient, f"alert.{cause}", body, when, place.id,
            report_id=report.id if report is not None else None, user_id=person.user_id,
            urgent=urgent, subject=f"[Alerta] {subject}",
            dedup_key=f"{key}.{channel}.{recipient}", group_key=group))


def _citizen(out: Plan, place: Place, event: FeedEvent, report: ReportFacts, ctx: Context,
             cfg: NotifySettings) -> None:
    texts = place.texts
    if not (cfg.sms and texting.mobile(report.caller, cfg.mobile_pattern)):
        return
    if (place.id, report.caller or "") in ctx.opted_out:
        return
    if report.service is not None:
        _case_text(out, place, event, report, ctx)
        return
    what = None
    if event.kind == "call.ended" and report.channel == "ivr" and texts.receipt:
        what = "receipt"
    elif event.kind == "report.state_changed" and report.channel in ("ivr", "sms") and (
            report.type not in texts.quiet_types):
        to = event.data.get("to")
        if to == "dispatched" and texts.on_dispatched:
            what = "dispatched"
        elif to == "resolved" and texts.on_resolved:
            what = "resolved"
    if what is None:
        return
    body = texting.say(what, report.language, place.name, n=number_of(report.id))
    out.messages.append(Message(
        "sms", report.caller or "", f"citizen.{what}", body, ctx.now, place.id,
        report_id=report.id, dedup_key=f"citizen.{what}.{report.id}"))


def _case_text(out: Plan, place: Place, event: FeedEvent, report: ReportFacts,
               ctx: Context) -> None:
    """A citizen's case: its receipt with the date it will be answered by, and word
    that the answer is ready (never the incident texts)."""
    data = event.data
    if event.kind == "report.opened" and place.texts.receipt:
        what = "case_receipt"
        try:
            due = date.fromisoformat(str(data.get("due_on")))
        except ValueError:
            return
        body = texting.say_case(what, report.language, place.name, n=number_of(report.id),
                                kind=str(data.get("kind", report.type)),
                                area=str(data.get("area_name") or data.get("area", "")),
                                due=due)
    elif event.kind == "case.answered":
        what = "case_answered"
        body = texting.say_case(what, report.language, place.name, n=number_of(report.id),
                                line=str(data.get("status_line", "")))
    else:
        return
    out.messages.append(Message(
        "sms", report.caller or "", f"citizen.{what}", body, ctx.now, place.id,
        report_id=report.id, dedup_key=f"citizen.{what}.{report.id}.{event.id}"))


class Notifier:
    """Keeps the outbox up with the event log, and the escalation ladders climbing."""

    def __init__(self, feed: AlertFeed, cfg: NotifySettings,
                 clock: Callable[[], datetime]) -> None:
        self.feed = feed
        self.cfg = cfg
        self.clock = clock
        self._changed = asyncio.Event()
        self.queued = 0

    def _planner(self, ctx: Context) -> Plan:
        return plan(ctx, self.cfg)

    async def catch_up(self) -> int:
        """Read every unread event and work every due escalation; returns messages queued.
        A read first: a store with nothing new gets no write."""
        queued = 0
        while await self.feed.lag() > 0:
            read, n = await self.feed.advance(self._planner, self.clock(), kinds=KINDS)
            queued += n
            if read == 0:
                break
        while await self.feed.escalations_due(self.clock()):
            if not await self.feed.escalate(self._planner, self.clock()):
                break
        self.queued += queued
        return queued

    async def run(self) -> None:
        self.feed.on_commit.append(self._changed.set)
        last_overdue = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._changed.clear()
                try:
                    if loop.time() - last_overdue >= self.cfg.overdue_every_s:
                        last_overdue = loop.time()
                        await self.feed.announce_overdue(self.clock())
                    await self.catch_up()
                except (StoreError, OSError) as exc:
                    logger.warning("notifier: store unavailable, trying again: %s", exc)
                    await asyncio.sleep(5)
                except Exception:
                    logger.exception("notifier: failed; trying again")
                    await asyncio.sleep(5)
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
                # as the event is set, and the task then never stops (a hang at shutdown)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.cfg.tick_s):
                        await self._changed.wait()
        finally:
            with contextlib.suppress(ValueError):
                self.feed.on_commit.remove(self._changed.set)
