"""Citizens' cases as the settings make them (``ivr.core.participation``): the store, the
live participation lines, the municipalities' time zones, and the answers spoken with
espeak-ng into the clips folder. The controller (ivr.app) and the console both use it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ivr.config import Settings
from ivr.core.participation import Participation, ParticipationSettings
from ivr.domain.lines import LineConfig
from ivr.promptaudio.answers import AnswerVoice
from ivr.store.case_admin import CaseAdminStore
from ivr.store.cases import CaseStore
from ivr.store.db import Database
from ivr.store.municipalities import Municipalities
from ivr.store.reports import Reports, utc_now
from ivr.store.resilient import ResilientBook

DEFAULT_ZONE = "America/Lima"


def case_store(reports: Reports, book: ResilientBook) -> CaseStore:
    """The cases of calls, kept by ``book``'s journal when the database is away. Made
    before ``book.start()``: a case the journal kept across a restart replays then."""
    return CaseStore(reports.db, reports, book)


def participation_settings(settings: Settings) -> ParticipationSettings:
    return ParticipationSettings(
        days={"complaint": settings.participation_complaint_days,
              "suggestion": settings.participation_suggestion_days,
              "query": settings.participation_query_days},
        near_days=settings.participation_near_days, country=settings.holidays_country,
        subdivision=settings.holidays_subdivision or None, status_line=settings.status_line)


def participation_wiring(settings: Settings, db: Database, catalogue: object, *,
                         store: CaseStore | None = None,
                         clock: Callable[[], datetime] = utc_now) -> Participation:
    """``catalogue``: ``PublishedLines`` (its ``live_configs``). ``store``: the controller's
    (``case_store``), whose calls' cases go through the journal; else straight to the
    database."""
    towns = Municipalities(db)

    async def zone_of(municipality: int) -> str:
        town = await towns.get(municipality)
        return town.timezone if town is not None else DEFAULT_ZONE

    async def lines(municipality: int) -> list[LineConfig]:
        found: list[LineConfig] = await catalogue.live_configs(  # type: ignore[attr-defined]
            municipality, "participation")
        return found

    store = store or CaseStore(db, Reports(db, clock=clock))
    return Participation(store, CaseAdminStore(db), lines, zone_of, clock,
                         participation_settings(settings), speaker=AnswerVoice(settings.voiceclips),
                         clips=settings.voiceclips)
