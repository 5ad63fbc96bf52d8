"""Reports taken by hand go through the intake use case: the lines decide what a type means."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from ivr.app import Services
from ivr.core.intake import Entry, IntakeRefused, ReportIntake
from ivr.core.lines import PublishedLines
from ivr.domain.lines import IncidentType, LineConfig
from ivr.store.casework import Casework


def intake_of(svc: Services) -> ReportIntake:
    catalogue = svc.deps.lines
    assert isinstance(catalogue, PublishedLines)
    return ReportIntake(Casework(svc.db), catalogue.incident_types,
                        lambda zone: svc.settings.zone(zone) is not None)


async def test_the_type_priority_and_deadline_are_the_lines(svc: Services) -> None:
    admin = svc.lines
    assert admin is not None
    (row,) = [r for r in await admin.lines() if r.slug == "report"]

    def add_fire(config: LineConfig) -> LineConfig:
        fire = IncidentType("fire", 1, True, 20, {"es": "Incendio"})
        return dataclasses.replace(config, types=(*config.types, fire))

    await admin.change_draft(row.id, add_fire, actor="user:ana", what="fire")
    intake = intake_of(svc)
    with pytest.raises(IntakeRefused, match="pick an incident type"):
        await intake.file(Entry("fire", "radio", "humo"), actor="user:x")  # only a draft
    await admin.publish(row.id, actor="user:ana")
    number = await intake.file(Entry("fire", "radio", "humo", caller="987654321", zone="3"),
                               actor="user:x")
    got = await svc.db.fetchone("SELECT type, priority, emergency, channel, zone, created_at,"
                                " callback_due_at FROM reports WHERE id = ?", (number,))
    assert got is not None and (got["type"], got["priority"], got["emergency"]) == ("fire", 1, 1)
    assert (got["channel"], got["zone"]) == ("radio", "3")
    minutes = (datetime.fromisoformat(got["callback_due_at"])
               - datetime.fromisoformat(got["created_at"])).total_seconds() / 60
    assert round(minutes) == 20


@pytest.mark.parametrize(("entry", "reason"), [
    (Entry("flood", "radio", "x"), "pick an incident type"),
    (Entry("robbery", "ivr", "x"), "pick the channel"),
    (Entry("robbery", "carrier pigeon", "x"), "pick the channel"),
    (Entry("robbery", "radio", "x", caller="12ab"), "6 to 15 digits"),
    (Entry("robbery", "radio", "x", zone="99"), "no zone 99"),
])
async def test_what_cannot_be_a_report_is_refused(svc: Services, entry: Entry,
                                                  reason: str) -> None:
    with pytest.raises(IntakeRefused, match=reason):
        await intake_of(svc).file(entry, actor="user:x")
    assert (await svc.db.fetchone("SELECT count(*) AS n FROM reports"))["n"] == 0  # type: ignore[index]
