"""What a running experiment needs beside the served model: the experiment itself, the
other registered ConvFM versions its variants name (each with its own catalog snapshot,
kept up to date with the served one by the same job changes), and the baselines'
popularity counts. The store poller keeps it in sync (`Serving.refresh`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence

from app.repositories import CatalogJob
from app.repositories.experiments import ExperimentRow, Variant
from app.serving.baselines import BASELINES, Popularity
from app.serving.catalog import Catalog
from ml.checkpoint import Checkpoint, CheckpointError, load_checkpoint

log = logging.getLogger("jobrec.serving")


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

    def __init__(self, popularity_refresh_seconds: float) -> None:
        self.experiment: ExperimentRow | None = None
        self.popularity = Popularity()
        self.popularity_refresh_seconds = popularity_refresh_seconds
        self._popularity_at = -float("inf")
        self._models: dict[str, tuple[Checkpoint, Catalog]] = {}

    def model(self, version: str) -> tuple[Checkpoint, Catalog] | None:
        """A loaded variant model (other than the served one) and its catalog."""
        return self._models.get(version)

    def needs_popularity(self) -> bool:
        """Whether the counts are due: a running experiment names a baseline."""
        due = time.monotonic() - self._popularity_at >= self.popularity_refresh_seconds
        return due and self.experiment is not None and bool(self.experiment.models & {*BASELINES})

    def set_popularity(self, counts: dict[str, int]) -> None:
        self.popularity.update(counts)
        self._popularity_at = time.monotonic()

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
