"""Wiring: settings → store, clips, flows and the FastAGI server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivr.alarms.cid_spool import ContactIdSpool
from ivr.clips.disk import DiskGuard
from ivr.clips.reconcile import Reconciler
from ivr.clips.service import ClipService, jobs_config
from ivr.clips.vault import ClipVault
from ivr.config import Settings
from ivr.core.alarm_links import AlarmLinkWatch
from ivr.core.alarms import AlarmIntake
from ivr.core.intake import ReportIntake
from ivr.core.line_seed import seed_lines
from ivr.core.lines import LineAdmin, PublishedLines
from ivr.core.outage_watch import OutageWatch
from ivr.core.participation import Participation
from ivr.core.phone_prompts import PhoneRecorder
from ivr.core.ports import Deps, FlowConfig
from ivr.metrics import process_metrics
from ivr.participation_setup import case_store, participation_wiring
from ivr.promptaudio.library import PromptLibrary
from ivr.store import engine as store_engine
from ivr.store.alarm_links import AlarmLinkStore
from ivr.store.alarms import AlarmStore
from ivr.store.alert_feed import raise_once
from ivr.store.casework import Casework
from ivr.store.controllers import Controllers
from ivr.store.db import Database, StoreError
from ivr.store.directory import CallerDirectory
from ivr.store.journal import Journal
from ivr.store.lines import LineStore
from ivr.store.numbers import MunicipalNumbers
from ivr.store.prompt_recordings import RecordingStore
from ivr.store.reports import Reports, utc_now
from ivr.store.resilient import ResilientBook
from ivr.store.startup import close_interrupted
from ivr.tax.setup import tax_wiring

if TYPE_CHECKING:
    from ivr.alarms.receiver import Dc09Receiver
    from ivr.alarms.webhook import WebhookRunner
    from ivr.messaging.service import MessagingService

logger = logging.getLogger(__name__)


def flow_config(settings: Settings) -> FlowConfig:
    return FlowConfig(
        zones=frozenset(z.code for z in settings.zones),
        prompts=settings.prompts.resolve(),
        operator_timeout_s=settings.operator_timeout_s,
        menu_timeout_s=settings.menu_timeout_s,
        menu_tries=settings.menu_tries,
        callback_min_digits=settings.callback_min_digits,
        callback_max_digits=settings.callback_max_digits,
        record_max_s=settings.record_max_s,
        record_silence_s=settings.record_silence_s,
        record_min_ms=settings.record_min_ms,
    )


@dataclass
class Services:
    settings: Settings
    db: Database
    reports: Reports
    directory: CallerDirectory
    vault: ClipVault
    deps: Deps
    clip_jobs: ClipService | None = None  # transcription and audio jobs, when started
    book: ResilientBook | None = None  # the report book calls write to (store or journal)
    reconciler: Reconciler | None = None  # start-up clip work, and its retry on a full disk
    lines: LineAdmin | None = None  # what admins change: lines, menus, prompts
    messaging: MessagingService | None = None  # alerts and texts, in the controller
    alarm_webhook: WebhookRunner | None = None  # POS terminals' alarms, in the controller
    alarm_dc09: Dc09Receiver | None = None  # alarm panels over IP, in the controller


@asynccontextmanager
async def services(
    settings: Settings, *, reconcile_clips: bool = True, clip_jobs: bool = False,
    messaging: bool | None = None,
) -> AsyncIterator[Services]:
    """Open the store and the clip vault; reconcile leftovers; close on exit.

    ``reconcile_clips`` is the controller's start-up: calls a crash cut short are
    closed as interrupted, clips left behind are attached, and nothing about a
    clip (a full disk included) stops the start-up.

    ``clip_jobs`` starts the worker processes for transcription, audio derivatives
    and the daily purge (the controller wants them; a one-shot command does not).

    ``messaging`` (by default with ``clip_jobs``: the controller) starts the notifier,
    the sender and the gateway's callbacks (``ivr.messaging.service``).
    """
    vault = ClipVault(settings.voiceclips, settings.incoming_dir)
    refused = vault.prepare()  # a full disk: logged, alerted and retried by the reconciler
    db = await store_engine.database(settings.database).open()
    journal = Journal(settings.journal_folder).open()
    reconciler = None
    lease: Controllers | None = None
    after_journal: asyncio.Task[None] | None = None
    watching: asyncio.Task[None] | None = None
    try:
        reports = Reports(db, deadlines=settings.callback_deadlines(),
                          controller=settings.controller if reconcile_clips else None)
        book = ResilientBook(
            reports,
            journal,
            MunicipalNumbers(db, size=settings.report_number_block, holder=settings.controller,
                             clock=utc_now),
            wait_s=settings.journal_after_s,
        )
        calls_cases = case_store(reports, book)  # before the replay: cases in the journal
        await book.start()
        process_metrics().watch_journal(book.pending)
        journal_watch = OutageWatch(
            lambda kind, data: raise_once(db, kind, None, utc_now(),
                                          {**data, "reports": book.pending(),
                                           "controller": settings.controller}),
            "alert.journal_waiting", grace_s=settings.journal_alert_s)
        watching = asyncio.get_running_loop().create_task(
            _watch_journal(book, journal_watch), name="alerta-journal-watch") if (
            reconcile_clips) else None
        directory = CallerDirectory(db)
        library = PromptLibrary(settings.prompt_library_folder).prepare()
        line_store = LineStore(db, utc_now)
        lines = LineAdmin(line_store, library)
        await seed_lines(lines, settings)
        catalogue = PublishedLines(line_store, library)
        recorder = PhoneRecorder(lines, RecordingStore(db, utc_now),
                                 incoming=settings.incoming_dir / "prompts")
        if reconcile_clips:
            reconciler = Reconciler(vault, db, reports, retry_s=settings.clip_retry_s)
            after_journal = await _tidy_after_journal(book, reconciler, refused, db,
                                                      settings.controller)
            lease = Controllers(db, settings.controller, lease_s=settings.controller_lease_s,
                                clock=utc_now)
            lease.start()
        tax = tax_wiring(settings, db, utc_now)  # the tax line's desk (docs/tax.md)
        # Citizens' cases (docs/participation.md): a call's case is kept by the journal too.
        cases = participation_wiring(settings, db, catalogue, store=calls_cases)
        deps = Deps(
            config=flow_config(settings),
            book=book,
            directory=directory,
            clips=vault,
            clock=utc_now,
            lines=catalogue,
            disk=DiskGuard(vault.root, settings.min_free_mb, db, utc_now),
            recordings=recorder,
            tax=tax.desk,
            cases=cases,
        )
        jobs = await ClipService(jobs_config(settings), db, utc_now, catalogue.alert_words
                                 ).start() if clip_jobs else None
        controller = clip_jobs if messaging is None else messaging
        texting: MessagingService | None = None
        link_watch: asyncio.Task[None] | None = None
        webhook: WebhookRunner | None = None
        dc09: Dc09Receiver | None = None
        cid_spool: ContactIdSpool | None = None
        sweeping: asyncio.Task[None] | None = None
        try:
            # (started inside the try: one that fails to start, a port taken say, leaves
            # none of those before it running)
            texting = await _messaging(settings, db, catalogue).start() if controller else None
            # Silent alarms: lost links are announced wherever messaging runs; the webhook
            # listens when its port is set.
            link_watch = asyncio.get_running_loop().create_task(
                AlarmLinkWatch(AlarmLinkStore(db), utc_now).run(), name="alerta-alarm-links"
            ) if controller else None
            webhook = await _alarm_webhook(settings, db) if (
                controller and settings.alarm_webhook_port) else None
            # Alarm panels and communicators over IP (SIA DC-09), when their port is set.
            dc09 = await _alarm_dc09(settings, db) if (
                controller and settings.alarm_dc09_port) else None
            # Alarm panels that dial in: the events AlarmReceiver leaves in its spool folder.
            cid_spool = ContactIdSpool(
                settings.contact_id_spool, AlarmIntake(AlarmStore(db), utc_now)
            ).start() if controller else None
            # Cases near their deadline warned, overdue ones escalated (once each).
            sweeping = asyncio.get_running_loop().create_task(
                _sweep_cases(cases), name="alerta-case-sweep") if controller else None
            yield Services(settings, db, reports, directory, vault, deps, jobs, book, reconciler,
                           lines, texting, webhook, dc09)
        finally:
            if sweeping is not None:
                while not sweeping.done():  # cancelled again should a cancel be swallowed
                    sweeping.cancel()
                    await asyncio.wait({sweeping}, timeout=1.0)
            if cid_spool is not None:
                await cid_spool.stop()
            if dc09 is not None:
                await dc09.stop()
            if webhook is not None:
                await webhook.cleanup()
            if link_watch is not None:
                link_watch.cancel()
                await asyncio.gather(link_watch, return_exceptions=True)
            if texting is not None:
                await texting.stop()
            if jobs is not None:
                await jobs.stop()
            await tax.close()
            await book.stop()
    finally:
        if watching is not None:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            await journal_watch.close()
        if after_journal is not None:
            after_journal.cancel()
            await asyncio.gather(after_journal, return_exceptions=True)
        if lease is not None:
            await lease.stop()
        if reconciler is not None:
            await reconciler.stop()
        journal.close()
        await db.close()


async def _sweep_cases(cases: Participation, every_s: float = 300.0) -> None:
    """Cases' deadlines: warned near, escalated when overdue (idempotent; a store away
    is tried again at the next round)."""
    while True:
        try:
            await cases.sweep()
        except Exception:
            logger.exception("case sweep failed; trying again")
        await asyncio.sleep(every_s)


async def _watch_journal(book: ResilientBook, watch: OutageWatch) -> None:
    """Reports waiting in the journal (the database away or too slow) are an outage."""
    while True:
        waiting = book.pending()
        watch.update(waiting == 0, f"{waiting} report(s) in the journal")
        await asyncio.sleep(5)


def _messaging(settings: Settings, db: Database, catalogue: PublishedLines
               ) -> MessagingService:
    """Alerts to staff and texts with citizens (``ivr.messaging``): the notifier always
    runs (it also announces overdue callbacks on the console); messages only go by the
    channels configured."""
    from ivr.messaging.service import MessagingService

    deadlines = settings.callback_deadlines()
    intake = ReportIntake(Casework(db, deadlines=deadlines), catalogue.incident_types,
                          lambda zone: settings.zone(zone) is not None)
    return MessagingService(db, settings.messaging, owner=settings.controller, intake=intake,
                            keys=catalogue.type_keys, deadlines=deadlines, clock=utc_now)


async def _alarm_webhook(settings: Settings, db: Database) -> WebhookRunner:
    """The silent-alarm webhook on 127.0.0.1 (``ivr.alarms.webhook``); HTTPS is the
    deployment's reverse proxy in front of it (docs/alarms.md)."""
    from ivr.alarms.webhook import start_webhook

    return await start_webhook(AlarmIntake(AlarmStore(db), utc_now), "127.0.0.1",
                               settings.alarm_webhook_port)


