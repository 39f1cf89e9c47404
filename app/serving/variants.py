"""What a running experiment needs beside the served model: the experiment itself, the
other registered ConvFM versions its variants name (each with its own catalog snapshot,
kept up to date with the served one by the same job changes), and the baselines'
signals (popularity, trending). The store poller keeps it in sync (`Serving.refresh`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence

from app.repositories import CatalogJob
from app.repositories.experiments import ExperimentRow, Variant
from app.serving.baselines import BASELINES, Signals
from app.serving.catalog import Catalog
from ml.checkpoint import Checkpoint, CheckpointError, load_checkpoint

log = logging.getLogger("jobrec.serving")
SIGNALS_KEPT_SECONDS = 3600.0  # signals a request asked for are kept fresh this long


def assign(experiment: ExperimentRow, user_id: str) -> Variant:
    """The user's variant: the same for the same (experiment, user) in every worker and
    every run, in proportion to the traffic shares. SHA-256 of both names, as a number in
    [0, 1), against the cumulative shares."""
    digest = hashlib.sha256(f"{experiment.name}\x00{user_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for variant in experiment.variants:
        cumulative += variant.traffic
        if point < cumulative:
            return variant
    return experiment.variants[-1]  # shares summing to 1 within rounding


class VariantModels:
    """Thread-safe to read: the poller replaces whole values, readers take them once."""

    def __init__(self, signals_refresh_seconds: float) -> None:
        self.experiment: ExperimentRow | None = None
        self.signals = Signals()
        self.signals_refresh_seconds = signals_refresh_seconds
        self._signals_at = -float("inf")  # when the signals were last read
        self._asked_at = -float("inf")  # when a request last needed them
        self._models: dict[str, tuple[Checkpoint, Catalog]] = {}

    def model(self, version: str) -> tuple[Checkpoint, Catalog] | None:
        """A loaded variant model (other than the served one) and its catalog."""
        return self._models.get(version)

    def ask(self) -> bool:
        """A request needs the signals: keep them fresh for the next hour. Whether they
        were never read (the caller reads them now)."""
        self._asked_at = time.monotonic()
        return self._signals_at == -float("inf")

    def needs_signals(self) -> bool:
        """Whether the signals are due: a running experiment names a baseline, or a
        request asked for them within the hour."""
        now = time.monotonic()
        if now - self._signals_at < self.signals_refresh_seconds:
            return False
        named = self.experiment is not None and bool(self.experiment.models & {*BASELINES})
        return named or now - self._asked_at < SIGNALS_KEPT_SECONDS

    def set_signals(self, popularity: dict[str, float], trending: dict[str, float]) -> None:
        self.signals.popularity.update(popularity)
        self.signals.trending.update(trending)
        self._signals_at = time.monotonic()

    def sync(
        self,
        experiment: ExperimentRow | None,
        registered: dict[str, str],
        served: Checkpoint,
        catalog: Catalog,
        changed: Sequence[CatalogJob],
        max_delta: int,
    ) -> None:
        """Take `experiment` (the running one, or None) and hold the models it names
        that are not served: `registered` maps versions to their paths; `catalog` is the
        served snapshot after `changed` jobs were applied to it."""
        self.experiment = experiment
        wanted = set()
        if experiment is not None:
            wanted = {m for m in experiment.models if m in registered and m != served.version}
        models = {}
        for version in wanted:
            held = self._models.get(version)
            if held is None:
                held = self._load(registered[version], catalog)
            elif changed:
                checkpoint, own = held
                own = own.apply(changed, checkpoint.model, checkpoint.space, max_delta=max_delta)
                held = (checkpoint, own)
            if held is not None:
                models[version] = held
        self._models = models

    def _load(self, path: str, catalog: Catalog) -> tuple[Checkpoint, Catalog] | None:
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as exc:
            log.warning("an experiment's model did not load (the served one stands in): %s", exc)
            return None
        own = Catalog.build(catalog.active_jobs(), checkpoint.model, checkpoint.space)
        log.info("loaded %s for the running experiment", checkpoint.version)
        return checkpoint, own
