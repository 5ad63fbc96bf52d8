"""Audio of a clip: read what Asterisk records, measure it, make the playback derivative.

The recorded file is the original and is only ever read. For the console's
player we write a derivative beside it under ``voiceclips/.playback/``: leading
and trailing silence trimmed (a short pad kept), loudness brought to a common
level without clipping, and a waveform overview the player draws.

Asterisk may record ``wav`` (PCM), ``WAV``/``wav49`` (GSM 6.10 in a WAV
container), ``gsm`` (raw GSM 6.10) or ``sln``/``sln16`` (raw signed linear).
PCM WAV and sln are read here; GSM goes through ffmpeg (via pydub).

These functions run in worker processes (``ivr.clips.worker``), never on the
event loop.
"""

from __future__ import annotations

import math
import os
import wave
from pathlib import Path
from typing import Any

from ivr.domain.transcripts import AudioFacts

SILENCE_DBFS = -45.0  # quieter than this is silence (line hiss sits near -55)
TARGET_DBFS = -20.0  # RMS level of the derivative: speech at a comfortable level
PEAK_CEILING_DBFS = -1.0  # never louder than this: normalising must not clip
MAX_GAIN_DB = 30.0  # do not lift a near-silent clip into loud hiss
KEEP_PAD_MS = 250  # silence kept around speech so the first word is not cut
CHUNK_MS = 20
WAVEFORM_PER_S = 10  # one bar per 100 ms
WAVEFORM_MAX = 1200
PLAYBACK_DIR = ".playback"

# Raw formats: extension → sample rate (16-bit signed little-endian mono).
RAW_RATES = {".sln": 8000, ".raw": 8000, ".sln16": 16000}
FFMPEG_FORMATS = {".gsm": "gsm", ".wav49": "wav"}


class AudioUnreadable(Exception):
    """The file is not audio we can read (corrupt, truncated, unknown format)."""


