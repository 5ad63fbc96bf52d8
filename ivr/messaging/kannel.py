"""Texts through Kannel: the ``SmsGateway`` port over its HTTP ``sendsms`` interface, and
the two callbacks Kannel makes to us (delivery reports, citizens' texts).

Sending is one GET to smsbox's sendsms URL. Every text goes as ``charset=UTF-8``, with
``coding=0`` (GSM-7) when all its characters are GSM-7 and ``coding=2`` (UCS-2)
otherwise: Kannel would turn an ``ó`` into ``?`` in a GSM-7 text. It asks for delivery
reports ``DLR_MASK`` (1 delivered, 2 not delivered, 16 refused by the SMSC) at a
``dlr-url`` naming the outbox row and carrying the callback token.

What a send returns (``classify_reply`` for Kannel's answers, recorded from 1.4.5):

- ``sent``: 202 "0: Accepted for delivery", or "3: Queued for later delivery" (no SMSC
  link up: Kannel keeps it in its store and sends it when one is).
- ``refused``: a number we do not send to (checked before connecting), a text over
  ``MAX_TEXT``, or a 400 Kannel gives about the number or the text.
- ``retry``: connection refused, timeout, any 5xx (503 is Kannel's "try again later",
  e.g. its queue is full), 403 "Authorization failed" (wrong username or password, or
  an address ``user-allow-ip`` does not allow), 403 "Not routable" (no smsc group
  takes it: an ``smsc_id`` or a routing rule to fix), 400 "Sender missing" (no
  ``default_sender`` nor ``global-sender``), a 404 (wrong ``sendsms_url``). Those are
  the deployment's to fix; the message waits for it. A timeout may hide a message
  Kannel took: the retry may then send it twice, which beats losing it.

Kannel's reports with a ``fake`` SMSC (our tests): type 1 as soon as fakesmsc has been
handed the message (if the mask asks for any of 1, 2, 4; never 2 or 4), type 8 from
bearerbox itself once the SMSC took it (if asked, with ``%A`` "ACK/"); 16 comes from
bearerbox when it gives a message up for good, which a fake SMSC never makes it do.
A text split in parts gets one report per type, not one per part. Types 4 (buffered) and
8 (taken by the SMSC) are not the network's last word: ``parse_delivery_report``
returns ``None`` for them.

The password is never logged nor put in a ``detail``; ``KannelSection`` leaves it and
the token out of its repr. The token goes in URLs Kannel fills in, where ``%`` starts
one of Kannel's own codes (``%C`` is a charset, ``%F`` an id): it is therefore limited
to letters, digits and ``-._~``, which need no escaping.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from ivr.core.messaging_ports import DeliveryReport, IncomingSms, OutgoingSms, SendResult
from ivr.domain.sms import is_gsm7

logger = logging.getLogger(__name__)

DEFAULT_SENDSMS_URL = "http://127.0.0.1:13013/cgi-bin/sendsms"
DLR_DELIVERED, DLR_UNDELIVERED, DLR_BUFFERED, DLR_SMSC_SUCCESS, DLR_SMSC_FAILURE = 1, 2, 4, 8, 16
DLR_MASK = DLR_DELIVERED | DLR_UNDELIVERED | DLR_SMSC_FAILURE  # only final words
MAX_TEXT = 1600  # characters, each way: what a phone sends as one long text
MAX_VALUE = 2000  # any other field of a callback
MAX_REPLY = 4096  # bytes of Kannel's answer we read
NUMBER = re.compile(r"[0-9]{3,20}")
TOKEN = re.compile(r"[A-Za-z0-9._~-]+")
GATEWAY_REF = re.compile(r"[A-Za-z0-9-]{1,64}")


class KannelRequestRefused(ValueError):
    """A callback we do not take: wrong or missing token, or malformed values."""


@dataclass(frozen=True, slots=True)
class KannelSection:
    sendsms_url: str = DEFAULT_SENDSMS_URL
    username: str = "alerta"
    password: str = field(default="", repr=False)
    smsc_id: str | None = None  # Kannel's smsc-id to send through; None: its routing
    timeout_s: float = 10.0
    callback_base: str = "http://127.0.0.1:8090"  # how Kannel reaches our callbacks
    callback_token: str = field(default="", repr=False)  # shared with Kannel only
    default_sender: str | None = None

    def __post_init__(self) -> None:
        if not TOKEN.fullmatch(self.callback_token):
            raise ValueError("callback_token is needed, made of letters, digits and -._~"
                             " only (Kannel reads a %-escape in a URL as its own code)")
        if "%" in self.callback_base or not self.callback_base.startswith(
                ("http://", "https://")):
            raise ValueError("callback_base is an http(s) URL without %")
        if not self.sendsms_url.startswith(("http://", "https://")):
            raise ValueError("sendsms_url is an http(s) URL")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")


# -- sending -----------------------------------------------------------------------


def valid_number(number: str) -> bool:
    """Digits (3 to 20), with or without a leading ``+``: what we hand to Kannel."""
    return NUMBER.fullmatch(number.removeprefix("+")) is not None


def dlr_url(section: KannelSection, message_id: int) -> str:
    """Where Kannel reports on ``message_id``: ``%d`` is the report type, ``%A`` the
    SMSC's own words (e.g. an SMPP receipt's ``stat:UNDELIV err:001``)."""
    return (f"{section.callback_base.rstrip('/')}/kannel/dlr?message={message_id}"
            f"&status=%d&token={section.callback_token}&reply=%A")


def sendsms_params(section: KannelSection, sms: OutgoingSms) -> dict[str, str]:
    """The query of the sendsms request (the password among it: never log it)."""
    params = {"username": section.username, "password": section.password,
              "to": sms.to, "text": sms.text, "charset": "UTF-8",
              "coding": "0" if is_gsm7(sms.text) else "2",
              "dlr-mask": str(DLR_MASK), "dlr-url": dlr_url(section, sms.message_id)}
    sender = sms.sender or section.default_sender
    if sender:
        params["from"] = sender
    if section.smsc_id:
        params["smsc"] = section.smsc_id
    return params


def classify_reply(status: int, body: str, username: str = "") -> SendResult:
    """What Kannel's answer to a sendsms request means for the outbox."""
    said = " ".join(body.split())[:160]
    lowered = said.lower()
    if 200 <= status < 300:
        if said.startswith("3:"):
            return SendResult("sent", "queued at Kannel: no SMSC link up, it goes when one is")
        return SendResult("sent", said or f"accepted (HTTP {status})")
    if status == 403 and "authorization" in lowered:
        return SendResult("retry", f"Kannel refused the authorization of sendsms user"
                                   f" {username!r}: check [sms] username and password against"
                                   " its sendsms-user group (and user-allow-ip)")
    if status == 403 and "routable" in lowered:
        return SendResult("retry", "Kannel has no SMSC route for it (\"Not routable\"):"
                                   " check smsc_id and the smsc groups' routing rules")
    if status == 400 and "sender missing" in lowered:
        return SendResult("retry", "Kannel needs a sender: set [sms] default_sender or"
                                   " Kannel's global-sender")
    if status == 400:
        return SendResult("refused", f"Kannel refused it: {said}")
    if status >= 500:
        return SendResult("retry", f"Kannel cannot take it now (HTTP {status}): {said}")
    return SendResult("retry", f"unexpected answer from Kannel (HTTP {status}): {said};"
                               " check sendsms_url")


