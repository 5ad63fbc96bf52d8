"""Moving recordings into place so a half-written clip is never visible.

Asterisk records into ``incoming`` (same filesystem as ``voiceclips``). When a
take ends we validate the WAV, fsync it, rename it into ``YYYY/MM/DD/`` and
fsync that folder; only then is it attached in the store. A file that fails
validation goes to ``.quarantine`` with a note saying why: nothing is deleted.

Takes that end together are kept together, in one trip to a worker thread (up
to ``KEEPERS`` such batches at once): each file is still validated and fsynced
on its own, but a folder that received several of them is fsynced once for all,
after the renames. No ``keep()`` returns before its file and the folders it left
and entered are durable, so nothing is attached in the store before that.
"""

from __future__ import annotations

import asyncio
import errno
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
# Batches kept at once: a take that ends while a batch is on its way to the disk
# starts the next one rather than waiting for it, up to this many.
KEEPERS = 3
# A disk with no room (or no quota) left: wait it out and try again, never fail for it.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SAFE = re.compile(r"[^A-Za-z0-9.]")
NAME = re.compile(r"^(?P<call>[A-Za-z0-9._]+)-r(?P<report>\d+)-t(?P<take>\d+)\.wav$")


def disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


@dataclass(frozen=True, slots=True)
class WavFacts:
    seconds: float
    frames: int
    bytes: int
    sha256: str


