"""End-to-end through SIP: SIPp → a private real Asterisk → ``alerta serve`` → the store.

A test module takes one ``Stack`` for all its tests (module-scoped fixture): Asterisk
made from the project's own configuration (``ivr.testing.asterisk``, the same files
``alerta asterisk config`` writes for a deployer), the controller as a subprocess on
a temporary SQLite database, and helpers to place SIPp calls (tests/sipp/*.xml) at
the real prompts' pace, several at once, and to read what the store kept.

Nothing here skips: without Asterisk or SIPp the fixture fails saying how to get them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivr.app import services
from ivr.config import Settings
from ivr.testing.asterisk import AsteriskMissing, PrivateAsterisk, Tools, free_port, tools

ROOT = Path(__file__).resolve().parent.parent
SIPP_DIR = ROOT / "tests" / "sipp"
SECRET = "e2e-" + os.urandom(18).hex()  # this run's AMI secret, never a file in git
CALL_LIMIT_S = 150  # one scenario at the prompts' real pace lasts about 60 s


def require_tools() -> Tools:
    """Asterisk and SIPp, or a failure (never a skip) that says how to get them."""
    try:
        return tools()
    except AsteriskMissing as exc:
        pytest.fail(f"end-to-end tests need real Asterisk and SIPp: {exc}", pytrace=False)


# --- the controller: `alerta serve` on the temporary store ---------------------------------


@dataclass
class Controller:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTA_")}
    for name in ("database", "voiceclips", "prompts", "agi_port", "console_port", "metrics_port",
                 "ami_host",
                 "ami_port", "ami_secret", "ami_username", "operator_timeout_s", "log_level",
                 "shutdown_grace_s", "report_line", "status_line"):
        env[f"ALERTA_{name.upper()}"] = str(getattr(settings, name))
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_controller(settings: Settings, logs: Path) -> Controller:
    log_path = logs / "controller.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "ivr.cli", "serve"], env=_env(settings),
                                   cwd=logs, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
    controller = Controller(process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"alerta serve exited {process.returncode}:\n{controller.log()}")
        with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", settings.agi_port), timeout=1):
            return controller
        time.sleep(0.1)
    controller.stop()
    raise AssertionError(f"alerta serve never listened on {settings.agi_port}:\n{controller.log()}")


# --- one stack a module ---------------------------------------------------------------------


@dataclass
class Stack:
    root: Path
    settings: Settings
    pbx: PrivateAsterisk
    controller: Controller
    tool: Tools

    @property
    def sip_port(self) -> int:
        return self.pbx.sip_port

    def reports(self) -> list[dict[str, Any]]:
        return asyncio.run(_read(self.settings, None))

    def history(self, report: int) -> list[dict[str, Any]]:
        return asyncio.run(_read(self.settings, report))

    def clip_seconds(self, row: dict[str, Any]) -> float:
        """The stored clip's length measured from the WAV file itself."""
        path = self.settings.voiceclips / row["clip_path"]
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / wav.getframerate()

    def report_of(self, caller: str) -> dict[str, Any]:
        rows = [r for r in self.reports() if r["caller"] == caller]
        assert len(rows) == 1, f"expected one report with callback number {caller}: {rows}"
        return rows[0]

    def wait_idle(self, limit_s: float = 30.0) -> int:
        """Wait for Asterisk to hang up every channel; returns the count left."""
        deadline = time.monotonic() + limit_s
        count = self.pbx.channels()
        while count and time.monotonic() < deadline:
            time.sleep(0.5)
            count = self.pbx.channels()
        return count

    def our_errors(self) -> list[str]:
        """ERROR lines in Asterisk's log, less the start-up notes about optional configuration
        files this project does not ship (cdr.conf, ari.conf, ...) and the modules that
        decline to load without theirs."""
        return [line for line in self.pbx.log_lines("ERROR")
                if not re.search(r"Unable to load config file '[a-z_]+\.conf'|"
                                 r"loader\.c: [a-z_]+ declined to load", line)]

    def tracebacks(self) -> list[str]:
        return [line for line in self.controller.log().splitlines() if "Traceback" in line]


async def _read(settings: Settings, report: int | None) -> list[dict[str, Any]]:
    async with services(settings, reconcile_clips=False) as svc:
        if report is None:
            return await svc.reports.listing()
        return await svc.reports.history(report)


