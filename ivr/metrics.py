"""What the people who watch the line see: Prometheus metrics, one registry per process.

The metric objects live on a ``Metrics`` object with its own
``CollectorRegistry`` (never prometheus-client's global one), so a test builds a
fresh ``Metrics`` and reads exactly what its own calls did. The process uses
``process_metrics()``.

Three kinds of values:

- counted where they happen: calls by outcome, calls in flight, console streams,
  AMI link state;
- timed on the hot path: the AGI command round trip runs thousands of times a
  second, so it goes into a ``LoopHistogram`` (a bisect and two additions, about
  a sixth of prometheus-client's locked ``Histogram.observe``) that becomes a
  histogram family only when scraped;
- read at scrape time: free disk space, clip jobs waiting, reports waiting in the
  journal. Nothing of these is computed per call.

No label carries personal data: flows, outcomes and steps are names from our own
code (anything else is counted as ``other``), disks are ``clips`` and ``database``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import weakref
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# A ``*_created`` series per counter doubles the text for a figure nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]

# From half a millisecond (a reply on loopback) to five seconds (a disk in trouble).
LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)
AMI_STATES = ("disabled", "connecting", "up", "down")
# How long a scrape may wait for the store's counts before it answers without them.
SOURCE_WAIT_S = 2.0
MAX_CACHED_LABELS = 1024
_LABEL = re.compile(r"[a-z][a-z0-9_]{0,31}")

class CallServer(Protocol):
    @property
    def active_calls(self) -> int: ...


BacklogSource = Callable[[], Awaitable[Mapping[str, Mapping[str, int]]]]


def disk_free_bytes(folder: Path) -> tuple[int, int]:
    """(free bytes, device) of the filesystem holding ``folder``, or that would hold it.

    A folder not made yet (the console alone, before the controller's first run)
    is measured at its nearest existing parent.
    """
    folder = Path(folder).absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return shutil.disk_usage(folder).free, folder.stat().st_dev


def label(value: object, default: str = "none") -> str:
    """A label value we can vouch for: a short lower-case name, else ``other``."""
    if value is None:
        return default
    text = str(value)
    return text if _LABEL.fullmatch(text) else "other"


class LoopHistogram:
    """A histogram observed from one thread (the event loop), cheap enough for every command.

    Not locked: ``observe`` and the scrape both run on the loop's thread.
    """

    __slots__ = ("bounds", "counts", "documentation", "name", "total")

    def __init__(self, name: str, documentation: str,
                 bounds: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le).
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def family(self) -> HistogramMetricFamily:
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, n in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        return HistogramMetricFamily(
            self.name, self.documentation, buckets=buckets, sum_value=self.total
        )


class Metrics:
    """Every metric of one process, registered in ``self.registry``."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.calls_in_flight = Gauge(
            "alerta_calls_in_flight", "FastAGI connections being served now", registry=registry
        )
        self._servers: weakref.WeakSet[CallServer] = weakref.WeakSet()
        self.calls_in_flight.set_function(lambda: sum(s.active_calls for s in list(self._servers)))
        self.calls = Counter(
            "alerta_calls", "Calls ended, by flow, outcome and the last step the caller reached",
            ["flow", "outcome", "last_step"], registry=registry,
        )
        self.agi_sessions_dropped = Counter(
            "alerta_agi_sessions_dropped",
            "FastAGI connections dropped for a bad, late or oversized environment",
            registry=registry,
        )
        self.agi_command_seconds = LoopHistogram(
            "alerta_agi_command_seconds",
            "AGI command round trip: from the command written to the first reply line read",
        )
        self.store_commit_seconds = LoopHistogram(
            "alerta_store_commit_seconds",
            "SQLite COMMIT of one write batch, the WAL fsync included",
        )
        self.store_write_seconds = LoopHistogram(
            "alerta_store_write_seconds",
            "One store write as its caller waits for it: queue, batch and commit",
        )
        self.store_batches_failed = Counter(
            "alerta_store_batches_failed", "Write batches the database refused (nothing kept)",
            registry=registry,
        )
        self.console_streams = Gauge(
            "alerta_console_streams_open", "Operator console live streams (SSE) open now",
            registry=registry,
        )
        self.ami_link_state = Enum(
            "alerta_ami_link_state", "State of the AMI link used for callbacks",
            states=list(AMI_STATES), registry=registry,
        )
        self.ami_link_changes = Counter(
            "alerta_ami_link_changes", "AMI link state changes, by the state entered",
            ["state"], registry=registry,
        )
        self.messages_tried = Counter(
            "alerta_messages_tried", "Messages handed to the SMS gateway or mail server, by"
            " what it answered (sent, retry, refused)", ["channel", "outcome"],
            registry=registry,
        )
        self._outbox_source: Callable[[], Awaitable[dict[str, Any]]] | None = None
        self._outbox: dict[str, Any] | None = None
        self.prompt_fallbacks = Counter(
            "alerta_prompt_fallbacks",
            "Prompts a line lacked in the caller's language: played in the line's first "
            "language, as the shipped recording, or skipped",
            ["kind"], registry=registry,
        )
        self._call_children: dict[tuple[str, str, str], Counter] = {}
        self._ami_state = AMI_STATES[0]
        self._disks: dict[str, Path] = {}
        self._min_free_bytes: int | None = None
        self._journal_pending: Callable[[], int] | None = None
        self._backlog_source: BacklogSource | None = None
        self._backlog: Mapping[str, Mapping[str, int]] | None = None
        registry.register(_ScrapeTime(self))
        ProcessCollector(namespace="alerta", registry=registry)

    # --- events -------------------------------------------------------------------

    def call_ended(self, flow: str, outcome: object, last_step: object) -> None:
        key = (flow, str(outcome), str(last_step))
        child = self._call_children.get(key)
        if child is None:  # labels() takes a lock and builds a tuple: once per kind of call
            child = self.calls.labels(
                label(flow, "unknown"), label(outcome, "ended"), label(last_step))
            if len(self._call_children) < MAX_CACHED_LABELS:
                self._call_children[key] = child
        child.inc()

    def prompt_fallback(self, kind: str) -> None:
        self.prompt_fallbacks.labels(kind).inc()

    def ami_state(self, state: str) -> None:
        state = state if state in AMI_STATES else "down"
        if state != self._ami_state:
            self._ami_state = state
            self.ami_link_changes.labels(state).inc()
        self.ami_link_state.state(state)

    # --- scrape-time sources --------------------------------------------------------

    def watch_calls(self, server: CallServer) -> None:
        """Count ``server.active_calls`` in calls in flight (until the server is gone)."""
        self._servers.add(server)

    def watch_disks(self, disks: Mapping[str, Path], min_free_mb: int) -> None:
        """Report free space of these folders' filesystems, under fixed names (no paths)."""
        self._disks = {label(name): Path(path) for name, path in disks.items()}
        self._min_free_bytes = min_free_mb * 1024 * 1024

    def watch_journal(self, pending: Callable[[], int] | None) -> None:
        """Hook for the journal: ``pending()`` says how many reports wait to be stored."""
        self._journal_pending = pending

    def watch_backlog(self, source: BacklogSource | None) -> None:
        """``source()`` gives clip job counts as {kind: {state: n}}, read at each scrape."""
        self._backlog_source = source
        self._backlog = None

    def watch_outbox(self, source: Callable[[], Awaitable[dict[str, Any]]] | None) -> None:
        """``source()`` gives the outbox's summary (``ivr.store.outbox.Outbox.summary``)."""
        self._outbox_source = source
        self._outbox = None

    def message_sent(self, channel: str, outcome: str) -> None:
        self.messages_tried.labels(label(channel), label(outcome)).inc()

    async def refresh(self) -> None:
        """Before a scrape: read what needs the store (off the collector's sync path)."""
        source = self._backlog_source
        if source is not None:
            try:
                async with asyncio.timeout(SOURCE_WAIT_S):
                    self._backlog = await source()
            except Exception as exc:  # the scrape still answers, without the counts
                self._backlog = None
                logger.warning("metrics: clip job counts unavailable: %r", exc)
        outbox = self._outbox_source
        if outbox is not None:
            try:
                async with asyncio.timeout(SOURCE_WAIT_S):
                    self._outbox = await outbox()
            except Exception as exc:
                self._outbox = None
                logger.warning("metrics: outbox counts unavailable: %r", exc)

    def _scrape_families(self) -> Iterator[Metric]:
        yield self.agi_command_seconds.family()
        yield self.store_commit_seconds.family()
        yield self.store_write_seconds.family()
        if self._disks:
            free = GaugeMetricFamily("alerta_disk_free_bytes",
                                     "Free space for the controller on each disk it writes",
                                     labels=["disk"])
            for name, path in self._disks.items():
                try:
                    free.add_metric([name], disk_free_bytes(path)[0])
                except OSError as exc:
                    logger.warning("metrics: no free space figure for the %s disk: %r", name, exc)
            yield free
        if self._min_free_bytes is not None:
            yield GaugeMetricFamily("alerta_disk_min_free_bytes",
                                    "Free space below which messages are not recorded",
                                    value=self._min_free_bytes)
        if self._journal_pending is not None:
            try:
                waiting = self._journal_pending()
            except Exception as exc:
                logger.warning("metrics: journal count unavailable: %r", exc)
            else:
                yield GaugeMetricFamily("alerta_journal_pending_reports",
                                        "Reports kept in the journal, waiting for the database",
                                        value=waiting)
        if self._backlog is not None:
            jobs = GaugeMetricFamily("alerta_clip_jobs",
                                     "Clip jobs (audio derivatives, transcription) by state",
                                     labels=["kind", "state"])
            for kind, states in sorted(self._backlog.items()):
                for state in ("queued", "running", "failed"):
                    jobs.add_metric([label(kind), state], states.get(state, 0))
            yield jobs
        summary = self._outbox
        if summary is not None:
            messages = GaugeMetricFamily("alerta_messages",
                                         "Text messages and e-mails in the outbox, by state",
                                         labels=["channel", "state"])
            for channel in ("sms", "email"):
                states = summary["counts"].get(channel, {})
                for state in ("pending", "sending", "sent", "delivered", "undelivered",
                              "refused", "grouped"):
                    messages.add_metric([channel, state], states.get(state, 0))
            yield messages
            yield GaugeMetricFamily("alerta_messages_oldest_waiting_seconds",
                                    "How long the oldest message not yet sent has waited",
                                    value=summary["oldest_waiting_s"])


class _ScrapeTime(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics._scrape_families()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # its names are its own: nothing to check for collisions


_process: Metrics | None = None


def process_metrics() -> Metrics:
    """This process's metrics (created on first use)."""
    global _process
    if _process is None:
        _process = Metrics()
    return _process
