"""Worker processes for clip jobs: vosk and pydub run here, never on the event loop.

Each worker is a process of its own with a pipe to the controller; it loads a
model once and then serves one job at a time. The controller waits for a reply
in a thread (so the event loop stays free) with a deadline per job. A worker
that misses its deadline is killed with SIGKILL and replaced; a worker that
dies (a crash in native code, the OOM killer, an operator's ``kill``) is
noticed by the end of its pipe and replaced too. Either way the job is handed
back to the caller as a failure that may be retried; nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ivr.clips import audio, transcribe
from ivr.domain.transcripts import AudioFacts, Transcript

logger = logging.getLogger(__name__)

STOP_GRACE_S = 2.0
WORKER_NICENESS = 10
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent  # the folder holding ivr/


class JobError(Exception):
    """A job did not produce a result. ``permanent``: retrying cannot help (bad input)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


# --- the worker side -------------------------------------------------------------


def audio_job(root: str, clip: str) -> AudioFacts:
    return audio.make_playback(Path(root), clip)


def transcribe_job(path: str, model: str, grammar: tuple[str, ...] = ()) -> Transcript:
    return transcribe.transcribe_file(Path(path), Path(model), grammar)


HANDLERS: dict[str, Callable[..., Any]] = {"audio": audio_job, "transcribe": transcribe_job}


def yield_cpu() -> None:
    """Calls come first: a worker only gets the CPU that calls and Asterisk leave over.

    SCHED_IDLE (Linux) runs us only when no normal task wants the CPU, so a
    burst of transcription cannot delay the controller's event loop or Asterisk's
    audio; elsewhere a high nice value does what it can.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(WORKER_NICENESS)


def serve(conn: Connection) -> None:
    """The worker's loop: one request, one reply, until told to stop or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the controller, which stops us
    yield_cpu()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the controller is gone
        if request is None:
            return
        name, kwargs = request
        reply: tuple[str, Any]
        try:
            reply = ("ok", HANDLERS[name](**kwargs))
        except FileNotFoundError as exc:
            reply = ("bad_input", f"the clip file is missing: {exc.filename or exc}")
        except audio.AudioUnreadable as exc:
            reply = ("bad_input", str(exc))
        except transcribe.ModelMissing as exc:
            reply = ("error", str(exc))
        except Exception as exc:  # anything else may be transient: the job is retried
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


# --- the controller side -----------------------------------------------------------


@dataclass(eq=False)  # compared and hashed by identity: a set of live workers
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    job: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


def _roundtrip(conn: Connection, request: tuple[str, dict[str, Any]],
               timeout_s: float) -> tuple[str, Any]:
    """Send a job and await its reply (in a thread): the reply, ("timeout", _) or ("died", _)."""
    try:
        conn.send(request)
        if not conn.poll(timeout_s):
            return ("timeout", None)
        reply: tuple[str, Any] = conn.recv()
        return reply
    except (EOFError, OSError):
        return ("died", None)


def _start_process() -> tuple[subprocess.Popen[bytes], Connection]:
    """``python -m ivr.clips.worker FD``: a fresh interpreter, our module as its main.

    Not ``multiprocessing``'s spawn: that re-imports the parent's main script in
    every worker, which is whatever program embeds the controller.
    """
    ours, theirs = socket.socketpair()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT),
                                                       env.get("PYTHONPATH", "")]))
    with theirs:
        process = subprocess.Popen(
            [sys.executable, "-m", "ivr.clips.worker", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
        )
    return process, Connection(ours.detach())


class WorkerPool:
    """``size`` worker processes; ``run`` hands a job to an idle one and awaits the result."""

    def __init__(self, size: int, timeout_s: float) -> None:
        self.size = max(1, size)
        self.timeout_s = timeout_s
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._closed = False
        self.started = 0  # workers started, replacements included

    async def start(self) -> None:
        for _ in range(self.size):
            self._idle.put_nowait(await self._spawn())

    async def _spawn(self) -> _Worker:
        process, conn = await asyncio.to_thread(_start_process)
        worker = _Worker(process, conn)
        self._all.add(worker)
        self.started += 1
        return worker

    def pids(self) -> list[int]:
        return [w.pid for w in self._all]

    def busy_pids(self) -> list[int]:
        return [w.pid for w in self._all if w.job is not None]

    def alive(self) -> int:
        """Worker processes still running (a dead idle one is only replaced when used)."""
        return sum(1 for w in self._all if w.process.poll() is None)

    async def run(self, name: str, *, timeout_s: float | None = None, **kwargs: Any) -> Any:
        """Run job ``name`` in a worker; raise JobError when it gives no result."""
        if self._closed:
            raise JobError("the worker pool is closed", permanent=False)
        limit = self.timeout_s if timeout_s is None else timeout_s
        worker = await self._idle.get()
        worker.job = name
        try:
            status, payload = await asyncio.to_thread(_roundtrip, worker.conn, (name, kwargs),
                                                      limit)
        except BaseException:  # cancelled: the worker may be mid-job; it cannot be trusted
            await self._replace(worker)
            raise
        if status == "timeout":
            await self._replace(worker)
            raise JobError(f"no result within {limit:g} s; the worker was killed",
                           permanent=False)
        if status == "died":
            code = await self._replace(worker)
            raise JobError(f"the worker process died mid-job (exit code {code})",
                           permanent=False)
        worker.job = None
        self._idle.put_nowait(worker)
        if status == "ok":
            return payload
        raise JobError(str(payload), permanent=status == "bad_input")

    async def _replace(self, worker: _Worker) -> int | None:
        code = await self._kill(worker)
        if not self._closed:
            self._idle.put_nowait(await self._spawn())
        return code

    async def _kill(self, worker: _Worker) -> int | None:
        self._all.discard(worker)
        worker.job = None
        if worker.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
        code = await asyncio.to_thread(worker.process.wait)
        worker.conn.close()
        return code

    async def close(self) -> None:
        """Stop every worker: idle ones are asked, busy ones are killed."""
        self._closed = True
        idle = []
        while not self._idle.empty():
            idle.append(self._idle.get_nowait())
        for worker in idle:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in idle:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(worker.process.wait, STOP_GRACE_S)
        for worker in list(self._all):
            await self._kill(worker)


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
