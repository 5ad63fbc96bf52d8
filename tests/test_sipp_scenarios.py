"""The SIPp citizen scenarios (tests/sipp/) are valid and complete their dialogue.

Asterisk cannot run here, so each UAC scenario calls tests/sipp/fake_ivr_uas.xml
(a SIPp UAS) over loopback, with its waits for prompts shortened (-set pace).
The UAS's SDP sends the caller's RTP to a UDP socket of this test, which decodes
it: the RFC 4733 key presses must be exactly the keys the flow expects, in order,
in one RTP stream whose sequence numbers and timestamps only go up (what a real
Asterisk needs to take every key). Other checks need no SIPp: the waits match the
prompts' lengths, the captures match make-audio.sh's output, and scripts/sipp-call
refuses targets that are not ours.

Without the `sipp` binary (Debian package sip-tester) or the right to open the
raw socket it replays RTP through, the live tests skip, saying why; under CI=true
they fail instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import wave
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

from tests import sipp_trace
from tests.browser_util import in_ci

ROOT = Path(__file__).resolve().parent.parent
SIPP_DIR = ROOT / "tests" / "sipp"
AUDIO = SIPP_DIR / "audio"
PROMPTS = ROOT / "prompts" / "es"
SIPP_CALL = ROOT / "scripts" / "sipp-call"
SCENARIOS = ["report_robbery", "report_hangup_during_record", "status_query",
             "emergency_to_operator"]
PACE = 0.05  # the caller's waits for prompts, shortened twentyfold
IVR_HANGUP_MARGIN_MS = 1200  # the fake IVR hangs up this long after the caller's last key
SIPP_TIMEOUT_S = 30
EVENT_NAMES = "0123456789*#ABCD"


# --- which machine can run SIPp -------------------------------------------------------------


def require(ok: bool, reason: str) -> None:
    """Skip (saying why) when something the live tests need is missing; fail under CI."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def sipp_binary() -> str:
    path = shutil.which("sipp")
    require(path is not None, "sipp is not installed (Debian package sip-tester; scripts/test "
            "installs it)")
    assert path is not None
    getcap = shutil.which("getcap")
    capable = os.geteuid() == 0 or (
        getcap is not None
        and "cap_net_raw" in subprocess.run([getcap, path], capture_output=True, text=True).stdout
    )
    require(capable, "sipp replays RTP through a raw socket: run as root, or "
            f"sudo setcap cap_net_raw+ep {path}")
    return path


# --- the caller's RTP, as the fake IVR's media address receives it ----------------------------


@dataclass(frozen=True)
class Packet:
    source: tuple[str, int]
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes, source: tuple[str, int]) -> Packet:
    first, second, seq, timestamp, ssrc = struct.unpack("!BBHII", data[:12])
    assert first >> 6 == 2, f"not RTP version 2: {data[:12].hex()}"
    header = 12 + 4 * (first & 0x0F)
    return Packet(source, second & 0x7F, seq, timestamp, ssrc, data[header:])


