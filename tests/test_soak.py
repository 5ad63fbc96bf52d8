"""Soak: 2,000 simulated calls, 200 at once, 30% hanging up at random steps.

No report is lost, every attached clip is complete on disk, and afterwards no
file descriptor or task is left behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import random
import wave
from pathlib import Path
from typing import Any

from ivr.config import Settings
from ivr.testing import CallResult, make_tone_wav
from tests.e2e import Line, report_number, running_line

CALLS = 2000
AT_ONCE = 200
HANGUP_SHARE = 0.30
STEPS = ["language", "menu", "callback", "zone", "record", "review", "readback"]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_soak_2000_calls_200_at_once(settings: Settings, tmp_path: Path) -> None:
    rng = random.Random(20261125)
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    settings = dataclasses.replace(settings, agi_backlog=1024)
    baseline_fds = open_fds()
    baseline_tasks = len(asyncio.all_tasks())

    plans: list[tuple[str | None, list[str]]] = []
    for i in range(CALLS):
        keys = ["1", rng.choice("23456"), "1", "#", "1"]
        step = rng.choice(STEPS) if rng.random() < HANGUP_SHARE else None
        plans.append((step, keys))
        del i

    async with running_line(settings) as line:
        gate = asyncio.Semaphore(AT_ONCE)

        async def one(plan: tuple[str | None, list[str]]) -> CallResult:
            step, keys = plan
            on = ("STREAM FILE",) if step == "readback" else ("GET DATA", "RECORD FILE")
            async with gate:
                return await line.call(
                    keys=keys, voice=voice, hangup_at=step, hangup_on=on,
                    hangup_line=rng.choice(["after_reply", "before_next_reply"]),
                )

        results = await asyncio.gather(*(one(p) for p in plans))
        await _check(line, plans, results)

    assert open_fds() <= baseline_fds
    assert len(asyncio.all_tasks()) <= baseline_tasks


async def _check(
    line: Line, plans: list[tuple[str | None, list[str]]], results: list[CallResult]
) -> None:
    errors = [r.error for r in results if r.error]
    assert errors == []
    expected = {}
    for (step, _keys), result in zip(plans, results, strict=True):
        number = report_number(result)
        if step in ("language", "menu"):
            assert number is None
            continue
        assert number is not None, f"a call hanging up at {step} lost its report"
        expected[number] = step
    rows = {r["number"]: r for r in await line.reports()}
    clips = await line.svc.db.fetchall("SELECT path, sha256 FROM clips")
    hashes = {r["path"]: r["sha256"] for r in clips}
    assert set(rows) == set(expected)  # no report lost, none invented
    for number, step in expected.items():
        row = rows[number]
        assert row["complete"] is (step in (None, "readback")), (number, step)
        if step in (None, "readback", "review", "record"):
            _assert_clip_complete(line, row, hashes, partial=step == "record")
        else:
            assert row["clip_path"] is None
    assert not list(line.svc.vault.incoming.iterdir())
    assert line.server.active_calls == 0


def _assert_clip_complete(
    line: Line, row: dict[str, Any], hashes: dict[str, str], *, partial: bool
) -> None:
    path = line.clip_file(row)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == hashes[row["clip_path"]]
    with wave.open(str(path)) as wav:
        frames = wav.getnframes()
    assert frames == (4000 if partial else 8000)
    assert len(data) == 44 + 2 * frames
    assert row["clip_partial"] is partial
