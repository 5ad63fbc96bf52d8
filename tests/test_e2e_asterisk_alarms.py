"""Contact ID by phone through real Asterisk: an alarm panel's dialler (SIPp playing its
tones in the audio) → our dialplan's alarm number → AlarmReceiver → its spool folder →
the controller's watcher (started by ``services()``, as ``alerta serve`` starts it) → the
store.

The panel sends two events: a silent alarm (E122), then a panic whose checksum is off by
one. AlarmReceiver checks the checksum itself: the first event gets a file and a kissoff,
the second neither ("Nonzero checksum" in its log; a real panel would send it again), so
the watcher's own checksum check is only ever a second line (tests/test_cid_spool.py).

A recording cannot listen for the handshake, so the dialler's audio starts with 2.6 s of
silence: AlarmReceiver waits ``answait`` (1.25 s), sends 1400 Hz and 2300 Hz (0.3 s) and
then allows ``fdtimeout`` (2 s) for the first digit; a late start only costs a second
handshake. What Asterisk sent is recorded by a MixMonitor the test puts in front of the
alarm number (``dialplan add extension``), and the kissoff is found in it by frequency:
AlarmReceiver does not log it. That recording keeps the tones but drops much of the
silence between them, so only their order and lengths are checked. Nothing here skips:
without Asterisk or SIPp it fails.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import re
import socket
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivr.app import services
from ivr.config import Settings
from ivr.store.alarm_admin import AlarmAdmin
from ivr.store.reports import utc_now
from ivr.testing.asterisk import PrivateAsterisk, free_port
from ivr.testing.contact_id import dialler_ulaw, message, spoiled, tone_spans
from tests.e2e_asterisk import SECRET, free_media_port, require_tools
from tests.e2e_dialogue import _pcaps

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "tests" / "sipp" / "alarm_panel.xml"
ACCOUNT = "1234"
SILENT = message(ACCOUNT, "1", "122")  # 1234181122010013
WRONG = spoiled(message(ACCOUNT, "1", "120", zone="002"))  # a panic, checksum off by one
PANEL_LINE = "5551234"  # the panel's own number (CALLINGFROM)
RECORDED_EXTEN = "1299"  # MixMonitor, then the alarm number: added for this test only
LEAD_S = 2.6
STORED_WITHIN_S = 10.0


@dataclass
class AlarmCall:
    root: Path
    spool: Path
    sipp_rc: int
    sipp_log: str
    asterisk_log: str  # AlarmReceiver's verbose lines (level 4)
    errors: list[str]  # Asterisk's ERROR lines
    sent: list[int]  # what Asterisk sent the panel, 16-bit samples at 8 kHz
    reports: list[dict[str, Any]]
    signals: list[dict[str, Any]]

    def files(self, sub: str = "") -> list[Path]:
        folder = self.spool / sub if sub else self.spool
        return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _samples(path: Path) -> list[int]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth()) == (8000, 2)
        return list(array.array("h", wav.readframes(wav.getnframes())))


def _sipp(pbx: PrivateAsterisk, root: Path) -> subprocess.CompletedProcess[str]:
    audio = dialler_ulaw([SILENT, WRONG], lead_s=LEAD_S)
    pcaps = _pcaps()
    pcaps.write_pcap(root / "panel.pcap", pcaps.audio(1, audio))
    scenario = SCENARIO.read_text(encoding="utf-8").replace(
        "ALARM_PCAP", str(root / "panel.pcap")).replace("ALARM_MS", str(len(audio) // 8))
    (root / "panel.xml").write_text(scenario, encoding="utf-8")
    (root / "panel.csv").write_text(f"SEQUENTIAL\n{PANEL_LINE};Bodega panel\n")
    return subprocess.run(
        [str(pbx.tool.sipp), f"127.0.0.1:{pbx.sip_port}", "-sf", str(root / "panel.xml"),
         "-inf", str(root / "panel.csv"), "-s", RECORDED_EXTEN, "-i", "127.0.0.1",
         "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_media_port()),
         "-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error",
         "-trace_msg", "-message_file", str(root / "sipp.messages.log"),
         "-trace_err", "-error_file", str(root / "sipp.errors.log")],
        capture_output=True, text=True, timeout=60, cwd=root)


async def _panel_calls(pbx: PrivateAsterisk, settings: Settings, root: Path
                       ) -> tuple[subprocess.CompletedProcess[str], list[Any], list[Any]]:
    # messaging=True: the controller's services, the spool watcher among them
    async with services(settings, reconcile_clips=False, messaging=True) as svc:
        admin = AlarmAdmin(svc.db)
        site = await admin.add_site(1, "Bodega Don Lucho", address="Av. Larco 812", zone="3",
                                    actor="user:root", now=utc_now())
        await admin.add_device(1, site, "contact_id", ACCOUNT, actor="user:root", now=utc_now())
        done = await asyncio.to_thread(_sipp, pbx, root)
        for _ in range(round(STORED_WITHIN_S / 0.2)):
            if list((settings.contact_id_spool / "done").glob("event-*")):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.5)  # two more passes of the watcher: nothing is taken twice
        reports = [dict(r) for r in await svc.db.fetchall(
            "SELECT channel, type, emergency, priority, summary FROM reports")]
        signals = [dict(r) for r in await svc.db.fetchall(
            "SELECT code, kind, zone, dedup_key, raw FROM alarm_signals")]
    return done, reports, signals


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlarmCall]:
    require_tools()
    root = tmp_path_factory.mktemp("e2e-alarms")
    spool = root / "spool"
    spool.mkdir()
    settings = dataclasses.replace(
        Settings(), database=root / "alerta.sqlite3", voiceclips=root / "voiceclips",
        prompts=ROOT / "prompts", prompt_library=root / "prompt-library",
        agi_port=free_port(socket.SOCK_STREAM), ami_secret=SECRET, contact_id_spool=spool)
    with PrivateAsterisk.start(root / "asterisk", settings) as pbx:
        pbx.rx("logger add channel alarms.log verbose(4)")  # the handshake is level 4
        for step in (f"1,MixMonitor({root}/call.wav,t({root}/sent.wav))",
                     f"2,Goto(alerta-in,{settings.contact_id_line},1)"):
            pbx.rx(f"dialplan add extension {RECORDED_EXTEN},{step} into alerta-in")
        done, reports, signals = asyncio.run(_panel_calls(pbx, settings, root))
        errors = [line for line in pbx.log_lines("ERROR")
                  if not re.search(r"Unable to load config file|declined to load", line)]
        log_path = pbx.root / "log" / "alarms.log"
        for _ in range(50):  # MixMonitor closes its files once the channel is gone
            if (root / "sent.wav").exists() and not pbx.channels():
                break
            time.sleep(0.1)
        yield AlarmCall(root, spool, done.returncode, done.stdout + done.stderr,
                        log_path.read_text(errors="replace") if log_path.exists() else "",
                        errors, _samples(root / "sent.wav"), reports, signals)


def test_the_panel_s_call_completes(call: AlarmCall) -> None:
    assert call.sipp_rc == 0, call.sipp_log
    assert call.errors == []


def test_alarmreceiver_handshakes_once_and_takes_the_good_event(call: AlarmCall) -> None:
    log = call.asterisk_log
    assert log.count("AlarmReceiver: Sending 1400Hz 100ms burst (ACK)") == 1, log
    assert log.count("AlarmReceiver: Sending 2300Hz 100ms burst (ACK)") == 1
    assert "Detected format ADEMCO_CONTACT_ID" in log
    assert log.count(f"AlarmReceiver: Received Event {SILENT}") == 1


def test_asterisk_itself_refuses_the_wrong_checksum_without_a_kissoff(call: AlarmCall) -> None:
    after = call.asterisk_log.split(f"AlarmReceiver: Received Event {WRONG}", 1)
    assert len(after) == 2, call.asterisk_log
    assert after[1].lstrip().split("\n", 1)[0].endswith("AlarmReceiver: Nonzero checksum")
    # the kissoffs Asterisk sent: 1400 Hz for about 900 ms, once (the good event's only)
    kissoffs = [(a, b) for a, b in tone_spans(call.sent, 1400.0) if b - a >= 0.8]
    assert len(kissoffs) == 1 and kissoffs[0][1] - kissoffs[0][0] <= 1.0, kissoffs


def test_the_handshake_and_the_kissoff_are_heard_in_that_order(call: AlarmCall) -> None:
    low = tone_spans(call.sent, 1400.0)
    high = tone_spans(call.sent, 2300.0)
    # The recording is cut in 20 ms frames: a 100 ms tone spans 80 to 120 ms of it
    # (compared with a margin, as 1.4 - 1.32 is not quite 0.08 in floating point).
    assert len(high) == 1 and abs(high[0][1] - high[0][0] - 0.1) <= 0.021, high
    handshake, kissoff = low[0], low[-1]
    assert abs(handshake[1] - handshake[0] - 0.1) <= 0.021, low
    # (the recording of what Asterisk sent leaves out much of the silence between tones,
    # so only their order and lengths are compared, not the gaps)
    assert handshake[1] <= high[0][0] and high[0][1] < kissoff[0]
    assert abs(kissoff[1] - kissoff[0] - 0.9) <= 0.051, low


def test_one_file_for_the_good_event_and_it_ends_in_done(call: AlarmCall) -> None:
    assert call.files() == [] and call.files("bad") == [] and call.files("unknown") == []
    [taken] = call.files("done")
    text = taken.read_text()
    assert "PROTOCOL=ADEMCO_CONTACT_ID" in text and f"CALLINGFROM={PANEL_LINE}" in text
    assert re.search(r"^TIMESTAMP=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$", text, re.M)
    assert re.findall(r"^[0-9*#A-D]{16}$", text, re.M) == [SILENT]


def test_the_silent_alarm_opens_exactly_one_report(call: AlarmCall) -> None:
    [report] = call.reports
    assert (report["channel"], report["type"], report["emergency"], report["priority"]) == (
        "pos", "alarm_silent", 1, 1)
    assert "Bodega Don Lucho" in report["summary"]
    [signal] = call.signals
    assert (signal["code"], signal["kind"], signal["zone"]) == ("E122", "silent", "001")
    assert signal["dedup_key"].endswith(":" + SILENT) and PANEL_LINE in signal["raw"]
