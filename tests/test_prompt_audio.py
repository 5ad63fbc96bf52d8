"""Prompt audio from an upload or from text: the real ffmpeg and espeak-ng, no fakes."""

from __future__ import annotations

import array
import io
import math
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from ivr.promptaudio.convert import convert, is_canonical
from ivr.promptaudio.library import PromptAudioRefused, PromptLibrary
from ivr.promptaudio.tts import speak, voice_for
from tests.browser_util import in_ci


def need(tool: str) -> str:
    found = shutil.which(tool)
    if found:
        return found
    if in_ci():
        pytest.fail(f"CI=true and {tool} is missing: run scripts/test", pytrace=False)
    pytest.skip(f"{tool} is missing: run scripts/test")


def wav(seconds: float, *, rate: int = 44100, channels: int = 2, amplitude: float = 0.3,
        lead_s: float = 0.0) -> bytes:
    n = int(seconds * rate)
    quiet = int(lead_s * rate)
    samples = array.array("h")
    for i in range(quiet + n):
        v = 0 if i < quiet else int(amplitude * 32767 * math.sin(2 * math.pi * 440 * i / rate))
        samples.extend([v] * channels)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def ffmpeg_encode(tmp_path: Path, data: bytes, suffix: str, *codec: str) -> bytes:
    source, target = tmp_path / "in.wav", tmp_path / f"out{suffix}"
    source.write_bytes(data)
    subprocess.run([need("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y", "-i",
                    str(source), *codec, str(target)], check=True, timeout=60)
    return target.read_bytes()


def shape(data: bytes) -> tuple[int, int, int, float]:
    with wave.open(io.BytesIO(data), "rb") as w:
        return (w.getframerate(), w.getnchannels(), w.getsampwidth(),
                w.getnframes() / w.getframerate())


def test_a_cd_quality_stereo_wav_becomes_a_telephone_prompt() -> None:
    need("ffmpeg")
    sound = convert(wav(2.0, lead_s=1.0), "greeting.wav")
    rate, channels, width, seconds = shape(sound.wav)
    assert (rate, channels, width) == (8000, 1, 2) and is_canonical(sound.wav)
    # The second of silence before it is trimmed to the short pad kept around speech.
    assert 2.0 <= seconds <= 2.3 and sound.seconds == pytest.approx(seconds, abs=0.01)
    assert sound.level_dbfs == pytest.approx(-20.0, abs=0.5) and sound.peak_dbfs <= -1.0


@pytest.mark.parametrize(("suffix", "codec"), [
    (".mp3", ()), (".ogg", ("-c:a", "libvorbis")), (".opus", ("-c:a", "libopus")),
    (".flac", ()), (".m4a", ("-c:a", "aac")),
])
def test_common_formats_are_converted(tmp_path: Path, suffix: str, codec: tuple[str, ...]) -> None:
    encoded = ffmpeg_encode(tmp_path, wav(1.5), suffix, *codec)
    sound = convert(encoded, f"prompt{suffix}")
    assert shape(sound.wav)[:3] == (8000, 1, 2)
    assert 1.3 <= sound.seconds <= 1.8


def test_a_loud_clipped_file_is_brought_down_without_clipping() -> None:
    sound = convert(wav(1.0, amplitude=1.0), "loud.wav")
    assert sound.peak_dbfs <= -1.0 and sound.level_dbfs < -10


@pytest.mark.parametrize(("data", "name", "reason"), [
    (b"", "empty.wav", "empty.wav is empty"),
    (b"this is a text file, not audio" * 10, "notes.txt", "notes.txt is not audio"),
    (wav(1.0, amplitude=0.0), "silence.wav", "silence.wav is silent"),
    (wav(0.05), "click.wav", "holds only"),
])
def test_what_cannot_be_a_prompt_is_refused_with_the_reason(
    data: bytes, name: str, reason: str
) -> None:
    need("ffmpeg")
    with pytest.raises(PromptAudioRefused, match=reason):
        convert(data, name)


def test_a_too_long_file_is_refused() -> None:
    with pytest.raises(PromptAudioRefused, match="a prompt may last at most 60 s"):
        convert(wav(61.0, rate=8000, channels=1), "speech.wav")


def test_an_oversized_upload_is_refused_before_decoding() -> None:
    with pytest.raises(PromptAudioRefused, match="at most 20 MB"):
        convert(b"\0" * (21 * 1024 * 1024), "huge.wav")


@pytest.mark.parametrize(("language", "voice"), [("es", "es-419"), ("en", "en-us"),
                                                 ("qu", "qu"), ("es-PE", "es-419")])
def test_text_is_spoken_in_each_language_of_the_line(language: str, voice: str) -> None:
    need("espeak-ng")
    assert voice_for(language) == voice
    sound = speak("Para un incendio, marque", language)
    assert is_canonical(sound.wav) and 0.5 <= sound.seconds <= 5.0
    # Speech peaks high above its mean: the level stops where the peak reaches -1 dBFS.
    assert -26.0 <= sound.level_dbfs <= -19.0 and sound.peak_dbfs <= -1.0


def test_text_is_never_an_option_and_an_unknown_language_is_refused() -> None:
    need("espeak-ng")
    need("sox")
    # A text that looks like options is spoken, not obeyed.
    assert speak("-w /tmp/owned.wav --version", "es").seconds > 0.5
    assert speak("Para español, marque uno. Ñandú, año.", "es").seconds > 1.0
    assert not Path("/tmp/owned.wav").exists()
    with pytest.raises(PromptAudioRefused, match="no voice for 'xx'"):
        speak("hola", "xx")
    with pytest.raises(PromptAudioRefused, match="no text"):
        speak("   ", "es")


def test_the_library_keeps_canonical_audio_once_by_content(tmp_path: Path) -> None:
    library = PromptLibrary(tmp_path / "lib").prepare()
    sound = convert(wav(1.0), "a.wav")
    sha = library.add(sound.wav)
    assert library.add(sound.wav) == sha and library.path(sha).read_bytes() == sound.wav
    assert len(list((tmp_path / "lib" / "audio").iterdir())) == 1
    with pytest.raises(PromptAudioRefused, match="8000 Hz mono 16-bit"):
        library.add(wav(1.0))
    with pytest.raises(PromptAudioRefused, match="not an audio id"):
        library.path("../../etc/passwd")
