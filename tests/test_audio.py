"""Audio of a clip: the formats Asterisk records, facts, the playback derivative, waveform."""

from __future__ import annotations

import hashlib
import shutil
import wave
from pathlib import Path

import pytest

from ivr.clips import audio
from ivr.clips.audio import AudioUnreadable

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "audio"
SPEECH = FIXTURES / "ko_fire_danger.wav"  # 0.6 s silence, two words, 0.8 s silence


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def place(root: Path, source: Path, rel: str = "2025/03/14/c-r1-t1.wav") -> str:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, root / rel)
    return rel


# --- formats ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".wav", ".WAV", ".gsm", ".sln"])
def test_every_format_asterisk_records_is_read_at_its_own_rate(suffix: str) -> None:
    segment = audio.load(SPEECH.with_suffix(suffix))
    assert segment.frame_rate == 8000 and segment.channels == 1 and segment.sample_width == 2
    # GSM frames are 20 ms: the length may round up by one frame.
    assert 3755 <= len(segment) <= 3775


def test_wav49_is_gsm_in_a_wav_container_not_pcm() -> None:
    with pytest.raises(wave.Error):
        wave.open(str(SPEECH.with_suffix(".WAV"))).close()
    assert audio.load(SPEECH.with_suffix(".WAV")).max > 0


def test_a_corrupt_wav_is_unreadable_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(AudioUnreadable, match=r"bad\.wav: not a readable WAV"):
        audio.load(bad)


def test_a_cut_off_wav_is_unreadable(tmp_path: Path) -> None:
    cut = tmp_path / "cut.wav"
    cut.write_bytes(SPEECH.read_bytes()[:3000])
    with pytest.raises(AudioUnreadable, match="promises more audio"):
        audio.load(cut)


def test_garbage_gsm_is_unreadable(tmp_path: Path) -> None:
    bad = tmp_path / "noise.gsm"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(AudioUnreadable):
        audio.load(bad)


def test_an_odd_length_sln_is_unreadable(tmp_path: Path) -> None:
    bad = tmp_path / "odd.sln"
    bad.write_bytes(b"\x00" * 101)
    with pytest.raises(AudioUnreadable, match="odd byte count"):
        audio.load(bad)


def test_a_missing_file_is_not_called_corrupt(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        audio.load(tmp_path / "gone.wav")


# --- pure measures ----------------------------------------------------------------------


def test_dbfs() -> None:
    assert audio.dbfs(32768, 32768) == 0.0
    assert audio.dbfs(3277, 32768) == -20.0
    assert audio.dbfs(0, 32768) is None


def test_gain_reaches_the_target_unless_the_peak_would_clip() -> None:
    assert audio.normalising_gain(-40.0, -20.0) == 19.0  # peak ceiling -1 dBFS limits it
    assert audio.normalising_gain(-30.0, -25.0) == 10.0  # target -20 dBFS reached
    assert audio.normalising_gain(-10.0, -2.0) == -10.0  # too loud: brought down
    assert audio.normalising_gain(-80.0, -70.0) == audio.MAX_GAIN_DB  # hiss is not lifted far
    assert audio.normalising_gain(None, None) == 0.0  # digital silence


def test_trim_keeps_a_pad_around_the_speech() -> None:
    segment = audio.load(SPEECH)
    full = segment.max_possible_amplitude
    start, end = audio.trim_bounds(segment)
    assert 330 <= start <= 370  # speech starts at 0.6 s (the fixture's padding)
    pad = audio.KEEP_PAD_MS
    for outside in (segment[:start], segment[start : start + pad - 10], segment[end - pad + 10 :]):
        assert (audio.dbfs(outside.max, full) or -99) < audio.SILENCE_DBFS
    for speech in (segment[start + pad : start + pad + 30], segment[end - pad - 30 : end - pad]):
        assert (audio.dbfs(speech.max, full) or -99) > audio.SILENCE_DBFS


def test_silence_throughout_is_kept_whole() -> None:
    from pydub import AudioSegment

    silent = AudioSegment.silent(duration=1500, frame_rate=8000)
    assert audio.trim_bounds(silent) == (0, 1500)
    assert audio.silence_share(silent) == 1.0


def test_waveform_has_ten_bars_a_second_quiet_where_silent() -> None:
    segment = audio.load(SPEECH)
    bars = audio.waveform(segment)
    assert len(bars) == 38  # 3.755 s
    assert all(0 <= b <= 100 for b in bars)
    assert max(bars[:5]) == 0 and max(bars[-6:]) == 0  # the silences
    assert max(bars[6:22]) > 40  # the words
    assert audio.waveform(segment, points=5) == audio.waveform(segment, 5)
    assert len(audio.waveform(segment, points=5)) == 5


def test_resampling_only_when_asked_for_another_rate() -> None:
    segment = audio.load(SPEECH)
    assert audio.pcm_at(segment, 8000) == bytes(segment.raw_data)
    assert len(audio.pcm_at(segment, 16000)) == pytest.approx(2 * len(segment.raw_data), abs=4)


# --- the derivative ---------------------------------------------------------------------


def test_playback_derivative_leaves_the_original_untouched(tmp_path: Path) -> None:
    rel = place(tmp_path, SPEECH)
    before = sha256(tmp_path / rel)
    facts = audio.make_playback(tmp_path, rel)
    assert sha256(tmp_path / rel) == before
    assert facts.playback_path == ".playback/2025/03/14/c-r1-t1.wav"
    derived = tmp_path / facts.playback_path
    with wave.open(str(derived)) as wav:
        assert wav.getframerate() == 8000 and wav.getnchannels() == 1
        assert wav.getnframes() / 8000 == pytest.approx(facts.playback_s, abs=0.002)
    assert facts.duration_s == 3.755
    assert facts.lead_trim_s == pytest.approx(0.35, abs=0.03)
    assert facts.playback_s < facts.duration_s - 1.0  # the silences went
    assert 0.5 < facts.silence_share < 0.8
    assert facts.peak_dbfs is not None and -6 < facts.peak_dbfs < 0
    assert len(facts.waveform) == 21
    assert not list(derived.parent.glob(".*.tmp"))


def test_a_quiet_recording_is_brought_up_without_clipping(tmp_path: Path) -> None:
    quiet = audio.load(SPEECH).apply_gain(-24)
    rel = "2025/03/14/quiet.wav"
    (tmp_path / rel).parent.mkdir(parents=True)
    quiet.export(str(tmp_path / rel), format="wav")
    facts = audio.make_playback(tmp_path, rel)
    assert facts.loudness_dbfs is not None and facts.loudness_dbfs < -40
    assert facts.gain_db > 15
    derived = audio.load(tmp_path / facts.playback_path)
    peak = audio.dbfs(derived.max, derived.max_possible_amplitude)
    assert peak is not None and peak <= audio.PEAK_CEILING_DBFS + 0.1


@pytest.mark.parametrize("suffix", [".WAV", ".gsm", ".sln"])
def test_a_derivative_of_any_format_is_a_pcm_wav(tmp_path: Path, suffix: str) -> None:
    rel = place(tmp_path, SPEECH.with_suffix(suffix), f"2025/03/14/c-r1-t1{suffix}")
    facts = audio.make_playback(tmp_path, rel)
    assert facts.playback_path.endswith("c-r1-t1.wav")
    with wave.open(str(tmp_path / facts.playback_path)) as wav:
        assert wav.getsampwidth() == 2