class KannelGateway:
    """The ``SmsGateway`` port over Kannel's sendsms interface (one HTTP session)."""

    def __init__(self, section: KannelSection) -> None:
        self.cfg = section
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        where = urlsplit(section.sendsms_url)
        self._where = f"{where.hostname}:{where.port or (443 if where.scheme == 'https' else 80)}"

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.cfg.timeout_s))
            self._loop = loop
        return self._session

    async def send(self, sms: OutgoingSms) -> SendResult:
        if not valid_number(sms.to):
            return SendResult("refused", f"not a phone number: {sms.to[:24]!r}")
        if len(sms.text) > MAX_TEXT:
            return SendResult("refused", f"text of {len(sms.text)} characters, at most"
                                         f" {MAX_TEXT}")
        try:
            session = self._session_here()
            async with session.get(self.cfg.sendsms_url,
                                   params=sendsms_params(self.cfg, sms)) as response:
                status = response.status
                body = (await response.content.read(MAX_REPLY)).decode("utf-8", "replace")
        except TimeoutError:
            result = SendResult("retry", f"Kannel at {self._where} did not answer within"
                                         f" {self.cfg.timeout_s:g} s")
        except aiohttp.ClientConnectorError as exc:
            reason = ("connection refused" if isinstance(exc.os_error, ConnectionRefusedError)
                      else exc.os_error.strerror or type(exc.os_error).__name__)
            result = SendResult("retry", f"cannot reach Kannel at {self._where}: {reason}"
                                         " (bearerbox or smsbox down?)")
        except (aiohttp.ClientError, OSError) as exc:
            result = SendResult("retry", f"connection to Kannel at {self._where} failed:"
                                         f" {type(exc).__name__}")
        else:
            result = classify_reply(status, body, self.cfg.username)
        if self.cfg.password and self.cfg.password in result.detail:  # never, but be sure
            result = SendResult(result.outcome, result.detail.replace(self.cfg.password, "***"),
                                result.gateway_ref)
        logger.debug("kannel: message %d %s: %s", sms.message_id, result.outcome, result.detail)
        return result

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


