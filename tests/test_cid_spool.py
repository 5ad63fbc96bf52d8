"""Contact ID by phone, the controller's side: AlarmReceiver's event files in the spool
folder, read by ``ContactIdSpool`` into the real store on both engines. The files are
written here the way Asterisk 22.10.1 wrote them in tests/test_e2e_asterisk_alarms.py
(the text below is one it wrote, name and all)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.alarms.cid_spool import (
    BadEvent,
    ContactIdSpool,
    SpoolFormatError,
    parse_event_file,
    read_event,
)
from ivr.app import services
from ivr.config import Settings
from ivr.core.alarms import AlarmIntake
from ivr.core.records import StoreError
from ivr.domain.alarms import Device, Recorded, Signal
from ivr.store import engine as store_engine
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.alarms import AlarmStore
from ivr.store.db import Database
from ivr.testing.contact_id import message, spoiled

# SQLite only: the alarm store runs on both engines in test_alarm_store; this is the
# spool watcher, a transport over it (suite time).

NOW = datetime(2026, 12, 4, 9, 41, tzinfo=UTC)
SILENT = "1234181122010013"  # account 1234, new event 122 (silent alarm), group 01, zone 001
# Written by AlarmReceiver (Asterisk 22.10.1, our alarmreceiver.conf) as event-gsHiVU.
WRITTEN = ("\n\n[metadata]\n\nPROTOCOL=ADEMCO_CONTACT_ID\nCHECKSUM=yes\nCALLINGFROM=5551234\n"
           "CALLERNAME=panel\nTIMESTAMP=2026-12-04T09:40:49+0000\n\n[events]\n\n"
           "1234181122010013\n")


def event_file(*events: str, at: str = "2026-12-04T09:40:49+0000",
               protocol: str = "ADEMCO_CONTACT_ID") -> str:
    return WRITTEN.replace("1234181122010013\n", "".join(e + "\n" for e in events)).replace(
        "2026-12-04T09:40:49+0000", at).replace("ADEMCO_CONTACT_ID", protocol)


@dataclasses.dataclass
class Bench:
    spool: Path
    db: Database
    intake: AlarmIntake
    admin: AlarmAdmin
    site: int

    def watcher(self, **kw: Any) -> ContactIdSpool:
        return ContactIdSpool(self.spool, self.intake, **kw)

    def drop(self, name: str, text: str, *, age_s: float = 0.0) -> Path:
        path = self.spool / name
        path.write_text(text)
        os.chmod(path, 0o600)  # as mkstemp makes it
        if age_s:
            then = time.time() - age_s
            os.utime(path, (then, then))
        return path

    def left(self, sub: str = "") -> list[str]:
        folder = self.spool / sub if sub else self.spool
        return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []

    async def reports(self) -> list[Any]:
        return list(await self.db.fetchall(
            "SELECT id, channel, type, emergency, summary FROM reports ORDER BY id"))

    async def signals(self) -> list[Any]:
        return list(await self.db.fetchall(
            "SELECT code, kind, zone, dedup_key, report_id, sent_at FROM alarm_signals"
            " ORDER BY id"))


@pytest.fixture
async def bench(database: Any, tmp_path: Path) -> AsyncIterator[Bench]:
    db = await store_engine.database(database).open()
    admin = AlarmAdmin(db)
    site = await admin.add_site(1, "Bodega Don Lucho", address="Av. Larco 812", zone="3",
                                actor="user:root", now=NOW)
    await admin.add_device(1, site, "contact_id", "1234", actor="user:root", now=NOW)
    spool = tmp_path / "spool"
    spool.mkdir()
    try:
        yield Bench(spool, db, AlarmIntake(AlarmStore(db), lambda: NOW), admin, site)
    finally:
        await db.close()


async def test_a_silent_alarm_by_phone_opens_one_report_and_the_file_goes_to_done(
        bench: Bench) -> None:
    bench.drop("event-gsHiVU", WRITTEN)
    assert await bench.watcher().sweep() == {"done": 1}
    assert bench.left() == [] and bench.left("done") == ["event-gsHiVU"]
    [report] = await bench.reports()
    assert (report["channel"], report["type"], report["emergency"]) == ("pos", "alarm_silent", 1)
    assert "E122" in report["summary"] and "zona 001" in report["summary"]
    [signal] = await bench.signals()
    assert (signal["code"], signal["kind"], signal["zone"]) == ("E122", "silent", "001")
    assert signal["dedup_key"] == "cid:event-gsHiVU:20261204T094049Z:1234181122010013"
    assert signal["report_id"] == report["id"]
    assert str(signal["sent_at"]).startswith("2026-12-04")  # Asterisk's time of reception


async def test_a_file_read_again_or_an_event_resent_is_stored_once(bench: Bench) -> None:
    bench.drop("event-aaaaaa", WRITTEN)
    watcher = bench.watcher()
    await watcher.sweep()
    # A crash between the commit and the move: the same file is there again.
    bench.drop("event-aaaaaa", WRITTEN)
    # The panel missed the kissoff and sent the same digits again 20 s later: a new file.
    bench.drop("event-bbbbbb", event_file(SILENT, at="2026-12-04T09:41:09+0000"))
    assert await watcher.sweep() == {"done": 2}
    assert len(await bench.reports()) == 1 and len(await bench.signals()) == 1
    assert len(bench.left("done")) == 3  # each file kept, the second copy renamed


async def test_the_same_alarm_after_a_restore_is_a_new_alarm(bench: Bench) -> None:
    watcher = bench.watcher()
    restore = message("1234", "3", "122")
    for n, (digits, second) in enumerate(((SILENT, "10"), (restore, "20"), (SILENT, "30"))):
        bench.drop(f"event-{n}", event_file(digits, at=f"2026-12-04T09:41:{second}+0000"))
        await watcher.sweep()
    assert [s["code"] for s in await bench.signals()] == ["E122", "R122", "E122"]
    assert len(await bench.reports()) == 2  # the restore opens none


async def test_a_wrong_checksum_is_refused_and_set_aside(
        bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "ivr.alarms.cid_spool")
    bench.drop("event-cccccc", event_file(spoiled(SILENT)))
    assert await bench.watcher().sweep() == {"bad": 1}
    assert await bench.signals() == [] and bench.left("bad") == ["event-cccccc"]
    assert "wrong checksum" in caplog.text and "1234181122010014" in caplog.text


async def test_an_unknown_account_is_kept_aside_until_its_device_exists(
        bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "ivr.alarms.cid_spool")
    stranger = message("5678", "1", "120")
    bench.drop("event-dddddd", event_file(stranger))
    watcher = bench.watcher()
    assert await watcher.sweep() == {"unknown": 1}
    assert bench.left("unknown") == ["event-dddddd"] and await bench.signals() == []
    assert "account 5678" in caplog.text and "5551234" in caplog.text
    # The admin registers the panel and puts the file back: it is taken then.
    await bench.admin.add_device(1, bench.site, "contact_id", "5678", actor="user:root",
                                 now=NOW)
    os.replace(bench.spool / "unknown" / "event-dddddd", bench.spool / "event-dddddd")
    assert await watcher.sweep() == {"done": 1}
    assert [r["type"] for r in await bench.reports()] == ["alarm_panic"]


async def test_files_left_from_before_a_restart_are_taken_in_order(bench: Bench) -> None:
    for n, second in enumerate(("01", "02")):
        digits = SILENT if n == 0 else message("1234", "1", "602", zone="000")
        bench.drop(f"event-old{n}", event_file(digits, at=f"2026-12-04T09:00:{second}+0000"),
                   age_s=3600 - n)
    watcher = bench.watcher(poll_s=0.05).start()  # what services() does at start-up
    try:
        for _ in range(200):
            if len(bench.left("done")) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await watcher.stop()
    assert bench.left() == [] and bench.left("done") == ["event-old0", "event-old1"]
    signals = await bench.signals()
    assert [(s["code"], s["kind"], s["zone"]) for s in signals] == [
        ("E122", "silent", "001"), ("E602", "test", None)]


async def test_a_file_not_written_yet_waits_and_one_that_stays_broken_goes_to_bad(
        bench: Bench) -> None:
    watcher = bench.watcher(settle_s=5.0)
    bench.drop("event-eeeeee", "")  # mkstemp made it, fprintf has not flushed yet
    assert await watcher.sweep() == {"waiting": 1}
    bench.drop("event-eeeeee", "", age_s=60)
    bench.drop("event-ffffff", event_file(SILENT, protocol="ADEMCO_EXPRESS_4_1"))
    assert await watcher.sweep() == {"bad": 2}
    assert bench.left("bad") == ["event-eeeeee", "event-ffffff"]


class DownStore:
    """The store refuses writes (the disk is full, PostgreSQL is away)."""

    def __init__(self, inner: AlarmStore) -> None:
        self.inner = inner
        self.down = True

    async def device(self, kind: str, account: str) -> Device | None:
        return await self.inner.device(kind, account)

    async def record(self, device: Device, signal: Signal, kind: str, now: datetime
                     ) -> Recorded:
        if self.down:
            raise StoreError("disk I/O error")
        return await self.inner.record(device, signal, kind, now)

    async def seen(self, device: Device, now: datetime) -> None:
        await self.inner.seen(device, now)


async def test_a_store_that_cannot_take_it_leaves_the_file_for_the_next_pass(
        bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "ivr.alarms.cid_spool")
    store = DownStore(AlarmStore(bench.db))
    watcher = ContactIdSpool(bench.spool, AlarmIntake(store, lambda: NOW))
    bench.drop("event-gggggg", WRITTEN)
    assert await watcher.sweep() == {"retry": 1}
    assert await watcher.sweep() == {"retry": 1}
    assert bench.left() == ["event-gggggg"]
    assert caplog.text.count("the store cannot take it") == 1  # said once, not every second
    store.down = False
    assert await watcher.sweep() == {"done": 1}
    assert len(await bench.reports()) == 1


async def test_the_controller_starts_the_watcher(settings: Settings, tmp_path: Path) -> None:
    spool = tmp_path / "cid-spool"
    spool.mkdir()
    settings = dataclasses.replace(settings, contact_id_spool=spool)
    async with services(settings, reconcile_clips=False, messaging=True) as svc:
        admin = AlarmAdmin(svc.db)
        site = await admin.add_site(1, "Farmacia", actor="user:root", now=NOW)
        await admin.add_device(1, site, "contact_id", "1234", actor="user:root", now=NOW)
        (spool / "event-hhhhhh").write_text(WRITTEN)
        for _ in range(100):
            if (spool / "done" / "event-hhhhhh").exists():
                break
            await asyncio.sleep(0.1)
        rows = await svc.db.fetchall("SELECT channel, type FROM reports")
    assert [(r["channel"], r["type"]) for r in rows] == [("pos", "alarm_silent")]


# --- the parsers, on literal text ------------------------------------------------------


def test_both_layouts_alarmreceiver_writes_are_read() -> None:
    grouped = parse_event_file(WRITTEN)
    assert grouped.protocol == "ADEMCO_CONTACT_ID" and grouped.events == (SILENT,)
    assert grouped.metadata["CALLINGFROM"] == "5551234"
    flat = parse_event_file("PROTOCOL=ADEMCO_CONTACT_ID\nCHECKSUM=yes\nCALLINGFROM=<unknown>\n"
                            f"CALLERNAME=<unknown>\nTIMESTAMP=x\n\nevent={SILENT}\n")
    assert flat.events == (SILENT,) and flat.metadata["CALLINGFROM"] == "<unknown>"
    for broken in ("", "\n\n[metadata]\n\nPROTOCOL=ADEMCO_CONTACT_ID\n", WRITTEN[:-1]):
        with pytest.raises(SpoolFormatError):
            parse_event_file(broken)


def test_events_in_plain_fields() -> None:
    event = read_event(SILENT)
    assert (event.account, event.code, event.group, event.zone) == ("1234", "E122", "01", "001")
    assert read_event(message("1234", "3", "130", zone="004")).code == "R130"
    assert read_event(message("1234", "6", "130")).code == "S130"  # still present: a status
    # Values 11 to 15 travel as the keys * # A B C: account 'B' + '234' is sent as '*234'.
    assert read_event(message("*234", "1", "120")).account == "B234"
    for wrong, why in ((spoiled(SILENT), "checksum"), (SILENT[:15], "16"),
                       (message("1234", "2", "122"), "qualifier"),
                       (message("1234", "1", "122", message_type="17"), "message type")):
        with pytest.raises(BadEvent, match=why):
            read_event(wrong)


# --- the Asterisk side, as `alerta asterisk config` writes it -----------------------------


def _render(**changes: Any) -> dict[str, str]:
    from ivr.asterisk_config import render

    return render(dataclasses.replace(Settings(), ami_secret="x" * 24, **changes))


def test_the_alarm_number_and_the_spool_come_from_the_settings() -> None:
    files = _render(contact_id_line="5550199", contact_id_spool=Path("/srv/alerta/cid"))
    assert "exten => 5550199,1,Goto(alerta-alarms,s,1)" in files["extensions.conf"]
    assert "\neventspooldir = /srv/alerta/cid\n" in files["alarmreceiver.conf"]
    conf = files["alarmreceiver.conf"]
    assert "\nlogindividualevents = yes\n" in conf and "\neventcmd" not in conf
    # Another line may take 1236: only the line to the alarms becomes the alarm number.
    dialplan = _render(status_line="1236", contact_id_line="1237")["extensions.conf"]
    assert "exten => 1236,1,NoOp(Alerta: status line)" in dialplan
    assert "exten => 1237,1,Goto(alerta-alarms,s,1)" in dialplan


def test_a_spool_path_alarmreceiver_would_cut_short_is_refused() -> None:
    from ivr.asterisk_config import AsteriskConfigError

    with pytest.raises(AsteriskConfigError, match="110 bytes"):
        _render(contact_id_spool=Path("/srv/" + "a" * 120))
    with pytest.raises(AsteriskConfigError, match="must differ"):
        _render(contact_id_line="1234")