@contextlib.contextmanager
def running_stack(root: Path, *, extra_files: dict[str, str] | None = None,
                  playback_log: bool = False, **overrides: Any) -> Iterator[Stack]:
    tool = require_tools()
    root.mkdir(parents=True, exist_ok=True)
    settings = dataclasses.replace(
        Settings(),
        database=root / "alerta.sqlite3",
        voiceclips=root / "voiceclips",
        prompts=ROOT / "prompts",
        agi_port=free_port(socket.SOCK_STREAM),
        console_port=free_port(socket.SOCK_STREAM),
        # Never the default 9464: another controller (a deployment, a parallel test) may hold it.
        metrics_port=free_port(socket.SOCK_STREAM),
        ami_secret=SECRET,
        shutdown_grace_s=5.0,
        **overrides,
    )
    pbx = PrivateAsterisk.start(root / "asterisk", settings, extra_files=extra_files,
                                playback_log=playback_log)
    try:
        controller = start_controller(pbx.settings, root)
        try:
            yield Stack(root, pbx.settings, pbx, controller, tool)
        finally:
            controller.stop()
    finally:
        pbx.stop()


# --- SIPp calls -------------------------------------------------------------------------------


def callers_csv(path: Path, rows: Sequence[tuple[str, str, str, str]]) -> Path:
    """A SIPp -inf file: caller ID; name; asserted number; Privacy (see tests/sipp/callers.csv)."""
    path.write_text("SEQUENTIAL\n" + "".join(";".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def free_media_port() -> int:
    """An ephemeral UDP port p with p and p+2 free (SIPp's RTP and RTCP), above Asterisk's
    RTP range."""
    for _ in range(100):
        base = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", base + 2))
                b.bind(("127.0.0.1", base + 1))
        except OSError:
            continue
        return base
    raise AssertionError("no free media ports")


@dataclass
class SippCall:
    name: str
    process: subprocess.Popen[bytes]
    logs: Path
    rc: int | None = None

    def wait(self, limit_s: float = CALL_LIMIT_S) -> int:
        try:
            self.rc = self.process.wait(limit_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.rc = self.process.wait(5)
        return self.rc

    def messages(self) -> str:
        path = self.logs / f"{self.name}.messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def received_bye(self) -> bool:
        """Did the IVR end the call (a BYE reached the caller)?"""
        return bool(re.search(r"message received[^\n]*\n\s*BYE sip:", self.messages()))

    def diagnostics(self) -> str:
        out = []
        for path in sorted(self.logs.glob(f"{self.name}.*")):
            out.append(f"== {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)


def place(stack: Stack, scenario: str | Path, csv: Path, *, name: str | None = None,
          calls: int = 1,
          rate: int = 10, line: str | None = None, sets: dict[str, str] | None = None,
          trace: bool = True) -> SippCall:
    """Start a SIPp UAC scenario (tests/sipp/<scenario>.xml, or a file) against the stack;
    returns at once."""
    path = scenario if isinstance(scenario, Path) else SIPP_DIR / f"{scenario}.xml"
    name = name or path.stem
    logs = stack.root / "sipp"
    logs.mkdir(exist_ok=True)
    cmd = [str(stack.tool.sipp), f"127.0.0.1:{stack.sip_port}", "-sf",
           str(path), "-inf", str(csv),
           "-s", line or stack.settings.report_line,
           "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1",
           "-mp", str(free_media_port()), "-ci", "127.0.0.1", "-aa", "-nostdin",
           "-m", str(calls), "-l", str(calls), "-r", str(rate),
           "-timeout", f"{CALL_LIMIT_S}s", "-timeout_error", "-set", "pace", "1",
           "-trace_err", "-error_file", str(logs / f"{name}.errors.log"),
           "-trace_stat", "-stf", str(logs / f"{name}.stats.csv")]
    if trace:
        cmd += ["-trace_msg", "-message_file", str(logs / f"{name}.messages.log")]
    for key, value in (sets or {}).items():
        cmd += ["-set", key, value]
    with open(logs / f"{name}.stdout.log", "wb") as out:
        process = subprocess.Popen(cmd, cwd=SIPP_DIR, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return SippCall(name, process, logs)


def finish(calls: Sequence[SippCall]) -> dict[str, SippCall]:
    """Wait for every call (they run at once); returns them by name."""
    for call in calls:
        call.wait()
    return {c.name: c for c in calls}
