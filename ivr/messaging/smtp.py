"""Staff alerts by e-mail: the ``Mailer`` port over SMTP, with aiosmtplib.

One connection per message: connect, (STARTTLS or implicit TLS), (AUTH), MAIL, RCPT,
DATA, QUIT. Alerts are few (a burst of one cause is one message, see
``ivr.domain.alerting``), so a pooled connection would save little and add a state to
get wrong: a connection the server dropped while idle. Each step waits at most
``timeout_s``; the whole send at most ``DEADLINE_FACTOR`` times that, so a server that
trickles its replies cannot hold an outbox worker.

What a send returns (``SendResult.outcome``):

- ``sent``: the server answered 250 to DATA. ``gateway_ref`` is the server's queue id
  when its reply names one ("queued as 4Xyz", "id=1abc"), else our Message-ID.
- ``refused``: the recipient or the message never will be taken: an address we refuse
  before connecting (``valid_address``), or a 5xx reply to RCPT or DATA.
- ``retry``: everything else, it may work later or once an admin fixes the settings:
  refused or reset connection, timeout, TLS handshake failure (an untrusted or expired
  certificate), any 4xx, a refused login (535), a refused From address, and a 5xx to
  RCPT that is about authentication or policy (530, 534, 535, 538 or an enhanced status
  5.7.x, "relay access denied"): those are the deployment's fault, not the recipient's.

A retried message is the same message: its Message-ID depends only on the outbox row
(``message_id_for``) and it carries ``X-Alerta-Outbox-Id``, so a server or a reader that
got it twice (a reply lost after DATA was taken) can tell. ``Auto-Submitted:
auto-generated`` keeps vacation responders from answering it.

The password is never logged and never put in a ``detail``; ``SmtpSection`` leaves it
out of its repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import re
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

import aiosmtplib

from ivr.core.messaging_ports import OutgoingMail, SendResult

logger = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]
SECURITY_MODES = ("none", "starttls", "tls")
OUTBOX_HEADER = "X-Alerta-Outbox-Id"
DEADLINE_FACTOR = 4  # the whole send: this many step timeouts
MAX_ADDRESS = 254  # RFC 5321's limit on a path, less its angle brackets
MAX_DETAIL = 160
# Replies to RCPT that blame our credentials or relay rights, not the recipient.
DEPLOYMENT_CODES = frozenset({530, 534, 535, 538})

_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_QUEUE_ID = re.compile(r"queued as\s+<?([\w.@-]+)>?|\bid=([\w.-]+)", re.IGNORECASE)
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.\d{1,3}\b")


@dataclass(frozen=True, slots=True)
class SmtpSection:
    host: str = "127.0.0.1"
    port: int = 25
    security: Security = "none"  # "starttls": upgrade after EHLO; "tls": TLS from the start
    username: str | None = None  # None: no AUTH
    password: str | None = field(default=None, repr=False)
    sender: str = ""  # the From address; required to send
    timeout_s: float = 15.0  # each step (connect, a reply); the whole send: 4 times that
    cafile: str | None = None  # a PEM bundle to trust, e.g. the municipality's own CA
    verify: bool = True  # False: accept any certificate (a test relay only)
    helo: str | None = None  # the name in EHLO; None: this machine's FQDN

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"smtp security must be one of {', '.join(SECURITY_MODES)}")
        if not 0 < self.port < 65536:
            raise ValueError("smtp port must be between 1 and 65535")
        if self.timeout_s <= 0:
            raise ValueError("smtp timeout_s must be positive")
        if self.username and self.security == "none" and not _is_loopback(self.host):
            raise ValueError("smtp credentials would cross the network in clear text: "
                             "set security to starttls or tls")


def valid_address(text: str) -> bool:
    """A plain ASCII ``local@domain`` we are willing to write into a header and an envelope.

    Reasonable rather than RFC-complete: no display names, quoted local parts, IP
    literals or non-ASCII (write an internationalised domain in its xn-- form). What it
    always refuses is what could smuggle a header or a command: CR, LF, spaces, a
    second @, angle brackets, commas.
    """
    if not isinstance(text, str) or not text or len(text) > MAX_ADDRESS:
        return False
    local, at, domain = text.partition("@")
    if not at or len(local) > 64:
        return False
    return _LOCAL_PART.fullmatch(local) is not None and _DOMAIN.fullmatch(domain) is not None


def message_id_for(mail: OutgoingMail, sender: str) -> str:
    """The Message-ID of an outbox row, the same on every try.

    The row's id names it; a digest of its content keeps two databases (a test copy, a
    restored backup) from giving different mails the same id.
    """
    digest = hashlib.sha256(f"{mail.to}\n{mail.subject}\n{mail.body}".encode()).hexdigest()
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<alerta.outbox.{mail.message_id}.{digest[:12]}@{domain}>"


def one_line(text: str) -> str:
    """A header value on one line: control characters (CR, LF, tabs) become one space."""
    return " ".join(_CONTROL.sub(" ", text).split())


def build_message(mail: OutgoingMail, sender: str) -> EmailMessage:
    """The message as it goes out; the caller has checked both addresses."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = one_line(mail.subject)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = message_id_for(mail, sender)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"  # Exchange's own switch for the same
    message[OUTBOX_HEADER] = str(mail.message_id)
    body = mail.body.replace("\r\n", "\n").replace("\r", "\n")
    # Quoted-printable: accents survive a relay that only speaks 7 bits, and the raw
    # text stays readable in a server's queue.
    message.set_content(body, charset="utf-8", cte="quoted-printable")
    return message


