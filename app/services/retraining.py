"""Continuous retraining: a candidate trained from the production model on the store's
new events (`ml.retrain`), registered only when it passes the gate against production,
then promoted or challenged in an experiment when asked."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.errors import ConflictError
from app.repositories.experiments import Variant
from app.services.experiments import ExperimentService
from app.services.registry import ModelRegistry
from app.services.training import training_records
from ml.checkpoint import Checkpoint, load_checkpoint
from ml.config import Config, TrainConfig
from ml.retrain import Gate, retrain

log = logging.getLogger("jobrec.retrain")


@dataclass(frozen=True)
class Outcome:
    production: str  # the version the candidate started from
    candidate: str
    path: Path
    gate: Gate
    registered: bool
    promoted: bool = False
    experiment: str | None = None
    note: str = ""  # what was not done, and why


class Retrainer:
    def __init__(
        self,
        factory: sessionmaker[Session],
        registry: ModelRegistry,
        *,
        model_path: Path,
        work_dir: Path,
    ) -> None:
        self.factory = factory
        self.registry = registry
        self.model_path = model_path
        self.work_dir = work_dir

    def production(self) -> Checkpoint:
        """The production version, registered now if the served one is MODEL_PATH's
        checkpoint (so that experiments and the registry can name it)."""
        row = self.registry.production()
        if row is None:
            row, _ = self.registry.register(self.model_path)
            row = self.registry.promote(row.version)
            log.info("registered the served checkpoint as production: %s", row.version)
        return load_checkpoint(row.path)

    def run(
        self,
        *,
        tolerance: float,
        replay_share: float,
        epochs: int | None = None,
        promote: bool = False,
        challenge: float | None = None,
        progress: bool = False,
    ) -> Outcome:
        """One retraining. NothingNewError (from `ml.retrain`) when no event came since
        the production model's data cut-off."""
        production = self.production()
        meta = production.metadata
        train = TrainConfig.model_validate(
            {**meta.get("train_config", {}), "ablations": []}
            | ({"epochs": epochs} if epochs else {})
        )
        config = Config(
            model=production.model.config, features=production.space.config, train=train
        )
        users, jobs, interactions = training_records(self.factory)
        out = self.work_dir / f"candidate-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}"
        metadata, gate = retrain(
            production,
            users,
            jobs,
            interactions,
            config,
            out,
            tolerance=tolerance,
            replay_share=replay_share,
            progress=progress,
        )
        outcome = Outcome(production.version, metadata["model_version"], out, gate, False)
        if not gate.passed:
            return outcome
        row, _ = self.registry.register(out)
        outcome = Outcome(production.version, row.version, Path(row.path), gate, True)
        if promote:
            self.registry.promote(row.version)
            return replace(outcome, promoted=True)
        if challenge:
            return self._challenge(outcome, challenge)
        return outcome

    def _challenge(self, outcome: Outcome, share: float) -> Outcome:
        """An experiment: production against the candidate on `share` of the users."""
        name = f"challenge-{outcome.candidate}"[:64]
        variants = (
            Variant("production", outcome.production, 1 - share),
            Variant("candidate", outcome.candidate, share),
        )
        try:
            ExperimentService(self.factory, None).start(name, "production", variants)
        except ConflictError as exc:
            return replace(outcome, note=f"no experiment started: {exc}")
        return replace(outcome, experiment=name)
