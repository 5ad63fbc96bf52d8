"""The silent-alarm webhook for POS software and apps: ``POST /alarms/v1/events``.

A shop's card terminal or a phone app sends one event per request, signed the Standard
Webhooks way (``ivr.alarms.webhook_signing``)::

    webhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W
    webhook-timestamp: 1796569200
    webhook-signature: v1,<base64 HMAC-SHA256>

    {"device": "pos-0042", "event": "holdup", "zone": "caja 2", "at": "2026-12-04T15:00:00Z"}

The answer is 2xx only once the signal and the report it opened are committed
(``AlarmIntake.receive``); the same webhook-id again is a duplicate, answered 2xx and
stored once. An unknown device and a wrong signature get the same 401, so the answer
tells nobody which device ids exist. A store that cannot take the signal answers 503
and the sender retries.

The listener binds 127.0.0.1: HTTPS is the deployment's reverse proxy (nginx, Caddy),
which forwards ``/alarms/v1/`` here (docs/alarms.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from ivr.alarms.webhook_signing import MalformedHeaders, fresh, read_headers, verified
from ivr.core.alarms import AlarmIntake
from ivr.core.records import StoreError
from ivr.domain.alarms import Signal, classify

logger = logging.getLogger(__name__)

PATH = "/alarms/v1/events"
MAX_BODY = 8 * 1024  # one event is a few hundred bytes (the spec asks under 20 kB)
RETRY_AFTER_S = 10
# event: the code the intake classifies (ivr.domain.alarms: SIA two letters,
# Contact ID 'E122', 'NULL' for a heartbeat, which only keeps the device alive)
EVENT_CODES = {
    "holdup": "HA",
    "panic": "PA",
    "duress": "DA",
    "silent": "E122",
    "emergency": "QA",
    "test": "RP",
    "heartbeat": "NULL",
    "trouble": "YS",
    "restore": "YK",
}
NOT_VERIFIED = "signature not verified"  # unknown device or wrong signature: one answer
_DUMMY_KEY = b"\x00" * 32

INTAKE: web.AppKey[AlarmIntake] = web.AppKey("alarm_intake", AlarmIntake)


class BadEvent(ValueError):
    """A body that is not an event of ours, with a message fit for the sender."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    device: str
    event: str
    zone: str | None = None
    at: datetime | None = None  # when it happened, by the sender; in UTC

    @property
    def code(self) -> str:
        return EVENT_CODES[self.event]


def device_of(body: bytes) -> tuple[str, dict[str, Any]]:
    """The device id a body names, and the body as JSON (its signature is checked next)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEvent("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise BadEvent("the body must be a JSON object")
    device = data.get("device")
    if not isinstance(device, str) or not 1 <= len(device) <= 64 or not device.isprintable():
        raise BadEvent("'device' must be the terminal's id (1 to 64 characters)")
    return device, data


def parse_event(device: str, data: dict[str, Any], time_zone: str = "UTC") -> WebhookEvent:
    """The event of a verified body. Keys we do not know are ignored (a sender may add
    some); an ``at`` without an offset is read in the device's time zone."""
    event = data.get("event")
    if not isinstance(event, str) or event not in EVENT_CODES:
        raise BadEvent("'event' must be one of " + ", ".join(EVENT_CODES))
    zone = data.get("zone")
    if isinstance(zone, int) and not isinstance(zone, bool):
        zone = str(zone)
    if zone is not None and not (isinstance(zone, str) and 1 <= len(zone) <= 16
                                 and zone.isprintable()):
        raise BadEvent("'zone' must be text of 1 to 16 characters")
    at = data.get("at")
    moment = None
    if at is not None:
        if not isinstance(at, str) or len(at) > 40:
            raise BadEvent("'at' must be an ISO 8601 time")
        try:
            moment = datetime.fromisoformat(at)
        except ValueError as exc:
            raise BadEvent("'at' must be an ISO 8601 time") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_zone(time_zone))
        moment = moment.astimezone(UTC)
    return WebhookEvent(device, event, zone, moment)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _answer(status: int, **fields: Any) -> web.Response:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return web.json_response(fields, status=status, headers=headers)


def _refused(request: web.Request, status: int, reason: str) -> web.Response:
    logger.warning("alarms webhook: refused %d from %s: %s", status, request.remote, reason)
    return _answer(status, error=reason)


async def receive_event(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    if (request.content_length or 0) > MAX_BODY:
        return _refused(request, 413, f"the body is over {MAX_BODY} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _refused(request, 413, f"the body is over {MAX_BODY} bytes")
    try:
        headers = read_headers(request.headers.get("webhook-id"),
                               request.headers.get("webhook-timestamp"),
                               request.headers.get("webhook-signature"))
        if not fresh(headers, intake.clock()):
            return _refused(request, 401, "webhook-timestamp is more than 5 minutes off")
        device_id, data = device_of(body)
    except (MalformedHeaders, BadEvent) as exc:
        return _refused(request, 400, str(exc))
    try:
        device = await intake.device("webhook", device_id)
    except StoreError as exc:
        logger.error("alarms webhook: the store is away (%s): the sender will retry", exc)
        return _answer(503, error="the store is unavailable; send again")
    if device is None:
        # As much work as a wrong signature, so the time taken tells nothing either.
        hmac.compare_digest(hmac.new(_DUMMY_KEY, body, hashlib.sha256).digest(), _DUMMY_KEY)
        return _refused(request, 401, NOT_VERIFIED)
    if not verified(headers, body, device.keys):
        return _refused(request, 401, NOT_VERIFIED)
    try:
        event = parse_event(device_id, data, device.time_zone)
    except BadEvent as exc:
        return _refused(request, 400, str(exc))
    signal = Signal("webhook", device.account, event.code,
                    f"webhook:{device.account}:{headers.message_id}", zone=event.zone,
                    sent_at=event.at, raw=body.decode("utf-8", "replace")[:500])
    try:
        recorded = await intake.receive(device, signal)
    except StoreError as exc:
        logger.error("alarms webhook: %s from %s not stored (%s): the sender will retry",
                     event.event, device.account, exc)
        return _answer(503, error="the store is unavailable; send again")
    if recorded is None:  # a heartbeat: the device is alive, nothing else is kept
        return _answer(200, signal=None, duplicate=False, kind=classify(event.code))
    return _answer(200, signal=recorded.signal_id, duplicate=recorded.duplicate,
                   kind=recorded.kind)


def webhook_app(intake: AlarmIntake) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[INTAKE] = intake
    app.router.add_post(PATH, receive_event)
    return app


class WebhookRunner(web.AppRunner):
    """The listener; ``port`` is the one bound (0 in the settings picks a free one)."""

    port = 0


async def start_webhook(intake: AlarmIntake, host: str, port: int) -> WebhookRunner:
    """Listen on ``host:port`` (127.0.0.1 behind the TLS proxy); ``cleanup()`` stops it."""
    runner = WebhookRunner(webhook_app(intake), handle_signals=False, access_log=None,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    runner.port = sockets[0].getsockname()[1] if sockets else port
    logger.info("alarms webhook: listening on http://%s:%d%s", host, runner.port, PATH)
    return runner
