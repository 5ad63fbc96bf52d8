"""Silent alarms in the console, through the real console over HTTP on both engines: an
alarm recorded by the use case (``AlarmIntake`` on the real ``AlarmStore``) on the board
in plain words, taken (acknowledged) once; false alarms and link losses on the
responsible-use report; sites and devices added, deactivated and imported by CSV (all
or nothing); another municipality's site, device and alarm answered 404; the public
pages never naming the business."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import FormData

from ivr.core.alarm_links import AlarmLinkWatch
from ivr.core.alarms import AlarmIntake
from ivr.domain.alarms import Signal
from ivr.domain.municipalities import number_of
from ivr.domain.roles import Role
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.alarm_links import AlarmLinkStore
from ivr.store.alarm_views import month_start
from ivr.store.alarms import AlarmStore
from ivr.store.db import Database
from ivr.store.municipalities import Municipalities
from ivr.store.users import Users
from tests.console_util import PASSWORD, Browser, Site, console_site

# SQLite only: the alarm store runs on both engines in test_alarm_store and the intakes'
# tests; these are the console's pages over it (suite time).

SHOP = "Bodega Don Lucho"
STREET = "Av. Larco 812"
KEY = "00112233445566778899AABBCCDDEEFF"
SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNA=="


async def _device(db: Database, municipality: int = 1, name: str = SHOP,
                  account: str = "A1B2", *, poll_s: int | None = None,
                  added: datetime | None = None) -> int:
    admin = AlarmAdmin(db)
    when = added or datetime.now(UTC)
    site = await admin.add_site(municipality, name, address=STREET, zone="3", lat=-12.12345,
                                lon=-77.03456, contacts=[{"name": "Lucho", "phone": "987111222"}],
                                actor="user:root", now=when)
    return await admin.add_device(municipality, site, "dc09", account, keys=[KEY],
                                  poll_s=poll_s, actor="user:root", now=when)


async def _alarm(db: Database, code: str = "HA", account: str = "A1B2",
                 at: datetime | None = None, key: str = "") -> int | None:
    """A signal as an intake hands it over, through the use case and the real store."""
    when = at or datetime.now(UTC)
    intake = AlarmIntake(AlarmStore(db), lambda: when)
    device = await intake.device("dc09", account)
    assert device is not None
    recorded = await intake.receive(device, Signal(
        "dc09", account, code, key or f"{account}-{code}-{when.isoformat()}", zone="001",
        sent_at=when, raw=f"[{code}]"))
    return recorded.report_id if recorded else None


async def _html(b: Browser, path: str) -> tuple[int, str]:
    response = await b.get(path, headers={"Accept": "text/html"})
    return response.status, await response.text()


async def _take(b: Browser, report: int) -> Any:
    response = await b.post(f"/alarms/{report}/take", headers={"X-Requested-With": "fetch"})
    return response.status, await response.json()


async def test_an_alarm_is_on_the_board_in_plain_words_and_taken_once(site: Site) -> None:
    db = site.console.db
    await _device(db)
    report = await _alarm(db, "HA")
    assert report is not None
    await _alarm(db, "HR")  # the panel's restore, heard while the alarm is open
    async with site.browser() as ana, site.browser() as bea:
        await ana.login("ana")
        await bea.login("sofia")
        status, board = await _html(ana, "/alarms")
        assert status == 200
        row = re.search(rf'<tr id="alarm-{report}".*?</tr>', board, re.S)
        assert row, board
        for shown in (SHOP, STREET, "asalto en curso", "(HA)", "restablecido", "Zona 3",
                      "zona del panel 001", "-12.12345", "Lucho 987111222"):
            assert shown in row.group(0), shown
        assert 'id="chart-alarm-map"' in board and f'data-alarm="{report}"' in board
        pending = await (await ana.get("/api/alarms")).json()
        assert [(a["id"], a["site"], a["words"], a["code"]) for a in pending["alarms"]] == [
            (report, SHOP, "asalto en curso", "HA")]
        # The report page is a report like any other, with the way back to the board.
        status, page = await _html(ana, f"/reports/{report}")
        assert status == 200 and f'href="/alarms#alarm-{report}"' in page

        assert await _take(ana, report) == (200, {"ok": True, "report": report,
                                                  "already": False})
        assert await _take(bea, report) == (200, {"ok": True, "report": report,
                                                  "already": True})
        assert (await (await bea.get("/api/alarms")).json())["alarms"] == []
        history = await site.console.queries.history(report)
        changes = [(e["actor"], e["data"]) for e in history if e["kind"] == "report.state_changed"]
        assert changes == [("user:ana", {"from": "received", "to": "acknowledged"})]
        _, board = await _html(bea, "/alarms")
        assert f'id="alarm-{report}"' in board and "confirmado" in board  # open until closed
        assert "take-form" not in board
        # Dispatched and closed like any report; a closed alarm leaves the board.
        for state, extra in (("dispatched", {"unit": "Serenazgo 12"}), ("resolved", {})):
            done = await ana.post(f"/reports/{report}/state", {"state": state, **extra})
            assert done.status == 303
        _, board = await _html(ana, "/alarms")
        assert f'id="alarm-{report}"' not in board and "Ninguna alarma abierta" in board
        # Only alarms are taken here: an ordinary report is no alarm.
        status, _ = await _take(ana, await site.console.casework.file_manual(_manual(), "x"))
        assert status == 404


async def test_false_alarms_and_link_losses_on_the_responsible_use_report(site: Site) -> None:
    db = site.console.db
    now = datetime.now(UTC)
    lima = ZoneInfo("America/Lima")
    await Municipalities(db).update(1, actor="test", timezone="America/Lima")
    long_ago = now - timedelta(hours=3)
    noisy = await _device(db, name="Farmacia Ruidosa", account="F1", poll_s=60, added=long_ago)
    quiet = await _device(db, name="Grifo Tranquilo", account="F2")
    # The link of F1 (polls every 60 s, unheard since added) is lost for 40 minutes, then
    # restored by a poll.
    lost_at = now - timedelta(hours=1)
    assert await AlarmLinkWatch(AlarmLinkStore(db), lambda: lost_at).check() == 1
    await _alarm(db, "NULL", "F1", lost_at + timedelta(minutes=40))
    last_month = month_start(now, lima, 1) + timedelta(days=3)
    reports = [await _alarm(db, "PA", "F1", last_month + timedelta(minutes=i)) for i in range(2)]
    reports += [await _alarm(db, "HA", "F1", now - timedelta(seconds=i + 1)) for i in range(3)]
    reports.append(await _alarm(db, "PA", "F2", now - timedelta(seconds=1)))
    async with site.browser() as sofia, site.browser() as ana:
        await sofia.login("sofia")
        await ana.login("ana")
        for report in (reports[0], reports[2], reports[3]):  # two this month, one last month
            assert report is not None
            done = await sofia.post(f"/reports/{report}/state", {"state": "false_report"})
            assert done.status == 303
        assert (await ana.get("/alarms/report")).status == 403
        status, page = await _html(sofia, "/alarms/report")
        assert status == 200
        row = re.search(rf'<tr data-device="{noisy}">(.*?)</tr>', page, re.S)
        assert row
        this = re.search(r'data-month="this"><span class="false">(\d+)</span>.*? / (\d+) ',
                         row.group(1))
        last = re.search(r'data-month="last"><span class="false">(\d+)</span>.*? / (\d+) ',
                         row.group(1))
        assert this and last and (this.groups(), last.groups()) == (("2", "3"), ("1", "2"))
        other = re.search(rf'<tr data-device="{quiet}">.*?data-month="this"><span class="false">'
                          r"(\d+)</span>", page, re.S)
        assert other and other.group(1) == "0"
        business = re.search(r'<table class="queue" id="business-tally">(.*?)</table>', page,
                             re.S)
        assert business
        month = now.astimezone(lima).strftime("%Y-%m")
        before = last_month.astimezone(lima).strftime("%Y-%m")
        assert f'data-month="{month}">2 / 3<' in business.group(1)
        assert f'data-month="{before}">1 / 2<' in business.group(1)
        most = re.search(r'<ol id="most-false-list">(.*?)</ol>', page, re.S)
        assert most and "Farmacia Ruidosa" in most.group(1) and "Grifo" not in most.group(1)
        loss = re.search(r'<table class="queue" id="loss-list">.*?data-device="(\d+)".*?'
                         r'data-seconds="(\d+)"', page, re.S)
        assert loss and (int(loss.group(1)), int(loss.group(2))) == (noisy, 40 * 60)


async def test_sites_and_devices_added_and_deactivated_with_keys_never_shown(
        site: Site) -> None:
    async with site.browser() as root, site.browser() as sofia:
        await root.login("root")
        await sofia.login("sofia")
        assert (await sofia.get("/admin/alarms")).status == 403
        added = await root.post("/admin/alarms/sites", {
            "name": "  Joyería   Sol ", "address": "Jr. Unión 410", "zone": "2",
            "lat": "-12.1", "lon": "-77.0", "contact_name": "Rosa", "contact_phone": "987654321"})
        assert added.status == 303
        row = await site.console.db.fetchone("SELECT id, name FROM alarm_sites")
        assert row is not None and row["name"] == "Joyería Sol"
        refused = await root.post("/admin/alarms/devices", {
            "site": str(row["id"]), "kind": "dc09", "account": "BEEF", "key": "not-hex"})
        assert refused.status == 400 and "clave DC-09" in await refused.text()
        device = await root.post("/admin/alarms/devices", {
            "site": str(row["id"]), "kind": "webhook", "account": "pos-9", "key": SECRET,
            "poll_s": "120", "time_zone": "America/Lima", "tolerance_s": "30"})
        assert device.status == 303
        status, page = await _html(root, "/admin/alarms")
        assert status == 200 and "pos-9" in page and "con clave" in page
        assert SECRET not in page and SECRET[6:20] not in page
        stored = await site.console.db.fetchone(
            "SELECT id, keys, poll_s, tolerance_s, time_zone FROM alarm_devices")
        assert stored is not None and json.loads(stored["keys"]) == [SECRET]
        assert (stored["poll_s"], stored["tolerance_s"], stored["time_zone"]) == (
            120, 30, "America/Lima")
        off = await root.post(f"/admin/alarms/devices/{stored['id']}/deactivate")
        assert off.status == 303
        assert await AlarmStore(site.console.db).device("webhook", "pos-9") is None
        events = await site.console.db.fetchall(
            "SELECT kind, actor, municipality_id FROM events WHERE kind LIKE 'alarms.%'"
            " ORDER BY id")
        assert [tuple(e) for e in events] == [
            ("alarms.site_added", "user:root", 1), ("alarms.device_added", "user:root", 1),
            ("alarms.device_deactivated", "user:root", 1)]


GOOD = (
    "name,address,zone,lat,lon,contact_name,contact_phone,kind,account,key,poll_s,time_zone,"
    "tolerance_s\n"
    f"Minimarket Ana,Av. Pardo 10,3,-12.11,-77.04,Ana,987000111,dc09,c0ffee,{KEY},90,"
    "America/Lima,60\n"
    "Minimarket Ana,Av. Pardo 10,3,-12.11,-77.04,Ana,987000111,contact_id,5544,,,UTC,\n"
    f"Grifo Norte,Av. Arequipa 5000,5,,,,,webhook,pos-77,{SECRET},300,UTC,120\n"
)


async def test_csv_import_all_or_nothing_with_each_lines_reason(site: Site) -> None:
    db = site.console.db
    await _device(db, account="EXIST")
    async with site.browser() as root:
        await root.login("root")
        ok = await root.post("/admin/alarms/import", {"csv": GOOD})
        assert ok.status == 303 and ok.headers["Location"].startswith(
            "/admin/alarms?imported=2,3")
        _, page = await _html(root, ok.headers["Location"])
        assert "Importado: 2 negocios y 3 equipos." in page
        assert "C0FFEE" in page and "pos-77" in page and KEY not in page
        rows = await db.fetchall("SELECT s.name, d.kind, d.account FROM alarm_devices d"
                                 " JOIN alarm_sites s ON s.id = d.site_id ORDER BY d.id")
        assert [tuple(r) for r in rows][1:] == [("Minimarket Ana", "dc09", "C0FFEE"),
                                                ("Minimarket Ana", "contact_id", "5544"),
                                                ("Grifo Norte", "webhook", "pos-77")]
        before = [tuple(r) for r in await db.fetchall(
            "SELECT (SELECT count(*) FROM alarm_sites), (SELECT count(*) FROM alarm_devices),"
            " (SELECT count(*) FROM events)")]
        bad = GOOD.splitlines()[0] + "\n" + "\n".join([
            "Kiosko Uno,Calle 1,3,-12.1,,,,dc09,AA01,,,UTC,",  # line 2: half a position
            "Kiosko Dos,Calle 2,3,,,,,fax,AA02,,,UTC,",  # line 3: unknown kind
            "Kiosko Tres,Calle 3,3,,,,,dc09,AA03,,,Mars/Base,",  # line 4: unknown zone
            "Kiosko Cuatro,Calle 4,3,,,,,dc09,AA04,,5,UTC,",  # line 5: polls too often
            "Kiosko Cinco,Calle 5,3,,,,,dc09,AA05,,,UTC,"])  # a good line: not imported
        refused = await root.post("/admin/alarms/import", {"csv": bad})
        text = await refused.text()
        assert refused.status == 400 and "No se importó nada" in text
        for line, reason in ((2, "una posición es una latitud y una longitud"),
                             (3, "un equipo es dc09, webhook o contact_id"),
                             (4, "huso horario desconocido"),
                             (5, "tolerancia de 5 s a 24 h; sondeo cada 10 s")):
            assert f"línea {line}: {reason}" in text, (line, text)
        # Lines that pass every check but meet a device already known: still nothing.
        clash = GOOD.splitlines()[0] + "\nKiosko Seis,Calle 6,3,,,,,dc09,AA06,,,UTC,\n" \
            "Kiosko Siete,Calle 7,3,,,,,dc09,exist,,,UTC,\n"
        refused = await root.post("/admin/alarms/import", {"csv": clash})
        assert refused.status == 400
        assert "línea 3: ya existe un equipo dc09 EXIST" in await refused.text()
        # As a browser sends the form: multipart, the file part empty, or the file itself.
        for file_part, text_part in ((b"", bad), (bad.encode("utf-8-sig"), "")):
            form = FormData()
            form.add_field("_csrf", root.csrf)
            form.add_field("file", file_part, filename="sites.csv" if file_part else "",
                           content_type="text/csv" if file_part else "application/octet-stream")
            form.add_field("csv", text_part)
            sent = await root.client.post("/admin/alarms/import", data=form,
                                          headers={"Origin": root.origin})
            assert sent.status == 400 and "línea 3: un equipo es" in await sent.text()
        missing = await root.post("/admin/alarms/import", {"csv": "name,address\nX,Y\n"})
        assert missing.status == 400 and "faltan las columnas zone, lat" in await missing.text()
        after = [tuple(r) for r in await db.fetchall(
            "SELECT (SELECT count(*) FROM alarm_sites), (SELECT count(*) FROM alarm_devices),"
            " (SELECT count(*) FROM events)")]
        assert after == before


async def test_another_municipalitys_site_device_and_alarm_are_not_found(site: Site) -> None:
    db = site.console.db
    await Municipalities(db).add("san-isidro", "San Isidro", "America/Lima", actor="test")
    await Users(db).add("raul", Role.ADMIN, PASSWORD, municipality=2)
    theirs = await _device(db, 2, name="Tienda de San Isidro", account="5150")
    their_site = await db.fetchone("SELECT site_id FROM alarm_devices WHERE id = ?", (theirs,))
    assert their_site is not None
    their_alarm = await _alarm(db, "PA", "5150")
    assert their_alarm is not None and number_of(their_alarm) == 1
    async with site.browser() as root, site.browser() as raul:
        await root.login("root")
        await raul.login("raul")
        assert (await _take(root, their_alarm))[0] == 404
        assert (await root.post(f"/admin/alarms/devices/{theirs}/deactivate")).status == 404
        foreign = await root.post("/admin/alarms/devices", {
            "site": str(their_site["site_id"]), "kind": "dc09", "account": "FF01"})
        assert foreign.status == 404
        for path in ("/alarms", "/alarms/rows", "/api/alarms", "/alarms/report",
                     "/admin/alarms"):
            status, body = await _html(root, path)
            assert status == 200 and "San Isidro" not in body and "5150" not in body, path
        _, mine = await _html(raul, "/alarms")
        assert "Tienda de San Isidro" in mine  # theirs, to them
    row = await db.fetchone("SELECT active, state FROM alarm_devices d JOIN reports r"
                            " ON r.alarm_device_id = d.id WHERE d.id = ?", (theirs,))
    assert row is not None and (row["active"], row["state"]) == (1, "received")


async def test_the_public_pages_never_name_the_business(settings: Any) -> None:
    async with console_site(settings, public_delay_hours=0) as site:
        db = site.console.db
        await _device(db)
        report = await _alarm(db, "HA", at=datetime.now(UTC) - timedelta(hours=2))
        assert report is not None
        code = (await Municipalities(db).get(1)).code  # type: ignore[union-attr]
        async with site.browser() as anyone, site.browser() as sofia:
            seen = ""
            for path in (f"/public/{code}", "/public/api/summary.json",
                         "/open311/v2/requests.json",
                         f"/open311/v2/requests/{number_of(report)}.json"):
                response = await anyone.get(path)
                assert response.status == 200, path
                seen += await response.text()
            assert f'"service_request_id": "{number_of(report)}"' in seen  # it is there...
            for private in (SHOP, "Don Lucho", STREET, "Larco", "12.12345", "77.03456",
                            "987111222", "A1B2", "(HA"):
                assert private not in seen, private  # ...but not whose it is
            # The command centre counts it under its own channel.
            await sofia.login("sofia")
            status, dashboard = await _html(sofia, "/dashboard?range=30d")
            assert status == 200
            assert re.search(r'<tr data-channel="pos"><th>Alarma POS</th><td class="num">1<',
                             dashboard)
            assert '<tr data-type="alarm_holdup">' in dashboard


def _manual():  # type: ignore[no-untyped-def]
    from ivr.domain.roles import Intake
    from ivr.store.casework import ManualReport

    return ManualReport("robbery", 2, Intake.RADIO, "asalto en la esquina", caller="5551234")


@pytest.fixture
async def site(settings: Any) -> Any:
    async with console_site(settings) as opened:
        yield opened