async def _alarm_dc09(settings: Settings, db: Database) -> Dc09Receiver:
    """The DC-09 receiver (``ivr.alarms.receiver``): TCP and UDP on
    ``alarm_host:alarm_dc09_port``; a panel gets its ACK once the signal is stored."""
    from ivr.alarms.receiver import start_dc09

    receiver = await start_dc09(AlarmIntake(AlarmStore(db), utc_now), settings.alarm_host,
                                settings.alarm_dc09_port)
    logger.info("DC-09 receiver listening on %s:%d (TCP and UDP)", settings.alarm_host,
                receiver.port)
    return receiver


async def _tidy_after_journal(
    book: ResilientBook, reconciler: Reconciler, refused: list[str], db: Database,
    controller: str,
) -> asyncio.Task[None] | None:
    """Close the calls a crash cut short and reconcile leftover clips, once the journal's
    reports are in the store: until then their clips look like strays and their calls
    like open ones. A journal the store cannot take yet puts this off (in a task)."""
    started = utc_now()  # calls opened from now on belong to this run: never closed here

    async def tidy() -> None:
        await book.emptied.wait()
        # Stranded clips first: a call cut by a crash is closed with its clip attached.
        await reconciler.start(refused)
        await close_interrupted(db, started, controller)

    try:
        await book.replay()
    except StoreError as exc:
        logger.warning("journal: %d report(s) wait for the database (%s); calls cut short "
                       "and leftover clips are seen to once they are stored", book.pending(), exc)
        return asyncio.get_running_loop().create_task(tidy(), name="alerta-start-up-tidy")
    await tidy()
    return None
