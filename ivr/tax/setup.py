"""The tax desk as the settings make it: the file or HTTP adapter, the limits.

A tax set-up that cannot work (no token file, an address refused) is logged at start
and the tax line says the service is unavailable: it never keeps the controller, and
so the emergency lines, from starting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ivr.config import Settings
from ivr.core.tax import BackendAnswer, BackendUnavailable, TaxBackend, TaxLimits, TaxService
from ivr.store.db import Database
from ivr.store.tax import TaxStore
from ivr.tax.file_backend import FileBackend
from ivr.tax.http_backend import CircuitBreaker, HttpBackend, read_token

logger = logging.getLogger(__name__)


class Misconfigured:
    """A backend that cannot be made: every lookup is unavailable, saying why."""

    def __init__(self, why: str) -> None:
        self.why = why

    async def account(self, municipality: int, tax_id: str, secret: str) -> BackendAnswer:
        raise BackendUnavailable(self.why)


def limits(settings: Settings) -> TaxLimits:
    return TaxLimits(
        failures_per_caller_hour=settings.tax_failures_per_caller_hour,
        ids_per_caller_day=settings.tax_ids_per_caller_day,
        failures_per_id_hour=settings.tax_failures_per_id_hour,
        callers_per_id_day=settings.tax_callers_per_id_day,
        withheld_failures_hour=settings.tax_withheld_failures_hour,
        withheld_ids_day=settings.tax_withheld_ids_day,
        block_minutes=settings.tax_block_minutes,
    )


@dataclass
class TaxWiring:
    desk: TaxService
    backend: TaxBackend

    async def close(self) -> None:
        if isinstance(self.backend, HttpBackend):
            await self.backend.close()


def tax_wiring(settings: Settings, db: Database, clock: Callable[[], datetime]) -> TaxWiring:
    store = TaxStore(db)
    backend: TaxBackend
    if settings.tax_backend == "http":
        try:
            backend = HttpBackend(
                settings.tax_http_url, read_token(settings.tax_http_token_file),
                timeout_s=settings.tax_http_timeout_s,
                breaker=CircuitBreaker(settings.tax_breaker_failures,
                                       settings.tax_breaker_open_s))
        except (OSError, ValueError) as exc:
            logger.error("tax line: the tax service cannot be used (%s); callers hear that "
                         "it is unavailable", exc)
            backend = Misconfigured(str(exc))
    else:
        backend = FileBackend(store, settings.tax_key_path)
    return TaxWiring(TaxService(backend, store, limits(settings), clock), backend)
