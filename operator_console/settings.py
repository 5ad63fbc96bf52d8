"""The console's section of the settings: what its views read, and nothing else.

``create_app`` gets the whole ``Settings`` (it is where the console is put together:
the store, the AMI link, the health checks); the views get this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr.config import Settings, Zone
from ivr.domain.incidents import Keypad


@dataclass(frozen=True, slots=True)
class ConsoleSection:
    zones: tuple[Zone, ...]
    keypad: Keypad  # incident types while no line is published
    voiceclips: Path
    session_max_age_s: int
    session_idle_s: int
    login_max_failures: int
    login_lockout_s: int
    cookie_secure: bool
    callback_release_minutes: int
    operator_channel: str
    transcript_low_confidence: float
    analytics_timezone: str
    public_pages: bool
    public_delay_hours: int

    def zone(self, code: str) -> Zone | None:
        return next((z for z in self.zones if z.code == code), None)

    @staticmethod
    def of(s: Settings) -> ConsoleSection:
        return ConsoleSection(
            zones=s.zones, keypad=s.keypad, voiceclips=s.voiceclips,
            session_max_age_s=s.session_max_age_s, session_idle_s=s.session_idle_s,
            login_max_failures=s.login_max_failures, login_lockout_s=s.login_lockout_s,
            cookie_secure=s.cookie_secure, callback_release_minutes=s.callback_release_minutes,
            operator_channel=s.operator_channel,
            transcript_low_confidence=s.transcript_low_confidence,
            analytics_timezone=s.analytics_timezone, public_pages=s.public_pages,
            public_delay_hours=s.public_delay_hours)
