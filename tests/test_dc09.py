"""The DC-09 codec on literal lines: real frames from public issue logs (their CRC and
length recomputed), frames built by an independent transmitter (my-dc09-spt), answers
byte for byte and read back by that transmitter, encryption, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from my_dc09_spt.msg.dc03_msg import dc03_msg
from my_dc09_spt.msg.dc05_msg import dc05_msg
from my_dc09_spt.msg.dc09_msg import dc09_msg

from ivr.alarms import dc09
from ivr.domain.alarms import classify

NOW = datetime(2023, 2, 20, 9, 17, 40, tzinfo=UTC)
KEY = "Clave-de-16-char"  # 16 characters: AES-128
KEY24 = "una clave de 24 letras!!"
KEY32 = "una clave de treinta y dos chars"

# What panels sent, as logged in public issues (the line between LF and CR), with the
# code and zone each means.
REAL = [
    # ALARMS.md (pysiaalarm and sia-ha logs): the three frames the notes recomputed
    ('480B0039"SIA-DCS"0011L0#AAA[#AAA|Nri0/RP0000]_09:17:30,02-20-2023', "RP", "0"),
    ('D3440015"NULL"0000L0#008312[]', "NULL", None),
    ('9EC40027"ADM-CID"0001L0#1002[#1002|1602 00 001]', "E602", "1"),
    # pysiaalarm issue 12 (an Ajax hub): polls with and without a timestamp, an event
    ('54230012"NULL"0000L0#AAA[]', "NULL", None),
    ('CDA80026"NULL"0000L0#AAA[]_19:08:35,04-29-2021', "NULL", None),
    ('53350022"SIA-DCS"0001L0#AAA[#AAA|Nri0/ZY0]', "ZY", "0"),
    # pysiaalarm issue 63 (Lupus): lower-case length, time and date modifiers
    ('9B3C004d"SIA-DCS"0047L0#100200[#100200|Nti10:01:00/da08-18-24/RP]_10:01:00,08-18-2024',
     "RP", None),
    # ioBroker.sia issue 19 (a G90B Plus): an L with no digits
    ('78FC003B"SIA-DCS"0001L#22334455[#22334455|NCQ1]_14:33:53,02-09-2020', "CQ", "1"),
]
# sia (Home Assistant) issue 28: an encrypted line; its key was never published
ENCRYPTED_REAL = ('7A7C0075"*SIA-DCS"7554L0#CEA[6A0E4750C9DBBE9675E54B729A5A8A7A9EED621A627C'
                  '17F855B4E8D8D72D89E546C26E465EAA0210AADE638BC6C510A3')


def line(span: str) -> bytes:
    """A span with its CRC and length in front (the CRC from the transmitter library)."""
    return b"%04X%04X" % (dc09_msg.dc09crc(span), len(span)) + span.encode("latin-1")


def read(raw: bytes | str, key: str | None = None, time_zone: str = "UTC"
         ) -> tuple[dc09.Frame, dc09.Content]:
    text = raw if isinstance(raw, bytes) else raw.encode("latin-1")
    frame = dc09.parse_line(text.strip(b"\n\r"))
    return frame, dc09.open_frame(frame, key)


def test_the_crc_is_crc16_arc() -> None:
    assert dc09.crc16(b"123456789") == 0xBB3D  # the catalogue's check value for ARC
    assert dc09.crc16(b"123456789") != 0x31C3  # XMODEM's, which a public plugin used


@pytest.mark.parametrize(("text", "code", "zone"), REAL, ids=[r[0][:8] for r in REAL])
def test_real_frames_check_and_read_as_signals(text: str, code: str, zone: str | None
                                               ) -> None:
    raw = text.encode()
    assert int(text[:4], 16) == dc09.crc16(raw[8:]) == dc09_msg.dc09crc(text[8:])
    assert int(text[4:8], 16) == len(raw) - 8
    frame, content = read(raw)
    signal = dc09.to_signal(frame, content, time_zone="UTC", received_at=NOW)
    assert (signal.code, signal.zone, signal.device_kind) == (code, zone, "dc09")
    assert signal.account == frame.header.account.upper() and signal.raw == text[8:]


def test_a_real_frame_reads_field_by_field() -> None:
    frame, content = read(REAL[0][0])
    assert frame.header == dc09.Header("SIA-DCS", False, "0011", None, "0", "AAA")
    assert content == dc09.Content("#AAA|Nri0/RP0000", (), "09:17:30,02-20-2023",
                                   "#AAA|Nri0/RP0000]_09:17:30,02-20-2023")
    signal = dc09.to_signal(frame, content, time_zone="UTC", received_at=NOW)
    assert signal.sent_at == datetime(2023, 2, 20, 9, 17, 30, tzinfo=UTC)
    assert classify(signal.code) == "test"


def test_the_encrypted_real_frame_checks_but_opens_only_with_its_key() -> None:
    frame = dc09.parse_line(ENCRYPTED_REAL.encode())
    assert frame.header == dc09.Header("SIA-DCS", True, "7554", None, "0", "CEA")
    with pytest.raises(dc09.Refused, match="no key"):
        dc09.open_frame(frame, None)
    with pytest.raises(dc09.Refused, match=r"does not decrypt|no \[data\]"):
        dc09.open_frame(frame, KEY)


@pytest.mark.parametrize("key", [None, KEY, KEY32], ids=["plain", "aes128", "aes256"])
def test_what_an_independent_transmitter_sends_is_read_and_our_answers_satisfy_it(
        key: str | None) -> None:
    panel = dc09_msg("5678", key.encode() if key else None, 0x12, 1)
    sent = [
        (panel.dc09block(1, "SIA-DCS", dc03_msg.dc03event("5678", {"code": "PA", "zone": 3,
                                                                    "area": 1})), "PA", "3"),
        (panel.dc09block(2, "SIA-DCS", dc03_msg.dc03event("5678", {"code": "HA", "zone": 12,
                                                                    "time": "now"})), "HA", "12"),
        (panel.dc09block(3, "ADM-CID", dc05_msg.dc05event("5678", {"code": "122", "zone": 4})),
         "E122", "4"),
        (panel.dc09block(4, "ADM-CID", dc05_msg.dc05event("5678", {"code": "122", "q": 3})),
         "R122", "0"),
        (panel.dc09poll(), "NULL", None),
    ]
    now = datetime.now(UTC)
    for block, code, zone in sent:
        frame, content = read(block, key)
        assert (frame.header.receiver, frame.header.prefix) == ("12", "1")
        signal = dc09.to_signal(frame, content, time_zone="UTC", received_at=now)
        assert (signal.code, signal.zone) == (code, zone)
        assert (signal.sent_at is not None) == (key is not None)  # in clear: no timestamp
        seq = int(frame.header.seq)
        assert panel.dc09answer(seq, dc09.ack(frame.header, key, now).decode())[0] == "ACK"
        assert panel.dc09answer(seq, dc09.duh(frame.header).decode())[0] == "DUH"
        answer, offset = panel.dc09answer(seq, dc09.nak(now, "UTC", key).decode())
        assert answer == "NAK" and offset is not None and abs(offset) < 5


def test_answers_byte_for_byte() -> None:
    frame, _ = read(REAL[0][0])
    assert dc09.ack(frame.header, None, NOW) == b'\nA27E0011"ACK"0011L0#AAA[]\r'
    assert dc09.duh(frame.header) == b'\nFC280011"DUH"0011L0#AAA[]\r'
    assert dc09.duh(None) == b'\n66D10011"DUH"0000R0L0A0[]\r'
    at = datetime(2023, 2, 20, 9, 17, 30, tzinfo=UTC)
    assert dc09.nak(at) == b'\n4A420025"NAK"0000R0L0A0[]_09:17:30,02-20-2023\r'
    # a panel whose clock keeps Lima's time is told Lima's time
    assert dc09.nak(at, "America/Lima") == b'\nE5D00025"NAK"0000R0L0A0[]_04:17:30,02-20-2023\r'
    checker = dc09_msg("AAA")  # the transmitter's own CRC and length check of each
    for answer, seq in ((dc09.ack(frame.header, None, NOW), 11), (dc09.duh(frame.header), 11),
                        (dc09.nak(at), 0)):
        assert checker.dc09answer(seq, answer.decode())[0] in ("ACK", "DUH", "NAK")


def test_an_encrypted_message_gets_an_encrypted_ack_with_our_time_inside() -> None:
    header = dc09.Header("ADM-CID", True, "0042", "12", "1", "5678")
    answer = dc09.ack(header, KEY, NOW)
    assert answer.startswith(b'\n') and b'"*ACK"0042R12L1#5678[' in answer
    hex_part = answer[answer.index(b"[") + 1:-1].decode()
    assert dc09.decrypt(hex_part, KEY) == "]_09:17:40,02-20-2023"
    nak = dc09.nak(NOW, "UTC", KEY)
    assert dc09.decrypt(nak[nak.index(b"[") + 1:-1].decode(), KEY) == "]_09:17:40,02-20-2023"


@pytest.mark.parametrize("key", [KEY, KEY24, KEY32])
def test_encryption_round_trip(key: str) -> None:
    text = "#5678|Nri1/PA003]_09:17:40,02-20-2023"
    first, second = dc09.encrypt(text, key), dc09.encrypt(text, key)
    assert first != second  # the random padding stands in for the IV
    assert len(first) % 32 == 0 and first == first.upper()
    assert dc09.decrypt(first, key) == dc09.decrypt(second, key) == text
    assert not set(dc09.PAD_CHARS) & set("[]|")
    read(line(f'"*SIA-DCS"0005L0#5678[{first}'), key)
    for wrong in (key[::-1], KEY if key != KEY else KEY32):  # another key: noise
        with pytest.raises(dc09.Refused, match=r"does not decrypt|no \[data\]"):
            read(line(f'"*SIA-DCS"0005L0#5678[{first}'), wrong)


def test_timestamps_are_read_in_the_devices_zone_and_given_in_utc() -> None:
    span = '"SIA-DCS"0005L0#AB12[#AB12|Nri1/PA001]_04:17:30,02-20-2023'
    frame, content = read(line(span))
    lima = dc09.to_signal(frame, content, time_zone="America/Lima", received_at=NOW)
    assert lima.sent_at == datetime(2023, 2, 20, 9, 17, 30, tzinfo=UTC)
    with pytest.raises(dc09.Refused, match="time zone"):
        dc09.to_signal(frame, content, time_zone="Mars/Olympus", received_at=NOW)
    frame, content = read(line(span.replace("02-20", "13-20")))
    with pytest.raises(dc09.Refused, match="not a time"):
        dc09.to_signal(frame, content, time_zone="UTC", received_at=NOW)


def test_the_same_line_has_the_same_key_and_a_new_one_another() -> None:
    def key_of(span: str, received_at: datetime = NOW) -> str:
        frame, content = read(line(span))
        return dc09.to_signal(frame, content, time_zone="UTC", received_at=received_at
                              ).dedup_key

    span = '"SIA-DCS"0005L0#AB12[#AB12|Nri1/PA001]_09:17:30,02-20-2023'
    assert key_of(span) == key_of(span, NOW + timedelta(hours=5))  # a resend, hours later
    assert key_of(span).startswith("dc09:AB12:0005:")
    assert key_of(span) != key_of(span.replace("0005", "0006"))
    assert key_of(span) != key_of(span.replace("09:17:30", "09:17:31"))
    assert key_of(span) != key_of(span.replace("PA001", "PA002"))
    # No timestamp (in clear): the hour it came in tells a resend from the seq come round
    bare = '"SIA-DCS"0005L0#AB12[#AB12|Nri1/PA001]'
    assert key_of(bare) == key_of(bare, NOW + timedelta(minutes=30))
    assert key_of(bare) != key_of(bare, NOW + timedelta(days=3))


def test_a_device_with_a_key_must_encrypt_and_an_encrypted_line_must_carry_its_time() -> None:
    with pytest.raises(dc09.Refused, match="in clear from a device that has a key"):
        read(REAL[0][0], KEY)
    bare = dc09.encrypt("#AB12|Nri1/PA001]", KEY)
    with pytest.raises(dc09.Refused, match="without a timestamp"):
        read(line(f'"*SIA-DCS"0005L0#AB12[{bare}'), KEY)
    with pytest.raises(dc09.Refused, match="16, 24 or 32"):
        read(line(f'"*SIA-DCS"0005L0#AB12[{bare}'), "short key")


GOOD = '"SIA-DCS"0005L0#AB12[#AB12|Nri1/PA001]_09:17:30,02-20-2023'
MALFORMED = [
    (b"", "a line of 0 bytes"),
    (b"\xff" * 5000, "a line of 5000 bytes"),
    (b"480B0039" + GOOD.encode(), "length 0039"),
    (b"0000" + line(GOOD)[4:], "CRC 0000"),
    (b"zz" + line(GOOD)[2:], "no CRC and length"),
    (line(GOOD.replace("SIA-DCS", "SIA-XYZ")), "not a DC-09 message"),
    (line(GOOD.replace("0005", "005")), "not a DC-09 message"),
    (line(GOOD.replace("#AB12[", "#AB[")), "not a DC-09 message"),
    (line(GOOD.replace("#AB12[", "#AB12")), "not a DC-09 message"),
    (line(GOOD.replace("]_", "_")), "no \\[data\\]"),
    (line(GOOD + "garbage"), "no \\[data\\]"),
    (line(GOOD.replace("Nri1/PA001", "Nri1/")), "no SIA event code"),
    (line('"ADM-CID"0001L0#1002[#1002|1602 0 001]'), "not a Contact ID event"),
    (line('"ADM-CID"0001L0#1002[#1002|2602 00 001]'), "not a Contact ID event"),
    (line('"*SIA-DCS"0005L0#AB12[0123'), "whole AES blocks"),
    (line('"*SIA-DCS"0005L0#AB12[' + "G" * 32), "whole AES blocks"),
]


@pytest.mark.parametrize(("raw", "reason"), MALFORMED, ids=[m[1][:24] for m in MALFORMED])
def test_malformed_lines_are_refused_with_their_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(dc09.Refused, match=reason) as refused:
        frame, content = read(raw, KEY if b'"*' in raw else None)
        dc09.to_signal(frame, content, time_zone="UTC", received_at=NOW)
    if reason.startswith(("CRC", "length")):  # the header read is echoed in the DUH
        assert refused.value.header is not None and refused.value.header.seq == "0005"


def test_the_framer_cuts_lines_out_of_a_stream() -> None:
    framer = dc09.Framer(limit=64)
    assert framer.feed(b"junk\nAAA\rjunk\nBB") == [b"AAA"]
    assert framer.inside and framer.skipped == 8
    assert framer.feed(b"B\r\nCCC\r\nDD") == [b"BBB", b"CCC"]  # a line split over reads
    assert framer.feed(b"D\nEEE\r") == [b"EEE"]  # a LF inside starts the line over
    assert not framer.inside and framer.skipped == 8 + 4
    assert framer.feed(b"\n" + b"x" * 100 + b"\rno LF here\r\nFFF\r") == [b"FFF"]
    assert framer.dropped == 1 and framer.begun == 7
