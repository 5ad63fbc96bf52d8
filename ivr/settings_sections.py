"""The sections of the settings each part takes, rather than the whole ``Settings``.

``ivr.config.Settings`` is what is loaded (defaults, TOML, ``ALERTA_*``); each part
gets only its own section, so what a part can read is what it needs:

- ``AgiSection`` — the FastAGI server and its call control (``ivr.agi``);
- ``ivr.core.ports.FlowConfig`` — the flows (limits of a call; lines come from the store);
- ``ivr.clips.service.ClipJobsConfig`` — the clip workers;
- ``HealthSection`` — ``/healthz`` (``ivr.health``);
- ``operator_console.settings.ConsoleSection`` — the console's views;
- ``ivr.core.callbacks.CallbackSettings`` — calling citizens back;
- the AMI link takes its host, port and credentials as arguments (``ivr.ami.link``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class AgiSection:
    host: str = "127.0.0.1"
    port: int = 4573
    backlog: int = 512
    env_max_bytes: int = 16384  # the whole agi_* environment block
    env_timeout_s: float = 3.0  # to send it
    max_handshakes: int = 256  # connections still sending their environment
    command_timeout_s: float = 30.0  # one command's reply (long commands get their own)
    max_calls: int = 2000
    line_max_bytes: int = 8192
    shutdown_grace_s: float = 30.0
    fallback_context: str = "alerta-fallback"
    play_max_s: float = 120.0  # the longest a recording (and so a playback) lasts


@dataclass(frozen=True, slots=True)
class HealthSection:
    voiceclips: Path
    database: Path | str  # str: a postgresql:// address
    db_wait_s: float = 2.0  # how long /healthz waits for its test write
    min_free_mb: int = 500  # free space a disk needs to count as healthy
