"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, a cluster made
with ``initdb`` in a temporary folder, listening on 127.0.0.1 on a free port and on a
private Unix socket, run as an unprivileged user, removed afterwards.

    with ThrowawayPostgres.start() as pg:
        pg.dsn  # postgresql://alerta@127.0.0.1:PORT/alerta

The cluster lives in a folder of its own under the system's temporary folder (the
unprivileged server user must be able to reach it, which a test's private tmp_path
does not allow).

Durability is switched off (``fsync=off``): a test cluster is thrown away anyway.
``start(server_settings={...})`` changes or adds server settings (``postgres -c``), e.g.
a benchmark that turns durability back on and sizes the buffers.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

BOOT_TIMEOUT_S = 60.0
USER = "alerta"  # the database role the tests connect as
DATABASE = "alerta"
# Server settings of a throwaway cluster (``server_settings`` may change any of them).
SETTINGS = {"listen_addresses": "127.0.0.1", "fsync": "off", "synchronous_commit": "off",
            "full_page_writes": "off", "max_connections": "200"}


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries here (Debian: apt-get install postgresql)."""


def binaries() -> Path:
    """The folder of initdb and pg_ctl: Debian keeps them per major version."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    raise PostgresMissing("PostgreSQL is not installed (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    """PostgreSQL refuses to run as root: run it as ``owner`` then."""
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


@dataclass
class ThrowawayPostgres:
    root: Path
    port: int
    bin: Path
    owner: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "run"

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @classmethod
    @contextlib.contextmanager
    def start(cls, server_settings: Mapping[str, str] | None = None
              ) -> Iterator[ThrowawayPostgres]:
        folder = binaries()
        owner = None
        if os.geteuid() == 0:
            owner = "postgres" if _user_exists("postgres") else "nobody"
        root = Path(tempfile.mkdtemp(prefix="alerta-pg-"))
        for sub in ("data", "run"):
            (root / sub).mkdir(exist_ok=True)
        if owner:
            uid = pwd.getpwnam(owner).pw_uid
            for path in (root, root / "data", root / "run"):
                os.chown(path, uid, -1)
        pg = cls(root, _free_port(), folder, owner)
        subprocess.run(_as_owner([str(folder / "initdb"), "-D", str(pg.data), "-U", USER,
                                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"], owner),
                       check=True, capture_output=True, timeout=BOOT_TIMEOUT_S)
        chosen = {**SETTINGS, **(server_settings or {})}
        options = f"-p {pg.port} -k {pg.sockets} " + " ".join(
            f"-c {shlex.quote(f'{name}={value}')}" for name, value in chosen.items())
        try:
            subprocess.run(_as_owner([str(folder / "pg_ctl"), "-D", str(pg.data), "-o", options,
                                      "-l", str(root / "server.log"), "-w", "-t",
                                      str(int(BOOT_TIMEOUT_S)), "start"], owner),
                           check=True, capture_output=True, timeout=BOOT_TIMEOUT_S + 10)
            pg._create_database()
            yield pg
        finally:
            pg.stop()
            shutil.rmtree(root, ignore_errors=True)

    def _create_database(self) -> None:
        psql = shutil.which("psql") or str(self.bin / "psql")
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            done = subprocess.run(
                [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "postgres",
                 "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {DATABASE}"],
                capture_output=True, text=True, timeout=30)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not take a database: {done.stderr}")
            time.sleep(0.2)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        subprocess.run(_as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                                  "immediate", "-w", "stop"], self.owner),
                       capture_output=True, timeout=60, check=False)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
