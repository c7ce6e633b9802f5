"""Prometheus metrics, one registry per app (so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chatdesk.db.outages import CAUSES

if TYPE_CHECKING:
    from chatdesk.runtime import Services

__all__ = ["Metrics"]


class _LiveValues(Collector):
    """Values read at scrape time from the running services."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        hub, db, limiter = self.services.hub, self.services.db, self.services.limiter
        yield GaugeMetricFamily(
            "chatdesk_open_streams", "Parked long-polls and open SSE streams", value=hub.parked
        )
        yield CounterMetricFamily(
            "chatdesk_events_published", "Wake-ups published after commit", value=hub.published
        )
        reads = CounterMetricFamily(
            "chatdesk_event_reads",
            "Reads of the event log made for delivery: the hub's reads of new events (fetch),"
            " its head polls (poll), listeners catching up from their cursor (catch_up)",
            labels=["reason"],
        )
        for reason, count in hub.reads.items():
            reads.add_metric([reason], count)
        yield reads
        yield CounterMetricFamily(
            "chatdesk_rate_limit_rejections", "Requests refused with 429", value=limiter.rejections
        )
        yield CounterMetricFamily(
            "chatdesk_rate_limit_local_counts",
            "Requests counted in this process's memory because Redis did not answer",
            value=limiter.counted_locally,
        )
        yield GaugeMetricFamily(
            "chatdesk_bus_connected",
            "1 while the wake-up bus reaches the other processes (0: Redis down, events polled)",
            value=1 if hub.bus.connected else 0,
        )
        outages = CounterMetricFamily(
            "chatdesk_database_unavailable",
            "Requests answered 503 because the database could not do them, by cause",
            labels=["cause"],
        )
        for cause in CAUSES:
            outages.add_metric([cause], db.outages.counts[cause])
        yield outages
        pool = GaugeMetricFamily(
            "chatdesk_db_connections_in_use", "Database connections checked out", labels=["pool"]
        )
        pool.add_metric(["read"], db.read_engine.pool.checkedout())  # type: ignore[attr-defined]
        pool.add_metric(["write"], db.write_engine.pool.checkedout())  # type: ignore[attr-defined]
        yield pool
        yield GaugeMetricFamily(
            "chatdesk_db_write_queue", "Units of work waiting for the writer", value=db.queued
        )
        yield from self._jobs()

    def _jobs(self) -> Iterator[Metric]:
        worker = self.services.worker
        described = {
            "enqueued": "Outbox jobs this process took up for their first attempt, by kind "
            "(every job is taken up once, by one process)",
            "delivered": "Outbox jobs this process delivered, by kind",
            "retried": "Attempts this process made that failed and left the job due again",
            "failed": "Outbox jobs this process marked failed for good, by kind",
        }
        for outcome, text in described.items():
            family = CounterMetricFamily(f"chatdesk_jobs_{outcome}", text, labels=["kind"])
            for (counted, kind), value in sorted(worker.counts.items()):
                if counted == outcome:
                    family.add_metric([kind], value)
            yield family
        yield GaugeMetricFamily(
            "chatdesk_jobs_in_flight", "Jobs this process is sending now", value=worker.in_flight
        )
        state = worker.state
        yield GaugeMetricFamily(
            "chatdesk_outbox_pending",
            "Jobs waiting to be sent (every kind and process), as of this worker's last look",
            value=state.pending if state else 0,
        )
        oldest = 0.0
        if state is not None and state.oldest_pending is not None:
            oldest = max(0.0, (self.services.clock() - state.oldest_pending).total_seconds())
        yield GaugeMetricFamily(
            "chatdesk_outbox_oldest_pending_seconds",
            "Age of the oldest job waiting to be sent, as of this worker's last look",
            value=oldest,
        )


class Metrics:
    """The app's registry and the metrics code updates as it runs."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "chatdesk_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "chatdesk_http_request_duration_seconds",
            "HTTP request latency by route (streams excluded)",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.messages = Counter(
            "chatdesk_messages_stored",
            "Messages stored, by author type",
            ["author"],
            registry=self.registry,
        )

        # Label children looked up once: ``labels()`` takes a lock and builds a key each call.
        self._per_request: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.visitor_messages = self.messages.labels("visitor")

    def watch(self, services: Services) -> None:
        self.registry.register(_LiveValues(services))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._per_request.get((method, route, status))
        if children is None:
            latency = None if route.endswith("/events") else self.latency.labels(method, route)
            children = (self.requests.labels(method, route, str(status)), latency)
            self._per_request[(method, route, status)] = children
        children[0].inc()
        if children[1] is not None:
            children[1].observe(seconds)
