"""Shared fixtures: a fresh settings object, store and clip folders per test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.app import Services, services
from ivr.config import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(
        Settings(),
        database=tmp_path / "alerta.sqlite3",
        voiceclips=tmp_path / "voiceclips",
        prompts=ROOT / "prompts",
        agi_port=0,
        menu_timeout_s=1.0,
        shutdown_grace_s=5.0,
        agi_command_timeout_s=10.0,
    )


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    async with services(settings) as opened:
        yield opened
