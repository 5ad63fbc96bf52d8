"""The prompt library: every prompt audio file, named by its content.

A file is written once under ``audio/<sha256>.wav`` and never changed, so an
upload can never overwrite what a published line plays. What Asterisk reads
is a published version's own folder, ``lines/<line>/<document>/<lang>/<id>.wav``,
made of hard links into ``audio/`` when the version is published: the flows
keep asking for ``<folder>/<lang>/<id>`` as before, and a call that started on
one version keeps its folder whatever is published after it.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import wave
from collections.abc import Mapping
from pathlib import Path

RATE = 8000  # what a phone line carries; Asterisk plays it without transcoding
MAX_BYTES = 8000 * 2 * 120  # two minutes of canonical audio


class PromptAudioRefused(ValueError):
    """Audio that cannot become a prompt; the message says why, for the admin."""


def canonical_seconds(wav: bytes) -> float:
    """Seconds of a canonical prompt WAV (8 kHz, mono, 16-bit PCM); refuses anything else."""
    if len(wav) > MAX_BYTES:
        raise PromptAudioRefused("the audio is longer than two minutes")
    try:
        with wave.open(io.BytesIO(wav), "rb") as w:
            shape = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            frames = w.getnframes()
    except (wave.Error, EOFError) as exc:
        raise PromptAudioRefused(f"not a WAV file the line can play ({exc})") from None
    if shape != (RATE, 1, 2):
        raise PromptAudioRefused(
            f"the audio is {shape[0]} Hz, {shape[1]} channel(s), {8 * shape[2]}-bit; "
            "a prompt is stored as 8000 Hz mono 16-bit (convert it first)")
    if frames == 0:
        raise PromptAudioRefused("the audio is empty")
    return frames / RATE


class PromptLibrary:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.audio_dir = root / "audio"
        self.lines_dir = root / "lines"

    def prepare(self) -> PromptLibrary:
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self.lines_dir.mkdir(parents=True, exist_ok=True)
        return self

    def path(self, sha: str) -> Path:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise PromptAudioRefused("not an audio id")
        return self.audio_dir / f"{sha}.wav"

    def has(self, sha: str) -> bool:
        try:
            return self.path(sha).is_file()
        except PromptAudioRefused:
            return False

    def add(self, wav: bytes) -> str:
        """Keep a canonical WAV; returns its sha256. Adding the same audio twice is one file."""
        canonical_seconds(wav)
        sha = hashlib.sha256(wav).hexdigest()
        target = self.path(sha)
        if not target.exists():
            try:
                _write_once(target, wav)
            except OSError as exc:  # a full or read-only disk: say so, keep nothing half-written
                raise PromptAudioRefused(
                    f"the prompt library could not keep the audio ({exc.strerror or exc})"
                ) from exc
        return sha

    def version_folder(self, line_id: int, document_sha: str) -> Path:
        return self.lines_dir / str(line_id) / document_sha[:32]

    def materialise(
        self, line_id: int, document_sha: str, audio: Mapping[tuple[str, str], str]
    ) -> Path:
        """The folder Asterisk plays a published version from: ``<lang>/<id>.wav`` for each
        (prompt id, language) → sha. Made once, whole (built aside, then renamed)."""
        folder = self.version_folder(line_id, document_sha)
        if folder.is_dir():
            return folder
        missing = sorted({sha for sha in audio.values() if not self.has(sha)})
        if missing:
            raise PromptAudioRefused(f"audio {missing[0][:12]}… is not in the prompt library")
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
        try:
            for (prompt_id, language), sha in audio.items():
                (work / language).mkdir(exist_ok=True)
                _link_or_copy(self.path(sha), work / language / f"{prompt_id}.wav")
            for d in [work, *work.iterdir()]:
                d.chmod(0o755)
            try:
                work.rename(folder)
            except OSError:
                if not folder.is_dir():  # another process made it meanwhile: same content
                    raise
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
        return folder


def _write_once(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".add-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed: a copy plays the same
        shutil.copyfile(source, target)