# -- Kannel's callbacks --------------------------------------------------------------


def _check_token(fields: Mapping[str, str], token: str) -> None:
    given = fields.get("token")
    if not token:
        raise KannelRequestRefused("no callback token is configured: every callback refused")
    if not given:
        raise KannelRequestRefused("missing token")
    if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
        raise KannelRequestRefused("wrong token")


def _value(fields: Mapping[str, str], name: str, *, required: bool = True,
           limit: int = MAX_VALUE) -> str:
    value = fields.get(name)
    if value is None:
        if required:
            raise KannelRequestRefused(f"{name} is missing")
        return ""
    if len(value) > limit:
        raise KannelRequestRefused(f"{name} is too long ({len(value)} characters,"
                                   f" at most {limit})")
    return value


def _number(fields: Mapping[str, str], name: str) -> str:
    value = _value(fields, name, limit=32).strip().removeprefix("+")
    if not NUMBER.fullmatch(value):
        raise KannelRequestRefused(f"{name} is not a phone number of 3 to 20 digits")
    return value


def _printable(text: str, limit: int) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)[:limit].strip()


def parse_delivery_report(query: Mapping[str, str], token: str) -> DeliveryReport | None:
    """Kannel's report on a message we sent; ``None`` when it is not final yet (4: held
    at the SMSC, 8: taken by the SMSC): a final one follows if the network sends it."""
    _check_token(query, token)
    message = _value(query, "message", limit=18)
    if not message.isascii() or not message.isdigit() or int(message) <= 0:
        raise KannelRequestRefused("message is not an outbox id")
    status = _value(query, "status", limit=4)
    if not status.isascii() or not status.isdigit():
        raise KannelRequestRefused(f"DLR status is not a number: {status[:8]!r}")
    kind = int(status)
    reply = _printable(_value(query, "reply", required=False), 120)
    said = f" (SMSC: {reply})" if reply else ""
    if kind == DLR_DELIVERED:
        return DeliveryReport(int(message), True, f"delivered to the phone{said}")
    if kind == DLR_UNDELIVERED:
        return DeliveryReport(int(message), False, f"not delivered to the phone{said}")
    if kind == DLR_SMSC_FAILURE:
        return DeliveryReport(int(message), False, f"refused by the SMSC{said}")
    if kind in (DLR_BUFFERED, DLR_SMSC_SUCCESS):
        return None
    raise KannelRequestRefused(f"unknown DLR status {kind}")


def parse_incoming(query_or_form: Mapping[str, str], token: str) -> IncomingSms:
    """A citizen's text, as the ``sms-service`` of ``render_kannel_conf`` passes it:
    ``from``, ``to``, ``text`` (UTF-8: smsbox recodes UCS-2 with ``mo-recode``),
    ``coding`` and ``charset`` (to refuse what was not recoded) and Kannel's ``id``."""
    fields = query_or_form
    _check_token(fields, token)
    sender, to = _number(fields, "from"), _number(fields, "to")
    coding = _value(fields, "coding", required=False, limit=2) or "0"
    if coding != "0":
        raise KannelRequestRefused(
            "a binary (8-bit) message" if coding == "1" else
            f"text in coding {coding[:2]!r}, not recoded to UTF-8 (smsbox mo-recode = true)")
    charset = _value(fields, "charset", required=False, limit=32) or "UTF-8"
    if charset.upper().replace("_", "-") not in ("UTF-8", "UTF8"):
        raise KannelRequestRefused(f"text in charset {charset[:32]!r}, expected UTF-8")
    text = _value(fields, "text", limit=MAX_TEXT)
    if "\x00" in text or "\ufffd" in text:
        raise KannelRequestRefused("text is not valid UTF-8 text")
    ref = _value(fields, "id", required=False, limit=64) or None
    if ref is not None and not GATEWAY_REF.fullmatch(ref):
        raise KannelRequestRefused("id is not a Kannel message id")
    return IncomingSms(sender=sender, to=to, text=text, gateway_ref=ref)


# -- Kannel's configuration ----------------------------------------------------------


