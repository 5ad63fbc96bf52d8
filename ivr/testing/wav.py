"""Telephone WAV files (8 kHz, mono, 16-bit PCM) for the fake Asterisk and the tests.

This is the only format Asterisk's ``wav`` recorder writes and the only one the
prompts use, so a test voice in any other format is refused loudly rather than
"recorded" as garbage that a later check would misread.
"""

from __future__ import annotations

import functools
import io
import math
import random
import struct
import sys
import wave
from array import array
from pathlib import Path

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2  # bytes per sample
SAMPLES_PER_MS = SAMPLE_RATE // 1000

_U32 = struct.Struct("<I")
# Everything between the two size fields of a 44-byte PCM header is the same for
# every file we write; only the RIFF size and the data size change.
_HEADER_MIDDLE = (
    b"WAVEfmt "
    + struct.pack(
        "<IHHIIHH",
        16,  # fmt chunk size
        1,  # PCM
        1,  # mono
        SAMPLE_RATE,
        SAMPLE_RATE * SAMPLE_WIDTH,  # byte rate
        SAMPLE_WIDTH,  # block align
        8 * SAMPLE_WIDTH,  # bits per sample
    )
    + b"data"
)
# The RIFF size field counts everything after itself: "WAVE", the fmt chunk, the
# data chunk's tag and size (36 bytes), then the samples.
_RIFF_OVERHEAD = len(_HEADER_MIDDLE) + 8


def _little_endian(samples: array[int]) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def _low_noise(seconds: float) -> bytes:
    # Faint hiss rather than digital silence: a recording of pure zeros looks
    # like a broken channel to anyone checking that audio arrived.
    noise = random.Random(20_250_101)
    count = int(seconds * SAMPLE_RATE)
    return _little_endian(array("h", (noise.randint(-60, 60) for _ in range(count))))


LOW_NOISE_PCM = _low_noise(1.0)
"""One second of quiet noise: what the fake records when the script gives no voice."""


def wav_header(pcm_bytes: int) -> bytes:
    """The 44-byte header for ``pcm_bytes`` bytes of telephone PCM."""
    return b"RIFF" + _U32.pack(_RIFF_OVERHEAD + pcm_bytes) + _HEADER_MIDDLE + _U32.pack(pcm_bytes)


def write_wav(path: Path, pcm: bytes) -> None:
    """Write ``pcm`` as a WAV file; raises ``OSError`` (e.g. a missing folder) as Asterisk fails."""
    # Plain open/write: the files are small and a thread hop would cost more
    # than the write itself when hundreds of fake calls run at once.
    with open(path, "wb") as file:
        file.write(wav_header(len(pcm)))
        file.write(pcm)


def pcm_from_wav(data: bytes) -> bytes:
    """The PCM frames of a telephone WAV file given as bytes; ``ValueError`` for any other kind."""
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            shape = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
            if shape != (1, SAMPLE_WIDTH, SAMPLE_RATE):
                channels, width, rate = shape
                raise ValueError(
                    f"need 8 kHz mono 16-bit PCM, got {rate} Hz, {channels} channel(s), "
                    f"{8 * width}-bit"
                )
            return reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a readable WAV file: {exc}") from exc


def load_voice(voice: Path | bytes) -> bytes:
    """PCM frames for a caller's voice: a WAV path, a WAV file's bytes, or raw PCM bytes."""
    if isinstance(voice, Path):
        stat = voice.stat()
        return _pcm_of_file(voice, stat.st_mtime_ns, stat.st_size)
    if voice[:4] == b"RIFF":
        return pcm_from_wav(voice)
    if len(voice) % SAMPLE_WIDTH:
        raise ValueError("raw PCM voice must hold whole 16-bit samples (an even byte count)")
    return bytes(voice)


@functools.lru_cache(maxsize=16)
def _pcm_of_file(path: Path, mtime_ns: int, size: int) -> bytes:
    # A soak test gives thousands of calls the same voice file: read it once.
    # The modification time and size in the key make an edited file load afresh.
    return pcm_from_wav(path.read_bytes())


def make_tone_wav(path: Path, seconds: float, freq: float = 440.0) -> Path:
    """Write a sine tone of ``seconds`` as a telephone WAV at ``path`` and return ``path``."""
    count = int(seconds * SAMPLE_RATE)
    step = 2.0 * math.pi * freq / SAMPLE_RATE
    # About a quarter of full scale: clearly "speech-loud", far from clipping.
    samples = array("h", (int(8000 * math.sin(step * n)) for n in range(count)))
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(SAMPLE_WIDTH)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(_little_endian(samples))
    return path
