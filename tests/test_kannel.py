"""Texts through Kannel: the gateway against a real bearerbox and smsbox with Kannel's
own fakesmsc as the SMS centre (one Kannel for the module), and the pure parts (the
alphabet and segment count, Kannel's replies, the callbacks' parsers, the conf).

Each failure policy is one test named after it. Kannel's replies and fakesmsc's lines
below are recorded from Kannel 1.4.5.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
from aiohttp import web

from ivr.core.messaging_ports import DeliveryReport, IncomingSms, OutgoingSms
from ivr.domain.sms import encoding, is_gsm7, segments
from ivr.messaging.kannel import (
    DLR_MASK,
    KannelGateway,
    KannelRequestRefused,
    KannelSection,
    classify_reply,
    dlr_url,
    parse_delivery_report,
    parse_incoming,
    render_kannel_conf,
    sendsms_params,
)
from ivr.testing import kannel as kannel_testing
from ivr.testing.kannel import KannelMissing, ThrowawayKannel, parse_fakesmsc_log

T = TypeVar("T")
CITIZEN, LINE = "51987654321", "1000"
TOKEN = "Tok3n-de-prueba_0123456789"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def kannel() -> Iterator[ThrowawayKannel]:
    try:
        with ThrowawayKannel.start() as server:
            yield server
    except KannelMissing as exc:
        pytest.fail(f"this test needs Kannel: {exc}", pytrace=False)


@pytest.fixture
async def gateway(kannel: ThrowawayKannel) -> AsyncIterator[KannelGateway]:
    sms = KannelGateway(kannel.section())
    yield sms
    await sms.close()


@dataclass
class Endpoint:
    """The controller's two callbacks, as small as can be, recording what came."""

    token: str
    reports: list[DeliveryReport] = field(default_factory=list)
    not_final: int = 0
    texts: list[IncomingSms] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def _refuse(self, exc: KannelRequestRefused) -> web.Response:
        self.refusals.append(str(exc))
        return web.Response(status=403 if "token" in str(exc) else 400, text=str(exc))

    async def dlr(self, request: web.Request) -> web.Response:
        try:
            report = parse_delivery_report(request.query, self.token)
        except KannelRequestRefused as exc:
            return self._refuse(exc)
        if report is None:
            self.not_final += 1
        else:
            self.reports.append(report)
        return web.Response(text="ok")

    async def incoming(self, request: web.Request) -> web.Response:
        try:
            self.texts.append(parse_incoming(request.query, self.token))
        except KannelRequestRefused as exc:
            return self._refuse(exc)
        return web.Response(text="")


@pytest.fixture
async def endpoint(kannel: ThrowawayKannel) -> AsyncIterator[Endpoint]:
    ours = Endpoint(kannel.callback_token)
    app = web.Application()
    app.router.add_get("/kannel/dlr", ours.dlr)
    app.router.add_get("/kannel/incoming", ours.incoming)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", kannel.callback_port).start()
    yield ours
    await runner.cleanup()


async def eventually(found: Callable[[], T | None], what: str, timeout_s: float = 30.0) -> T:
    for _ in range(int(timeout_s / 0.05)):
        if (got := found()) is not None:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout_s:g} s")


async def arrives_once(kannel: ThrowawayKannel, gateway: KannelGateway, text: str) -> None:
    """``text`` reached the SMS centre exactly once: a later text is seen after it."""
    await eventually(lambda: True if any(m.text == text for m in kannel.received()) else None,
                     f"text {text!r} at fakesmsc")
    mark = f"marca {len(kannel.received())}"
    assert (await gateway.send(OutgoingSms(9000, "987000999", mark))).outcome == "sent"
    await eventually(lambda: True if any(m.text == mark for m in kannel.received()) else None,
                     "the mark text")
    assert [m.text for m in kannel.received()].count(text) == 1


# -- texts that go ---------------------------------------------------------------------


async def test_a_spanish_text_with_accents_arrives_exactly(
        kannel: ThrowawayKannel, gateway: KannelGateway) -> None:
    text = "Alerta: robo en Av. José Larco, ¿atendido? Camión señalado — ñandú"
    result = await gateway.send(OutgoingSms(11, "987000001", text))

    assert (result.outcome, result.detail) == ("sent", "0: Accepted for delivery")
    received = await kannel.wait_received_async(1)
    assert (LINE, "987000001", text) in received


