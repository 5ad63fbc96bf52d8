"""Write the RTP captures the SIPp scenarios replay with <exec play_pcap_audio=...>.

Run by make-audio.sh; only the standard library is needed. Every capture is one
UDP/RTP stream of the same caller (one SSRC) and has its own "slot": slot k holds
RTP sequence numbers from k*1000 and timestamps from k*480000, so a scenario that
plays its captures in slot order sends one stream whose sequence numbers and
timestamps only ever go up, as a real phone's do.

That matters for Asterisk: res_rtp_asterisk drops an RFC 4733 event whose
timestamp is not above the last event's, so replaying one fixed capture for every
press of "1" (or a "1" after a "2", as SIPp's own dtmf_2833_*.pcap would) loses
keys against a real Asterisk even though SIPp reports success.

Files (slot-key.pcap, "h" standing for #):
  s00-silence.pcap   0.2 s of G.711 silence right after the answer (strict RTP learns us)
  s01-1.pcap         language: Spanish
  s02-1/2/9.pcap     main menu: emergency / robbery / status
  s03-1.pcap         callback number read back: confirm
  s03-<digits>h.pcap the callback number typed by a caller whose number is withheld
  s03-1h.pcap        status: report number 1, then #
  s04-h.pcap         zone: # skips it
  s05-message.pcap   the spoken message (from message.wav)
  s06-h.pcap         # ends the recording
  s07-1.pcap         review: 1 keeps the message
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

SSRC = 0x41E47A01
PT_PCMU = 0
PT_EVENT = 101  # telephone-event, as offered in the scenarios' SDP
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
PACKET_S = 0.020
TONE_PACKETS = 8  # a 160 ms key press
END_REPEATS = 3  # RFC 4733 2.5.1.4: the end packet is sent three times
KEY_PERIOD_S = 0.300  # one key every 300 ms when a number is typed
SLOT_SEQ = 1000
SLOT_TS = 480_000  # 60 s of samples per slot
EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
TYPED_CALLBACK = "987654321"  # a withheld caller types this callback number

# the synthetic link and network headers; SIPp replaces ports and addresses
SRC_IP, DST_IP = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])  # TEST-NET-1, never used
SRC_PORT, DST_PORT = 40000, 10000


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(rtp: bytes) -> bytes:
    udp = struct.pack("!HHHH", SRC_PORT, DST_PORT, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, SRC_IP, DST_IP)
    ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
    ethernet = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ethernet + ip + udp


def _rtp(pt: int, seq: int, ts: int, payload: bytes, marker: bool = False) -> bytes:
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts, SSRC)
    return header + payload


def write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> None:
    """packets: (seconds from the first packet, RTP bytes)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for at, rtp in packets:
        frame = _frame(rtp)
        sec, usec = int(at), round((at - int(at)) * 1_000_000)
        out += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))


def keys(slot: int, digits: str) -> list[tuple[float, bytes]]:
    """RFC 4733 telephone-events for the digits, one press every KEY_PERIOD_S."""
    packets: list[tuple[float, bytes]] = []
    seq = slot * SLOT_SEQ
    for i, digit in enumerate(digits):
        event = EVENTS[digit]
        start_s = i * KEY_PERIOD_S
        ts = slot * SLOT_TS + round(start_s * 8000)
        for n in range(TONE_PACKETS):
            duration = (n + 1) * SAMPLES_PER_PACKET
            payload = struct.pack("!BBH", event, 10, duration)  # volume -10 dBm0
            packets.append((start_s + n * PACKET_S, _rtp(PT_EVENT, seq, ts, payload, n == 0)))
            seq += 1
        for r in range(END_REPEATS):
            payload = struct.pack("!BBH", event, 0x80 | 10, TONE_PACKETS * SAMPLES_PER_PACKET)
            at = start_s + (TONE_PACKETS + r) * PACKET_S
            packets.append((at, _rtp(PT_EVENT, seq, ts, payload)))
            seq += 1
    return packets


def audio(slot: int, ulaw: bytes) -> list[tuple[float, bytes]]:
    """G.711 mu-law audio in 20 ms packets."""
    chunks = [ulaw[i : i + SAMPLES_PER_PACKET] for i in range(0, len(ulaw), SAMPLES_PER_PACKET)]
    if chunks and len(chunks[-1]) < SAMPLES_PER_PACKET:
        chunks[-1] = chunks[-1].ljust(SAMPLES_PER_PACKET, b"\xff")
    return [
        (n * PACKET_S, _rtp(PT_PCMU, slot * SLOT_SEQ + n, slot * SLOT_TS + n * 160, c, n == 0))
        for n, c in enumerate(chunks)
    ]


CAPTURES: dict[str, tuple[int, str]] = {  # file stem → (slot, keys)
    "s01-1": (1, "1"),
    "s02-1": (2, "1"),
    "s02-2": (2, "2"),
    "s02-9": (2, "9"),
    "s03-1": (3, "1"),
    f"s03-{TYPED_CALLBACK}h": (3, TYPED_CALLBACK + "#"),
    "s03-1h": (3, "1#"),
    "s04-h": (4, "#"),
    "s06-h": (6, "#"),
    "s07-1": (7, "1"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--message", type=Path, required=True, help="raw 8 kHz mu-law audio")
    parser.add_argument("--out", type=Path, required=True, help="folder for the .pcap files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_pcap(args.out / "s00-silence.pcap", audio(0, b"\xff" * 1600))
    for stem, (slot, digits) in CAPTURES.items():
        write_pcap(args.out / f"{stem}.pcap", keys(slot, digits))
    write_pcap(args.out / "s05-message.pcap", audio(5, args.message.read_bytes()))


if __name__ == "__main__":
    main()