def load(path: Path) -> Any:
    """The clip as a pydub ``AudioSegment``: mono, 16-bit, at its own sample rate."""
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    suffix = path.suffix.lower()
    try:
        if suffix in RAW_RATES:
            data = path.read_bytes()
            if len(data) % 2:
                raise AudioUnreadable(f"{path.name}: odd byte count for 16-bit samples")
            segment = AudioSegment(data=data, sample_width=2, frame_rate=RAW_RATES[suffix],
                                   channels=1)
        elif suffix == ".wav" and _is_pcm_wav(path):
            segment = AudioSegment.from_wav(str(path))
        else:
            # WAV49 (GSM in a WAV container, Asterisk's "WAV"), raw GSM, anything else.
            fmt = FFMPEG_FORMATS.get(suffix, suffix.lstrip(".") or None)
            segment = AudioSegment.from_file(str(path), format=fmt)
    except FileNotFoundError:
        raise
    except (CouldntDecodeError, wave.Error, EOFError, ValueError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AudioUnreadable(f"{path.name}: not readable audio ({first[:200]})") from exc
    if len(segment) == 0:
        raise AudioUnreadable(f"{path.name}: no audio in the file")
    return segment.set_channels(1).set_sample_width(2)


def _is_pcm_wav(path: Path) -> bool:
    """A PCM WAV whose header agrees with its size; anything else goes to ffmpeg or fails."""
    try:
        with wave.open(str(path), "rb") as wav:
            frames, width, channels = wav.getnframes(), wav.getsampwidth(), wav.getnchannels()
    except (wave.Error, EOFError) as exc:
        if "unknown format" in str(exc):
            return False  # e.g. WAVE_FORMAT_GSM610: ffmpeg reads it
        raise AudioUnreadable(f"{path.name}: not a readable WAV ({exc})") from exc
    if frames * width * channels > path.stat().st_size:
        raise AudioUnreadable(f"{path.name}: the header promises more audio than the file holds")
    return True


def dbfs(amplitude: float, full_scale: float) -> float | None:
    """Decibels relative to full scale; None for digital silence."""
    if amplitude <= 0:
        return None
    return round(20 * math.log10(amplitude / full_scale), 2)


def silence_share(segment: Any, threshold_dbfs: float = SILENCE_DBFS) -> float:
    """Share (0..1) of the clip in 20 ms chunks quieter than ``threshold_dbfs``."""
    full = segment.max_possible_amplitude
    chunks = [segment[i : i + CHUNK_MS] for i in range(0, len(segment), CHUNK_MS)]
    if not chunks:
        return 1.0
    quiet = sum(1 for c in chunks if (dbfs(c.rms, full) or -math.inf) < threshold_dbfs)
    return round(quiet / len(chunks), 3)


def trim_bounds(segment: Any, threshold_dbfs: float = SILENCE_DBFS) -> tuple[int, int]:
    """(start_ms, end_ms) of the clip with leading and trailing silence cut, pad kept.

    A clip that is silence throughout is kept whole: there is nothing to centre on.
    """
    from pydub.silence import detect_leading_silence

    total = len(segment)
    lead = detect_leading_silence(segment, silence_threshold=threshold_dbfs, chunk_size=10)
    if lead >= total:
        return 0, total
    trail = detect_leading_silence(segment.reverse(), silence_threshold=threshold_dbfs,
                                   chunk_size=10)
    return max(0, lead - KEEP_PAD_MS), min(total, total - trail + KEEP_PAD_MS)


def normalising_gain(rms_dbfs: float | None, peak_dbfs: float | None) -> float:
    """Gain (dB) that brings speech to TARGET_DBFS without the peak passing the ceiling."""
    if rms_dbfs is None or peak_dbfs is None:
        return 0.0
    gain = min(TARGET_DBFS - rms_dbfs, PEAK_CEILING_DBFS - peak_dbfs, MAX_GAIN_DB)
    return round(gain, 2)


def waveform(segment: Any, points: int | None = None) -> tuple[int, ...]:
    """Peak per bar, 0..100 of full scale, for the player to draw."""
    length = len(segment)
    if length == 0:
        return ()
    if points is None:
        points = max(1, min(WAVEFORM_MAX, math.ceil(length / 1000 * WAVEFORM_PER_S)))
    full = segment.max_possible_amplitude
    step = length / points
    bars = []
    for i in range(points):
        piece = segment[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)]
        bars.append(min(100, round(100 * piece.max / full)))
    return tuple(bars)


def playback_rel(clip_rel: str) -> str:
    """Where the derivative of ``YYYY/MM/DD/name.ext`` lives, relative to voiceclips."""
    return str(Path(PLAYBACK_DIR) / Path(clip_rel).with_suffix(".wav"))


def make_playback(root: Path, clip_rel: str) -> AudioFacts:
    """Measure the original, write its derivative atomically, return the facts to store."""
    original = root / clip_rel
    segment = load(original)
    full = segment.max_possible_amplitude
    start, end = trim_bounds(segment)
    trimmed = segment[start:end]
    gain = normalising_gain(dbfs(trimmed.rms, full), dbfs(trimmed.max, full))
    playback = trimmed.apply_gain(gain) if gain else trimmed
    rel = playback_rel(clip_rel)
    _write_wav_atomically(root / rel, playback)
    return AudioFacts(
        duration_s=round(len(segment) / 1000, 3),
        peak_dbfs=dbfs(segment.max, full),
        loudness_dbfs=dbfs(segment.rms, full),
        silence_share=silence_share(segment),
        playback_path=rel,
        playback_s=round(len(playback) / 1000, 3),
        lead_trim_s=round(start / 1000, 3),
        gain_db=gain,
        waveform=waveform(playback),
    )


def _write_wav_atomically(target: Path, segment: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(segment.frame_rate)
        wav.writeframes(segment.raw_data)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def pcm_at(segment: Any, rate: int) -> bytes:
    """16-bit mono PCM at ``rate`` (resampled only when the clip is at another rate)."""
    if segment.frame_rate != rate:
        segment = segment.set_frame_rate(rate)
    return bytes(segment.raw_data)
