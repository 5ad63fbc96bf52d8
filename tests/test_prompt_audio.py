"""Prompt audio: uploads in common formats become canonical telephone audio; text is spoken.

Every input is made here with the real ffmpeg and espeak-ng; under CI=true a
missing tool fails the test rather than skipping it.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import wave
from array import array
from pathlib import Path

import pytest

from ivr.promptaudio.convert import (
    MAX_BYTES,
    AudioToolMissing,
    PromptSound,
    convert,
    is_canonical,
)
from ivr.promptaudio.library import PromptAudioRefused, PromptLibrary
from ivr.promptaudio.tts import speak, voice_for

FULL_SCALE = 32767


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(tool: str) -> str:
    """The tool's path; fail under CI when it is missing, skip (saying why) elsewhere."""
    found = shutil.which(tool)
    if found:
        return found
    reason = f"{tool} is not on PATH (Debian package {tool})"
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def ffmpeg(*args: str) -> None:
    subprocess.run([require("ffmpeg"), "-nostdin", "-loglevel", "error", "-y", *args],
                   check=True, timeout=120)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Spanish speech with 2 s of silence before and 3 s after, as a 44.1 kHz stereo WAV."""
    folder = tmp_path_factory.mktemp("speech")
    spoken = folder / "spoken.wav"
    subprocess.run([require("espeak-ng"), "-v", "es-419", "-w", str(spoken),
                    "Bienvenido a la línea de emergencias"], check=True, timeout=60)
    stereo = folder / "speech.wav"
    ffmpeg("-i", str(spoken), "-af", "adelay=2000,apad=pad_dur=3", "-ar", "44100",
           "-ac", "2", str(stereo))
    return stereo


def samples(wav: bytes) -> array[int]:
    with wave.open(io.BytesIO(wav), "rb") as reader:
        return array("h", reader.readframes(reader.getnframes()))


def assert_canonical(sound: PromptSound) -> None:
    with wave.open(io.BytesIO(sound.wav), "rb") as reader:
        assert reader.getframerate() == 8000
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getcomptype() == "NONE"
        assert abs(reader.getnframes() / 8000 - sound.seconds) < 0.01
    assert is_canonical(sound.wav)


def assert_levelled(sound: PromptSound) -> None:
    assert -21.0 <= sound.level_dbfs <= -19.0 or sound.peak_dbfs >= -1.1
    assert sound.peak_dbfs <= -1.0
    assert max(abs(s) for s in samples(sound.wav)) < FULL_SCALE * 10 ** (-1 / 20) + 1


def seconds_of(path: Path) -> float:
    with wave.open(str(path), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


# --- conversion -----------------------------------------------------------------------------


def test_a_44k_stereo_wav_becomes_canonical_trimmed_and_levelled(speech: Path) -> None:
    assert not is_canonical(speech.read_bytes())
    sound = convert(speech.read_bytes(), "greeting.wav")
    assert_canonical(sound)
    assert_levelled(sound)
    # 5 s of silence around the words is gone; a 0.25 s pad on each side stays.
    assert sound.seconds < seconds_of(speech) - 4.0
    head = samples(sound.wav)[: 8000 // 10]  # the first 100 ms: the pad, quiet
    assert max(abs(s) for s in head) < FULL_SCALE // 100


@pytest.mark.parametrize("suffix, codec", [
    (".mp3", ["-c:a", "libmp3lame"]),
    (".ogg", ["-c:a", "libvorbis"]),
    (".opus", ["-c:a", "libopus"]),
    (".flac", ["-c:a", "flac"]),
    (".m4a", ["-c:a", "aac"]),
    (".webm", ["-c:a", "libopus"]),
    (".gsm", ["-ar", "8000", "-ac", "1", "-c:a", "libgsm", "-f", "gsm"]),
], ids=["mp3", "ogg-vorbis", "ogg-opus", "flac", "m4a-aac", "webm-opus", "gsm"])
def test_common_formats_made_by_ffmpeg_convert(speech: Path, tmp_path: Path, suffix: str,
                                               codec: list[str]) -> None:
    encoded = tmp_path / f"greeting{suffix}"
    ffmpeg("-i", str(speech), *codec, str(encoded))
    reference = convert(speech.read_bytes(), "greeting.wav")
    sound = convert(encoded.read_bytes(), encoded.name)
    assert_canonical(sound)
    assert_levelled(sound)
    # The same words, trimmed the same way (codec delay and frame padding aside).
    assert abs(sound.seconds - reference.seconds) < 0.3


def test_an_8bit_mono_wav_at_another_rate_is_not_canonical_but_converts(tmp_path: Path,
                                                                        speech: Path) -> None:
    narrow = tmp_path / "narrow.wav"
    ffmpeg("-i", str(speech), "-ac", "1", "-ar", "11025", "-c:a", "pcm_u8", str(narrow))
    assert not is_canonical(narrow.read_bytes())
    assert_canonical(convert(narrow.read_bytes(), "narrow.wav"))


def test_a_loud_clipped_file_is_brought_down_without_clipping(tmp_path: Path) -> None:
    loud = tmp_path / "loud.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2:sample_rate=8000",
           "-af", "volume=30dB", str(loud))
    clipped = samples(loud.read_bytes())
    assert max(clipped) == FULL_SCALE  # the input really clips
    sound = convert(loud.read_bytes(), "loud.wav")
    assert_canonical(sound)
    assert -21.0 <= sound.level_dbfs <= -19.0
    assert sound.peak_dbfs <= -1.0


def test_a_quiet_file_is_lifted_towards_the_target(tmp_path: Path, speech: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    ffmpeg("-i", str(speech), "-af", "volume=-18dB", str(quiet))
    sound = convert(quiet.read_bytes(), "quiet.wav")
    assert sound.level_dbfs > -23.0
    assert sound.peak_dbfs <= -1.0


def test_a_silent_file_is_refused(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", "3", str(silent))
    with pytest.raises(PromptAudioRefused, match=r"'silent\.wav' is silent"):
        convert(silent.read_bytes(), "silent.wav")


def test_a_click_is_too_short_to_be_a_prompt(tmp_path: Path) -> None:
    click = tmp_path / "click.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=1000:duration=0.06:sample_rate=8000",
           "-af", "apad=pad_dur=2", str(click))
    with pytest.raises(PromptAudioRefused, match=r"only 0\.\d+ s of sound.*at least 0\.2 s"):
        convert(click.read_bytes(), "click.wav")


def test_a_too_long_file_is_refused_saying_how_long(tmp_path: Path) -> None:
    long = tmp_path / "long.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=74:sample_rate=8000", str(long))
    with pytest.raises(PromptAudioRefused, match=r"'long\.mp3' is 74 s long.*at most 60 s"):
        convert(long.read_bytes(), "long.mp3")
    # The limit is the caller's; far past it the file is not decoded to its end.
    with pytest.raises(PromptAudioRefused, match=r"longer than 30 s.*at most 10 s"):
        convert(long.read_bytes(), "long.mp3", max_s=10)


def test_silence_around_the_sound_does_not_count_towards_the_limit(speech: Path) -> None:
    assert seconds_of(speech) > 7.0
    assert convert(speech.read_bytes(), "greeting.wav", max_s=4.0).seconds < 4.0


@pytest.mark.parametrize("name, data, said", [
    ("notes.txt", b"Bienvenido a la linea\n", r"not an audio file \(a \.txt file\)"),
    ("greeting.mp3", "Texto, no audio: ñandú\n".encode(), "is text, not audio"),
    ("greeting.wav", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "is a PDF document, not audio"),
    ("greeting.ogg", b"PK\x03\x04" + bytes(200), "ZIP archive or an office document"),
    ("playlist.m3u8", b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", "not an audio file"),
    ("greeting.mp3", bytes(range(256)) * 40, "is not audio we can read"),
    ("greeting.wav", b"", "is empty"),
], ids=["txt-name", "text-as-mp3", "pdf", "zip", "playlist", "noise", "empty"])
def test_a_file_that_is_not_audio_is_refused_in_plain_words(name: str, data: bytes,
                                                            said: str) -> None:
    require("ffmpeg")
    with pytest.raises(PromptAudioRefused, match=said) as refused:
        convert(data, name)
    message = str(refused.value)
    assert "Traceback" not in message and "/tmp" not in message and len(message) < 200


def test_an_image_with_an_audio_name_is_refused(tmp_path: Path) -> None:
    # No magic number of ours knows BMP: ffmpeg refuses it, its demuxer is not allowed.
    image = tmp_path / "picture.bmp"
    ffmpeg("-f", "lavfi", "-i", "color=red:s=64x64", "-frames:v", "1", str(image))
    with pytest.raises(PromptAudioRefused, match="is not audio we can read"):
        convert(image.read_bytes(), "greeting.wav")


def test_a_video_with_sound_gives_its_sound(tmp_path: Path, speech: Path) -> None:
    video = tmp_path / "clip.webm"
    ffmpeg("-f", "lavfi", "-i", "color=blue:s=64x64:d=7", "-i", str(speech), "-shortest",
           "-c:v", "libvpx", "-c:a", "libopus", str(video))
    assert_canonical(convert(video.read_bytes(), "clip.webm"))


def test_a_file_over_the_size_cap_is_refused_before_decoding() -> None:
    with pytest.raises(PromptAudioRefused, match=r"20\.0 MB.*at most 20 MB"):
        convert(b"RIFF" + bytes(MAX_BYTES), "huge.wav")


def test_is_canonical_says_no_to_garbage_and_to_a_lying_header(speech: Path) -> None:
    require("ffmpeg")
    good = convert(speech.read_bytes(), "greeting.wav").wav
    assert is_canonical(good)
    assert not is_canonical(b"")
    assert not is_canonical(b"RIFF\x00\x00garbage")
    assert not is_canonical(good[:44])  # a header and no sound
    assert not is_canonical(good[: len(good) // 2])  # cut off: the header promises more


def test_without_ffmpeg_the_refusal_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path, speech: Path) -> None:
    data = speech.read_bytes()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AudioToolMissing, match="ffmpeg is not installed"):
        convert(data, "greeting.wav")


# --- speaking (espeak-ng and sox, as the shipped prompts) and the library ----------------


def wav(seconds: float, *, rate: int = 44100, channels: int = 2, amplitude: float = 0.3,
        lead_s: float = 0.0) -> bytes:
    n = int(seconds * rate)
    quiet = int(lead_s * rate)
    samples = array("h")
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


@pytest.mark.parametrize(("language", "voice"), [("es", "es-419"), ("en", "en-us"),
                                                 ("qu", "qu"), ("es-PE", "es-419")])
def test_text_is_spoken_in_each_language_of_the_line(language: str, voice: str) -> None:
    require("espeak-ng")
    assert voice_for(language) == voice
    sound = speak("Para un incendio, marque", language)
    assert is_canonical(sound.wav) and 0.5 <= sound.seconds <= 5.0
    # Speech peaks high above its mean: the level stops where the peak reaches -1 dBFS.
    assert -26.0 <= sound.level_dbfs <= -19.0 and sound.peak_dbfs <= -1.0


def test_text_is_never_an_option_and_an_unknown_language_is_refused() -> None:
    require("espeak-ng")
    require("sox")
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
