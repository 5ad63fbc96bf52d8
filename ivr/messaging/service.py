"""The controller's messaging: the notifier, the sender, the gateway's callbacks.

``MessagingService.start`` builds the SMS gateway and the mailer the settings name, starts
the notifier (events → outbox) and the sender (outbox → gateway, mail server), and the
listener on 127.0.0.1 that Kannel calls with delivery reports and citizens' texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from ivr.core.intake import ReportIntake
from ivr.core.messaging_ports import DeliveryReport, IncomingSms
from ivr.core.notifier import Notifier, NotifySettings
from ivr.core.sender import Sender
from ivr.core.texts import TextLine, TextLineSettings
from ivr.messaging.kannel import (
    KannelGateway,
    KannelRequestRefused,
    parse_delivery_report,
    parse_incoming,
)
from ivr.messaging.settings import MessagingSection
from ivr.messaging.smtp import SmtpMailer
from ivr.metrics import process_metrics
from ivr.store.alert_feed import AlertFeedStore
from ivr.store.db import Database, StoreError
from ivr.store.outbox import Outbox
from ivr.store.texts import TextStore

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_REQUEST = 16 * 1024  # a callback carries one text (at most ten segments)


def callbacks_app(token: str, on_delivery: Callable[[DeliveryReport], Any],
                  on_text: Callable[[IncomingSms], Any]) -> web.Application:
    """Kannel's callbacks: ``/kannel/dlr`` and ``/kannel/incoming`` (GET or POST)."""

    async def fields(request: web.Request) -> dict[str, str]:
        found = {k: v for k, v in request.query.items()}
        if request.method == "POST":
            form = await request.post()
            found.update({k: v for k, v in form.items() if isinstance(v, str)})
        return found

    async def dlr(request: web.Request) -> web.Response:
        try:
            report = parse_delivery_report(await fields(request), token)
        except KannelRequestRefused as exc:
            logger.warning("messaging: a delivery report refused: %s", exc)
            return web.Response(status=403 if "token" in str(exc) else 400, text=str(exc))
        if report is None:  # not final yet (buffered at the network)
            return web.Response(text="noted")
        try:
            known = await on_delivery(report)
        except StoreError as exc:  # Kannel asks again later
            return web.Response(status=503, text=f"store unavailable: {exc}")
        return web.Response(text="ok" if known else "unknown message")

    async def incoming(request: web.Request) -> web.Response:
        try:
            sms = parse_incoming(await fields(request), token)
        except KannelRequestRefused as exc:
            logger.warning("messaging: an incoming text refused: %s", exc)
            return web.Response(status=403 if "token" in str(exc) else 400, text=str(exc))
        try:
            await on_text(sms)
        except StoreError as exc:
            return web.Response(status=503, text=f"store unavailable: {exc}")
        return web.Response(text="")  # the reply goes through the outbox, not this answer

    app = web.Application(client_max_size=MAX_REQUEST)
    for path, handler in (("/kannel/dlr", dlr), ("/kannel/incoming", incoming)):
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
    return app


class MessagingService:
    def __init__(self, db: Database, cfg: MessagingSection, *, owner: str,
                 intake: ReportIntake, keys: Any, deadlines: dict[str, int],
                 clock: Callable[[], datetime]) -> None:
        self.db = db
        self.cfg = cfg
        self.clock = clock
        self.gateway = KannelGateway(cfg.sms) if cfg.sms is not None else None
        self.mailer = SmtpMailer(cfg.mail) if cfg.mail is not None else None
        self.notifier = Notifier(AlertFeedStore(db), NotifySettings(
            window_s=cfg.window_s, mobile_pattern=cfg.mobile_pattern,
            sms=self.gateway is not None, email=self.mailer is not None), clock)
        self.outbox = Outbox(db)
        self.sender = Sender(self.outbox, owner, clock, sms=self.gateway, mail=self.mailer,
                             on_result=process_metrics().message_sent)
        self.texts = TextLine(TextStore(db, deadlines), intake, keys, clock, TextLineSettings(
            reports_per_hour=cfg.reports_per_hour, country_code=cfg.country_code))
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def _delivered(self, report: DeliveryReport) -> bool:
        return await self.outbox.delivery_report(report.message_id, report.delivered,
                                                 report.detail, self.clock())

    async def start(self) -> MessagingService:
        self._tasks = [asyncio.create_task(self.notifier.run(), name="alerta-notifier"),
                       asyncio.create_task(self.sender.run(), name="alerta-sender")]
        if self.cfg.sms is not None and self.cfg.port:
            app = callbacks_app(self.cfg.sms.callback_token, self._delivered, self.texts.receive)
            self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                         shutdown_timeout=1.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, HOST, self.cfg.port)
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1] if sockets else self.cfg.port
            logger.info("messaging: gateway callbacks on http://%s:%d/kannel/", HOST, self.port)
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        pending = set(self._tasks)
        while pending:
            # A cancel swallowed below (a library catching CancelledError as it lands on
            # an event being set) would leave the loop running and this stop waiting for
            # ever: a task still running after a second is cancelled again.
            _done, pending = await asyncio.wait(pending, timeout=1.0)
            for task in pending:
                logger.warning("messaging: %s did not stop when cancelled; cancelling again",
                               task.get_name())
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        for transport in (self.gateway,):
            if transport is not None:
                with contextlib.suppress(Exception):
                    await transport.close()
