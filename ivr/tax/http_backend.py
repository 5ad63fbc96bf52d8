"""The HTTP adapter: the municipality's tax service, asked for one account at a time.

    POST <tax_http_url>    Authorization: Bearer <token>    Content-Type: application/json
    {"municipality": 1, "tax_id": "20100000004", "secret": "482913"}

    200 {"status": "found", "debts": [{"amount_cents": 123450, "due_on": "2026-12-31"}]}
    200 {"status": "not_found"}      200 {"status": "wrong_secret"}

Anything else (another status code, a body that is not that JSON exactly, a debt
with a negative or fractional amount, a date that is not YYYY-MM-DD, more than
``MAX_DEBTS``) is the service being unavailable, logged once per lookup with why;
never a guess. Each lookup has ``timeout_s`` in all. A circuit breaker keeps calls
from waiting on a service that is down: ``failures`` failures in a row open it, and
for ``open_s`` every lookup is answered unavailable at once; then one lookup is let
through as a probe, which closes it or opens it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ivr.core.tax import BackendAnswer, BackendUnavailable, Debt

logger = logging.getLogger(__name__)

TOKEN_ENV = "ALERTA_TAX_HTTP_TOKEN"
MAX_BODY = 64 * 1024
MAX_DEBTS = 500
MAX_CENTS = 99_999_999_999
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class CircuitBreaker:
    """Closed → (``failures`` in a row) open → (after ``open_s``) one probe → closed or open."""

    def __init__(self, failures: int, open_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = max(1, failures)
        self.open_s = open_s
        self.clock = clock
        self._failed = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self._opened_at >= self.open_s else "open"

    def allow(self) -> bool:
        """May a request go now? In half-open, only the one probe may."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def succeeded(self) -> None:
        if self._opened_at is not None:
            logger.info("tax service: answering again; the breaker is closed")
        self._failed, self._opened_at, self._probing = 0, None, False

    def abandoned(self) -> None:
        """A request given up on (the call ended): neither a success nor a failure."""
        self._probing = False

    def failed(self) -> None:
        self._failed += 1
        if self._probing or self._failed >= self.failures:
            if self._opened_at is None or self._probing:
                logger.warning("tax service: %d failure(s) in a row; the breaker is open for "
                               "%g s", self._failed, self.open_s)
            self._opened_at = self.clock()
        self._probing = False


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return url
    raise ValueError("tax_http_url must be https:// (http:// only to this machine): the "
                     "bill's code travels in it")


def read_token(token_file: Path, env: dict[str, str] | None = None) -> str:
    environ = os.environ if env is None else env
    if environ.get(TOKEN_ENV):
        return environ[TOKEN_ENV].strip()
    if str(token_file) in ("", "."):
        return ""
    return token_file.read_text(encoding="utf-8").strip()


def parse_answer(body: Any) -> BackendAnswer:
    """The service's JSON as an answer; ValueError for anything not exactly that."""
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    status = body.get("status")
    if status == "not_found":
        return BackendAnswer(found=False)
    if status == "wrong_secret":
        return BackendAnswer(found=True, secret_ok=False)
    if status != "found":
        raise ValueError(f"unknown status {str(status)[:40]!r}")
    debts = body.get("debts", [])
    if not isinstance(debts, list) or len(debts) > MAX_DEBTS:
        raise ValueError(f"debts must be a list of up to {MAX_DEBTS}")
    return BackendAnswer(found=True, secret_ok=True, debts=tuple(_debt(d) for d in debts))


def _debt(item: Any) -> Debt:
    if not isinstance(item, dict):
        raise ValueError("a debt is not an object")
    amount, due = item.get("amount_cents"), item.get("due_on")
    if type(amount) is not int or not 0 <= amount <= MAX_CENTS:
        raise ValueError(f"amount_cents {str(amount)[:20]!r} is not a whole number of céntimos")
    if not isinstance(due, str) or not _DATE.fullmatch(due):
        raise ValueError(f"due_on {str(due)[:20]!r} is not YYYY-MM-DD")
    return Debt(amount, date.fromisoformat(due))


class HttpBackend:
    """Implements ``ivr.core.tax.TaxBackend`` over the municipality's HTTP service."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 2.0,
                 breaker: CircuitBreaker | None = None) -> None:
        self.url = check_url(url)
        self._token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.breaker = breaker or CircuitBreaker(5, 30.0)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"HttpBackend({self.url!r}, <token hidden>)"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def account(self, municipality: int, tax_id: str, secret: str) -> BackendAnswer:
        if not self.breaker.allow():
            raise BackendUnavailable("the breaker is open (the service failed just now)")
        try:
            answer = await self._ask(municipality, tax_id, secret)
        except asyncio.CancelledError:
            self.breaker.abandoned()
            raise
        except (TimeoutError, aiohttp.ClientError, ValueError, OSError) as exc:
            self.breaker.failed()
            why = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
            logger.warning("tax service %s: %s", self.url, why[:200])
            raise BackendUnavailable(why[:200]) from None
        self.breaker.succeeded()
        return answer

    async def _ask(self, municipality: int, tax_id: str, secret: str) -> BackendAnswer:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        payload = {"municipality": municipality, "tax_id": tax_id, "secret": secret}
        async with self._session.post(self.url, json=payload, headers=headers,
                                      allow_redirects=False) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            raw = await response.content.read(MAX_BODY + 1)
            if len(raw) > MAX_BODY:
                raise ValueError("the answer is larger than 64 KiB")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("the answer is not JSON") from None
        return parse_answer(body)