class SmtpMailer:
    """``Mailer`` over SMTP. Safe to share: every send has its own connection."""

    def __init__(self, section: SmtpSection) -> None:
        self.section = section
        self._tls: ssl.SSLContext | None = None

    async def send(self, mail: OutgoingMail) -> SendResult:
        result = await self._send(mail)
        result = SendResult(result.outcome, self._scrub(result.detail), result.gateway_ref)
        if result.outcome == "sent":
            logger.info("mail %s to %s: sent (%s)", mail.message_id, mail.to, result.gateway_ref)
        else:
            logger.warning("mail %s to %r: %s: %s", mail.message_id, mail.to, result.outcome,
                           result.detail)
        return result

    async def _send(self, mail: OutgoingMail) -> SendResult:
        if not valid_address(mail.to):
            return SendResult("refused", "invalid recipient address")
        if mail.sender is not None and not valid_address(mail.sender):
            return SendResult("refused", "invalid sender address")
        sender = mail.sender or self.section.sender
        if not valid_address(sender):
            return SendResult("retry", "no valid From address configured (smtp sender)")
        message = build_message(mail, sender)
        try:
            tls = await self._tls_context()
        except (OSError, ValueError) as error:
            return SendResult("retry", _short(f"TLS setup failed (smtp cafile): {error}"))
        try:
            reply = await self._deliver(message, sender, mail.to, tls)
        except Exception as error:  # every failure is a result; the outbox decides
            return failure_result(error)
        return SendResult("sent", _short(f"accepted: {reply}"),
                          gateway_ref=queue_id(reply) or str(message["Message-ID"]))

    async def _deliver(self, message: EmailMessage, sender: str, to: str,
                       tls: ssl.SSLContext | None) -> str:
        section = self.section
        client = aiosmtplib.SMTP(
            hostname=section.host, port=section.port, local_hostname=section.helo,
            timeout=section.timeout_s, use_tls=section.security == "tls",
            start_tls=section.security == "starttls", tls_context=tls,
            username=section.username or None, password=section.password)
        try:
            async with asyncio.timeout(section.timeout_s * DEADLINE_FACTOR):
                await client.connect()
                _, reply = await client.send_message(message, sender=sender, recipients=[to])
            # The server has the message: a failed goodbye changes nothing.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(section.timeout_s):
                    await client.quit()
            return reply
        finally:
            client.close()

    async def _tls_context(self) -> ssl.SSLContext | None:
        if self.section.security == "none":
            return None
        if self._tls is None:
            self._tls = await asyncio.to_thread(_client_context, self.section)
        return self._tls

    def _scrub(self, detail: str) -> str:
        password = self.section.password
        # A server may echo what it was sent. Masking only the match would tell where
        # a short password occurs in the text, so the whole detail goes.
        if password and password in detail:
            return "detail withheld: it contained the SMTP password"
        return detail


