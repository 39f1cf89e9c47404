"""Prometheus metrics of one app (its own registry, so several apps can share a process).

Exported at GET /metrics: request latency by route template, method and status; scored
candidates; and, read at scrape time, the serving model version and catalog size. With
WORKERS > 1 each worker process keeps its own values (scrape each, or run one worker).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512,
                   1.024, 2.048, 4.096)


class Metrics:
    def __init__(self, state: Callable[[], object | None]) -> None:
        """`state` returns the current `ServingState` (or None before start-up)."""
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "jobrec_http_request_duration_seconds", "HTTP request latency",
            ("route", "method", "status"), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.scored_candidates = Counter(
            "jobrec_scored_candidates", "catalog jobs scored by the model (after filters)",
            registry=self.registry)
        self.recommendations = Counter(
            "jobrec_recommendations", "recommendation lists served", ("cold_start",),
            registry=self.registry)
        self.registry.register(_ServingCollector(state))


class _ServingCollector:
    def __init__(self, state: Callable[[], object | None]) -> None:
        self.state = state

    def collect(self):
        state = self.state()
        if state is None:
            return
        info = GaugeMetricFamily("jobrec_model_info", "the serving model (value is 1)",
                                 labels=("model_version", "catalog_version"))
        info.add_metric((state.model_version, state.catalog.version), 1)
        yield info
        yield GaugeMetricFamily("jobrec_catalog_jobs", "active jobs in the serving catalog",
                                value=state.catalog.size)