def incoming_url(section: KannelSection) -> str:
    """The ``get-url`` of our sms-service: ``%p`` the citizen, ``%P`` our number, ``%b``
    the text exactly (``%a`` would squeeze its spaces), ``%I`` Kannel's id for it."""
    return (f"{section.callback_base.rstrip('/')}/kannel/incoming?token="
            f"{section.callback_token}&from=%p&to=%P&text=%b&coding=%c&charset=%C&id=%I")


def _conf_value(name: str, value: str) -> str:
    if any(ch in value for ch in '"\r\n\\'):
        raise ValueError(f"{name}: a Kannel setting cannot hold a quote, a backslash or a"
                         " line break")
    return f'"{value}"'


def render_kannel_conf(section: KannelSection, *, admin_password: str, smsc: str,
                       store_dir: str, dlr_dir: str, admin_port: int = 13000,
                       smsbox_port: int = 13001, log_dir: str | None = None,
                       log_level: int = 1, global_sender: str | None = None,
                       http_request_retry: int = 10, http_queue_delay_s: int = 10) -> str:
    """A kannel.conf that serves ``section`` (same credentials, token and sendsms port),
    on loopback only, keeping queued messages and pending reports on disk (spool folders
    ``store_dir`` and ``dlr_dir``, which must exist) across a bearerbox restart.
    ``smsc`` is the ``group = smsc`` text: SMPP to the operator, or ``smsc = fake``.
    The result holds secrets: write it readable by Kannel's user only."""
    where = urlsplit(section.sendsms_url)
    if where.hostname not in ("127.0.0.1", "localhost") or where.port is None:
        raise ValueError("sendsms_url must name 127.0.0.1 and a port: Kannel listens there")
    if not admin_password:
        raise ValueError("admin_password is needed")
    q = _conf_value
    core = [
        "group = core", f"admin-port = {admin_port}", 'admin-interface = "127.0.0.1"',
        f"admin-password = {q('admin_password', admin_password)}",
        'admin-allow-ip = "127.0.0.1"', 'admin-deny-ip = "*.*.*.*"',
        f"smsbox-port = {smsbox_port}", 'smsbox-interface = "127.0.0.1"',
        'box-allow-ip = "127.0.0.1"', 'box-deny-ip = "*.*.*.*"',
        "store-type = spool", f"store-location = {q('store_dir', store_dir)}",
        "dlr-storage = spool", f"dlr-spool = {q('dlr_dir', dlr_dir)}",
    ]
    smsbox = [
        "group = smsbox", 'bearerbox-host = "127.0.0.1"', f"bearerbox-port = {smsbox_port}",
        f"sendsms-port = {where.port}", 'sendsms-interface = "127.0.0.1"',
        # no space: a space in "to" would make one request a send to several numbers
        'sendsms-chars = "0123456789+"', "mo-recode = true",
        f"http-request-retry = {http_request_retry}",
        f"http-queue-delay = {http_queue_delay_s}",
    ]
    if where.path and where.path != "/cgi-bin/sendsms":
        smsbox.append(f"sendsms-url = {q('sendsms_url', where.path)}")
    if global_sender:
        smsbox.append(f"global-sender = {q('global_sender', global_sender)}")
    if log_dir:
        core += [f"log-file = {q('log_dir', log_dir + '/bearerbox.log')}",
                 f"log-level = {log_level}",
                 f"access-log = {q('log_dir', log_dir + '/bearerbox-access.log')}"]
        smsbox += [f"log-file = {q('log_dir', log_dir + '/smsbox.log')}",
                   f"log-level = {log_level}",
                   f"access-log = {q('log_dir', log_dir + '/smsbox-access.log')}"]
    user = [
        "group = sendsms-user", f"username = {q('username', section.username)}",
        f"password = {q('password', section.password)}",
        'user-allow-ip = "127.0.0.1"', 'user-deny-ip = "*.*.*.*"',
        "concatenation = true", "max-messages = 10",
    ]
    service = [  # citizens' texts to our endpoint; Kannel itself answers nothing
        "group = sms-service", "keyword = default",
        f"get-url = {q('callback_base', incoming_url(section))}",
        "max-messages = 0", "omit-empty = true",
    ]
    head = ["# kannel.conf for alerta-ivr (ivr.messaging.kannel.render_kannel_conf).",
            "# It holds secrets: readable by Kannel's user only."]
    groups = [head, core, smsbox, user, service, [smsc.strip()]]
    return "\n\n".join("\n".join(lines) for lines in groups) + "\n"