async def test_a_gsm7_text_keeps_enye_euro_and_line_breaks(
        kannel: ThrowawayKannel, gateway: KannelGateway) -> None:
    text = "Reporte 2026-000123: ñ, ü, é y {5 €}\nLlame al 105"
    assert sendsms_params(gateway.cfg, OutgoingSms(12, "987000002", text))["coding"] == "0"

    assert (await gateway.send(OutgoingSms(12, "987000002", text))).outcome == "sent"
    await eventually(lambda: True if (LINE, "987000002", text) in kannel.received() else None,
                     "the GSM-7 text")


async def test_a_long_text_goes_in_parts_and_arrives_whole(
        kannel: ThrowawayKannel, gateway: KannelGateway) -> None:
    text = "Ubicación: " + "parque Kennedy, frente a la municipalidad; " * 4
    assert segments(text) == 3

    assert (await gateway.send(OutgoingSms(13, "987000003", text))).outcome == "sent"
    await eventually(lambda: True if (LINE, "987000003", text) in kannel.received() else None,
                     "the long text, joined")


# -- Kannel's callbacks --------------------------------------------------------------


async def test_a_delivery_report_names_the_outbox_message(
        gateway: KannelGateway, endpoint: Endpoint) -> None:
    assert (await gateway.send(OutgoingSms(4242, "987000004", "Su reporte fue atendido"))
            ).outcome == "sent"

    report = await eventually(
        lambda: next((r for r in endpoint.reports if r.message_id == 4242), None),
        "delivery report for message 4242")
    assert report.delivered is True
    assert report.detail.startswith("delivered")
    assert endpoint.refusals == []


async def test_a_citizens_text_reaches_the_endpoint_as_incoming_sms(
        kannel: ThrowawayKannel, endpoint: Endpoint) -> None:
    accented = "Robo en la cuadra 5, ¿ayuda? Está oscuro ñú"
    plain = "ESTADO  1234"  # two spaces: %b keeps the text as it was

    await asyncio.to_thread(kannel.send_mo, "+" + CITIZEN, LINE, accented)
    await asyncio.to_thread(kannel.send_mo, CITIZEN, LINE, plain)

    first = await eventually(lambda: next((t for t in endpoint.texts if t.text == accented),
                                          None), "the accented text")
    second = await eventually(lambda: next((t for t in endpoint.texts if t.text == plain),
                                           None), "the plain text")
    assert (first.sender, first.to) == (CITIZEN, LINE)  # "+" taken off
    assert second.sender == CITIZEN
    assert first.gateway_ref and UUID.fullmatch(first.gateway_ref)
    assert first.gateway_ref != second.gateway_ref


async def test_a_callback_with_a_wrong_token_is_refused(
        kannel: ThrowawayKannel, endpoint: Endpoint) -> None:
    base = f"{kannel.callback_base}/kannel/dlr?message=7&status=1"
    async with aiohttp.ClientSession() as client:
        async with client.get(base + "&token=not-the-token") as wrong:
            assert wrong.status == 403
        async with client.get(base) as missing:
            assert missing.status == 403
    assert endpoint.refusals == ["wrong token", "missing token"]
    assert endpoint.reports == []
    with pytest.raises(KannelRequestRefused, match="wrong token"):
        parse_incoming({"token": kannel.callback_token + "x", "from": CITIZEN, "to": LINE,
                        "text": "hola"}, kannel.callback_token)


# -- failures --------------------------------------------------------------------------


async def test_kannel_down_the_text_is_retried_and_goes_once_it_is_back(
        kannel: ThrowawayKannel, gateway: KannelGateway) -> None:
    sms = OutgoingSms(21, "987000021", "Emergencia en Miraflores: reporte 2026-000200")
    await asyncio.to_thread(kannel.stop_gateway)
    try:
        down = await gateway.send(sms)
    finally:
        await asyncio.to_thread(kannel.start_gateway)

    assert down.outcome == "retry"
    assert down.detail.startswith(f"cannot reach Kannel at 127.0.0.1:{kannel.sendsms_port}:"
                                  " connection refused")
    assert (await gateway.send(sms)).outcome == "sent"
    await arrives_once(kannel, gateway, sms.text)


async def test_a_text_queued_while_the_smsc_is_away_survives_a_bearerbox_restart(
        kannel: ThrowawayKannel, gateway: KannelGateway) -> None:
    sms = OutgoingSms(22, "987000022", "Aviso: corte de tránsito en la Vía Expresa")
    await asyncio.to_thread(kannel.stop_smsc)
    try:
        queued = await gateway.send(sms)
        await asyncio.to_thread(kannel.stop_gateway)
    finally:
        await asyncio.to_thread(kannel.start_gateway)

    assert queued.outcome == "sent" and "queued" in queued.detail
    await arrives_once(kannel, gateway, sms.text)


