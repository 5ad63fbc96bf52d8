"""``/metrics``: scraped over HTTP after real calls from the fake Asterisk.

The FastAGI server gets a fresh ``Metrics`` per test, so its counters are read
as absolute values: one call is exactly one. The store reports to the process's
metrics, read as a difference before and after.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from ivr.agi.server import AgiServer
from ivr.app import services
from ivr.config import Settings, load
from ivr.core.call_control import CallControl
from ivr.domain.incidents import ConfigError
from ivr.flows import routes
from ivr.metrics import LATENCY_BUCKETS_S, LoopHistogram, Metrics, process_metrics
from ivr.metrics_server import metrics_app, start_metrics
from ivr.testing import CallScript, make_tone_wav, place_call
from operator_console.app import create_app
from tests.console_util import Site, add_users

ROOT = Path(__file__).resolve().parent.parent
GUARD_S = 10.0  # only stops a broken test from hanging; nothing here is timed
STRAIGHT = ["1", "2", "1", "#", "1"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _labels), v in samples.items() if n == name)


@asynccontextmanager
async def scraper(metrics: Metrics) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """GET /metrics over HTTP from the listener's own application."""
    server = TestServer(metrics_app(metrics), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as client:

            async def scrape() -> str:
                async with client.get(server.make_url("/metrics")) as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/plain")
                    return await response.text()

            yield scrape
    finally:
        await server.close()


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(GUARD_S):
        while not condition():  # noqa: ASYNC110 - polling a plain attribute
            await asyncio.sleep(0.01)


async def test_one_call_moves_the_call_counters_by_exactly_one(
    settings: Settings, tmp_path: Path
) -> None:
    metrics = Metrics()
    voice = make_tone_wav(tmp_path / "voice.wav", 2.0)
    async with services(settings) as svc, scraper(metrics) as scrape, \
            scraper(process_metrics()) as scrape_process:
        server = AgiServer(settings.agi, routes(svc.deps), metrics=metrics)
        await server.start()
        try:
            before = parse(await scrape_process())
            result = await place_call("127.0.0.1", server.port,
                                      CallScript(keys=STRAIGHT, voice=voice))
            assert result.error is None and result.variables.get("ALERTA_REPORT")
            await wait_until(lambda: server.active_calls == 0)
            after = parse(await scrape())
            after_process = parse(await scrape_process())
        finally:
            await server.stop(5.0)
    ended = {"flow": "report", "outcome": "completed", "last_step": "readback"}
    assert value(after, "alerta_calls_total", **ended) == 1
    assert total(after, "alerta_calls_total") == 1
    assert value(after, "alerta_calls_in_flight") == 0
    # Every command the server sent had its reply timed, and nothing else was.
    commands = value(after, "alerta_agi_command_seconds_count")
    assert commands == len(result.commands)
    assert value(after, "alerta_agi_command_seconds_bucket", le="+Inf") == commands
    assert value(after, "alerta_agi_command_seconds_sum") > 0
    # The report's writes were committed (and fsynced) while we watched.
    for name in ("alerta_store_commit_seconds_count", "alerta_store_write_seconds_count"):
        assert value(after_process, name) > value(before, name), name


async def test_calls_in_flight_counts_a_call_until_it_ends(settings: Settings) -> None:
    metrics = Metrics()
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hold(channel: CallControl) -> str:
        await channel.mark_step("waiting")
        entered.set()
        await release.wait()
        return "completed"

    server = AgiServer(settings.agi, {"hold": hold}, metrics=metrics)
    await server.start()
    try:
        async with scraper(metrics) as scrape:
            call = asyncio.create_task(place_call(
                "127.0.0.1", server.port, CallScript(script="hold", timeout_s=GUARD_S)))
            async with asyncio.timeout(GUARD_S):
                await entered.wait()
            during = parse(await scrape())
            release.set()
            await call
            await wait_until(lambda: server.active_calls == 0)
            after = parse(await scrape())
    finally:
        await server.stop(5.0)
    assert value(during, "alerta_calls_in_flight") == 1
    assert total(during, "alerta_calls_total") == 0
    assert value(after, "alerta_calls_in_flight") == 0
    assert value(after, "alerta_calls_total", flow="hold", outcome="completed",
                 last_step="waiting") == 1


async def test_a_hangup_is_counted_with_the_step_it_happened_in(settings: Settings) -> None:
    metrics = Metrics()
    async with services(settings) as svc:
        server = AgiServer(settings.agi, routes(svc.deps), metrics=metrics)
        await server.start()
        try:
            result = await place_call("127.0.0.1", server.port,
                                      CallScript(keys=["1"], hangup_at="menu"))
            assert result.hung_up
            await wait_until(lambda: server.active_calls == 0)
            async with scraper(metrics) as scrape:
                after = parse(await scrape())
        finally:
            await server.stop(5.0)
    assert value(after, "alerta_calls_total", flow="report", outcome="hung_up",
                 last_step="menu") == 1
    assert total(after, "alerta_calls_total") == 1


async def test_metrics_carry_no_caller_data_and_no_script_names_we_do_not_know(
    settings: Settings,
) -> None:
    metrics = Metrics()
    async with services(settings) as svc:
        server = AgiServer(settings.agi, routes(svc.deps), metrics=metrics)
        await server.start()
        try:
            await place_call("127.0.0.1", server.port, CallScript(
                keys=STRAIGHT, caller_id="5559876543", caller_name="Rosa Quispe",
                uniqueid="1795584686.77"))
            await place_call("127.0.0.1", server.port,
                             CallScript(script="Lookup-5559876543", timeout_s=GUARD_S))
            await wait_until(lambda: server.active_calls == 0)
            async with scraper(metrics) as scrape:
                text = await scrape()
        finally:
            await server.stop(5.0)
    for private in ("5559876543", "Rosa", "Quispe", "1795584686", "Lookup", str(settings.database)):
        assert private not in text, private
    after = parse(text)
    assert value(after, "alerta_calls_total", flow="unknown", outcome="no_flow",
                 last_step="none") == 1


async def test_open_console_streams_are_counted(settings: Settings) -> None:
    metrics = Metrics()
    server = TestServer(create_app(settings, metrics=metrics), host="127.0.0.1")
    await server.start_server()
    try:
        site = Site(server, settings)
        await add_users(site.console.db)
        async with site.browser() as operator, scraper(metrics) as scrape:
            await operator.login("ana")
            before = parse(await scrape())
            response = await operator.client.get("/events")
            assert response.status == 200
            await response.content.readline()  # the stream has started
            during = parse(await scrape())
            response.close()
            # The handler notices the closed socket at its next write: give it one.
            site.console.feed.publish("test", "wake")
            await wait_until(
                lambda: metrics.registry.get_sample_value("alerta_console_streams_open") == 0)
            after = parse(await scrape())
    finally:
        await server.close()
    assert value(before, "alerta_console_streams_open") == 0
    assert value(during, "alerta_console_streams_open") == 1
    assert value(after, "alerta_console_streams_open") == 0
    # The console pointed the metrics at its disks and store when it started.
    assert value(during, "alerta_disk_free_bytes", disk="clips") > 0
    assert value(during, "alerta_disk_min_free_bytes") == settings.min_free_mb * 1024 * 1024
    assert value(during, "alerta_ami_link_state", alerta_ami_link_state="disabled") == 1


async def test_clip_job_backlog_and_journal_are_read_at_scrape_time(
    settings: Settings, tmp_path: Path
) -> None:
    metrics = Metrics()
    voice = make_tone_wav(tmp_path / "voice.wav", 2.0)
    waiting = [0]
    metrics.watch_journal(lambda: waiting[0])
    async with services(settings) as svc:  # no clip workers: the jobs wait
        server = TestServer(create_app(settings, db=svc.db, metrics=metrics), host="127.0.0.1")
        await server.start_server()
        agi = AgiServer(settings.agi, routes(svc.deps), metrics=metrics)
        await agi.start()
        try:
            async with scraper(metrics) as scrape:
                empty = parse(await scrape())
                await place_call("127.0.0.1", agi.port, CallScript(keys=STRAIGHT, voice=voice))
                waiting[0] = 3
                queued = parse(await scrape())
        finally:
            await agi.stop(5.0)
            await server.close()
    assert value(empty, "alerta_journal_pending_reports") == 0
    assert value(queued, "alerta_journal_pending_reports") == 3
    assert value(queued, "alerta_clip_jobs", kind="audio", state="queued") == \
        value(empty, "alerta_clip_jobs", kind="audio", state="queued") + 1


def test_loop_histogram_buckets_are_cumulative_and_inclusive() -> None:
    hist = LoopHistogram("alerta_test_seconds", "test")
    for seconds in (0.0004, 0.0005, 0.003, 7.0):
        hist.observe(seconds)
    family = hist.family()
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert buckets["0.0005"] == 2  # a value equal to a bound is in that bound's bucket
    assert buckets["0.005"] == 3
    assert buckets["5.0"] == 3 and buckets["+Inf"] == 4
    assert len(buckets) == len(LATENCY_BUCKETS_S) + 1
    (count,) = [s.value for s in family.samples if s.name.endswith("_count")]
    assert count == 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_listener_serves_metrics_on_loopback_and_port_zero_turns_it_off() -> None:
    metrics = Metrics()
    assert await start_metrics(0, metrics) is None
    port = _free_port()
    runner = await start_metrics(port, metrics)
    assert runner is not None
    try:
        assert [address[0] for address in runner.addresses] == ["127.0.0.1"]
        async with ClientSession() as client, \
                client.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            assert "alerta_calls_in_flight 0.0" in await response.text()
    finally:
        await runner.cleanup()



async def test_alerta_console_serves_metrics_on_its_own_port(tmp_path: Path) -> None:
    console_port, metrics_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ALERTA_DATABASE": str(tmp_path / "alerta.sqlite3"),
        "ALERTA_VOICECLIPS": str(tmp_path / "voiceclips"),
        "ALERTA_CONSOLE_PORT": str(console_port),
        "ALERTA_METRICS_PORT": str(metrics_port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "console", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with ClientSession() as client, asyncio.timeout(60):
            while True:  # until the process listens; a crash ends the test at once
                assert process.returncode is None
                try:
                    async with client.get(f"http://127.0.0.1:{metrics_port}/metrics") as got:
                        text = await got.text()
                        break
                except OSError:
                    await asyncio.sleep(0.1)
            async with client.get(f"http://127.0.0.1:{console_port}/metrics") as on_console:
                assert on_console.status in (401, 404)  # not on the console's own port
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    samples = parse(text)
    assert value(samples, "alerta_console_streams_open") == 0
    assert value(samples, "alerta_disk_free_bytes", disk="database") > 0
    assert value(samples, "alerta_clip_jobs", kind="transcribe", state="queued") == 0
    assert ("alerta_clip_jobs", frozenset({("kind", "audio"), ("state", "queued")})) in samples


def test_the_metrics_port_must_differ_from_the_console_port() -> None:
    with pytest.raises(ConfigError, match="metrics_port and console_port must differ"):
        load(env={"ALERTA_METRICS_PORT": "8080", "ALERTA_CONSOLE_PORT": "8080"})
    assert load(env={"ALERTA_METRICS_PORT": "0"}).metrics_port == 0


async def test_the_outbox_is_counted_at_scrape_time(settings: Settings) -> None:
    from datetime import UTC, datetime
    from typing import Any

    from ivr.domain.alerting import Message
    from ivr.store import outbox

    metrics = Metrics()
    async with services(settings) as svc:
        server = TestServer(create_app(settings, db=svc.db, metrics=metrics), host="127.0.0.1")
        await server.start_server()
        try:
            async with scraper(metrics) as scrape:
                empty = parse(await scrape())
                old = datetime(2026, 1, 1, tzinfo=UTC)

                async def op(conn: Any) -> None:
                    await outbox.enqueue(conn, Message("sms", "987000001", "alert.keyword",
                                                       "x", old, 1), old)

                await svc.db.write(op)
                queued = parse(await scrape())
        finally:
            await server.close()
    assert value(empty, "alerta_messages", channel="sms", state="pending") == 0
    assert value(queued, "alerta_messages", channel="sms", state="pending") == 1
    assert value(queued, "alerta_messages_oldest_waiting_seconds") > 86400
