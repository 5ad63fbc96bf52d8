"""Moving recordings into place so a half-written clip is never visible.

Asterisk records into ``incoming`` (same filesystem as ``voiceclips``). When a
take ends we validate the WAV, fsync it, rename it into ``YYYY/MM/DD/`` and
fsync that folder; only then is it attached in the store. A file that fails
validation goes to ``.quarantine`` with a note saying why: nothing is deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import wave
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ivr.domain.clips import ClipInfo, ClipInvalid

logger = logging.getLogger(__name__)

SAMPLE_RATES = (8000, 16000, 48000)
_SAFE = re.compile(r"[^A-Za-z0-9.]")
NAME = re.compile(r"^(?P<call>[A-Za-z0-9._]+)-r(?P<report>\d+)-t(?P<take>\d+)\.wav$")


@dataclass(frozen=True, slots=True)
class WavFacts:
    seconds: float
    frames: int
    bytes: int
    sha256: str


def inspect_wav(path: Path) -> WavFacts:
    """Check that ``path`` is a PCM WAV we can play; raise ClipInvalid otherwise."""
    try:
        size = path.stat().st_size
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.getnframes()
    except FileNotFoundError:
        raise
    except (wave.Error, EOFError, OSError) as exc:
        raise ClipInvalid(f"not a readable WAV: {exc}") from exc
    if rate not in SAMPLE_RATES or channels != 1 or width != 2:
        raise ClipInvalid(f"unexpected format {rate} Hz, {channels} ch, {8 * width} bit")
    # A header that promises more than the file holds means a cut-off write.
    data_bytes = frames * channels * width
    if data_bytes > size:
        raise ClipInvalid("header promises more audio than the file holds")
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
        os.fsync(fh.fileno())
    return WavFacts(frames / rate, frames, size, digest.hexdigest())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ClipVault:
    """Implements ``ivr.flows.deps.ClipKeeper``."""

    def __init__(self, voiceclips: Path, incoming: Path, clock: type[datetime] = datetime) -> None:
        self.root = voiceclips.resolve()
        self.incoming = incoming.resolve()
        self.quarantine = self.root / ".quarantine"
        self._clock = clock

    def prepare(self) -> None:
        for folder in (self.root, self.incoming, self.quarantine):
            folder.mkdir(parents=True, exist_ok=True)
        if os.stat(self.root).st_dev != os.stat(self.incoming).st_dev:
            raise RuntimeError(
                f"{self.incoming} and {self.root} must be on one filesystem (rename must be atomic)"
            )

    def incoming_path(self, call_id: str, report: int, take: int) -> Path:
        return self.incoming / f"{_SAFE.sub('_', call_id) or 'call'}-r{report}-t{take}"

    def playback_path(self, clip: ClipInfo) -> Path:
        return (self.root / clip.path).with_suffix("")

    def path_of(self, clip_path: str) -> Path:
        """The file of a stored clip; refuses anything that escapes the voiceclips folder."""
        full = (self.root / clip_path).resolve()
        full.relative_to(self.root)
        return full

    async def keep(self, recorded: Path, *, partial: bool) -> ClipInfo | None:
        return await asyncio.to_thread(self._keep, recorded, partial)

    def _keep(self, recorded: Path, partial: bool) -> ClipInfo | None:
        wav_name = recorded.name if recorded.suffix == ".wav" else recorded.name + ".wav"
        source = recorded.with_name(wav_name)
        try:
            facts = inspect_wav(source)
        except FileNotFoundError:
            return None  # Asterisk wrote nothing: the caller left before any audio
        except ClipInvalid as exc:
            self._quarantine(source, str(exc))
            raise
        if facts.frames == 0:
            self._quarantine(source, "empty recording")
            return None
        day = self._clock.now().strftime("%Y/%m/%d")
        folder = self.root / day
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / source.name
        os.rename(source, target)  # atomic on one filesystem: never half-visible
        _fsync_dir(folder)
        _fsync_dir(source.parent)
        return ClipInfo(
            path=f"{day}/{target.name}",
            seconds=round(facts.seconds, 3),
            bytes=facts.bytes,
            sha256=facts.sha256,
            partial=partial,
        )

    def _quarantine(self, source: Path, reason: str) -> None:
        self.quarantine.mkdir(parents=True, exist_ok=True)
        target = self.quarantine / source.name
        n = 1
        while target.exists():
            target = self.quarantine / f"{source.stem}.{n}{source.suffix}"
            n += 1
        os.rename(source, target)
        target.with_name(target.name + ".why").write_text(reason + "\n", encoding="utf-8")
        _fsync_dir(self.quarantine)
        logger.warning("clip %s quarantined as %s: %s", source.name, target.name, reason)

    def leftovers(self) -> list[tuple[Path, int, int]]:
        """Recordings still in ``incoming``: (file, report, take); unnamed ones quarantined."""
        out = []
        for path in sorted(self.incoming.iterdir()):
            match = NAME.match(path.name)
            if match is None:
                if path.is_file():
                    self._quarantine(path, "left in incoming with a name we did not give")
                continue
            out.append((path, int(match["report"]), int(match["take"])))
        return out