async def test_wrong_credentials_are_retried_with_an_authorization_detail(
        kannel: ThrowawayKannel) -> None:
    wrong = KannelGateway(kannel.section(password="Clave-Equivocada-99"))
    try:
        result = await wrong.send(OutgoingSms(23, "987000023", "hola"))
    finally:
        await wrong.close()

    assert result.outcome == "retry"
    assert "authorization" in result.detail and "alerta" in result.detail
    assert "Clave-Equivocada-99" not in result.detail and kannel.password not in result.detail


async def test_a_kannel_that_does_not_answer_is_retried() -> None:
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    slow = KannelGateway(KannelSection(sendsms_url=f"http://127.0.0.1:{port}/cgi-bin/sendsms",
                                       password="s3creta", callback_token=TOKEN,
                                       timeout_s=0.3))
    try:
        result = await slow.send(OutgoingSms(26, "987000026", "hola"))
    finally:
        release.set()
        await slow.close()
        server.close()
        await server.wait_closed()
    assert result.outcome == "retry"
    assert result.detail == f"Kannel at 127.0.0.1:{port} did not answer within 0.3 s"


def test_no_kannel_installed_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kannel_testing, "FAKESMSC", Path("/nonexistent/fakesmsc"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(KannelMissing, match=r"apt-get install kannel-extras"):
        kannel_testing.binaries()


async def test_a_number_that_is_not_one_is_refused_before_asking_kannel() -> None:
    nowhere = KannelGateway(KannelSection(sendsms_url="http://127.0.0.1:9/cgi-bin/sendsms",
                                          callback_token=TOKEN))
    try:
        several = await nowhere.send(OutgoingSms(24, "987000024 987000025", "hola"))
        long = await nowhere.send(OutgoingSms(25, "987000024", "x" * 1601))
    finally:
        await nowhere.close()
    assert several.outcome == long.outcome == "refused"
    assert "not a phone number" in several.detail and "1601" in long.detail


# -- the alphabet and the count ------------------------------------------------------


@pytest.mark.parametrize(("text", "gsm7"), [
    ("é ñ Ñ ü Ü ¿ ¡ É Ç", True), ("á", False), ("í", False), ("ó", False), ("ú", False),
    ("Á", False), ("ç", False), ("\t", False), ("{[~]}|^\\€", True), ("línea\n", False),
    ("", True), ("😀", False),
])
def test_which_letters_are_gsm7(text: str, gsm7: bool) -> None:
    assert is_gsm7(text) is gsm7
    assert encoding(text) == ("gsm7" if gsm7 else "ucs2")


@pytest.mark.parametrize(("text", "count"), [
    ("", 1), ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2), ("a" * 158 + "€", 1), ("a" * 159 + "€", 2),
    ("a" * 151 + "€" + "a" * 153, 2),
    ("a" * 152 + "€" + "a" * 152, 3),  # 306 septets, but the escaped pair is not split
    ("á" * 70, 1), ("á" * 71, 2), ("á" * 134, 2), ("á" * 135, 3),
    ("😀" * 35, 1), ("😀" * 36, 2), ("á" * 68 + "😀", 1),
    ("á" * 66 + "😀" + "á" * 66, 3),  # 134 units, but the surrogate pair is not split
])
def test_how_many_messages_a_text_costs(text: str, count: int) -> None:
    assert segments(text) == count


# -- Kannel's replies ----------------------------------------------------------------


@pytest.mark.parametrize(("status", "body", "outcome", "words"), [
    (202, "0: Accepted for delivery", "sent", "Accepted"),
    (202, "3: Queued for later delivery", "sent", "queued"),
    (202, "Sent.", "sent", "Sent"),
    (403, "Authorization failed for sendsms", "retry", "authorization"),
    (403, "Not routable. Do not try again.", "retry", "smsc_id"),
    (503, "Temporal failure, try again later.", "retry", "HTTP 503"),
    (500, "Sending failed.", "retry", "HTTP 500"),
    (400, "Sender missing and no global set, rejected", "retry", "default_sender"),
    (400, "Number(s) has/have been denied by white- and/or black-lists.", "refused",
     "denied"),
    (400, "Empty receiver number not allowed, rejected", "refused", "Empty receiver"),
    (400, "Charset or body misformed, rejected", "refused", "misformed"),
    (404, "Unknown service", "retry", "sendsms_url"),
])
def test_what_kannels_reply_means(status: int, body: str, outcome: str, words: str) -> None:
    result = classify_reply(status, body, "alerta")
    assert result.outcome == outcome
    assert words in result.detail