@dataclass
class MediaSink:
    """A UDP socket standing in for the IVR's RTP port; keeps every packet it gets."""

    sock: socket.socket
    packets: list[Packet] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def run(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                data, source = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.packets.append(parse_rtp(data, source))


@contextlib.contextmanager
def media_sink() -> Iterator[MediaSink]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sink = MediaSink(sock)
    thread = threading.Thread(target=sink.run, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.stop.set()
        thread.join(5)
        sock.close()


def heard(packets: list[Packet], event_pt: int) -> str:
    """What the caller sent, in order: one character a key (on its first end packet), and
    "~" for each run of audio. Retransmitted end packets of a key are one key."""
    out: list[str] = []
    ended: set[tuple[int, int]] = set()
    for p in packets:
        if p.payload_type == event_pt:
            event, flags = p.payload[0], p.payload[1]
            if flags & 0x80 and (p.ssrc, p.timestamp) not in ended:
                ended.add((p.ssrc, p.timestamp))
                out.append(EVENT_NAMES[event])
        elif p.payload_type in (0, 8):
            if not out or out[-1] != "~":
                out.append("~")
        else:
            raise AssertionError(f"unexpected RTP payload type {p.payload_type}")
    return "".join(out)


# --- running a scenario against the fake IVR ---------------------------------------------------


def free_udp_port(span: int = 1) -> int:
    """A loopback UDP port p with p..p+span-1 free (SIPp binds its media port and port+2)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + span > 65535:
            continue
        holders = []
        try:
            for port in range(base, base + span):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                holders.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in holders:
                s.close()
        return base
    raise RuntimeError("no free UDP ports on loopback")


def wait_until_bound(port: int, proc: subprocess.Popen[bytes], limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the fake IVR exited early ({proc.returncode})"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return  # SIPp holds it
        time.sleep(0.05)
    raise AssertionError(f"the fake IVR never bound 127.0.0.1:{port}")


@dataclass
class Call:
    uac_rc: int
    uas_rc: int
    packets: list[Packet]
    uas_messages: str
    logs: Path

    def blocks(self, direction: str) -> list[str]:
        """SIP messages the fake IVR sent or received, from its -trace_msg log."""
        return sipp_trace.messages(self.uas_messages, direction)

    def invite(self) -> str:
        invites = [b for b in self.blocks("received") if b.startswith("INVITE ")]
        assert invites, "the fake IVR never got an INVITE"
        return invites[0]

    def diagnostics(self) -> str:
        text = []
        for path in sorted(self.logs.glob("*.log")):
            content = path.read_text(errors="replace")
            text.append(f"== {path.name}\n{content[-3000:]}")
        return "\n".join(text)


def place_call(sipp: str, tmp: Path, scenario: Path, csv: str, *, ivr_hangup_ms: int = 0) -> Call:
    """Run the UAC scenario file against the fake IVR; -m 1, bounded by SIPP_TIMEOUT_S."""
    logs = tmp / scenario.stem
    logs.mkdir(parents=True, exist_ok=True)
    uas_port, uac_port = free_udp_port(), free_udp_port()
    uas_media, uac_media = free_udp_port(3), free_udp_port(3)
    common = ["-i", "127.0.0.1", "-ci", "127.0.0.1", "-nostdin", "-m", "1",
              "-timeout", f"{SIPP_TIMEOUT_S}s", "-timeout_error"]
    with media_sink() as sink:
        uas_cmd = [
            sipp, "-sf", str(SIPP_DIR / "fake_ivr_uas.xml"), "-p", str(uas_port),
            "-mp", str(uas_media), "-key", "sink_port", str(sink.port), *common,
            "-trace_msg", "-message_file", str(logs / "uas.messages.log"),
            "-trace_err", "-error_file", str(logs / "uas.errors.log"),
        ]
        if ivr_hangup_ms:
            uas_cmd += ["-set", "ivr_hangup_ms", str(ivr_hangup_ms)]
        uac_cmd = [
            sipp, f"127.0.0.1:{uas_port}", "-sf", str(scenario),
            "-inf", str(SIPP_DIR / csv), "-s", "1234", "-p", str(uac_port),
            "-mi", "127.0.0.1", "-mp", str(uac_media), "-aa", "-set", "pace", str(PACE), *common,
            "-trace_msg", "-message_file", str(logs / "uac.messages.log"),
            "-trace_err", "-error_file", str(logs / "uac.errors.log"),
        ]
        with open(logs / "uas.stdout.log", "wb") as uas_out:
            uas = subprocess.Popen(uas_cmd, cwd=logs, stdout=uas_out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
            try:
                wait_until_bound(uas_port, uas)
                with open(logs / "uac.stdout.log", "wb") as uac_out:
                    uac = subprocess.run(uac_cmd, cwd=logs, stdout=uac_out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         timeout=SIPP_TIMEOUT_S + 15, check=False)
                uas_rc = uas.wait(timeout=SIPP_TIMEOUT_S + 15)
            finally:
                if uas.poll() is None:
                    uas.kill()
                    uas.wait()
        time.sleep(0.2)  # the last RTP packets are on their way
    messages = logs / "uas.messages.log"
    return Call(uac.returncode, uas_rc, sink.packets,
                messages.read_text(errors="replace") if messages.exists() else "", logs)


# --- reading the scenarios ---------------------------------------------------------------------


def scenario_xml(name: str | Path) -> ET.Element:
    path = name if isinstance(name, Path) else SIPP_DIR / f"{name}.xml"
    return ET.parse(path).getroot()


def declared_globals(name: str | Path) -> set[str]:
    found = scenario_xml(name).find("Global")
    return set((found.get("variables") or "").split(",")) if found is not None else set()


def assigned(root: ET.Element) -> dict[str, float]:
    return {a.get("assign_to", ""): float(a.get("value", "0")) for a in root.iter("assign")}


def ms_until_listening(name: str | Path, *, withheld: bool, pace: float) -> float:
    """How long the caller takes, from the ACK, to reach its wait for the IVR's hangup:
    the scenario's pauses along the path a listed or withheld caller takes."""
    root = scenario_xml(name)
    waits = assigned(root)
    elements = list(root)
    labels = {e.get("id"): i for i, e in enumerate(elements) if e.tag == "label"}
    total, i = 0.0, 0
    while i < len(elements):
        e = elements[i]
        if e.tag == "label" and e.get("id") == "listen":
            return total
        if e.tag == "pause":
            variable = e.get("variable")
            total += waits[variable] * pace if variable else float(e.get("milliseconds", "0"))
        jump = e.get("next")
        if e.tag == "nop" and jump and (e.get("test") is None or withheld):
            i = labels[jump]
            continue
        i += 1
    raise AssertionError(f"{name} has no listen label")


def captures(name: str) -> list[str]:
    return [e.get("play_pcap_audio", "") for e in scenario_xml(name).iter("exec")]


def prompt_seconds(prompt_id: str) -> float:
    with wave.open(str(PROMPTS / f"{prompt_id}.wav")) as w:
        return w.getnframes() / w.getframerate()


def capture_packets(path: Path) -> list[tuple[float, bytes]]:
    """(seconds, RTP bytes) of each packet of a pcap written by make_pcaps.py."""
    data = path.read_bytes()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    out, offset = [], 24
    while offset < len(data):
        sec, usec, length, _ = struct.unpack("<IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + length]
        out.append((sec + usec / 1e6, frame[14 + 20 + 8:]))  # ethernet, IPv4, UDP
        offset += 16 + length
    return out


def load_make_pcaps() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_pcaps", SIPP_DIR / "make_pcaps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wav_data(path: Path) -> bytes:
    """The samples of a WAV file whatever its encoding (the wave module reads PCM only)."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    offset = 12
    while offset < len(data):
        chunk, size = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        if chunk == b"data":
            return data[offset + 8:offset + 8 + size]
        offset += 8 + size + (size & 1)
    raise AssertionError(f"{path} has no data chunk")


# --- live: each scenario against the fake IVR ----------------------------------------------------


@dataclass(frozen=True)
class Case:
    scenario: str
    csv: str
    keys: str  # what the fake IVR must receive; "~" is audio
    ivr_hangs_up: bool  # after the caller's last key; else the caller hangs up


CASES = [
    # language 1, robbery 2, confirm 1, skip zone #, the message, # ends it, keep 1
    Case("report_robbery", "callers.csv", "~121#~#1", ivr_hangs_up=True),
    # withheld: no number to confirm, the caller types one
    Case("report_robbery", "callers_withheld.csv", "~12987654321##~#1", ivr_hangs_up=True),
    Case("report_hangup_during_record", "callers.csv", "~121#~", ivr_hangs_up=False),
    Case("status_query", "callers.csv", "~191#", ivr_hangs_up=True),
    # language 1, emergency 1, then on hold until the other side hangs up
    Case("emergency_to_operator", "callers.csv", "~11", ivr_hangs_up=True),
]


def ivr_hangup_ms(scenario: str | Path, *, withheld: bool = False) -> int:
    """When the fake IVR hangs up: a little after the caller's last key."""
    return round(ms_until_listening(scenario, withheld=withheld, pace=PACE)
                 + IVR_HANGUP_MARGIN_MS)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.scenario}-{c.csv.removesuffix('.csv')}")
def test_scenario_completes_its_dialogue_and_sends_every_key(case: Case, tmp_path: Path) -> None:
    sipp = sipp_binary()
    withheld = "withheld" in case.csv
    hangup_ms = ivr_hangup_ms(case.scenario, withheld=withheld) if case.ivr_hangs_up else 0
    call = place_call(sipp, tmp_path, SIPP_DIR / f"{case.scenario}.xml", case.csv,
                      ivr_hangup_ms=hangup_ms)
    assert (call.uac_rc, call.uas_rc) == (0, 0), call.diagnostics()

    # The offer: G.711 both ways and telephone-event, from the caller's media port.
    invite = call.invite()
    media = re.search(r"^m=audio (\d+) RTP/AVP ([\d ]+)\r?$", invite, re.M)
    event_pt = re.search(r"^a=rtpmap:(\d+) telephone-event/8000", invite, re.M)
    assert media and event_pt, invite
    assert {"0", "8", event_pt.group(1)} <= set(media.group(2).split())
    assert invite.startswith("INVITE sip:1234@"), "the report line's extension in [alerta-in]"

    # Caller ID as a carrier sends it: listed, or anonymous with the number asserted.
    from_user = re.search(r"^From: .*<sip:([^@>]+)@", invite, re.M)
    assert from_user is not None
    if withheld:
        assert from_user.group(1) == "anonymous"
        assert re.search(r"^Privacy: id\r?$", invite, re.M)
        assert re.search(r"^From: \"Anonymous\" <sip:anonymous@anonymous\.invalid>", invite, re.M)
    else:
        assert from_user.group(1).isdigit() and len(from_user.group(1)) == 9
    assert re.search(r"^P-Asserted-Identity: <sip:\d{9}@", invite, re.M)

    # The RTP: exactly the keys, in order, one stream from the offered port.
    packets = call.packets
    assert packets, "no RTP reached the fake IVR"
    assert heard(packets, int(event_pt.group(1))) == case.keys
    assert {p.source for p in packets} == {("127.0.0.1", int(media.group(1)))}
    assert len({p.ssrc for p in packets}) == 1
    seqs = [p.seq for p in packets]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "sequence numbers must go up"
    ends = [p.timestamp for p in packets
            if p.payload_type == int(event_pt.group(1)) and p.payload[1] & 0x80]
    assert ends == sorted(ends), "each key's timestamp above the last (Asterisk drops others)"

    # Who ended the call.
    sent_bye = any(b.startswith("BYE ") for b in call.blocks("sent"))
    got_bye = any(b.startswith("BYE ") for b in call.blocks("received"))
    assert (sent_bye, got_bye) == (case.ivr_hangs_up, not case.ivr_hangs_up)


def test_a_call_without_keys_is_caught(tmp_path: Path) -> None:
    """The check above is real: the same dialogue with its keys left out fails it."""
    sipp = sipp_binary()
    source = (SIPP_DIR / "emergency_to_operator.xml").read_text(encoding="utf-8")
    silent = re.sub(r'<nop><action><exec play_pcap_audio="audio/s0[12]-1\.pcap" />'
                    r"</action></nop>", "", source)
    assert silent != source
    scenario = variant(tmp_path, "emergency_to_operator", silent)
    call = place_call(sipp, tmp_path, scenario, "callers.csv",
                      ivr_hangup_ms=ivr_hangup_ms(scenario))
    assert (call.uac_rc, call.uas_rc) == (0, 0), call.diagnostics()
    assert heard(call.packets, 101) == "~"


def test_the_caller_hangs_up_when_the_ivr_does_not(tmp_path: Path) -> None:
    """The branch a real Asterisk takes when its flow keeps talking: the caller's wait
    for the IVR's BYE times out and the caller sends its own (shortened here)."""
    sipp = sipp_binary()
    source = (SIPP_DIR / "status_query.xml").read_text(encoding="utf-8")
    impatient = source.replace('timeout="12000" ontimeout="caller_hangs_up"',
                               'timeout="300" ontimeout="caller_hangs_up"')
    assert impatient != source
    call = place_call(sipp, tmp_path, variant(tmp_path, "status_query", impatient),
                      "callers.csv")
    assert (call.uac_rc, call.uas_rc) == (0, 0), call.diagnostics()
    assert heard(call.packets, 101) == "~191#"
    assert any(b.startswith("BYE ") for b in call.blocks("received"))


def variant(tmp_path: Path, name: str, text: str) -> Path:
    """A changed copy of a scenario, beside a link to the captures it plays."""
    folder = tmp_path / f"variant-{name}"
    folder.mkdir()
    (folder / "audio").symlink_to(AUDIO)  # SIPp finds captures beside the scenario file
    path = folder / f"{name}.xml"
    path.write_text(text, encoding="utf-8")
    return path


# --- static: the scenarios, their waits and their captures ------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_waits_are_sized_to_the_prompts(name: str) -> None:
    """Each wait before a key is the prompts the caller hears, plus 0.5-1.5 s (the
    IVR's own steps and the caller's reaction). The prompts are named in a comment."""
    text = (SIPP_DIR / f"{name}.xml").read_text(encoding="utf-8")
    sized = re.findall(r"<!-- prompts: ([\w ]+?) -->\s*<assign assign_to=\"(w_\w+)\" "
                       r"value=\"(\d+)\" />", text)
    waits = {k for k in assigned(scenario_xml(name)) if k.startswith("w_")} - {"w_speak"}
    assert {w for _, w, _ in sized} == waits, "every wait before a key names its prompts"
    for prompts, wait, value in sized:
        heard_ms = 1000 * sum(prompt_seconds(p) for p in prompts.split())
        assert 500 <= int(value) - heard_ms <= 1500, f"{name} {wait}: {value} ms for {heard_ms:.0f}"


@pytest.mark.parametrize("name", SCENARIOS)
def test_waits_default_to_real_time_and_are_scaled_by_pace(name: str) -> None:
    root = scenario_xml(name)
    assert "pace" in declared_globals(name)
    scaled = {m.get("assign_to") for m in root.iter("multiply") if m.get("variable") == "pace_x"}
    paused = {p.get("variable") for p in root.iter("pause") if p.get("variable")}
    assert paused <= scaled
    assert all(v >= 2000 for k, v in assigned(root).items() if k in paused), "realistic defaults"


@pytest.mark.parametrize("name", SCENARIOS)
def test_captures_exist_play_in_slot_order_and_never_overlap(name: str) -> None:
    """A capture's slot fixes its RTP sequence numbers and timestamps, so slot order keeps
    the stream going up; the pause after a key lasts at least as long as the key."""
    root = scenario_xml(name)
    files = captures(name)
    assert files[0] == "audio/s00-silence.pcap"
    slots = [int(re.match(r"audio/s(\d\d)-", f).group(1)) for f in files]  # type: ignore[union-attr]
    assert slots == sorted(slots)
    elements = list(root)
    for i, e in enumerate(elements):
        found = e.find("action/exec")
        if found is None:
            continue
        packets = capture_packets(SIPP_DIR / found.get("play_pcap_audio", ""))
        length_ms = 1000 * (packets[-1][0] + 0.02)
        after = elements[i + 1]
        assert after.tag == "pause"
        if after.get("milliseconds"):
            assert float(after.get("milliseconds", "0")) >= length_ms
        else:  # the message: all of it in the robbery, half of it when the caller hangs up
            speak = assigned(root)[after.get("variable", "")]
            if name == "report_hangup_during_record":
                assert speak < length_ms
            else:
                assert speak >= length_ms + 300


def test_captures_are_what_make_audio_writes() -> None:
    """The committed .pcap files are make_pcaps.py's output for the committed message.wav,
    and each capture stays inside its slot's sequence numbers and timestamps."""
    make = load_make_pcaps()
    message = AUDIO / "message.wav"
    with open(message, "rb") as f:
        header = f.read(36)
    assert struct.unpack("<HHI", header[20:28]) == (7, 1, 8000), "8 kHz mono mu-law"
    expected = {"s00-silence": make.audio(0, b"\xff" * 1600),
                "s05-message": make.audio(5, wav_data(message))}
    expected |= {stem: make.keys(slot, digits) for stem, (slot, digits) in make.CAPTURES.items()}
    assert {p.stem for p in AUDIO.glob("*.pcap")} == set(expected)
    for stem, packets in expected.items():
        committed = capture_packets(AUDIO / f"{stem}.pcap")
        assert [rtp for _, rtp in committed] == packets_rtp(packets), stem
        slot = int(stem[1:3])
        for _, rtp in committed:
            seq, ts = struct.unpack("!HI", rtp[2:8])
            assert slot * make.SLOT_SEQ <= seq < (slot + 1) * make.SLOT_SEQ
            assert slot * make.SLOT_TS <= ts < (slot + 1) * make.SLOT_TS


def packets_rtp(packets: list[tuple[float, bytes]]) -> list[bytes]:
    return [rtp for _, rtp in packets]


def test_message_is_a_few_seconds_of_speech() -> None:
    seconds = len(wav_data(AUDIO / "message.wav")) / 8000
    assert 2.0 <= seconds <= 8.0


def test_caller_files_have_the_fields_the_scenarios_use() -> None:
    for name, anonymous in (("callers.csv", False), ("callers_withheld.csv", True)):
        lines = (SIPP_DIR / name).read_text(encoding="ascii").splitlines()
        assert lines[0] == "SEQUENTIAL"
        rows = [line.split(";") for line in lines[1:] if line and not line.startswith("#")]
        assert rows
        for caller, _display, asserted, privacy in rows:
            assert (caller == "anonymous") is anonymous
            assert asserted.isdigit() and len(asserted) == 9
            assert privacy == ("id" if anonymous else "none")
            if not anonymous:
                assert caller == asserted


# --- scripts/sipp-call only calls machines we own ----------------------------------------------


@pytest.fixture
def fake_sipp_path(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose `sipp` only notes that it ran, so a refused call can be seen not to start
    (and whose `getcap` grants it the raw socket, so no root is needed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ran = tmp_path / "sipp-ran"
    for name, body in (("sipp", f'echo "$@" >> {ran}\nexit 0'),
                       ("getcap", 'echo "$1 cap_net_raw=ep"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
           "TMPDIR": str(tmp_path)}
    return env, ran


@pytest.mark.parametrize("target", [
    "192.0.2.10:5060", "10.0.0.1", "8.8.8.8:5060", "example.com:5060", "127.0.0.1.nip.io",
    "127.1:5060", "0177.0.0.1:5060", "127.0.0.01", "[::ffff:127.0.0.1]:5060", "[2001:db8::1]",
    "0.0.0.0:5060",
])
def test_sipp_call_refuses_a_target_we_do_not_own(
    target: str, fake_sipp_path: tuple[dict[str, str], Path],
) -> None:
    env, ran = fake_sipp_path
    result = subprocess.run([str(SIPP_CALL), "--target", target, "report_robbery"],
                            capture_output=True, text=True, env=env, timeout=30, check=False)
    assert result.returncode != 0
    assert "refusing to call" in result.stderr
    assert not ran.exists(), "sipp must not be started"


@pytest.mark.parametrize("target", ["127.0.0.1:5060", "127.0.0.1", "127.9.9.9:15060",
                                    "[::1]:5060", "localhost"])
def test_sipp_call_accepts_loopback(
    target: str, fake_sipp_path: tuple[dict[str, str], Path],
) -> None:
    env, _ = fake_sipp_path
    result = subprocess.run([str(SIPP_CALL), "--dry-run", "--target", target, "status_query"],
                            capture_output=True, text=True, env=env, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "-sf" in result.stdout and "status_query.xml" in result.stdout


def test_sipp_call_calls_an_owned_host_only_when_told(
    fake_sipp_path: tuple[dict[str, str], Path],
) -> None:
    env, ran = fake_sipp_path
    base = [str(SIPP_CALL), "--target", "192.0.2.10:5060", "--local-ip", "192.0.2.1"]
    refused = subprocess.run([*base, "--dry-run"], capture_output=True, text=True, env=env,
                             timeout=30, check=False)
    assert refused.returncode != 0 and "refusing" in refused.stderr
    told = subprocess.run([*base, "--i-own-this-host", "--dry-run", "emergency_to_operator"],
                          capture_output=True, text=True, env=env, timeout=30, check=False)
    assert told.returncode == 0, told.stderr
    assert told.stdout.startswith("sipp 192.0.2.10:5060 ")
    assert not ran.exists(), "a dry run sends nothing"


def test_sipp_call_bounds_the_load_test(fake_sipp_path: tuple[dict[str, str], Path]) -> None:
    env, _ = fake_sipp_path
    too_many = subprocess.run([str(SIPP_CALL), "--dry-run", "--load", "100000"],
                              capture_output=True, text=True, env=env, timeout=30, check=False)
    assert too_many.returncode != 0
    load = subprocess.run([str(SIPP_CALL), "--dry-run", "--load", "20"], capture_output=True,
                          text=True, env=env, timeout=30, check=False)
    assert load.returncode == 0, load.stderr
    words = load.stdout.split()
    assert "report_robbery.xml" in load.stdout
    assert words[words.index("-m") + 1] == "20" and words[words.index("-l") + 1] == "20"
    assert "-timeout" in words and "-timeout_error" in words


def test_sipp_call_runs_every_scenario_and_reports_each(
    fake_sipp_path: tuple[dict[str, str], Path],
) -> None:
    """With a sipp that succeeds: PASS per scenario; with one that fails: FAIL and exit 1."""
    env, ran = fake_sipp_path
    ok = subprocess.run([str(SIPP_CALL)], capture_output=True, text=True, env=env, timeout=60,
                        check=False)
    assert ok.returncode == 0, ok.stderr
    assert [line.split()[:2] for line in ok.stdout.splitlines()] == [
        ["PASS", name] for name in SCENARIOS
    ]
    assert len(ran.read_text().splitlines()) == len(SCENARIOS)
    failing = Path(env["PATH"].split(":")[0]) / "sipp"
    failing.write_text("#!/bin/sh\nexit 1\n")
    bad = subprocess.run([str(SIPP_CALL), "status_query"], capture_output=True, text=True,
                         env=env, timeout=60, check=False)
    assert bad.returncode == 1
    assert bad.stdout.startswith("FAIL  status_query")


# --- SIPp's message trace, as each SIPp version writes it ----------------------------------------

INVITE_TEXT = (
    "INVITE sip:1234@127.0.0.1:5060 SIP/2.0\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)
TRYING_TEXT = "SIP/2.0 100 Trying\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
TRACE_HEADERS = {
    # SIPp 3.6 (Debian 12's sip-tester)
    "3.6": ("UDP message received [62] bytes :", "UDP message sent (52 bytes):"),
    # SIPp 3.7.5 and later (3.7.7 is installed by /work/shared/asterisk/install.sh)
    "3.7.7": ("UDP message received [62] bytes:", "UDP message sent [52] bytes:"),
}


@pytest.mark.parametrize("version", sorted(TRACE_HEADERS))
def test_the_trace_of_every_sipp_version_is_read(version: str) -> None:
    received, sent = TRACE_HEADERS[version]
    trace = (
        f"----------------------------------------------- 2026-12-03T09:28:23.923482Z\n"
        f"{received}\n\n{INVITE_TEXT}\n"
        f"----------------------------------------------- 2026-12-03T09:28:23.923923Z\n"
        f"{sent}\n\n{TRYING_TEXT}\n"
    )
    assert sipp_trace.messages(trace, "received") == [INVITE_TEXT + "\n"]
    assert sipp_trace.messages(trace, "sent") == [TRYING_TEXT + "\n"]


def test_a_trace_header_of_another_shape_is_not_taken_for_a_message() -> None:
    trace = "----- 2026-12-03T09:28:23Z\nUDP message lost somewhere:\n\nINVITE x SIP/2.0\r\n\r\n"
    assert sipp_trace.messages(trace, "received") == []
    with pytest.raises(ValueError, match="direction"):
        sipp_trace.messages(trace, "dropped")
