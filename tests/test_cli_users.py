"""`alerta users`: accounts from the command line; the first run's admin is made once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from ivr.domain.roles import Role
from ivr.store.db import Database
from ivr.store.users import Users


def alerta(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALERTA_DATABASE": str(tmp_path / "db.sqlite3"),
           "ALERTA_VOICECLIPS": str(tmp_path / "clips")}
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def login(tmp_path: Path, name: str, password: str) -> bool:
    async def check() -> bool:
        async with Database(tmp_path / "db.sqlite3") as db:
            result = await Users(db).authenticate(name, password, max_failures=5, lockout_s=60)
            return result.user is not None and result.user.role is Role.SUPERVISOR
    return asyncio.run(check())


def test_add_with_password_from_stdin(tmp_path: Path) -> None:
    done = alerta(tmp_path, "users", "add", "lucia", "--role", "supervisor",
                  "--extension", "1003", "--password-stdin", stdin="una clave larga 123\n")
    assert done.returncode == 0, done.stderr
    assert "una clave" not in done.stdout  # never echoed
    assert login(tmp_path, "lucia", "una clave larga 123")
    again = alerta(tmp_path, "users", "add", "lucia", "--role", "operator", "--password-stdin",
                   stdin="otra clave larga 456\n")
    assert again.returncode == 2 and "exists" in again.stderr
    short = alerta(tmp_path, "users", "add", "beto", "--role", "operator", "--password-stdin",
                   stdin="corta\n")
    assert short.returncode == 2 and "at least" in short.stderr


def test_generated_password_is_printed_once_and_works(tmp_path: Path) -> None:
    done = alerta(tmp_path, "users", "add", "mario", "--role", "supervisor", "--generate")
    assert done.returncode == 0, done.stderr
    password = done.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    assert login(tmp_path, "mario", password)
    listing = alerta(tmp_path, "users", "list")
    assert "mario" in listing.stdout and password not in listing.stdout


def test_bootstrap_creates_admin_only_on_the_first_run(tmp_path: Path) -> None:
    first = alerta(tmp_path, "users", "bootstrap")
    assert first.returncode == 0 and "password" in first.stdout
    second = alerta(tmp_path, "users", "bootstrap")
    assert second.returncode == 0 and second.stdout == ""
