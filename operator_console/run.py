"""Start the console's HTTP listener (127.0.0.1:8080 by default)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from ivr.config import Settings
from ivr.health import WorkerStatus
from ivr.store.db import Database
from operator_console.app import create_app
from operator_console.security_http import ConsoleRunner

logger = logging.getLogger(__name__)


async def start_console(settings: Settings, *, db: Database | None = None,
                        clip_jobs: WorkerStatus | None = None,
                        journal_pending: Callable[[], int] | None = None) -> web.AppRunner:
    app = create_app(settings, db=db, clip_jobs=clip_jobs, journal_pending=journal_pending)
    runner = ConsoleRunner(app, handle_signals=False,
                           access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.console_host, settings.console_port, backlog=256)
    await site.start()
    logger.info("operator console on http://%s:%d/", settings.console_host, settings.console_port)
    return runner