def test_the_sendsms_request_asks_for_final_reports_at_our_url() -> None:
    section = KannelSection(username="alerta", password="s3creta", smsc_id="movistar",
                            callback_base="http://127.0.0.1:8090/", callback_token=TOKEN,
                            default_sender="1000")
    params = sendsms_params(section, OutgoingSms(77, "+51987000077", "Atención"))

    assert params == {
        "username": "alerta", "password": "s3creta", "to": "+51987000077",
        "text": "Atención", "charset": "UTF-8", "coding": "2", "dlr-mask": "19",
        "dlr-url": f"http://127.0.0.1:8090/kannel/dlr?message=77&status=%d&token={TOKEN}"
                   "&reply=%A",
        "from": "1000", "smsc": "movistar"}
    assert DLR_MASK == 1 | 2 | 16
    assert dlr_url(section, 5).startswith("http://127.0.0.1:8090/kannel/dlr?message=5&")
    assert "s3creta" not in repr(section) and TOKEN not in repr(section)


@pytest.mark.parametrize("token", ["", "con espacio", "cien%25", "ñandu"])
def test_a_token_kannel_would_mangle_is_not_taken(token: str) -> None:
    with pytest.raises(ValueError, match="callback_token"):
        KannelSection(callback_token=token)


# -- the callbacks' parsers ----------------------------------------------------------


def dlr(**fields: str) -> dict[str, str]:
    return {"token": TOKEN, "message": "31", "status": "1"} | fields


@pytest.mark.parametrize(("status", "delivered"), [("1", True), ("2", False), ("16", False)])
def test_final_delivery_reports(status: str, delivered: bool) -> None:
    report = parse_delivery_report(dlr(status=status, reply="stat:UNDELIV err:001"), TOKEN)
    assert report is not None
    assert (report.message_id, report.delivered) == (31, delivered)
    assert "stat:UNDELIV err:001" in report.detail


@pytest.mark.parametrize("status", ["4", "8"])
def test_buffered_or_taken_by_the_smsc_is_not_final(status: str) -> None:
    assert parse_delivery_report(dlr(status=status), TOKEN) is None


@pytest.mark.parametrize(("fields", "words"), [
    ({"token": None}, "missing token"), ({"token": "otro"}, "wrong token"),
    ({"message": None}, "message is missing"), ({"message": "abc"}, "outbox id"),
    ({"message": "0"}, "outbox id"), ({"message": "-4"}, "outbox id"),
    ({"message": "1" * 19}, "too long"), ({"message": "٣"}, "outbox id"),
    ({"status": "3"}, "unknown DLR status 3"), ({"status": "32"}, "unknown DLR status"),
    ({"status": "%d"}, "not a number"), ({"status": None}, "status is missing"),
    ({"reply": "x" * 2001}, "reply is too long"),
])
def test_a_malformed_delivery_report_is_refused(fields: dict[str, str | None],
                                                words: str) -> None:
    query = {k: v for k, v in (dlr() | fields).items() if v is not None}
    with pytest.raises(KannelRequestRefused, match=words):
        parse_delivery_report(query, TOKEN)


def test_no_configured_token_refuses_every_callback() -> None:
    with pytest.raises(KannelRequestRefused, match="no callback token"):
        parse_delivery_report(dlr(token=""), "")


