"""Start-up policies: a clip never stops the controller from starting.

The full disk is real: a small tmpfs mounted for the voiceclips folder (this
needs root; under CI=true a run without it fails, elsewhere it is skipped with
the reason). The crash is real too: ``alerta serve`` killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.app import Services, services
from ivr.clips.disk import DiskGuard
from ivr.clips.reconcile import ALERT_KIND
from ivr.config import Settings
from ivr.flows.deps import NewReport
from ivr.testing import make_tone_wav
from tests.browser_util import in_ci

WAIT_S = 60.0  # a bound so a broken retry fails the test instead of hanging it
RETRY_S = 0.05
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def require_root() -> None:
    if os.geteuid() == 0:
        return
    reason = "mounting a small tmpfs (a real full disk) needs root: run the tests as root"
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def small_disk(folder: Path, options: str = "size=1m") -> Iterator[Path]:
    require_root()
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(disk: Path) -> Path:
    """Write zeros until the disk refuses; returns the file to delete to make room again."""
    filler = disk / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with pytest.raises(OSError, match="No space left"):
        (disk / "probe").write_bytes(b"x" * 8192)
    return filler


def use_up_inodes(disk: Path) -> Path:
    """Create empty files until the disk has no inode left; returns their folder."""
    folder = disk / "inodes"
    folder.mkdir()
    n = 0
    with contextlib.suppress(OSError):
        while True:
            (folder / str(n)).touch()
            n += 1
    with pytest.raises(OSError, match="No space left"):
        (disk / "probe").mkdir()
    return folder


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def alerts(svc: Services) -> list[tuple[int | None, dict[str, Any]]]:
    rows = await svc.db.fetchall(
        "SELECT report_id, data FROM events WHERE kind = ? ORDER BY id", (ALERT_KIND,)
    )
    return [(row["report_id"], json.loads(row["data"])) for row in rows]


@contextlib.asynccontextmanager
async def controller(settings: Settings) -> AsyncIterator[Services]:
    async with services(settings, clip_jobs=False) as svc:
        yield svc


async def test_a_full_clip_disk_does_not_stop_the_start_up_and_its_clips_wait_for_room(
    settings: Settings, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        settings = dataclasses.replace(settings, voiceclips=disk / "voiceclips",
                                       clip_retry_s=RETRY_S)
        async with controller(settings) as svc:  # a first run: the store and the folders
            report = await svc.reports.open_report(
                NewReport("noise", 5, False, "es", "c1", None, None)
            )
            cut = await svc.reports.open_report(
                NewReport("noise", 5, False, "es", "c2", None, None)
            )
            incoming = svc.vault.incoming
        # What a crash left behind: a good take, a take cut off mid-write, a take of
        # a report the store never saw, a file nobody named.
        good = make_tone_wav(incoming / f"c1-r{report}-t1.wav", 1.0)
        cut_file = make_tone_wav(incoming / f"c2-r{cut}-t1.wav", 1.0)
        cut_file.write_bytes(cut_file.read_bytes()[:3000])
        orphan = make_tone_wav(incoming / f"c9-r{cut + 40}-t1.wav", 1.0)
        stranger = make_tone_wav(incoming / "something-else.wav", 0.5)
        left = {p: digest(p) for p in (cut_file, orphan, stranger)}
        filler = fill(disk)

        async with controller(settings) as svc:
            assert svc.reconciler is not None and not svc.reconciler.done.is_set()
            # Moving a file needs no room: the good take is attached all the same.
            (row,) = [r for r in await svc.reports.listing() if r["number"] == report]
            assert row["clip_path"] and svc.vault.path_of(row["clip_path"]).is_file()
            assert not good.exists()
            # Quarantine needs a note: no room, so each file stays exactly as it was.
            assert {p: digest(p) for p in left} == left
            assert not list(svc.vault.quarantine.iterdir())
            raised = await alerts(svc)
            assert {(r, a["file"]) for r, a in raised} == {
                (cut, cut_file.name), (None, orphan.name), (None, stranger.name)
            }
            assert all("No space left" in a["reason"] for _, a in raised)
            assert not await DiskGuard(svc.vault.root, 1, svc.db, lambda: NOW).room_to_record(
                report
            )

            filler.unlink()  # an operator makes room
            async with asyncio.timeout(WAIT_S):
                await svc.reconciler.done.wait()
            assert svc.reconciler.retries >= 1
            assert not list(incoming.iterdir())
            notes = {p.name: p.read_text() for p in svc.vault.quarantine.glob("*.why")}
            assert set(notes) == {f"{p.name}.why" for p in left}
            assert "header promises more audio" in notes[f"{cut_file.name}.why"]
            for path, sha in left.items():
                assert digest(svc.vault.quarantine / path.name) == sha
            assert len(await alerts(svc)) == 3  # one alert per file, not one per retry


async def test_a_clip_disk_with_no_inode_left_starts_without_its_folders_and_makes_them_later(
    settings: Settings, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", "size=1m,nr_inodes=64") as disk:
        inodes = use_up_inodes(disk)
        settings = dataclasses.replace(settings, voiceclips=disk / "voiceclips",
                                       clip_retry_s=RETRY_S)
        async with controller(settings) as svc:
            assert not svc.vault.root.exists()
            (_, alert), = await alerts(svc)
            assert alert["file"] == "voiceclips folders" and "No space left" in alert["reason"]
            # Calls still come in: with no folder to record into they go to an operator.
            assert svc.deps.disk is not None and not await svc.deps.disk.room_to_record(1)
            for path in list(inodes.iterdir())[:10]:
                path.unlink()
            assert svc.reconciler is not None
            async with asyncio.timeout(WAIT_S):
                await svc.reconciler.done.wait()
            assert svc.vault.incoming.is_dir() and svc.vault.quarantine.is_dir()

