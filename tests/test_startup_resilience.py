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
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.app import Services, services
from ivr.clips.disk import DiskGuard
from ivr.clips.reconcile import ALERT_KIND
from ivr.config import Settings, load
from ivr.core.ports import NewReport
from ivr.store import clip_views as views
from ivr.store.db import Database
from ivr.store.reports import Reports
from ivr.testing import CallScript, make_tone_wav, place_call
from tests.browser_util import in_ci
from tests.conftest import ROOT
from tests.e2e import report_number

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

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



# --- a controller killed mid-call ---------------------------------------------------------

STRAIGHT = ["1", "2", "1", "#", "1"]  # Spanish, robbery, confirm number, skip zone, keep


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HoldRecording:
    """A loopback relay between the fake Asterisk and the controller.

    Lines pass both ways unchanged, except the answer to RECORD FILE: the fake
    has written the recording by then, and the relay keeps its answer back, so
    the controller is left waiting mid-recording, exactly where a crash hurts.
    """

    def __init__(self, controller_port: int) -> None:
        self.controller_port = controller_port
        self.holding = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _relay(self, fake_r: asyncio.StreamReader, fake_w: asyncio.StreamWriter) -> None:
        ctl_r, ctl_w = await asyncio.open_connection("127.0.0.1", self.controller_port)
        recording = asyncio.Event()

        async def to_fake() -> None:
            while line := await ctl_r.readline():
                if line.upper().startswith(b"RECORD FILE"):
                    recording.set()
                fake_w.write(line)
                await fake_w.drain()

        async def to_controller() -> None:
            while line := await fake_r.readline():
                if recording.is_set():
                    self.holding.set()  # the file is written; the answer never arrives
                    continue
                ctl_w.write(line)
                await ctl_w.drain()

        tasks = [asyncio.create_task(to_fake()), asyncio.create_task(to_controller())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in (fake_w, ctl_w):
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@contextlib.asynccontextmanager
async def alerta_serve(config: Path, log: list[str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """``alerta serve`` as its own process, once it listens; killed if the test did not."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "--config", str(config), "serve",
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(WAIT_S):
            while "FastAGI listening" not in (log[-1] if log else ""):
                line = await proc.stderr.readline()
                assert line, f"alerta serve exited at start-up:\n{''.join(log)}"
                log.append(line.decode())
        drain = asyncio.create_task(_keep_reading(proc.stderr, log))
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    await drain


async def _keep_reading(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode())


async def test_a_call_cut_by_a_crash_is_closed_as_interrupted_at_restart_and_its_clip_queued(
    tmp_path: Path,
) -> None:
    config = tmp_path / "alerta.toml"
    config.write_text(
        f'database = "{tmp_path / "alerta.sqlite3"}"\nvoiceclips = "{tmp_path / "voiceclips"}"\n'
        f'prompts = "{ROOT / "prompts"}"\nagi_port = {free_port()}\n'
        f"console_port = {free_port()}\nmetrics_port = {free_port()}\n"
        "min_free_mb = 0\nmenu_timeout_s = 5.0\n"
    )
    settings = load(config, env={})
    voice = make_tone_wav(tmp_path / "voice.wav", 2.0)
    first_log: list[str] = []
    async with alerta_serve(config, first_log) as first:
        relay = HoldRecording(settings.agi_port)
        port = await relay.start()
        call = asyncio.create_task(place_call(
            "127.0.0.1", port, CallScript(keys=STRAIGHT, voice=voice, timeout_s=WAIT_S)
        ))
        async with asyncio.timeout(WAIT_S):
            await relay.holding.wait()
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
        result = await call
        await relay.close()
    number = report_number(result)
    assert number is not None and result.recordings  # the caller heard a number, then spoke
    (left,) = result.recordings
    assert left.parent == settings.incoming_dir.resolve() and left.is_file()

    log: list[str] = []
    async with alerta_serve(config, log):
        pass  # listening: the start-up is over (the context kills it on the way out)
    assert any("closed as interrupted" in line and str(number) in line for line in log)

    async with Database(settings.database) as db:
        reports = Reports(db)
        (row,) = [r for r in await reports.listing() if r["number"] == number]
        assert row["call_outcome"] == "interrupted" and row["clip_partial"] is True
        history = await reports.history(number)
        kinds = [e["kind"] for e in history]
        (ended,) = [e for e in history if e["kind"] == "call.ended"]
        assert ended["actor"] == "system"
        assert json.loads(ended["data"])["outcome"] == "interrupted"
        # The clip the crash left in incoming is attached, and its jobs are queued at
        # once by the close (not an hour later by the sweep).
        assert kinds.index("report.clip_attached") < kinds.index("call.ended")
        assert kinds.index("call.ended") < kinds.index("clip.queued")
        jobs = await views.jobs_of(db, number)
        assert sorted(j["kind"] for j in jobs) == ["audio", "transcribe"]
        assert all(j["created_at"] == ended["at"] for j in jobs)
    assert not left.exists()
