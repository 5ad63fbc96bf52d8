"""Text messages and e-mail in the console, through the real console over HTTP: the
supervision page (/messages), a report's messages, and admins' alerts page (rules,
roster, contacts, texting settings)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from ivr.config import Settings
from ivr.core.messaging_ports import SendResult
from ivr.domain.alerting import CAUSES, Message
from ivr.domain.municipalities import report_id
from ivr.domain.roles import Intake, Role
from ivr.store.alert_admin import AlertAdmin
from ivr.store.casework import ManualReport
from ivr.store.municipalities import Municipalities
from ivr.store.outbox import Outbox, enqueue
from ivr.store.users import Users
from operator_console.i18n import TEXT
from operator_console.views.messaging import STATES
from tests.console_util import PASSWORD, Browser, Site, console_site

# SQLite only: the outbox, rules and texting store run on both engines in test_notifier
# and test_texts; these are the console's pages over them (suite time).

CITIZEN = "987654321"


async def _report(site: Site, municipality: int = 1) -> int:
    return await site.console.casework.file_manual(ManualReport(
        "robbery", 2, Intake.RADIO, "asalto en la esquina", caller=CITIZEN, zone="3",
        municipality=municipality), "user:ana")


def _sms(report: int | None, at: datetime, *, municipality: int = 1, purpose: str =
         "citizen.receipt", to: str = CITIZEN, **kw: Any) -> Message:
    return Message("sms", to, purpose, f"Reporte {report} recibido", at, municipality,
                   report_id=report, dedup_key=f"{purpose}.{report}.{to}", **kw)


async def _queue(site: Site, *messages: Message, at: datetime) -> list[int]:
    """Queue as the notifier does: ``enqueue`` inside a write transaction."""
    async def op(conn: aiosqlite.Connection) -> list[int]:
        ids = [await enqueue(conn, m, at) for m in messages]
        assert all(i is not None for i in ids)
        return [i for i in ids if i is not None]

    return await site.console.db.write(op)


async def _refuse(site: Site, message: int, at: datetime) -> None:
    """A sender claims due messages; ``message`` is refused by the gateway, the rest sent."""
    outbox = Outbox(site.console.db)
    for claimed in await outbox.claim("test-sender", at, limit=50):
        result = (SendResult("refused", "unknown subscriber") if claimed.id == message
                  else SendResult("sent", gateway_ref=f"gw-{claimed.id}"))
        await outbox.settle(claimed, result, at)


async def _state(site: Site, message: int) -> str:
    row = await site.console.db.fetchone("SELECT state FROM outbox WHERE id = ?", (message,))
    assert row is not None
    return str(row["state"])


async def _html(b: Browser, path: str) -> tuple[int, str]:
    response = await b.get(path, headers={"Accept": "text/html"})
    return response.status, await response.text()


def _count(page: str, channel: str, state: str) -> int:
    row = re.search(rf'<tr data-channel="{channel}">(.*?)</tr>', page, re.S)
    assert row, channel
    cell = re.search(rf'data-state="{state}">(\d+)<', row.group(1))
    assert cell, (channel, state)
    return int(cell.group(1))


async def _error(response: Any) -> str:
    assert response.status == 400, (response.status, await response.text())
    return str((await response.json())["error"])


async def _user_id(site: Site, name: str) -> int:
    user = await site.console.users.by_name(name)
    assert user is not None
    return user.id


def test_every_cause_state_and_event_has_words_in_both_languages() -> None:
    keys = [*(f"cause.{c}" for c in CAUSES), *(f"msg.{s}" for s in STATES),
            *(f"ev.message.{k}" for k in ("queued", "sent", "retrying", "refused", "delivered",
                                          "undelivered", "requeued"))]
    missing = [k for k in keys if k not in TEXT]
    assert missing == []
    assert all(TEXT[k][0] and TEXT[k][1] for k in keys)


async def test_an_admin_keeps_rules_shifts_and_contacts(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        assert (await b.login("root")).status == 302
        sofia = await _user_id(site, "sofia")
        status, page = await _html(b, "/admin/alerts")
        assert status == 200 and 'action="/admin/alerts/rules"' in page
        # Rules: an escalation to the supervisor on duty, and keyword alerts to one person.
        added = await b.post("/admin/alerts/rules", {
            "cause": "unacknowledged", "audience": "on_duty", "role": "supervisor",
            "sms": "1", "after_s": "120"})
        assert added.status == 303 and added.headers["Location"] == "/admin/alerts"
        assert (await b.post("/admin/alerts/rules", {
            "cause": "keyword", "audience": "user", "user": str(sofia), "email": "1",
            "after_s": "999"})).status == 303
        alerts = AlertAdmin(site.console.db)
        rules = {r.cause: r for r in await alerts.rules(1)}
        assert (rules["unacknowledged"].audience, rules["unacknowledged"].sms,
                rules["unacknowledged"].email, rules["unacknowledged"].after_s) == (
            "on_duty:supervisor", True, False, 120)
        # Only an escalation waits: the keyword rule's stray "after" is not kept.
        assert (rules["keyword"].audience, rules["keyword"].after_s) == (f"user:{sofia}", 0)
        # A shift tomorrow 08:00-20:00 on the municipality's clock, rank 2.
        place = await Municipalities(site.console.db).get(1)
        assert place is not None
        zone = ZoneInfo(place.timezone)
        day = (datetime.now(zone) + timedelta(days=1)).date().isoformat()
        assert (await b.post("/admin/alerts/shifts", {
            "user": str(sofia), "role": "supervisor", "starts": f"{day}T08:00",
            "ends": f"{day}T20:00", "rank": "2"})).status == 303
        (shift,) = await alerts.shifts(1, datetime.now(UTC))
        starts = datetime.fromisoformat(f"{day}T08:00").replace(tzinfo=zone).astimezone(UTC)
        assert (shift["name"], shift["role"], shift["rank"]) == ("sofia", "supervisor", 2)
        assert datetime.fromisoformat(shift["starts_at"]) == starts
        # Sofia's phone, address and quiet hours.
        assert (await b.post(f"/admin/alerts/contacts/{sofia}", {
            "phone": "987 654 321", "email": "sofia@example.org",
            "quiet": "22:00-07:00"})).status == 303
        person = next(p for p in await alerts.staff(1) if p["id"] == sofia)
        assert (person["phone"], person["email"], person["quiet_from"],
                person["quiet_until"]) == ("987654321", "sofia@example.org", "22:00", "07:00")
        # All of it on the page, in Spanish, times on the municipality's clock.
        status, page = await _html(b, "/admin/alerts")
        assert status == 200
        for shown in ("emergencia sin atender", "de turno: supervisor", "palabra clave",
                      f"{day} 08:00", f"{day} 20:00", 'value="987654321"',
                      'value="sofia@example.org"', 'value="22:00-07:00"',
                      "Regla de alerta agregada", "Turno agregado", "Contacto cambiado"):
            assert shown in page, shown
        # Removed, and a second removal finds nothing.
        rule = rules["unacknowledged"].id
        assert (await b.post(f"/admin/alerts/rules/{rule}/remove")).status == 303
        assert (await b.post(f"/admin/alerts/rules/{rule}/remove")).status == 404
        assert [r.cause for r in await alerts.rules(1)] == ["keyword"]
        assert (await b.post(f"/admin/alerts/shifts/{shift['id']}/remove")).status == 303
        assert await alerts.shifts(1, datetime.now(UTC)) == []
        assert (await b.post(f"/admin/alerts/contacts/{sofia}", {"phone": "", "email": "",
                                                                "quiet": ""})).status == 303
        person = next(p for p in await alerts.staff(1) if p["id"] == sofia)
        assert (person["phone"], person["email"], person["quiet_from"]) == (None, None, None)
        status, page = await _html(b, "/admin/alerts")
        assert f'data-rule="{rule}"' not in page and f'data-shift="{shift["id"]}"' not in page
        audit = await site.console.db.fetchall(
            "SELECT kind, actor FROM events WHERE municipality_id = 1 AND report_id IS NULL"
            " AND (kind LIKE 'alerts.%' OR kind LIKE 'roster.%' OR kind = 'user.contact_changed')"
            " ORDER BY id")
        assert [(r["kind"], r["actor"]) for r in audit] == [
            ("alerts.rule_added", "user:root"), ("alerts.rule_added", "user:root"),
            ("roster.shift_added", "user:root"), ("user.contact_changed", "user:root"),
            ("alerts.rule_removed", "user:root"), ("roster.shift_removed", "user:root"),
            ("user.contact_changed", "user:root")]


async def test_bad_rules_shifts_and_contacts_get_a_400_with_the_reason(
        settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("root")
        sofia, ana = await _user_id(site, "sofia"), await _user_id(site, "ana")
        rule = {"cause": "unacknowledged", "audience": "on_duty", "role": "supervisor",
                "sms": "1", "after_s": "120"}
        refusals = [
            ("/admin/alerts/rules", {**rule, "sms": ""}, "elija SMS, correo o ambos"),
            ("/admin/alerts/rules", {**rule, "after_s": "5"},
             "una escalada espera de 10 s a 24 h"),
            ("/admin/alerts/rules", {**rule, "after_s": "pronto"},
             "la espera de la escalada es un número de segundos"),
            ("/admin/alerts/rules", {**rule, "cause": "meteorito"},
             "no existe ese motivo de alerta"),
            ("/admin/alerts/rules", {**rule, "role": "analyst"},
             "elija operador, supervisor o administrador"),
            ("/admin/alerts/rules", {**rule, "audience": "user", "user": ""},
             "elija una persona"),
            ("/admin/alerts/rules", {**rule, "audience": "user", "user": "99999"},
             "esa persona no trabaja en esta municipalidad"),
            ("/admin/alerts/shifts", {"user": str(sofia), "role": "supervisor",
                                      "starts": "2031-05-02T20:00", "ends": "2031-05-02T08:00",
                                      "rank": "1"}, "un turno termina después de empezar"),
            ("/admin/alerts/shifts", {"user": str(ana), "role": "supervisor",
                                      "starts": "2031-05-02T08:00", "ends": "2031-05-02T20:00",
                                      "rank": "1"}, "esa persona no es supervisor aquí"),
            ("/admin/alerts/shifts", {"user": str(sofia), "role": "supervisor",
                                      "starts": "mañana", "ends": "2031-05-02T20:00",
                                      "rank": "1"}, "indique el inicio y el fin con fecha y hora"),
            ("/admin/alerts/shifts", {"user": str(sofia), "role": "supervisor",
                                      "starts": "2031-05-02T08:00", "ends": "2031-05-02T20:00",
                                      "rank": "0"}, "el orden va de 1 (se avisa primero) a 9"),
            ("/admin/alerts/shifts", {"user": str(sofia), "role": "supervisor",
                                      "starts": "2031-05-01T08:00", "ends": "2031-05-09T08:00",
                                      "rank": "1"}, "un turno dura como máximo 7 días"),
            (f"/admin/alerts/contacts/{sofia}", {"phone": "12", "email": "", "quiet": ""},
             "un celular tiene de 6 a 15 dígitos"),
            (f"/admin/alerts/contacts/{sofia}", {"phone": "", "email": "sofia at home",
                                                 "quiet": ""},
             "eso no es una dirección de correo"),
            (f"/admin/alerts/contacts/{sofia}", {"phone": "", "email": "", "quiet": "22:00"},
             "las horas de silencio son HH:MM-HH:MM"),
            (f"/admin/alerts/contacts/{sofia}", {"phone": "", "email": "",
                                                 "quiet": "25:00-07:00"},
             "las horas de silencio son HH:MM"),
            ("/admin/alerts/texts", {"number": "12"}, "un número SMS tiene de 3 a 15 dígitos"),
            ("/admin/alerts/texts", {"number": "5550100", "quiet_type": "meteorito"},
             "tipo de incidente desconocido"),
        ]
        for path, form, reason in refusals:
            assert await _error(await b.post(path, form)) == reason, (path, form)
        # A person reads it as a page, with the form's reason.
        page = await b.post("/admin/alerts/rules", {**rule, "sms": ""},
                            headers={"Accept": "text/html"})
        assert page.status == 400 and "elija SMS, correo o ambos" in await page.text()
        alerts = AlertAdmin(site.console.db)
        assert await alerts.rules(1) == []
        assert await alerts.shifts(1, datetime(2000, 1, 1, tzinfo=UTC)) == []
        assert all(p["phone"] is None and p["quiet_from"] is None
                   for p in await alerts.staff(1))
        # No such rule, shift or person: 404, not 400.
        assert (await b.post("/admin/alerts/rules/77/remove")).status == 404
        assert (await b.post("/admin/alerts/shifts/77/remove")).status == 404
        assert (await b.post("/admin/alerts/contacts/99999", {"phone": ""})).status == 404


async def test_an_admin_sets_the_texts_to_citizens(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("root")
        form = [("_csrf", b.csrf), ("number", "+51 555 0100"), ("receipt", "1"),
                ("on_resolved", "1"), ("quiet_type", "noise"), ("quiet_type", "robbery")]
        saved = await b.client.post("/admin/alerts/texts", data=form, allow_redirects=False,
                                    headers={"Origin": b.origin})
        assert saved.status == 303
        texts = site.console.texts
        assert texts is not None
        mine = await texts.settings(1)
        assert (mine.number, mine.receipt, mine.on_dispatched, mine.on_resolved,
                mine.quiet_types) == ("515550100", True, False, True,
                                      frozenset({"noise", "robbery"}))
        status, page = await _html(b, "/admin/alerts")
        assert status == 200 and 'value="515550100"' in page
        assert re.search(r'name="quiet_type" value="noise" checked', page)
        assert not re.search(r'name="on_dispatched" value="1" checked', page)
        changed = await site.console.db.fetchone(
            "SELECT actor, data FROM events WHERE kind = 'texts.settings_changed'")
        assert changed is not None and changed["actor"] == "user:root"
        # Each number is one municipality's.
        await Municipalities(site.console.db).add("san-isidro", "San Isidro", "America/Lima",
                                                  actor="test")
        await Users(site.console.db).add("raul", Role.ADMIN, PASSWORD, municipality=2)
        async with site.browser() as other:
            await other.login("raul")
            taken = await other.post("/admin/alerts/texts", {"number": "515550100"})
            assert await _error(taken) == "ese número SMS es de otra municipalidad"
            assert (await texts.settings(2)).number is None


async def test_operators_may_not_see_messages_or_alert_settings(settings: Settings) -> None:
    async with console_site(settings) as site:
        async with site.browser() as b:
            await b.login("ana")
            for path in ("/messages", "/admin/alerts"):
                assert (await b.get(path, headers={"Accept": "text/html"})).status == 403
            assert (await b.post("/admin/alerts/rules", {"cause": "keyword"})).status == 403
            assert (await b.post("/messages/1/again")).status == 403
            home = (await _html(b, "/"))[1]
            assert 'href="/messages"' not in home and 'href="/admin/alerts"' not in home
        async with site.browser() as b:
            await b.login("sofia")
            assert (await b.get("/admin/alerts")).status == 403
            assert (await b.post("/admin/alerts/texts", {"number": "5550100"})).status == 403
            status, home = await _html(b, "/messages")
            assert status == 200
            assert 'href="/messages"' in home and 'href="/admin/alerts"' not in home
        texts = site.console.texts
        assert texts is not None and (await texts.settings(1)).number is None


async def test_a_supervisor_sees_the_outbox_and_sends_a_refused_message_again(
        settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await b.login("sofia")
        report = await _report(site)
        began = datetime.now(UTC) - timedelta(minutes=10)
        receipt, alert, mail = await _queue(
            site, _sms(report, began),
            _sms(report, began, purpose="alert.emergency", to="999888777", urgent=True),
            Message("email", "sofia@example.org", "alert.keyword", "palabra clave",
                    began + timedelta(days=1), 1, report_id=report, dedup_key="kw.sofia"),
            at=began)
        await _refuse(site, receipt, began + timedelta(seconds=1))
        assert (await _state(site, receipt), await _state(site, alert),
                await _state(site, mail)) == ("refused", "sent", "pending")

        async def text_in(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO sms_incoming (municipality_id, sender, recipient, body, outcome,"
                " report_id, received_at) VALUES (1, '955444333', '5550100', 'ROBO en Larco',"
                " 'report', ?, ?)", (report, began.isoformat()))

        await site.console.db.write(text_in)
        status, page = await _html(b, "/messages")
        assert status == 200
        assert (_count(page, "sms", "refused"), _count(page, "sms", "sent"),
                _count(page, "sms", "pending"), _count(page, "email", "pending"),
                _count(page, "total", "refused")) == (1, 1, 0, 1, 1)
        # The e-mail has waited ten minutes: said loudly.
        assert "Hay mensajes esperando más de 5 minutos" in page
        assert re.search(r'class="num late">1\d:\d\d<', page)
        for m in (receipt, alert, mail):
            assert f'data-message="{m}"' in page
        # Recipients masked; the citizen's text and its report shown.
        assert "…4321" in page and "so…@example.org" in page and CITIZEN not in page
        assert "ROBO en Larco" in page and "…4333" in page and "abrió un reporte" in page
        assert f'href="/reports/{report}"' in page
        assert "Al vecino: número de reporte" in page and "unknown subscriber" in page
        # The filter: failed ones, waiting ones; a wrong choice is a 400.
        failed = (await _html(b, "/messages?show=failed"))[1]
        assert f'data-message="{receipt}"' in failed and f'data-message="{mail}"' not in failed
        waiting = (await _html(b, "/messages?show=waiting"))[1]
        assert f'data-message="{mail}"' in waiting and f'data-message="{receipt}"' not in waiting
        assert (await b.get("/messages?show=everything")).status == 400
        # Only a refused or undelivered one goes again; never without the CSRF token.
        assert f'action="/messages/{receipt}/again"' in page
        assert f'action="/messages/{alert}/again"' not in page
        assert (await b.post(f"/messages/{receipt}/again", csrf=False)).status == 403
        again = await b.post(f"/messages/{receipt}/again", {"show": "failed"})
        assert again.status == 303 and again.headers["Location"] == "/messages?show=failed"
        row = await site.console.db.fetchone(
            "SELECT state, settled_at FROM outbox WHERE id = ?", (receipt,))
        assert row is not None and (row["state"], row["settled_at"]) == ("pending", None)
        requeued = await site.console.db.fetchall(
            "SELECT actor, report_id, data FROM events WHERE kind = 'message.requeued'")
        assert [(r["actor"], r["report_id"]) for r in requeued] == [("user:sofia", report)]
        assert (await b.post(f"/messages/{receipt}/again")).status == 404  # pending now
        assert (await b.post(f"/messages/{alert}/again")).status == 404  # it was sent
        assert await _state(site, alert) == "sent"


async def test_another_municipalitys_messages_and_settings_are_not_found(
        settings: Settings) -> None:
    async with console_site(settings) as site:
        db = site.console.db
        await Municipalities(db).add("san-isidro", "San Isidro", "America/Lima", actor="test")
        await Users(db).add("bea", Role.SUPERVISOR, PASSWORD, municipality=2)
        theirs = await _report(site, municipality=2)
        assert theirs == report_id(2, 1)
        began = datetime.now(UTC) - timedelta(minutes=1)
        (message,) = await _queue(site, _sms(theirs, began, municipality=2), at=began)
        await _refuse(site, message, began)
        bea = await _user_id(site, "bea")
        alerts = AlertAdmin(db)
        rule = await alerts.add_rule(2, "keyword", "role:supervisor", sms=True, email=False,
                                     after_s=0, actor="test", now=began)
        shift = await alerts.add_shift(2, bea, "supervisor", began, began + timedelta(hours=8),
                                       1, "test", began)
        async with site.browser() as b:
            await b.login("sofia")
            assert (await b.post(f"/messages/{message}/again")).status == 404
            page = (await _html(b, "/messages"))[1]
            assert f'data-message="{message}"' not in page and _count(page, "sms", "refused") == 0
        async with site.browser() as b:
            await b.login("root")
            assert (await b.post(f"/admin/alerts/rules/{rule}/remove")).status == 404
            assert (await b.post(f"/admin/alerts/shifts/{shift}/remove")).status == 404
            assert (await b.post(f"/admin/alerts/contacts/{bea}",
                                 {"phone": "987000111"})).status == 404
            page = (await _html(b, "/admin/alerts"))[1]
            assert f'data-user="{bea}"' not in page and f'data-rule="{rule}"' not in page
        assert await _state(site, message) == "refused"
        assert [r.id for r in await alerts.rules(2)] == [rule]
        assert [s["id"] for s in await alerts.shifts(2, began)] == [shift]
        assert next(p for p in await alerts.staff(2) if p["id"] == bea)["phone"] is None
        assert await db.fetchone("SELECT 1 AS x FROM events WHERE kind = 'message.requeued'"
                                 ) is None


async def test_the_report_page_shows_its_messages(settings: Settings) -> None:
    async with console_site(settings) as site:
        report, other = await _report(site), await _report(site)
        began = datetime.now(UTC) - timedelta(minutes=2)
        receipt, mail, elsewhere = await _queue(
            site, _sms(report, began),
            Message("email", "sofia@example.org", "alert.keyword", "palabra clave",
                    began + timedelta(days=1), 1, report_id=report, dedup_key="kw.sofia"),
            _sms(other, began), at=began)
        await _refuse(site, receipt, began)
        async with site.browser() as b:
            await b.login("sofia")
            status, page = await _html(b, f"/reports/{report}")
            assert status == 200
            section = page.split('id="report-messages"', 1)[1].split("</ul>", 1)[0]
            assert f'data-message="{receipt}"' in section and f'data-message="{mail}"' in section
            assert f'data-message="{elsewhere}"' not in section
            assert "rechazado" in section and "unknown subscriber" in section
            assert "Alerta: palabra clave" in section and "…4321" in section
            # The history says it in words.
            history = page.split('id="history"', 1)[1]
            assert "Mensaje en cola" in history and "Mensaje rechazado" in history
            again = await b.post(f"/messages/{receipt}/again", {"report": str(report)})
            assert again.status == 303 and again.headers["Location"] == f"/reports/{report}"
            live = (await _html(b, f"/reports/{report}/live"))[1]
            assert "Mensaje enviado de nuevo" in live and 'id="report-messages"' in live
            assert f'action="/messages/{receipt}/again"' not in live  # waiting again
        await _refuse(site, receipt, datetime.now(UTC))
        async with site.browser() as b:
            await b.login("ana")  # an operator sees the messages, cannot send them again
            page = (await _html(b, f"/reports/{report}"))[1]
            assert f'data-message="{receipt}"' in page
            assert f'action="/messages/{receipt}/again"' not in page
