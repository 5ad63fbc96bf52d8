"""What the rest of the system knows about a stored voice clip."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClipInfo:
    path: str  # relative to the voiceclips folder: YYYY/MM/DD/<name>.wav
    seconds: float
    bytes: int
    sha256: str
    partial: bool = False  # the caller hung up while recording


class ClipInvalid(Exception):
    """A recording that is not a usable WAV; it has been quarantined, not deleted."""
