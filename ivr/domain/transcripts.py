"""What a transcript and a clip's audio facts are, and the keyword alert rule. No I/O."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    conf: float  # 0..1, as the recogniser scored it
    start: float  # seconds into the original recording
    end: float

    def low(self, threshold: float) -> bool:
        return self.conf < threshold


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    words: tuple[Word, ...]
    model: str  # the model folder used
    audio_s: float  # length of the audio heard
    cpu_s: float  # CPU time the recogniser took (model loading excluded)
    fed_rate: int  # sample rate the recogniser was fed

    @property
    def confidence(self) -> float | None:
        if not self.words:
            return None
        return round(sum(w.conf for w in self.words) / len(self.words), 3)


@dataclass(frozen=True, slots=True)
class AudioFacts:
    duration_s: float
    peak_dbfs: float | None  # None: digital silence
    loudness_dbfs: float | None
    silence_share: float  # 0..1
    playback_path: str  # the derivative, relative to the voiceclips folder
    playback_s: float
    lead_trim_s: float
    gain_db: float
    waveform: tuple[int, ...]  # peaks 0..100 over the derivative


def fold(text: str) -> str:
    """Compare words the way a person would: case and accents do not matter."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare).casefold().strip()


def _matches(token: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return token.startswith(pattern[:-1])
    return token == pattern


def keyword_hits(words: Iterable[str], keywords: Iterable[str]) -> list[str]:
    """The configured keywords heard in ``words``, in configuration order.

    A keyword may be several words ("arma blanca") and may end in ``*`` to match
    any ending ("herid*" matches herido, herida, heridos).
    """
    tokens = [fold(w) for w in words]
    hits = []
    for keyword in keywords:
        parts = [fold(p) for p in keyword.split()]
        if not parts or not all(p.rstrip("*") for p in parts):
            continue
        span = len(parts)
        for i in range(len(tokens) - span + 1):
            if all(_matches(tokens[i + k], parts[k]) for k in range(span)):
                hits.append(keyword)
                break
    return hits


def keywords_for(language: str | None, lists: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The alert words of a report's language; every list when the language has none."""
    if language and language in lists:
        return tuple(lists[language])
    seen: dict[str, None] = {}
    for words in lists.values():
        seen.update(dict.fromkeys(words))
    return tuple(seen)


def raised_priority(current: int, alert_priority: int) -> int:
    """1 is the most urgent: an alert only ever makes a report more urgent."""
    return min(current, alert_priority)
