"""An uploaded or spoken prompt made fit for the line: 8 kHz mono 16-bit PCM WAV.

Any format ffmpeg reads (WAV of any rate and width, MP3, Ogg/Opus, FLAC, M4A/AAC,
WebM, GSM) is decoded and resampled by ffmpeg through pydub (ffmpeg's resampler
filters before it decimates; resampling in Python would alias). Then it is checked
and tidied the way the clips' playback is (``ivr.clips.audio``): leading and
trailing silence trimmed with a short pad, the level brought to about -20 dBFS RMS
without the peak passing -1 dBFS. What cannot become a prompt is refused with a
reason an admin can act on. Blocking: callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Any

from ivr.clips.audio import SILENCE_DBFS, dbfs, normalising_gain, trim_bounds
from ivr.promptaudio.library import RATE, PromptAudioRefused

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MIN_SOUND_S = 0.2  # of sound, once the silence around it is trimmed
MAX_PROMPT_S = 60.0
_WAV_MAGIC = (b"RIFF", b"RIFX", b"RF64")


@dataclass(frozen=True, slots=True)
class PromptSound:
    wav: bytes  # canonical: 8 kHz, mono, 16-bit PCM WAV
    seconds: float
    level_dbfs: float  # RMS
    peak_dbfs: float


def is_canonical(wav: bytes) -> bool:
    try:
        with wave.open(io.BytesIO(wav), "rb") as w:
            return (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getcomptype()) == (
                RATE, 1, 2, "NONE") and w.getnframes() > 0
    except (wave.Error, EOFError):
        return False


def convert(data: bytes, filename: str = "", *, max_s: float = MAX_PROMPT_S) -> PromptSound:
    """Decode, check and tidy ``data``; ``filename`` only names it in messages."""
    name = filename.rsplit("/", 1)[-1][:80] or "the file"
    if not data:
        raise PromptAudioRefused(f"{name} is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise PromptAudioRefused(
            f"{name} is {len(data) / 1e6:.1f} MB; a prompt file may be at most "
            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    return tidy(_decode(data, name), name, max_s=max_s)


def tidy(segment: Any, name: str, *, max_s: float = MAX_PROMPT_S) -> PromptSound:
    """Trim, check and level a decoded 8 kHz mono 16-bit segment."""
    if len(segment) / 1000 > max_s * 3:  # even trimmed it could not fit: say so early
        raise PromptAudioRefused(f"{name} lasts {len(segment) / 1000:.0f} s; a prompt may "
                                 f"last at most {max_s:.0f} s")
    full = segment.max_possible_amplitude
    start, end = trim_bounds(segment)
    sound = segment[start:end]
    level, peak = dbfs(sound.rms, full), dbfs(sound.max, full)
    if level is None or peak is None or peak < SILENCE_DBFS:
        raise PromptAudioRefused(f"{name} is silent: nothing to play")
    seconds = len(sound) / 1000
    if seconds > max_s:
        raise PromptAudioRefused(f"{name} lasts {seconds:.1f} s once trimmed; a prompt may "
                                 f"last at most {max_s:.0f} s")
    if seconds < MIN_SOUND_S:
        raise PromptAudioRefused(f"{name} holds only {seconds:.2f} s of sound")
    gain = normalising_gain(level, peak)
    if gain:
        sound = sound.apply_gain(gain)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(sound.raw_data)
    return PromptSound(out.getvalue(), round(len(sound) / 1000, 3),
                       dbfs(sound.rms, full) or level, dbfs(sound.max, full) or peak)


def _decode(data: bytes, name: str) -> Any:
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    if data[:4] in _WAV_MAGIC and is_canonical(data):
        return AudioSegment.from_wav(io.BytesIO(data))  # already right: no ffmpeg needed
    try:
        # ffmpeg does the resampling and the mixing down (-ar/-ac on its output).
        segment = AudioSegment.from_file(io.BytesIO(data),
                                         parameters=["-ar", str(RATE), "-ac", "1"])
    except (CouldntDecodeError, IndexError, ValueError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        if isinstance(exc, FileNotFoundError):
            raise RuntimeError("ffmpeg is not installed; it converts uploaded prompts") from exc
        raise PromptAudioRefused(f"{name} is not audio that can be read ({first[:120]})"
                                 ) from None
    if len(segment) == 0:
        raise PromptAudioRefused(f"{name} holds no audio")
    return segment.set_frame_rate(RATE).set_channels(1).set_sample_width(2)
