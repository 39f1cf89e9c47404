"""Prometheus metrics of one app (its own registry, so several apps can share a process).

Exported at GET /metrics: request latency by route template, method and status; scored
candidates; and, read at scrape time, the serving model version and catalog size.

With several worker processes (`jobrec serve --workers N`), each one writes its counts
to files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode, chosen when
it is imported) and a scrape, whichever worker answers it, sums every worker's files.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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

    def latency(self, quantiles: Sequence[float] = (0.5, 0.95, 0.99)) -> list[RouteLatency]:
        """Latency percentiles per route and method since start-up (every status),
        estimated from the histogram's buckets as Prometheus' `histogram_quantile` does;
        the busiest routes first."""
        registry = self.registry
        if MULTIPROCESS_DIR in os.environ:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)
        for family in registry.collect():
            if family.name != "jobrec_http_request_duration_seconds":
                continue
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    key = (sample.labels["route"], sample.labels["method"])
                    bound = float(sample.labels["le"])
                    buckets[key][bound] = buckets[key].get(bound, 0.0) + sample.value
        rows = [
            RouteLatency(
                route,
                method,
                int(counts[math.inf]),
                tuple(quantile(sorted(counts.items()), q) for q in quantiles),
            )
            for (route, method), counts in buckets.items()
            if counts.get(math.inf)
        ]
        return sorted(rows, key=lambda r: (-r.count, r.route))


@dataclass(frozen=True)
class RouteLatency:
    route: str
    method: str
    count: int
    seconds: tuple[float | None, ...]  # one per asked quantile


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The `q` quantile of a cumulative histogram, `(upper bound, count)` sorted by bound
    and ending with +Inf: linear within the bucket it falls in; the highest finite
    bound when it falls in the +Inf bucket; None when it is empty.

    >>> round(quantile([(0.1, 5.0), (0.2, 10.0), (math.inf, 10.0)], 0.75), 6)
    0.15
    """
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


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