def mo(**fields: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {"token": TOKEN, "from": "+51987000040", "to": "1000",
                                   "text": "Robo en el parque", "coding": "0",
                                   "charset": "UTF-8",
                                   "id": "5e777a43-27aa-4c58-9bc6-13d28dfc847c"}
    return {k: v for k, v in (base | fields).items() if v is not None}


def test_an_incoming_text_as_kannel_passes_it() -> None:
    sms = parse_incoming(mo(text="¿Dónde?\nAquí  mismo"), TOKEN)
    assert sms == IncomingSms("51987000040", "1000", "¿Dónde?\nAquí  mismo",
                              "5e777a43-27aa-4c58-9bc6-13d28dfc847c")
    bare = parse_incoming(mo(coding=None, charset=None, id=None), TOKEN)
    assert (bare.text, bare.gateway_ref) == ("Robo en el parque", None)
    assert parse_incoming(mo(text="x" * 1600), TOKEN).text == "x" * 1600


@pytest.mark.parametrize(("fields", "words"), [
    ({"token": None}, "missing token"), ({"token": TOKEN + "!"}, "wrong token"),
    ({"from": "12"}, "from is not a phone number"), ({"from": "1" * 21}, "from is not"),
    ({"from": "98a7000040"}, "from is not"), ({"from": "MOVISTAR"}, "from is not"),
    ({"from": None}, "from is missing"), ({"to": ""}, "to is not a phone number"),
    ({"to": "1" * 40}, "to is too long"), ({"text": None}, "text is missing"),
    ({"text": "x" * 1601}, "text is too long"), ({"text": "a\x00b"}, "not valid UTF-8"),
    ({"coding": "2"}, "mo-recode"), ({"coding": "1"}, "binary"),
    ({"charset": "WINDOWS-1252"}, "expected UTF-8"), ({"id": "../../etc"}, "Kannel message id"),
])
def test_a_malformed_incoming_text_is_refused(fields: dict[str, str | None],
                                              words: str) -> None:
    with pytest.raises(KannelRequestRefused, match=re.escape(words)):
        parse_incoming(mo(**fields), TOKEN)


# -- fakesmsc's transcript -----------------------------------------------------------


FAKESMSC_LOG = (
    "2026-12-04 09:03:09 [26514] [0] INFO: fakesmsc starting\n"
    "2026-12-04 09:03:17 [26514] [0] DEBUG: Got message 1: <1000 987654321 text Hola café>\n"
    "2026-12-04 09:03:17 [26514] [0] DEBUG: Got message 2: <1000 987654321 ucs-2 "
    "%00A%00y%00u%00d%00a%00+%00%D3>\n"
    "2026-12-04 09:04:55 [27046] [0] DEBUG: Got message 3: <1000 987654321 udh "
    "%05%00%03%02%02%01 data %00L%00%E1>\n"
    "2026-12-04 09:04:55 [27046] [0] DEBUG: Got message 4: <1000 987654321 udh "
    "%05%00%03%02%02%02 data %00r%00g%00o>\n"
    "2026-12-04 09:04:55 [27046] [0] DEBUG: Got message 5: <1000 987654321 text tab here>\n"
    "2026-12-04 09:04:55 [27046] [0] DEBUG: Got message 6: <newline é>\n"
    "2026-12-04 09:04:55 [27046] [0] DEBUG: fakesmsc: sent message 1\n"
).encode()


def test_fakesmsc_lines_are_read_back_into_whole_texts() -> None:
    assert parse_fakesmsc_log(FAKESMSC_LOG) == [
        ("1000", "987654321", "Hola café"), ("1000", "987654321", "Ayuda Ó"),
        ("1000", "987654321", "Lárgo"), ("1000", "987654321", "tab here\nnewline é")]


# -- Kannel's configuration ----------------------------------------------------------


def test_the_rendered_conf_listens_on_loopback_and_keeps_queues_on_disk() -> None:
    section = KannelSection(sendsms_url="http://127.0.0.1:13013/cgi-bin/sendsms",
                            password="s3creta", callback_token=TOKEN)
    conf = render_kannel_conf(section, admin_password="adm1n", smsc="group = smsc\nsmsc = fake",
                              store_dir="/var/spool/kannel/store",
                              dlr_dir="/var/spool/kannel/dlr")
    lines = conf.splitlines()

    for line in ['admin-interface = "127.0.0.1"', 'smsbox-interface = "127.0.0.1"',
                 'sendsms-interface = "127.0.0.1"', 'admin-allow-ip = "127.0.0.1"',
                 "store-type = spool", "dlr-storage = spool", "sendsms-port = 13013",
                 'password = "s3creta"', 'admin-password = "adm1n"', "max-messages = 0",
                 "omit-empty = true", "mo-recode = true", "keyword = default",
                 'sendsms-chars = "0123456789+"', "smsc = fake"]:
        assert line in lines
    assert (f'get-url = "http://127.0.0.1:8090/kannel/incoming?token={TOKEN}&from=%p&to=%P'
            '&text=%b&coding=%c&charset=%C&id=%I"') in lines
    with pytest.raises(ValueError, match="quote"):
        render_kannel_conf(section, admin_password='a"b', smsc="", store_dir="/s",
                           dlr_dir="/d")
