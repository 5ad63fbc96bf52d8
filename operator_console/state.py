"""Everything a request handler may reach, typed, under one application key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ivr.core.callbacks import CallbackDesk
from ivr.core.cases import CaseDesk
from ivr.core.intake import ReportIntake
from ivr.core.lines import LineAdmin, PublishedLines
from ivr.core.open311 import Open311Desk
from ivr.core.phone_prompts import PhoneRecorder
from ivr.health import Health
from ivr.metrics import Metrics, process_metrics
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.alarm_views import AlarmViews
from ivr.store.alert_admin import AlertAdmin
from ivr.store.casework import Casework
from ivr.store.db import Database
from ivr.store.municipalities import Municipalities
from ivr.store.outbox import Outbox
from ivr.store.queries import ConsoleQueries
from ivr.store.sessions import Sessions
from ivr.store.texts import TextStore
from ivr.store.users import Users
from operator_console.feed import EventFeed
from operator_console.settings import ConsoleSection


@dataclass
class Console:
    settings: ConsoleSection  # what the views read (create_app has the whole Settings)
    db: Database
    users: Users
    sessions: Sessions
    casework: Casework
    queries: ConsoleQueries
    feed: EventFeed
    ami: Any = None  # ivr.ami.link.AmiLink when callbacks are configured
    login_failures: dict[str, list[float]] = field(default_factory=dict)  # by client address
    transcription_off: str | None = None  # why transcripts are off, when they are
    metrics: Metrics = field(default_factory=process_metrics)
    health: Health | None = None  # the /healthz checks, set when the console starts
    lines: LineAdmin | None = None  # admins' lines, menus and prompts
    catalogue: PublishedLines | None = None  # the live lines, as calls see them
    recorder: PhoneRecorder | None = None  # prompts recorded by phone (rings through AMI)
    desk: CaseDesk | None = None  # what people do to open reports (ivr.core.cases)
    intake: ReportIntake | None = None  # reports taken by hand (ivr.core.intake)
    callbacks: CallbackDesk | None = None  # calling citizens back (ivr.core.callbacks)
    municipalities: Municipalities | None = None  # who shares this deployment
    alerts: AlertAdmin | None = None  # alert rules, the roster, staff contacts
    outbox: Outbox | None = None  # text messages and e-mail, and what became of them
    texts: TextStore | None = None  # texts with citizens: the municipality's settings
    alarms: AlarmViews | None = None  # the silent-alarm board and its report (reads)
    alarm_admin: AlarmAdmin | None = None  # sites and devices of the silent alarms
    participation: Any = None  # ivr.core.participation.Participation: cases, calendar, officers
    open311: Open311Desk | None = None  # API keys and cases filed through Open311


class ConsoleRef:
    """Filled in when the application starts (its store is opened then)."""

    value: Console | None = None


CONSOLE: web.AppKey[ConsoleRef] = web.AppKey("console", ConsoleRef)


def municipalities_of(request: web.Request) -> Municipalities:
    found = console_of(request).municipalities
    if found is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return found


def desk_of(request: web.Request) -> CaseDesk:
    desk = console_of(request).desk
    if desk is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return desk


def console_of(request: web.Request) -> Console:
    console = request.app[CONSOLE].value
    if console is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return console
