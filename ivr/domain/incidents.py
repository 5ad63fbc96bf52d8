"""Incident types and the keypad menu that picks them.

Which key means what comes from configuration; this module only holds the
shape and the checks, so a bad configuration is refused at start-up rather
than discovered by a caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

PRIORITY_EMERGENCY = 1
PRIORITY_LOWEST = 9


@dataclass(frozen=True, slots=True)
class IncidentType:
    id: str  # stable identifier, also names its prompt (type_<id>)
    key: str  # the keypad digit that picks it
    priority: int  # 1 = most urgent
    emergency: bool = False  # goes to the operator queue first
    callback_minutes: int = 24 * 60  # deadline to call the citizen back
    label_es: str = ""
    label_en: str = ""


class MenuAction(Enum):
    REPORT = "report"
    STATUS = "status"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class MenuChoice:
    action: MenuAction
    incident: IncidentType | None = None


class ConfigError(ValueError):
    """A configuration that would break the call flow."""


DEFAULT_INCIDENT_TYPES: tuple[IncidentType, ...] = (
    IncidentType("emergency", "1", 1, True, 15, "Emergencia", "Emergency"),
    IncidentType("robbery", "2", 2, False, 60, "Robo o asalto", "Robbery or assault"),
    IncidentType("suspicious", "3", 3, False, 15, "Actividad sospechosa", "Suspicious activity"),
    IncidentType("noise", "4", 5, False, 24 * 60, "Ruido o molestia vecinal", "Noise or neighbour"),
    IncidentType("accident", "5", 2, False, 30, "Accidente", "Accident"),
    IncidentType("other", "6", 6, False, 24 * 60, "Otro", "Other"),
)


@dataclass(frozen=True, slots=True)
class Keypad:
    """The main menu: digit → what it does."""

    types: tuple[IncidentType, ...]
    status_key: str | None = "9"
    operator_key: str | None = "0"

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        ids: set[str] = set()
        for t in self.types:
            if t.id in ids:
                raise ConfigError(f"incident type {t.id!r} is defined twice")
            ids.add(t.id)
            if not t.id.replace("_", "").isalnum() or not t.id.isascii():
                raise ConfigError(f"incident type id {t.id!r}: letters, digits and _ only")
            if not (1 <= t.priority <= PRIORITY_LOWEST):
                raise ConfigError(f"incident type {t.id!r}: priority must be 1..{PRIORITY_LOWEST}")
            if t.callback_minutes <= 0:
                raise ConfigError(f"incident type {t.id!r}: callback_minutes must be positive")
            self._claim(seen, t.key, f"type {t.id}")
        if self.status_key:
            self._claim(seen, self.status_key, "status")
        if self.operator_key:
            self._claim(seen, self.operator_key, "operator")
        if not self.types:
            raise ConfigError("at least one incident type is needed")

    @staticmethod
    def _claim(seen: dict[str, str], key: str, owner: str) -> None:
        if len(key) != 1 or key not in "0123456789":
            raise ConfigError(f"{owner}: key {key!r} must be one digit")
        if key in seen:
            raise ConfigError(f"key {key} is used by both {seen[key]} and {owner}")
        seen[key] = owner

    @property
    def keys(self) -> str:
        """Every valid key, in menu order."""
        out = [t.key for t in self.types]
        out += [k for k in (self.status_key, self.operator_key) if k]
        return "".join(out)

    def choose(self, key: str) -> MenuChoice | None:
        for t in self.types:
            if t.key == key:
                return MenuChoice(MenuAction.REPORT, t)
        if key and key == self.status_key:
            return MenuChoice(MenuAction.STATUS)
        if key and key == self.operator_key:
            return MenuChoice(MenuAction.OPERATOR)
        return None

    def by_id(self, type_id: str) -> IncidentType | None:
        return next((t for t in self.types if t.id == type_id), None)


OPERATOR_TYPE_ID = "operator"  # a report opened by asking for an operator (key 0)
OPERATOR_PRIORITY = 3  # a caller who asked for (or was sent to) an operator
