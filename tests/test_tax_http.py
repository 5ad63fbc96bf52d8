"""The HTTP adapter against a real aiohttp server on 127.0.0.1 playing the municipality's
tax service: its answers, a slow one, a 500, garbage, a service that is not there,
and the circuit breaker opening, probing and closing (on a fake monotonic clock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr.core.tax import BackendAnswer, BackendUnavailable, Debt
from ivr.tax.http_backend import CircuitBreaker, HttpBackend, check_url, parse_answer

TOKEN = "s3cr3t-token"


@dataclass
class FakeTaxService:
    """What the service answers next: a status code and a body, or a delay first."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"status": "not_found"})
    delay_s: float = 0.0
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append({"auth": request.headers.get("Authorization"),
                          "json": await request.json()})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        text = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return web.Response(status=self.status, text=text, content_type="application/json")


@dataclass
class FakeMonotonic:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def service() -> AsyncIterator[tuple[FakeTaxService, str]]:
    fake = FakeTaxService()
    app = web.Application()
    app.router.add_post("/cuentas", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, str(server.make_url("/cuentas"))
    finally:
        await server.close()


@pytest.fixture
async def backend(service: tuple[FakeTaxService, str]) -> AsyncIterator[HttpBackend]:
    _fake, url = service
    made = HttpBackend(url, TOKEN, timeout_s=0.5, breaker=CircuitBreaker(3, 30.0,
                                                                         FakeMonotonic()))
    try:
        yield made
    finally:
        await made.close()


async def test_found_with_debts_sends_the_token_and_the_query(
        service: tuple[FakeTaxService, str], backend: HttpBackend) -> None:
    fake, _ = service
    fake.body = {"status": "found", "debts": [{"amount_cents": 123450, "due_on": "2026-12-31"},
                                              {"amount_cents": 0, "due_on": "2027-01-31"}]}
    answer = await backend.account(1, "20100000004", "482913")
    assert answer == BackendAnswer(True, True, (Debt(123450, date(2026, 12, 31)),
                                                Debt(0, date(2027, 1, 31))))
    assert fake.seen == [{"auth": f"Bearer {TOKEN}",
                          "json": {"municipality": 1, "tax_id": "20100000004",
                                   "secret": "482913"}}]
    assert TOKEN not in repr(backend)


async def test_not_found_and_wrong_secret(service: tuple[FakeTaxService, str],
                                          backend: HttpBackend) -> None:
    fake, _ = service
    assert await backend.account(1, "12345678", "1111") == BackendAnswer(False)
    fake.body = {"status": "wrong_secret"}
    assert await backend.account(1, "12345678", "1111") == BackendAnswer(True, False)


@pytest.mark.parametrize(("status", "body", "why"), [
    (500, {"status": "found"}, "HTTP 500"),
    (404, {"status": "not_found"}, "HTTP 404"),
    (200, "<html>mantenimiento</html>", "not JSON"),
    (200, {"status": "ok"}, "unknown status"),
    (200, ["found"], "not a JSON object"),
    (200, {"status": "found", "debts": [{"amount_cents": -5, "due_on": "2026-12-31"}]},
     "amount_cents"),
    (200, {"status": "found", "debts": [{"amount_cents": 10.5, "due_on": "2026-12-31"}]},
     "amount_cents"),
    (200, {"status": "found", "debts": [{"amount_cents": True, "due_on": "2026-12-31"}]},
     "amount_cents"),
    (200, {"status": "found", "debts": [{"amount_cents": 5, "due_on": "31/12/2026"}]},
     "due_on"),
    (200, {"status": "found", "debts": "none"}, "debts must be a list"),
])
async def test_anything_odd_is_unavailable_with_why(
        service: tuple[FakeTaxService, str], backend: HttpBackend, status: int, body: Any,
        why: str, caplog: pytest.LogCaptureFixture) -> None:
    fake, _ = service
    fake.status, fake.body = status, body
    with pytest.raises(BackendUnavailable, match=why):
        await backend.account(1, "12345678", "1111")
    assert why in caplog.text and "1111" not in caplog.text


async def test_a_slow_service_times_out(service: tuple[FakeTaxService, str],
                                        backend: HttpBackend) -> None:
    fake, _ = service
    fake.delay_s = 2.0
    with pytest.raises(BackendUnavailable, match="no answer in time"):
        await backend.account(1, "12345678", "1111")


async def test_a_service_that_is_not_there() -> None:
    server = TestServer(web.Application(), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/cuentas"))
    await server.close()  # the port is free again: connection refused
    gone = HttpBackend(url, TOKEN, timeout_s=0.5)
    try:
        with pytest.raises(BackendUnavailable):
            await gone.account(1, "12345678", "1111")
    finally:
        await gone.close()


async def test_the_breaker_opens_probes_and_closes(service: tuple[FakeTaxService, str]
                                                   ) -> None:
    fake, url = service
    clock = FakeMonotonic()
    breaker = CircuitBreaker(3, 30.0, clock)
    backend = HttpBackend(url, TOKEN, timeout_s=0.5, breaker=breaker)
    try:
        fake.status = 500
        for _ in range(3):
            with pytest.raises(BackendUnavailable, match="HTTP 500"):
                await backend.account(1, "12345678", "1111")
        assert breaker.state == "open"
        asked = len(fake.seen)
        with pytest.raises(BackendUnavailable, match="breaker is open"):
            await backend.account(1, "12345678", "1111")
        assert len(fake.seen) == asked  # not asked while open
        clock.now += 30
        assert breaker.state == "half_open"
        with pytest.raises(BackendUnavailable, match="HTTP 500"):  # the probe fails
            await backend.account(1, "12345678", "1111")
        assert breaker.state == "open" and len(fake.seen) == asked + 1
        clock.now += 30
        fake.status = 200
        assert await backend.account(1, "12345678", "1111") == BackendAnswer(False)
        assert breaker.state == "closed"
        assert await backend.account(1, "12345678", "1111") == BackendAnswer(False)
    finally:
        await backend.close()


def test_only_one_probe_at_a_time_and_successes_reset_the_count() -> None:
    clock = FakeMonotonic()
    breaker = CircuitBreaker(2, 10.0, clock)
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state == "closed"  # not two in a row
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 10
    assert breaker.allow() and not breaker.allow()  # the probe, and nobody else
    breaker.abandoned()  # the probe's call hung up: another may probe
    assert breaker.allow()


def test_the_address_must_be_https_or_loopback() -> None:
    assert check_url("https://rentas.miraflores.gob.pe/api/cuentas")
    assert check_url("http://127.0.0.1:8099/cuentas")
    with pytest.raises(ValueError, match="https"):
        check_url("http://rentas.miraflores.gob.pe/api/cuentas")


def test_parse_answer_is_strict() -> None:
    assert parse_answer({"status": "found"}) == BackendAnswer(True, True, ())
    with pytest.raises(ValueError):
        parse_answer({"status": "found", "debts": [{"amount_cents": 1}] * 501})
