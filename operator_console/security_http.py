"""What every answer carries, and how a malformed request is answered and logged.

The security headers are added as each response is prepared (``on_response_prepare``),
not by a middleware: a middleware only sees what its handler returns, while error
answers are raised (``web.HTTPException``) or made by aiohttp itself (404/405 from the
router, 413 from the body limit). Requests that do not even parse never reach the
application; ``ConsoleRunner`` answers those with the same headers and logs one short
line instead of aiohttp's traceback, so garbage sent to the port cannot flood the log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest

logger = logging.getLogger(__name__)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self';"
        " script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self';"
        " base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
MAX_LOGGED_REASON = 80


def add_security_headers(path: str, response: web.StreamResponse) -> None:
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    # Static files (versioned URLs) may be cached; nothing else, errors included.
    if not path.startswith("/static/") or response.status >= 400:
        headers.setdefault("Cache-Control", "no-store")


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """``app.on_response_prepare``: every answer the application sends, errors included."""
    add_security_headers(request.path, response)


def short_reason(exc: BaseException | None) -> str:
    """An error as one printable line: the client's bytes are escaped and cut."""
    if isinstance(exc, RequestPayloadError) and exc.__cause__ is not None:
        exc = exc.__cause__  # what was wrong with the body, not that it was the body
    text = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    text = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    printable = "".join(c if c.isprintable() else "?" for c in text).rstrip(": ")
    return printable[:MAX_LOGGED_REASON]


class _ConsoleRequestHandler(RequestHandler):
    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, (HttpProcessingError, RequestPayloadError)):
            # The unread rest of a body that lied about its encoding, drained after the
            # answer: the handler that met it has logged its line already.
            logger.debug("console: rest of a malformed body dropped: %s", short_reason(exc))
            return
        super().log_exception(*args, **kw)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            response = super().handle_error(request, status, exc, message)
        else:
            # A request that does not parse: the client's fault, not ours. One line.
            logger.warning("console: malformed HTTP request from %s: %s",
                           request.remote or "?", short_reason(exc))
            if request.writer.output_size > 0:  # an answer was already under way
                raise ConnectionError("malformed request after the answer began")
            response = web.Response(status=status, text=f"{status} malformed request\n")
            response.force_close()
        add_security_headers("", response)
        return response


class _ConsoleServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _ConsoleRequestHandler(self, loop=self._loop, **self._kwargs)


class ConsoleRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer unparseable requests as described above."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        kwargs: dict[str, Any] = dict(server._kwargs)
        loop: asyncio.AbstractEventLoop = server._loop
        return _ConsoleServer(server.request_handler, request_factory=server.request_factory,
                              handler_cancellation=server.handler_cancellation, loop=loop,
                              **kwargs)
