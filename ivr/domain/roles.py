"""Who may do what in the console, in one municipality.

Operator, supervisor and admin each include the one below. An analyst reads the
dashboards and exports (as supervisors and admins may) and nothing else: a
metropolitan analyst is an analyst in each municipality granted, and compares them.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    ANALYST = "analyst"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """A supervisor may do what an operator may; an admin, what a supervisor may;
        what an analyst may (read analytics), supervisors and admins may too."""
        if needed is Role.ANALYST:
            return self in (Role.ANALYST, Role.SUPERVISOR, Role.ADMIN)
        if self is Role.ANALYST:
            return False
        return self.rank >= needed.rank


_RANK = {Role.ANALYST: 0, Role.OPERATOR: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


class Intake(StrEnum):
    """How a report reached the command center."""

    IVR = "ivr"
    RADIO = "radio"
    FIELD = "field"  # an officer in the field
    COUNTER = "counter"
    EMAIL = "email"
    PHONE = "phone"  # taken live by an operator
    POS = "pos"  # silent alarm from a point-of-sale terminal
    SMS = "sms"  # a citizen's text message to the municipality's number


MANUAL_INTAKES = (Intake.RADIO, Intake.FIELD, Intake.COUNTER, Intake.EMAIL, Intake.PHONE)
