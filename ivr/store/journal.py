"""The journal: reports the database could not take in time, kept on disk until it can.

An append-only file of records, each ``length (4 bytes) | crc32 (4 bytes) | JSON``,
written and fsynced before the caller is told anything. A record cut short by a crash
(or a power cut) fails its length or checksum: it is dropped with a log line, and the
file is cut back to the last whole record so later records follow a clean end.

The records are replayed in order by ``ivr.store.resilient``; each carries a unique
key, which the database remembers in the same transaction as the change, so a replay
that is cut off and started again never stores anything twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FILE_NAME = "reports.journal"
_HEADER = struct.Struct(">II")
MAX_RECORD = 1 << 20  # a record is a few hundred bytes; anything larger is damage


class JournalError(Exception):
    """The journal could not keep a record (its disk is full or failing)."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(path: Path) -> tuple[list[dict[str, Any]], int, int]:
    """The whole records of a journal file, the offset after the last one, the file size."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0, 0
    records: list[dict[str, Any]] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        body = data[offset + _HEADER.size: offset + _HEADER.size + length]
        if length > MAX_RECORD or len(body) < length or zlib.crc32(body) != crc:
            break
        try:
            record = json.loads(body)
        except ValueError:
            break
        records.append(record)
        offset += _HEADER.size + length
    return records, offset, len(data)


def pending_reports(folder: Path) -> int:
    """How many reports a journal folder holds that the database does not have yet
    (readable by a console in another process)."""
    records, _end, _size = read_records(folder / FILE_NAME)
    return len({r["report"] for r in records})


class Journal:
    """One journal file in ``folder``; records are appended in the order given."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / FILE_NAME
        self._records: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._fd: int | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        """Records kept so far, oldest first (the list grows; do not change it)."""
        return self._records

    def pending(self) -> int:
        """Reports with records waiting for the database."""
        return len({r["report"] for r in self._records})

    def open(self) -> Journal:
        """Read what a previous run left; cut a torn last record off."""
        fresh = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            # A folder that does not exist holds nothing to replay; a full disk must not
            # stop the controller: the folder is made again at the first record.
            logger.error("journal: cannot make %s (%s); tried again when a report needs it",
                         self.folder, exc)
            return self
        if fresh:
            _fsync_dir(self.folder.parent)
        records, end, size = read_records(self.path)
        if end < size:
            logger.warning("journal: %d byte(s) after the last whole record were cut short "
                           "(a crash while writing); dropped", size - end)
            with open(self.path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        self._records = records
        if records:
            logger.warning("journal: %d record(s) of %d report(s) wait for the database",
                           len(records), self.pending())
        return self

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def append(self, record: dict[str, Any]) -> None:
        """Keep ``record`` on disk (fsynced) before returning; JournalError if it cannot."""
        body = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
        frame = _HEADER.pack(len(body), zlib.crc32(body)) + body
        async with self._lock:
            try:
                await asyncio.to_thread(self._write, frame)
            except OSError as exc:
                raise JournalError(f"journal write failed: {exc}") from exc
            self._records.append(record)

    def _write(self, frame: bytes) -> None:
        if self._fd is None:
            if not self.folder.exists():  # start-up could not make it (a full disk)
                self.folder.mkdir(parents=True, exist_ok=True)
                _fsync_dir(self.folder.parent)
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if created:
                _fsync_dir(self.folder)
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            written = os.write(self._fd, frame)
            if written != len(frame):
                raise OSError(f"short write ({written} of {len(frame)} bytes)")
            os.fsync(self._fd)
        except OSError:
            # never leave half a record for the next one to follow
            os.ftruncate(self._fd, start)
            raise

    async def clear_if(self, applied: int) -> bool:
        """Empty the journal when its first ``applied`` records are all it holds."""
        async with self._lock:
            if len(self._records) != applied:
                return False
            await asyncio.to_thread(self._truncate)
            self._records = []
            return True

    def _truncate(self) -> None:
        if self._fd is None:
            if not self.path.exists():
                return  # never written: nothing to empty (and no file made on a full disk)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)
