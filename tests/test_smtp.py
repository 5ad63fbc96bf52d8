"""E-mail alerts over SMTP, against a real SMTP server on loopback (aiosmtpd).

Each failure policy is one test named after it: what the outbox hears back (sent,
retry, refused) when the server is down, slow, busy, refuses, or distrusts us.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.core.messaging_ports import OutgoingMail
from ivr.messaging.smtp import (
    OUTBOX_HEADER,
    SmtpMailer,
    SmtpSection,
    message_id_for,
    queue_id,
    valid_address,
)
from ivr.testing.smtp import ThrowawaySmtp

SENDER = "alertas@miraflores.gob.pe"
STAFF = "supervisora@miraflores.gob.pe"
USER, PASSWORD = "alertas", "Clave-Secreta-2026"
ALERT = OutgoingMail(
    message_id=41,
    to=STAFF,
    subject="Emergencia: robo en Av. José Larco — ¿atendida?",
    body="Reporte 2026-000123, zona Miraflores Centro.\n"
         "Acción: llamar al ciudadano, señal débil.\n",
)


@pytest.fixture
def smtp() -> Iterator[ThrowawaySmtp]:
    with ThrowawaySmtp() as server:
        yield server


@pytest.fixture
def secure_smtp() -> Iterator[ThrowawaySmtp]:
    with ThrowawaySmtp(starttls=True, auth={USER: PASSWORD}) as server:
        yield server


def section_for(server: ThrowawaySmtp, **changes: Any) -> SmtpSection:
    settings: dict[str, Any] = {"host": server.host, "port": server.port, "sender": SENDER,
                                "timeout_s": 5.0, "helo": "alerta.test"}
    return SmtpSection(**(settings | changes))


def secure_section(server: ThrowawaySmtp, **changes: Any) -> SmtpSection:
    return section_for(server, **({"security": "starttls", "username": USER,
                                   "password": PASSWORD, "cafile": server.cafile} | changes))


# -- a message that goes -------------------------------------------------------


async def test_a_spanish_alert_arrives_intact_with_its_headers(smtp: ThrowawaySmtp) -> None:
    result = await SmtpMailer(section_for(smtp)).send(ALERT)

    [mail] = await smtp.wait_received_async(1)
    assert result.outcome == "sent"
    assert result.gateway_ref == mail.queue_id  # the server's own name for it
    assert (mail.mail_from, mail.recipients) == (SENDER, (STAFF,))
    assert mail.subject == ALERT.subject
    assert mail.body == ALERT.body
    headers = mail.message
    assert (headers["From"], headers["To"]) == (SENDER, STAFF)
    assert headers["Message-ID"].startswith("<alerta.outbox.41.")
    assert headers["Message-ID"].endswith("@miraflores.gob.pe>")
    assert headers["Date"].datetime is not None
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers[OUTBOX_HEADER] == "41"
    assert headers.get_content_charset() == "utf-8"


async def test_a_retried_message_is_recognisably_the_same(smtp: ThrowawaySmtp) -> None:
    mailer = SmtpMailer(section_for(smtp))
    await mailer.send(ALERT)
    await mailer.send(ALERT)
    await mailer.send(dataclasses.replace(ALERT, message_id=42))

    first, again, other = await smtp.wait_received_async(3)
    assert first.message["Message-ID"] == again.message["Message-ID"]
    assert first.message["Message-ID"] == message_id_for(ALERT, SENDER)
    assert other.message["Message-ID"] != first.message["Message-ID"]
    assert other.message[OUTBOX_HEADER] == "42"


async def test_starttls_and_auth_with_the_right_password(secure_smtp: ThrowawaySmtp) -> None:
    result = await SmtpMailer(secure_section(secure_smtp)).send(ALERT)

    [mail] = await secure_smtp.wait_received_async(1)
    assert result.outcome == "sent"
    assert (mail.tls, mail.login) == (True, USER)
    assert mail.subject == ALERT.subject


async def test_implicit_tls_with_auth() -> None:
    async with ThrowawaySmtp(implicit_tls=True, auth={USER: PASSWORD}) as server:
        result = await SmtpMailer(secure_section(server, security="tls")).send(ALERT)

        [mail] = await server.wait_received_async(1)
    assert result.outcome == "sent"
    assert (mail.tls, mail.login) == (True, USER)


# -- the deployment's faults: retried, so an admin can fix them -------------------


async def test_a_wrong_password_is_retried_and_never_shown(
    secure_smtp: ThrowawaySmtp, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Otra-Clave-Equivocada"
    caplog.set_level(logging.DEBUG, logger="ivr.messaging")
    section = secure_section(secure_smtp, password=wrong)

    result = await SmtpMailer(section).send(ALERT)

    assert result.outcome == "retry"
    assert "authentication" in result.detail
    assert "535" in result.detail
    assert wrong not in result.detail
    assert "authentication failed" in caplog.text  # the failure is logged...
    assert wrong not in caplog.text  # ...without the password
    assert wrong not in repr(section)
    assert secure_smtp.received == []


async def test_an_untrusted_certificate_is_retried(secure_smtp: ThrowawaySmtp) -> None:
    result = await SmtpMailer(secure_section(secure_smtp, cafile=None)).send(ALERT)

    assert result.outcome == "retry"
    assert "TLS" in result.detail
    assert secure_smtp.received == []


async def test_a_relay_denial_is_retried_not_dropped(smtp: ThrowawaySmtp) -> None:
    smtp.refuse_code, smtp.refuse_text = 550, "5.7.1 Relay access denied"

    result = await SmtpMailer(section_for(smtp)).send(ALERT)

    assert result.outcome == "retry"
    assert "5.7.1 Relay access denied" in result.detail


async def test_no_from_address_configured_is_retried(smtp: ThrowawaySmtp) -> None:
    result = await SmtpMailer(section_for(smtp, sender="")).send(ALERT)

    assert result.outcome == "retry"
    assert "From" in result.detail


# -- the server down, slow or busy: retried ------------------------------------


async def test_server_down_is_retried_and_the_next_try_goes_through(
    smtp: ThrowawaySmtp,
) -> None:
    mailer = SmtpMailer(section_for(smtp))
    smtp.stop()

    down = await mailer.send(ALERT)
    smtp.start()
    back = await mailer.send(ALERT)

    assert (down.outcome, back.outcome) == ("retry", "sent")
    assert "refused" in down.detail
    assert len(await smtp.wait_received_async(1)) == 1


async def test_a_slow_server_beyond_the_timeout_is_retried(smtp: ThrowawaySmtp) -> None:
    smtp.delay_s = 3.0

    result = await SmtpMailer(section_for(smtp, timeout_s=0.3)).send(ALERT)

    assert result.outcome == "retry"
    assert "timed out" in result.detail
    assert smtp.received == []


@pytest.mark.parametrize(("code", "stage", "outcome"), [
    (451, "RCPT", "retry"),
    (452, "DATA", "retry"),
    (550, "RCPT", "refused"),
    (553, "RCPT", "refused"),
    (554, "DATA", "refused"),
])
async def test_a_4xx_is_retried_and_a_5xx_for_the_recipient_refused(
    smtp: ThrowawaySmtp, code: int, stage: str, outcome: str
) -> None:
    smtp.refuse_code, smtp.refuse_at = code, stage  # type: ignore[assignment]

    result = await SmtpMailer(section_for(smtp)).send(ALERT)

    assert result.outcome == outcome
    assert str(code) in result.detail
    assert smtp.received == []


async def test_a_busy_server_that_recovers_takes_the_retry(smtp: ThrowawaySmtp) -> None:
    mailer = SmtpMailer(section_for(smtp))
    smtp.refuse_code = 451
    busy = await mailer.send(ALERT)
    smtp.refuse_code = None
    taken = await mailer.send(ALERT)

    assert (busy.outcome, taken.outcome) == ("retry", "sent")
    assert [m.subject for m in await smtp.wait_received_async(1)] == [ALERT.subject]


# -- bad addresses and injection -------------------------------------------------

BAD_ADDRESSES = [
    "", "supervisora", "a@b@miraflores.gob.pe", "super visora@miraflores.gob.pe",
    f"{STAFF}\r\nBcc: espia@example.com", f"{STAFF}\nRCPT TO:<espia@example.com>",
    f"<{STAFF}>", f"{STAFF}, espia@example.com", "josé@miraflores.gob.pe",
    "x@-miraflores.gob.pe", ".x@miraflores.gob.pe", "x" * 250 + "@example.com",
]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
async def test_an_invalid_address_is_refused_without_connecting(
    smtp: ThrowawaySmtp, address: str
) -> None:
    smtp.stop()  # a connection attempt would come back "retry: connection refused"

    result = await SmtpMailer(section_for(smtp)).send(dataclasses.replace(ALERT, to=address))

    assert result.outcome == "refused"
    assert "address" in result.detail


async def test_an_invalid_sender_of_the_message_is_refused(smtp: ThrowawaySmtp) -> None:
    bad = dataclasses.replace(ALERT, sender=f"{SENDER}\r\nBcc: espia@example.com")

    result = await SmtpMailer(section_for(smtp)).send(bad)

    assert result.outcome == "refused"
    assert smtp.received == []


async def test_crlf_in_the_subject_cannot_add_a_header(smtp: ThrowawaySmtp) -> None:
    injected = dataclasses.replace(
        ALERT, subject="Alerta\r\nBcc: espia@example.com\r\nX-Inyectado: 1\n\nCuerpo falso")

    result = await SmtpMailer(section_for(smtp)).send(injected)

    [mail] = await smtp.wait_received_async(1)
    assert result.outcome == "sent"
    assert mail.recipients == (STAFF,)
    assert mail.message["Bcc"] is None
    assert mail.message["X-Inyectado"] is None
    assert mail.subject == "Alerta Bcc: espia@example.com X-Inyectado: 1 Cuerpo falso"
    assert mail.body == ALERT.body


# -- pure parts --------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    STAFF, "a@b", "jefe.de-turno+alertas@sub.miraflores.gob.pe", "o'brien@example.com",
    "x" * 64 + "@example.com",
])
def test_valid_address_takes_plain_addresses(address: str) -> None:
    assert valid_address(address)


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_valid_address_refuses_what_could_carry_a_header(address: str) -> None:
    assert not valid_address(address)


@pytest.mark.parametrize(("reply", "expected"), [
    ("2.0.0 Ok: queued as 4Xyz9K0Abc", "4Xyz9K0Abc"),
    ("OK id=1tAbCd-000123-Xy", "1tAbCd-000123-Xy"),
    ("2.0.0 OK <20260101.abc@mx.example.com> [InternalId=123]", None),
    ("Message accepted for delivery", None),
])
def test_queue_id_read_from_the_data_reply(reply: str, expected: str | None) -> None:
    assert queue_id(reply) == expected


def test_the_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="security"):
        SmtpSection(security="ssl")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clear text"):
        SmtpSection(host="smtp.example.com", username=USER, password=PASSWORD)
    local = SmtpSection(host="127.0.0.1", username=USER, password=PASSWORD)
    assert PASSWORD not in repr(local)


def test_the_throwaway_server_leaves_no_thread_or_certificate_behind() -> None:
    threads = threading.active_count()
    with ThrowawaySmtp(starttls=True) as server:
        assert server.cafile is not None
        certificate = Path(server.cafile)
        assert certificate.is_file()
        server.stop()
        server.start()
        assert threading.active_count() == threads + 1
    assert threading.active_count() == threads
    assert not certificate.parent.exists()
