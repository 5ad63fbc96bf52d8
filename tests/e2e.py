"""Helpers for end-to-end tests: the real server over TCP, the fake Asterisk as caller."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ivr.agi.server import AgiServer
from ivr.app import Services, services
from ivr.config import Settings
from ivr.flows import routes
from ivr.testing import CallResult, CallScript, place_call


@dataclasses.dataclass
class Line:
    """A running controller: store, flows and FastAGI server on a free port."""

    svc: Services
    server: AgiServer

    async def call(self, **script: Any) -> CallResult:
        return await place_call("127.0.0.1", self.server.port, CallScript(**script))

    async def reports(self) -> list[dict[str, Any]]:
        return await self.svc.reports.listing()

    async def report(self, number: int) -> dict[str, Any]:
        (row,) = [r for r in await self.reports() if r["number"] == number]
        return row

    def clip_file(self, row: dict[str, Any]) -> Path:
        return self.svc.vault.path_of(row["clip_path"])


@asynccontextmanager
async def running_line(settings: Settings, **overrides: Any) -> AsyncIterator[Line]:
    settings = dataclasses.replace(settings, **overrides)
    async with services(settings) as svc:
        server = AgiServer(settings.agi, routes(svc.deps))
        await server.start()
        try:
            yield Line(svc, server)
        finally:
            await server.stop(5.0)


def report_number(result: CallResult) -> int | None:
    value = result.variables.get("ALERTA_REPORT")
    return int(value) if value else None
