"""Prometheus metrics of one app (its own registry, so several apps can share a process).

Exported at GET /metrics: request latency by route template, method and status; scored
candidates; and, read at scrape time, the serving model version and catalog size.

With several worker processes (`jobrec serve --workers N`), each one writes its counts
to files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode, chosen when
it is imported) and a scrape, whichever worker answers it, sums every worker's files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

if TYPE_CHECKING:
    from app.serving.state import ServingState

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.004,
    0.008,
    0.016,
    0.032,
    0.064,
    0.128,
    0.256,
    0.512,
    1.024,
    2.048,
    4.096,
)


class Metrics:
    def __init__(self, state: Callable[[], ServingState | None]) -> None:
        """`state` returns the current `ServingState` (or None before start-up)."""
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "jobrec_http_request_duration_seconds",
            "HTTP request latency",
            ("route", "method", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scored_candidates = Counter(
            "jobrec_scored_candidates",
            "catalog jobs scored by the model (after filters)",
            registry=self.registry,
        )
        self.recommendations = Counter(
            "jobrec_recommendations",
            "recommendation lists served",
            ("cold_start",),
            registry=self.registry,
        )
        self.kept_answers = Counter(
            "jobrec_kept_answers",
            "recommendation lists served from the answers kept "
            "for repeated requests (nothing scored)",
            registry=self.registry,
        )
        self.serving = _ServingCollector(state)
        self.registry.register(self.serving)

    def exposition(self) -> bytes:
        """The Prometheus text format: this process's values, or every worker's summed
        in multiprocess mode (the serving gauges come from the answering worker)."""
        if MULTIPROCESS_DIR not in os.environ:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(self.serving)
        return generate_latest(registry)


class _ServingCollector:
    def __init__(self, state: Callable[[], ServingState | None]) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self.state()
        if state is None:
            return
        info = GaugeMetricFamily(
            "jobrec_model_info",
            "the serving model (value is 1)",
            labels=("model_version", "catalog_version"),
        )
        info.add_metric((state.model_version, state.catalog.version), 1)
        yield info
        yield GaugeMetricFamily(
            "jobrec_catalog_jobs", "active jobs in the serving catalog", value=state.catalog.size
        )
