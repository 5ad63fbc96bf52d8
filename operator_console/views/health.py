"""``/healthz``: what is wrong, for whoever watches the line (no login, no personal data).

200 when every check passes, 503 naming the ones that fail::

    {"ok": false, "failing": ["database"],
     "checks": {"database": {"ok": false, "detail": "locked by another connection"},
                "disk": {"ok": true, "detail": "at least 80150 MB free"}, ...}}

Also here: what the console adds to the process's metrics (clip job counts,
free disk space), attached when the console starts and detached when it stops.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from ivr.config import Settings
from ivr.health import Health, WorkerStatus
from ivr.store.clip_views import backlog_counts
from ivr.store.outbox import Outbox
from operator_console.security import public
from operator_console.state import Console, console_of


def attach(console: Console, settings: Settings, workers: WorkerStatus | None) -> None:
    """Give the console its health checks; point the metrics at its store and disks."""
    console.health = Health(settings.health, console.db, ami_state=lambda: ami_state(console),
                            workers=workers)
    store = console.db
    console.metrics.watch_backlog(lambda: backlog_counts(store))
    outbox = Outbox(store)
    console.metrics.watch_outbox(lambda: outbox.summary(None, datetime.now(UTC)))
    disks = {"clips": settings.voiceclips}
    if isinstance(settings.database, Path):  # PostgreSQL's disk is its server's to watch
        disks["database"] = settings.database.parent
    console.metrics.watch_disks(disks, settings.min_free_mb)


def detach(console: Console) -> None:
    console.metrics.watch_backlog(None)
    console.metrics.watch_outbox(None)


def ami_state(console: Console) -> str:
    link = console.ami
    return str(link.state.value) if link is not None else "disabled"


@public
async def health(request: web.Request) -> web.Response:
    console = console_of(request)
    checks = await console.health.run() if console.health is not None else []
    failing = [c.name for c in checks if not c.ok]
    body = {
        "ok": not failing,
        "failing": failing,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return web.json_response(body, status=503 if failing else 200,
                             headers={"Cache-Control": "no-store"})
