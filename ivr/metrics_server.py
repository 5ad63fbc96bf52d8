"""``/metrics`` on a listener of its own, on 127.0.0.1.

Prometheus scrapes without a session cookie, so the metrics cannot sit behind
the console's login; they get their own port (``metrics_port``, 0 turns it off)
on the loopback address only, and carry no personal data (see ``ivr.metrics``).
A Prometheus on another machine scrapes through a local agent or proxy.
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from ivr.metrics import Metrics

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"


def metrics_app(metrics: Metrics) -> web.Application:
    render = make_aiohttp_handler(metrics.registry)

    async def scrape(request: web.Request) -> web.StreamResponse:
        await metrics.refresh()
        return await render(request)

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    return app


async def start_metrics(port: int, metrics: Metrics) -> web.AppRunner | None:
    """Serve ``metrics`` on 127.0.0.1:``port``; None when ``port`` is 0 (turned off)."""
    if port == 0:
        return None
    runner = web.AppRunner(metrics_app(metrics), handle_signals=False, access_log=None,
                           shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    logger.info("metrics on http://%s:%d/metrics", HOST, port)
    return runner

