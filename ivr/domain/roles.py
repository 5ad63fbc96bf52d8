"""Who may do what in the console: three roles, each one including the one below."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """A supervisor may do what an operator may; an admin, what a supervisor may."""
        return self.rank >= needed.rank


_RANK = {Role.OPERATOR: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


class Intake(StrEnum):
    """How a report reached the command center."""

    IVR = "ivr"
    RADIO = "radio"
    FIELD = "field"  # an officer in the field
    COUNTER = "counter"
    EMAIL = "email"
    PHONE = "phone"  # taken live by an operator
    POS = "pos"  # silent alarm from a point-of-sale terminal


MANUAL_INTAKES = (Intake.RADIO, Intake.FIELD, Intake.COUNTER, Intake.EMAIL, Intake.PHONE)
