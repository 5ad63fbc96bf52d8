"""A real SMTP server on loopback for tests: aiosmtpd in a thread of its own.

    with ThrowawaySmtp() as smtp:              # or ``async with`` in an asyncio test
        ...send to smtp.host:smtp.port...
        [mail] = smtp.wait_received(1)         # or ``await smtp.wait_received_async(1)``
        mail.subject, mail.body, mail.message["Message-ID"], mail.recipients

The server runs its own event loop in its own thread, so a test's loop can send to it
and a synchronous test can wait for it alike.

- ``starttls=True``: offers STARTTLS and requires it before MAIL; ``implicit_tls=True``:
  TLS from the first byte. Either way with a self-signed certificate for 127.0.0.1 and
  ``localhost``, made for the run with the ``openssl`` command; trust it with
  ``smtp.cafile``.
- ``auth={"user": "password"}``: AUTH (PLAIN, LOGIN) required before MAIL, offered
  only over TLS (so it needs one of the two above).
- ``refuse_code`` (and ``refuse_at``, ``refuse_text``), settable while it runs: the
  reply to every RCPT (or DATA), e.g. 451 (try later) or 550 (never).
- ``delay_s``, settable while it runs: the server waits this long before answering
  RCPT, to outlast a client's timeout.
- ``stop()`` then ``start()``: the server down, then back on the same port.

Accepted messages answer ``250 2.0.0 Ok: queued as T000001`` (the form Postfix uses),
so a client can be checked for picking up the server's queue id.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
SERVER_NAME = "throwaway.test"
READY_TIMEOUT_S = 10.0
POLL_S = 0.02


class OpensslMissing(RuntimeError):
    """No ``openssl`` command to make the test certificate (Debian: apt-get install openssl)."""


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    mail_from: str  # the envelope's, as MAIL FROM gave it
    recipients: tuple[str, ...]  # the envelope's, as RCPT TO gave them
    message: EmailMessage  # parsed with the modern policy: headers come decoded
    raw: bytes  # as it crossed the wire after DATA
    tls: bool  # sent over TLS (STARTTLS or from the start)
    login: str | None  # the user who authenticated, if any
    queue_id: str  # what the server named it in its 250 reply

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def body(self) -> str:
        """The plain text part, decoded, with the wire's CRLF line ends back to ``\\n``."""
        part = self.message.get_body(preferencelist=("plain",))
        text = str(part.get_content()) if isinstance(part, EmailMessage) else ""
        return text.replace("\r\n", "\n")


class ThrowawaySmtp:
    def __init__(
        self,
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        auth: Mapping[str, str] | None = None,
        refuse_code: int | None = None,
        refuse_at: Literal["RCPT", "DATA"] = "RCPT",
        refuse_text: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        if starttls and implicit_tls:
            raise ValueError("starttls and implicit_tls exclude each other")
        if auth and not (starttls or implicit_tls):
            raise ValueError("auth is offered over TLS only: set starttls or implicit_tls")
        self.host = HOST
        self.port = _free_port()
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.auth = dict(auth or {})
        self.refuse_code = refuse_code
        self.refuse_at = refuse_at
        self.refuse_text = refuse_text
        self.delay_s = delay_s
        self._received: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self._folder: Path | None = None
        self._tls: ssl.SSLContext | None = None
        self.cafile: str | None = None  # the certificate to trust, once started with TLS

    # -- running -------------------------------------------------------------

    def start(self) -> ThrowawaySmtp:
        """Listen (again) on ``self.port``; the certificate is made on the first start."""
        if self._controller is not None:
            return self
        if (self.starttls or self.implicit_tls) and self._tls is None:
            self._tls = self._make_certificate()
        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=READY_TIMEOUT_S,
            server_hostname=SERVER_NAME,
            ssl_context=self._tls if self.implicit_tls else None,
            tls_context=self._tls if self.starttls else None,
            require_starttls=self.starttls,
            # AUTH is required by our MAIL hook rather than aiosmtpd's auth_required:
            # aiosmtpd cannot tell a connection that was TLS from the start, so there
            # AUTH must be offered without its TLS check, which it warns about.
            auth_require_tls=not self.implicit_tls,
            authenticator=self._authenticate if self.auth else None,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection; ``start()`` brings it back."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def close(self) -> None:
        self.stop()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> ThrowawaySmtp:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> ThrowawaySmtp:
        return await asyncio.to_thread(self.__enter__)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await asyncio.to_thread(self.close)

    # -- what arrived --------------------------------------------------------

    @property
    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    def wait_received(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Every message so far, once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while len(got := self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} message(s), got {len(got)}")
            time.sleep(POLL_S)
        return got

    async def wait_received_async(self, count: int,
                                  timeout_s: float = 10.0) -> list[ReceivedMail]:
        """``wait_received`` without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout_s
        while len(got := self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} message(s), got {len(got)}")
            await asyncio.sleep(POLL_S)
        return got

    # -- the server's side (runs in the server's thread) ---------------------

    def _refusal(self, stage: str) -> str | None:
        code = self.refuse_code
        if code is None or stage != self.refuse_at:
            return None
        if self.refuse_text:
            return f"{code} {self.refuse_text}"
        if 400 <= code < 500:
            return f"{code} 4.3.0 Temporary failure, try again later"
        return f"{code} 5.1.1 Mailbox unavailable"

    def _keep(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        raw = raw.encode() if isinstance(raw, str) else raw
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        transport = server.transport
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        with self._lock:
            queue_id = f"T{len(self._received) + 1:06d}"
            self._received.append(ReceivedMail(
                mail_from=envelope.mail_from or "",
                recipients=tuple(envelope.rcpt_tos),
                message=message,
                raw=raw,
                tls=transport is not None and transport.get_extra_info("sslcontext") is not None,
                login=login.decode() if login is not None else None,
                queue_id=queue_id,
            ))
        return queue_id

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if user in self.auth and self.auth[user] == password:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def _make_certificate(self) -> ssl.SSLContext:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise OpensslMissing("the openssl command is needed for a TLS test server")
        self._folder = Path(tempfile.mkdtemp(prefix="alerta-smtp-"))
        cert, key = self._folder / "cert.pem", self._folder / "key.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key),
             "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True, timeout=30)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.cafile = str(cert)
        return context


class _Handler:
    """aiosmtpd's hooks, answering as the owner's settings say at that moment."""

    def __init__(self, owner: ThrowawaySmtp) -> None:
        self.owner = owner

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if self.owner.auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.owner.delay_s > 0:
            await asyncio.sleep(self.owner.delay_s)
        refusal = self.owner._refusal("RCPT")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self.owner._refusal("DATA")
        if refusal is not None:
            return refusal
        return f"250 2.0.0 Ok: queued as {self.owner._keep(server, session, envelope)}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
