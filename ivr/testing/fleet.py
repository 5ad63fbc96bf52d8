"""Several controllers and consoles on one PostgreSQL, as processes, for tests and benchmarks.

    with Fleet.start(root, dsn, controllers=2, consoles=2) as fleet:
        result = await fleet.call(0, CallScript(...))   # dial controller 0, else the next
        fleet.kill(0)                                    # SIGKILL, as a crash

Each controller is ``alerta serve`` (FastAGI controller with its own console), each
extra console ``alerta console``, all on the same store and the same clip folder (the
shared filesystem of a metropolitan deployment); each controller has its own journal
and recordings folder, as a deployment gives each its local disk. A call goes to the
controller it is dialled at and, when that one refuses the connection, to the next:
what Asterisk does with several ``hagi://`` targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import ClientSession, CookieJar

from ivr.testing.fake_asterisk import CallResult, CallScript, place_call

ROOT = Path(__file__).resolve().parents[2]
BOOT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Member:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    agi_port: int
    console_port: int

    def alive(self) -> bool:
        return self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Fleet:
    root: Path
    dsn: str
    controllers: list[Member] = field(default_factory=list)
    consoles: list[Member] = field(default_factory=list)

    @property
    def voiceclips(self) -> Path:
        return self.root / "voiceclips"

    def env(self, name: str, agi_port: int, console_port: int, lease_s: float) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTA_")}
        env.update({
            "ALERTA_DATABASE": self.dsn,
            "ALERTA_VOICECLIPS": str(self.voiceclips),
            "ALERTA_RECORDINGS_TMP": str(self.voiceclips / f".incoming-{name}"),
            "ALERTA_JOURNAL_DIR": str(self.root / name / "journal"),
            "ALERTA_PROMPTS": str(ROOT / "prompts"),
            "ALERTA_PROMPT_LIBRARY": str(self.root / "prompt-library"),
            "ALERTA_AGI_PORT": str(agi_port),
            "ALERTA_CONSOLE_PORT": str(console_port),
            "ALERTA_METRICS_PORT": "0",
            "ALERTA_CONTROLLER_NAME": name,
            "ALERTA_CONTROLLER_LEASE_S": str(lease_s),
            "ALERTA_SHUTDOWN_GRACE_S": "5",
            "ALERTA_MENU_TIMEOUT_S": "1",
            "ALERTA_TRANSCRIBE_TIMEOUT_S": "5",  # a dead controller's clip jobs come back soon
            "PYTHONPATH": str(ROOT),
        })
        return env

    def _spawn(self, command: str, name: str, lease_s: float) -> Member:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        agi_port, console_port = free_port(), free_port()
        log = folder / f"{command}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "ivr.cli", command], cwd=folder,
                env=self.env(name, agi_port, console_port, lease_s),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        member = Member(name, process, log, agi_port, console_port)
        port = agi_port if command == "serve" else console_port
        deadline = time.monotonic() + BOOT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"alerta {command} exited {process.returncode}:\n"
                                   f"{member.text()}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", port), timeout=1):
                return member
            time.sleep(0.1)
        process.kill()
        raise RuntimeError(f"alerta {command} never listened on {port}:\n{member.text()}")

    @classmethod
    @contextlib.contextmanager
    def start(cls, root: Path, dsn: str, *, controllers: int = 2, consoles: int = 2,
              lease_s: float = 2.0) -> Iterator[Fleet]:
        fleet = cls(root, dsn)
        try:
            for n in range(controllers):  # one at a time: the first builds the schema
                fleet.controllers.append(fleet._spawn("serve", f"controller-{n + 1}", lease_s))
            for n in range(consoles):
                fleet.consoles.append(fleet._spawn("console", f"console-{n + 1}", lease_s))
            yield fleet
        finally:
            for member in (*fleet.consoles, *fleet.controllers):
                if member.alive():
                    member.process.send_signal(signal.SIGTERM)
            for member in (*fleet.consoles, *fleet.controllers):
                try:
                    member.process.wait(30)
                except subprocess.TimeoutExpired:
                    member.process.kill()
                    member.process.wait(5)

    def restart(self, index: int, lease_s: float = 2.0) -> Member:
        """Start a stopped controller again under its name (its journal is replayed)."""
        name = self.controllers[index].name
        self.controllers[index] = self._spawn("serve", name, lease_s)
        return self.controllers[index]

    def kill(self, index: int) -> None:
        """SIGKILL a controller: no shutdown, no goodbye, as a crash or a pulled plug."""
        member = self.controllers[index]
        member.process.send_signal(signal.SIGKILL)
        member.process.wait(10)

    async def call(self, first: int, script: CallScript) -> tuple[int, CallResult]:
        """Dial controller ``first``; on a refused connection the next (priority failover)."""
        order = [(first + k) % len(self.controllers) for k in range(len(self.controllers))]
        result = CallResult()
        for index in order:
            result = await place_call("127.0.0.1", self.controllers[index].agi_port, script)
            if not (result.error or "").startswith("cannot connect"):
                return index, result
        return order[-1], result


_LOGIN_CSRF = re.compile(r'name="_csrf" id="login-csrf" value="([^"]+)"')


class ConsoleWatcher:
    """An operator with a console open: what its live feed announced, and when (wall
    clock, comparable with the store's ``created_at`` on the same machine)."""

    def __init__(self, origin: str, user: str, password: str) -> None:
        self.origin, self.user, self.password = origin, user, password
        self.opened: dict[int, float] = {}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with ClientSession(base_url=self.origin,
                                 cookie_jar=CookieJar(unsafe=True)) as session:
            page = await (await session.get("/login")).text()
            token = _LOGIN_CSRF.search(page)
            if token is None:
                raise RuntimeError("the login page has no CSRF field")
            answer = await session.post("/login", allow_redirects=False,
                                        headers={"Origin": self.origin},
                                        data={"name": self.user, "password": self.password,
                                              "_csrf": token.group(1), "next": "/"})
            if answer.status not in (302, 303):
                raise RuntimeError(f"login refused: {answer.status}")
            async with session.get("/events", headers={"Accept": "text/event-stream"},
                                   timeout=None) as stream:
                if stream.status != 200:
                    raise RuntimeError(f"live feed refused: {stream.status}")
                self.ready.set()
                event = ""
                async for raw in stream.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "change":
                        data = json.loads(line[6:])
                        if data["kind"] == "report.opened":
                            self.opened.setdefault(int(data["report"]), time.time())