def inspect_wav(path: Path) -> WavFacts:
    """Check that ``path`` is a PCM WAV we can play, and fsync it; raise ClipInvalid otherwise."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            with wave.open(fh, "rb") as wav:
                rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
                frames = wav.getnframes()
        except (wave.Error, EOFError, OSError) as exc:
            raise ClipInvalid(f"not a readable WAV: {exc}") from exc
        if rate not in SAMPLE_RATES or channels != 1 or width != 2:
            raise ClipInvalid(f"unexpected format {rate} Hz, {channels} ch, {8 * width} bit")
        # A header that promises more than the file holds means a cut-off write.
        data_bytes = frames * channels * width
        if data_bytes > size:
            raise ClipInvalid("header promises more audio than the file holds")
        fh.seek(0)
        digest = hashlib.sha256()
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


@dataclass(frozen=True, slots=True)
class _Take:
    recorded: Path  # as the flow named it, with or without ".wav"
    partial: bool
    future: asyncio.Future[ClipInfo | None]

    @property
    def source(self) -> Path:
        name = self.recorded.name
        return self.recorded.with_name(name if self.recorded.suffix == ".wav" else name + ".wav")


def _settle(batch: list[_Take], outcomes: list[ClipInfo | BaseException | None]) -> None:
    for take, outcome in zip(batch, outcomes, strict=True):
        if take.future.done():  # the call was cut short; the reconciler sees to its clip
            continue
        if isinstance(outcome, BaseException):
            take.future.set_exception(outcome)
        else:
            take.future.set_result(outcome)


class ClipVault:
    """Implements ``ivr.core.ports.ClipKeeper``."""

    def __init__(self, voiceclips: Path, incoming: Path, clock: type[datetime] = datetime) -> None:
        self.root = voiceclips.resolve()
        self.incoming = incoming.resolve()
        self.quarantine = self.root / ".quarantine"
        self._clock = clock
        self._waiting: list[_Take] = []
        self._keepers: set[asyncio.Task[None]] = set()

    def prepare(self) -> list[str]:
        """Make the folders; return what a full disk refused (start-up goes on without it).

        A disk with no room is a state to wait out, not a configuration error:
        the caller logs it, raises an alert and calls ``prepare`` again later.
        Anything else (no permission, two filesystems) stops the start-up.
        """
        refused = []
        for folder in (self.root, self.incoming, self.quarantine):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                if not disk_full(exc):
                    raise
                refused.append(f"cannot make {folder}: {exc.strerror}")
        if self.root.is_dir() and self.incoming.is_dir() and (
            os.stat(self.root).st_dev != os.stat(self.incoming).st_dev
        ):
            raise RuntimeError(
                f"{self.incoming} and {self.root} must be on one filesystem (rename must be atomic)"
            )
        return refused

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
        future: asyncio.Future[ClipInfo | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Take(recorded, partial, future))
        self._keepers = {k for k in self._keepers if not k.done()}
        if len(self._keepers) < KEEPERS:
            self._keepers.add(
                asyncio.create_task(self._keep_waiting(), name="alerta-clip-keeper")
            )
        return await future

    async def _keep_waiting(self) -> None:
        """Keep every waiting take, a batch per trip to the thread, until none waits."""
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                outcomes = await asyncio.to_thread(self._keep_batch, batch)
            except asyncio.CancelledError:  # shutdown: the reconciler sees to these takes
                for take in batch + self._waiting:
                    take.future.cancel()
                raise
            except Exception as exc:  # not even the batch could run: all of it failed
                outcomes = [exc] * len(batch)
            _settle(batch, outcomes)

    def _keep_batch(self, batch: list[_Take]) -> list[ClipInfo | BaseException | None]:
        """Validate, fsync and move each take; then fsync each folder touched, once."""
        outcomes: list[ClipInfo | BaseException | None] = []
        moved: dict[Path, list[int]] = {}  # folder → indexes of the takes it now holds
        made: set[Path] = set()
        for take in batch:
            try:
                clip, folder = self._move_one(take, made)
            except Exception as exc:
                outcomes.append(exc)
                continue
            outcomes.append(clip)
            if folder is not None:
                moved.setdefault(folder, []).append(len(outcomes) - 1)
        if moved:
            # Every take moved here left a folder and entered one: both must be durable.
            left = {batch[i].source.parent for held in moved.values() for i in held}
            for folder in [*moved, *left]:
                try:
                    _fsync_dir(folder)
                except OSError as exc:
                    for held in moved.values():
                        for i in held:
                            outcomes[i] = exc
                    break
        return outcomes

    def _move_one(self, take: _Take, made: set[Path]) -> tuple[ClipInfo | None, Path | None]:
        source = take.source
        try:
            facts = inspect_wav(source)
        except FileNotFoundError:
            return None, None  # Asterisk wrote nothing: the caller left before any audio
        except ClipInvalid as exc:
            self._quarantine(source, str(exc))
            raise
        if facts.frames == 0:
            self._quarantine(source, "empty recording")
            return None, None
        day = self._clock.now().strftime("%Y/%m/%d")
        folder = self.root / day
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        target = folder / source.name
        os.rename(source, target)  # atomic on one filesystem: never half-visible
        clip = ClipInfo(
            path=f"{day}/{target.name}",
            seconds=round(facts.seconds, 3),
            bytes=facts.bytes,
            sha256=facts.sha256,
            partial=take.partial,
        )
        return clip, folder

    def _quarantine(self, source: Path, reason: str) -> None:
        """Move ``source`` aside with a note saying why; on any error it stays where it was.

        The note is written first: a disk too full for it raises here, before the
        move, so a clip is never in quarantine without its reason.
        """
        self.quarantine.mkdir(parents=True, exist_ok=True)
        target = self.quarantine / source.name
        n = 1
        while target.exists():
            target = self.quarantine / f"{source.stem}.{n}{source.suffix}"
            n += 1
        note = target.with_name(target.name + ".why")
        try:
            note.write_text(reason + "\n", encoding="utf-8")
            os.rename(source, target)
        except OSError:
            note.unlink(missing_ok=True)
            raise
        _fsync_dir(self.quarantine)
        logger.warning("clip %s quarantined as %s: %s", source.name, target.name, reason)

    def quarantine_stranger(self, path: Path) -> None:
        self._quarantine(path, "left in incoming with a name we did not give")

    def incoming_files(self) -> list[tuple[Path, int | None, int | None]]:
        """Files in ``incoming`` by name: (file, report, take); None for names we did not give."""
        if not self.incoming.is_dir():
            return []  # a full disk kept it from being made: nothing can be waiting in it
        out: list[tuple[Path, int | None, int | None]] = []
        for path in sorted(self.incoming.iterdir()):
            match = NAME.match(path.name)
            if match is not None:
                out.append((path, int(match["report"]), int(match["take"])))
            elif path.is_file():
                out.append((path, None, None))
        return out
