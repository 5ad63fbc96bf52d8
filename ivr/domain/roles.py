"""Who may do what in the console, in one municipality.

Operator, supervisor and admin each include the one below. An analyst reads the
dashboards and exports (as supervisors and admins may) and nothing else: a
metropolitan analyst is an analyst in each municipality granted, and compares them.
An officer answers citizens' complaints, suggestions and queries for the municipal
areas granted to them, and sees nothing of the incident queue; supervisors and admins
may do what an officer may, in every area.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    ANALYST = "analyst"
    OFFICER = "officer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """A supervisor may do what an operator may; an admin, what a supervisor may;
        what an analyst or an officer may, supervisors and admins may too."""
        if needed in (Role.ANALYST, Role.OFFICER):
            return self in (needed, Role.SUPERVISOR, Role.ADMIN)
        if self in (Role.ANALYST, Role.OFFICER):
            return False
        return self.rank >= needed.rank


_RANK = {Role.ANALYST: 0, Role.OFFICER: 0, Role.OPERATOR: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


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
    OPEN311 = "open311"  # the municipality's website or app, through Open311 GeoReport v2


MANUAL_INTAKES = (Intake.RADIO, Intake.FIELD, Intake.COUNTER, Intake.EMAIL, Intake.PHONE)
