"""What a running experiment needs beside the served model: the experiment itself, the
other registered ConvFM versions its variants name (each a `ModelView` of the served
catalog: shared jobs, filters and features, its own job-side precompute), and the
baselines' signals (popularity, trending). The store poller keeps it in sync
(`Serving.refresh`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace

from app.repositories.experiments import ExperimentRow, Variant
from app.serving.baselines import BASELINES, Signals
from app.serving.catalog import Catalog, CatalogPart
from ml.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from ml.scoring import CatalogScorer

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
        self._views: dict[str, ModelView] = {}

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
    ) -> None:
        """Take `experiment` (the running one, or None) and hold the models it names
        that are not served (`registered` maps versions to their paths), each with its
        view of the served `catalog` snapshot (`ModelView`)."""
        self.experiment = experiment
        wanted = set()
        if experiment is not None:
            wanted = {m for m in experiment.models if m in registered and m != served.version}
        views = {}
        for version in wanted:
            view = self._views.get(version)
            if view is None:
                view = self._load(registered[version], served)
            if view is not None:
                views[version] = view
        self._views = views
        self._models = {v: (view.checkpoint, view.catalog(catalog)) for v, view in views.items()}

    def _load(self, path: str, served: Checkpoint) -> ModelView | None:
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as exc:
            log.warning("an experiment's model did not load (the served one stands in): %s", exc)
            return None
        log.info("loaded %s for the running experiment", checkpoint.version)
        return ModelView(
            checkpoint, same_features=checkpoint.space.to_json() == served.space.to_json()
        )


class ModelView:
    """Another model's view of the served catalog snapshots: the same jobs, filter
    columns and visibility (shared, not copied), the served parts' encoded features when
    the model's feature space encodes jobs as the served one does (else its own), and
    only the model's own job-side precompute (`CatalogScorer`), made once per part."""

    def __init__(self, checkpoint: Checkpoint, *, same_features: bool) -> None:
        self.checkpoint = checkpoint
        self.same_features = same_features
        self._parts: dict[int, tuple[CatalogPart, CatalogPart]] = {}  # id(served) -> pair

    def catalog(self, served: Catalog) -> Catalog:
        """`served` as this model ranks it."""
        parts = {}
        for part in (served.base, served.delta):
            if part is None:
                continue
            held = self._parts.get(id(part))
            if held is None or held[0] is not part:
                held = (part, self._part(part))
            parts[id(part)] = held
        self._parts = parts  # the parts of older snapshots go
        delta = parts[id(served.delta)][1] if served.delta is not None else None
        return replace(served, base=parts[id(served.base)][1], delta=delta)

    def _part(self, part: CatalogPart) -> CatalogPart:
        model, space = self.checkpoint.model, self.checkpoint.space
        if self.same_features:
            features = part.scorer.jobs
        else:
            features = space.encode_jobs([job.record for job in part.jobs])
        return replace(part, scorer=CatalogScorer(model, space, features))
