"""Turn a file an admin uploads into a prompt callers can hear: canonical telephone audio.

Canonical means what Asterisk plays without transcoding: an 8 kHz, mono, 16-bit
PCM WAV. Anything common goes in (WAV of any rate, width or channel count, MP3,
Ogg/Opus, FLAC, M4A/AAC, WebM, GSM, Asterisk's raw ``sln``); ffmpeg decodes it.
Then the sound is checked (not silent, not too short, not too long), leading and
trailing silence is trimmed with a short pad kept, and the level is brought to
about -20 dBFS RMS without clipping, with the same measures the clip player uses
(``ivr.clips.audio``).

ffmpeg runs on a private copy of the upload with only the local file protocol and
only audio demuxers allowed, so an upload that is really a playlist or an image
cannot make it read anything else. Every refusal is a ``PromptAudioRefused``
whose message an admin can act on; ffmpeg's own output goes to the log.

``convert`` blocks (ffmpeg runs as a child process): callers on the event loop
use ``asyncio.to_thread``.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from ivr.clips.audio import (
    CHUNK_MS,
    PEAK_CEILING_DBFS,
    RAW_RATES,
    SILENCE_DBFS,
    dbfs,
    normalising_gain,
    silence_share,
    trim_bounds,
)
from ivr.promptaudio.library import RATE, PromptAudioRefused

logger = logging.getLogger(__name__)

WIDTH = 2
MAX_BYTES = 20 * 1024 * 1024  # uploads larger than this are refused before decoding
MAX_UPLOAD_BYTES = MAX_BYTES
MIN_SOUND_S = 0.2  # less sound than this is a click, not a prompt
FFMPEG_TIMEOUT_S = 120.0
SUPPORTED = "WAV, MP3, OGG/Opus, FLAC, M4A/AAC, WebM or GSM"

# The demuxers ffmpeg may pick for an upload: audio containers only. Playlists
# (hls, concat), images and subtitles are not on the list.
DEMUXERS = (
    "wav,w64,rf64,mp3,ogg,flac,mov,mp4,m4a,3gp,matroska,webm,aac,gsm,aiff,caf,"
    "amr,amrnb,asf,au,wv,s16le"
)
# Raw formats ffmpeg cannot recognise by content: the file name says what they are.
FORCED_FORMATS: dict[str, list[str]] = {
    ".gsm": ["-f", "gsm", "-ar", "8000"],
    **{ext: ["-f", "s16le", "-ar", str(rate), "-ac", "1"] for ext, rate in RAW_RATES.items()},
}

# Files that are plainly something else, by their first bytes.
NOT_AUDIO_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive or an office document"),
    (b"\xd0\xcf\x11\xe0", "an office document"),
    (b"{\\rtf", "an RTF document"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
)
NOT_AUDIO_SUFFIXES = {
    ".pdf", ".doc", ".docx", ".odt", ".rtf", ".txt", ".csv", ".xls", ".xlsx", ".ppt",
    ".pptx", ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".svg", ".webp", ".html", ".htm",
    ".zip", ".rar", ".7z", ".exe", ".json", ".xml", ".m3u", ".m3u8", ".pls",
}


class AudioToolMissing(PromptAudioRefused):
    """A program the conversion or speech needs is not installed on the server."""


@dataclass(frozen=True)
class PromptSound:
    """Canonical prompt audio and what it measures, ready for the prompt library."""

    wav: bytes  # 8 kHz mono 16-bit PCM WAV
    seconds: float
    level_dbfs: float  # RMS level
    peak_dbfs: float


def convert(data: bytes, filename: str = "", *, max_s: float = 60.0) -> PromptSound:
    """Uploaded audio as a canonical prompt, checked, trimmed and levelled; blocking."""
    label = f"'{PurePath(filename).name}'" if filename else "the file"
    suffix = PurePath(filename).suffix.lower()
    if not data:
        raise PromptAudioRefused(f"{label} is empty")
    if len(data) > MAX_BYTES:
        raise PromptAudioRefused(
            f"{label} is {len(data) / 1024 / 1024:.1f} MB; "
            f"a prompt file may be at most {MAX_BYTES // 1024 // 1024} MB"
        )
    _refuse_if_not_audio(data, label, suffix)
    # Decode a little past the limit so the message can say how long the file is,
    # but never hours of audio into memory.
    cap_s = max_s * 2 + 10
    pcm = _decode(data, label, suffix, cap_s)
    segment = _segment(pcm)
    return tidy(segment, label, max_s=max_s, decoded_to_cap=len(segment) >= cap_s * 1000)


def tidy(segment: Any, label: str = "the audio", *, max_s: float = 60.0,
         decoded_to_cap: bool = False) -> PromptSound:
    """Check, trim and level 8 kHz mono 16-bit audio (a pydub segment) into a PromptSound."""
    full = segment.max_possible_amplitude
    if decoded_to_cap:
        raise PromptAudioRefused(
            f"{label} is longer than {len(segment) / 1000:.0f} s; "
            f"a prompt may be at most {max_s:g} s"
        )
    if len(segment) == 0 or silence_share(segment) >= 1.0:
        raise PromptAudioRefused(
            f"{label} is silent: nothing in it is louder than {SILENCE_DBFS:.0f} dBFS"
        )
    sound_s = _sound_seconds(segment)
    if sound_s < MIN_SOUND_S:
        raise PromptAudioRefused(
            f"{label} has only {sound_s:.2f} s of sound; a prompt needs at least "
            f"{MIN_SOUND_S} s"
        )
    start, end = trim_bounds(segment)
    trimmed = segment[start:end]
    seconds = len(trimmed) / 1000
    if seconds > max_s:
        raise PromptAudioRefused(
            f"{label} is {seconds:.0f} s long once the silence around it is trimmed; "
            f"a prompt may be at most {max_s:g} s"
        )
    gain = normalising_gain(dbfs(trimmed.rms, full), dbfs(trimmed.max, full))
    levelled = trimmed.apply_gain(gain) if gain else trimmed
    peak = dbfs(levelled.max, full)
    if peak is not None and peak > PEAK_CEILING_DBFS:
        # Gain is rounded to 0.01 dB and samples to integers: take back any overshoot.
        levelled = levelled.apply_gain(PEAK_CEILING_DBFS - peak - 0.01)
    return PromptSound(
        wav=_wav_bytes(levelled.raw_data),
        seconds=round(len(levelled) / 1000, 3),
        level_dbfs=dbfs(levelled.rms, full) or -96.0,
        peak_dbfs=dbfs(levelled.max, full) or -96.0,
    )


def is_canonical(wav: bytes) -> bool:
    """True for an 8 kHz, mono, 16-bit PCM WAV whose header agrees with its size."""
    try:
        with wave.open(io.BytesIO(wav), "rb") as reader:
            frames = reader.getnframes()
            shape = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth())
            compressed = reader.getcomptype() != "NONE"
    except (wave.Error, EOFError):
        return False
    return (shape == (RATE, 1, WIDTH) and not compressed and frames > 0
            and frames * WIDTH <= len(wav))


def _refuse_if_not_audio(data: bytes, label: str, suffix: str) -> None:
    if suffix in NOT_AUDIO_SUFFIXES:
        raise PromptAudioRefused(
            f"{label} is not an audio file (a {suffix} file); upload {SUPPORTED}"
        )
    for magic, what in NOT_AUDIO_MAGIC:
        if data.startswith(magic):
            raise PromptAudioRefused(f"{label} is {what}, not audio; upload {SUPPORTED}")
    if suffix not in RAW_RATES and _looks_like_text(data[:1024]):
        raise PromptAudioRefused(f"{label} is text, not audio; upload {SUPPORTED}")


def _looks_like_text(head: bytes) -> bool:
    # The sample may end inside a multi-byte character: drop up to three bytes.
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(c.isprintable() or c in "\r\n\t" for c in text)
    return False


def ffmpeg_path() -> str:
    """The ffmpeg program, or AudioToolMissing saying so."""
    found = shutil.which("ffmpeg")
    if found is None:
        raise AudioToolMissing(
            "ffmpeg is not installed on the server, so uploaded audio cannot be converted"
        )
    return found


def _decode(data: bytes, label: str, suffix: str, cap_s: float) -> bytes:
    """The upload as raw 8 kHz mono 16-bit PCM, at most ``cap_s`` seconds of it."""
    ffmpeg = ffmpeg_path()
    with tempfile.TemporaryDirectory(prefix="alerta-prompt-") as tmp:
        source = Path(tmp) / ("upload" + (suffix if suffix.isascii() else ""))
        source.write_bytes(data)
        command = [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            "-protocol_whitelist", "file", "-format_whitelist", DEMUXERS,
            *FORCED_FORMATS.get(suffix, []),
            "-i", str(source),
            "-map", "0:a:0", "-vn", "-sn", "-dn", "-t", f"{cap_s:g}",
            "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1",
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise PromptAudioRefused(
                f"{label} took too long to convert; try a shorter or simpler file"
            ) from exc
    errors = done.stderr.decode("utf-8", errors="replace").replace(tmp, "<upload>").strip()
    if done.returncode != 0 or not done.stdout:
        logger.info("prompt audio: ffmpeg could not decode %s (exit %s): %s",
                    label, done.returncode, errors[-500:])
        if "matches no streams" in errors:
            raise PromptAudioRefused(f"{label} has no sound track; upload {SUPPORTED}")
        raise PromptAudioRefused(f"{label} is not audio we can read; upload {SUPPORTED}")
    if errors:
        logger.info("prompt audio: ffmpeg decoded %s with complaints: %s", label, errors[-500:])
    return done.stdout[: len(done.stdout) - len(done.stdout) % WIDTH]


def _segment(pcm: bytes) -> Any:
    from pydub import AudioSegment

    return AudioSegment(data=pcm, sample_width=WIDTH, frame_rate=RATE, channels=1)


def _sound_seconds(segment: Any) -> float:
    """Seconds of the segment in 20 ms chunks louder than the silence threshold."""
    share = silence_share(segment)
    chunks = -(-len(segment) // CHUNK_MS)
    return round((1 - share) * chunks * CHUNK_MS / 1000, 3)


def _wav_bytes(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(WIDTH)
        writer.setframerate(RATE)
        writer.writeframes(pcm)
    return out.getvalue()