def failure_result(error: BaseException) -> SendResult:
    """What a failed send means to the outbox: ``retry`` unless the recipient is refused."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        error = error.recipients[0]
    if isinstance(error, aiosmtplib.SMTPRecipientRefused):
        return _refusal("recipient", error.code, error.message, blame_policy=True)
    if isinstance(error, aiosmtplib.SMTPDataError):
        return _refusal("message", error.code, error.message, blame_policy=False)
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return _retry(f"authentication failed: {_reply(error.code, error.message)}")
    if isinstance(error, aiosmtplib.SMTPSenderRefused):
        return _retry(f"From address refused: {_reply(error.code, error.message)}")
    if isinstance(error, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
        return _retry("timed out waiting for the mail server")
    handshake = _tls_failure(error)
    if handshake is not None:
        return _retry(f"TLS handshake failed: {handshake}")
    if isinstance(error, aiosmtplib.SMTPConnectResponseError):
        return _retry(f"server not ready: {_reply(error.code, error.message)}")
    if isinstance(error, aiosmtplib.SMTPConnectError):
        cause = error.__cause__
        if isinstance(cause, ConnectionRefusedError):
            return _retry("connection refused by the mail server")
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else None
        return _retry(f"cannot connect: {reason or error.message}")
    if isinstance(error, aiosmtplib.SMTPServerDisconnected | ConnectionError):
        return _retry("connection lost")
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return _retry(f"server error: {_reply(error.code, error.message)}")
    if isinstance(error, aiosmtplib.SMTPException):  # e.g. no AUTH offered, no STARTTLS
        return _retry(error.message)
    if isinstance(error, OSError):
        return _retry(f"network error: {error.strerror or type(error).__name__}")
    logger.error("mail: unexpected failure", exc_info=error)
    return _retry(f"unexpected error: {type(error).__name__}")


def queue_id(reply: str) -> str | None:
    """The server's id of a message it took, if its reply to DATA names one."""
    found = _QUEUE_ID.search(reply)
    return (found.group(1) or found.group(2)) if found else None


def _refusal(stage: str, code: int, message: str, *, blame_policy: bool) -> SendResult:
    reply = _reply(code, message)
    if 400 <= code < 500:
        return _retry(f"{stage} deferred: {reply}")
    if not 500 <= code < 600:
        return _retry(f"{stage}: unexpected reply {reply}")
    enhanced = _ENHANCED.match(message)
    if code in DEPLOYMENT_CODES or (blame_policy and enhanced and enhanced.group(2) == "7"):
        return _retry(f"{stage} refused by policy (credentials? relay rights?): {reply}")
    return SendResult("refused", _short(f"{stage} refused: {reply}"))


def _tls_failure(error: BaseException) -> str | None:
    for candidate in (error, error.__cause__):
        if isinstance(candidate, ssl.SSLCertVerificationError):
            return candidate.verify_message or "certificate not trusted"
        if isinstance(candidate, ssl.SSLError):
            return candidate.reason or type(candidate).__name__
    return None


def _client_context(section: SmtpSection) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if section.cafile:
        context.load_verify_locations(cafile=section.cafile)
    if not section.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry(detail: str) -> SendResult:
    return SendResult("retry", _short(detail))


def _reply(code: int, message: str) -> str:
    return f"{code} {one_line(message)}".strip()


def _short(text: str) -> str:
    text = one_line(text)
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"
