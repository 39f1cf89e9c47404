"""One model version in full: the registry's row with what its checkpoint and training
report say (offline metrics, learning curve, feature importances, the convolution's
response, the retraining gate), for a registered version or the checkpoint served from
MODEL_PATH; and promoting a version from the API."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.errors import NotFoundError
from app.repositories.registry import ModelVersionRow
from app.services.registry import ModelRegistry
from app.serving.state import Serving
from ml.checkpoint import METADATA_FILE
from ml.experiment import REPORT_FILE

log = logging.getLogger("jobrec.models")


@dataclass(frozen=True)
class ModelDetail:
    version: str
    status: str  # registered | production | retired | serving (served, not registered)
    serving: bool  # this worker serves it now
    registered_at: datetime | None = None
    promoted_at: datetime | None = None
    retired_at: datetime | None = None
    trained_at: str | None = None
    data_cutoff: str | None = None
    model_config: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, Any] | None = None
    ablations: dict[str, Any] | None = None
    explain: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    training: dict[str, Any] | None = None  # best_epoch, seconds, epochs: the report's


class ModelDetails:
    def __init__(self, registry: ModelRegistry, serving: Serving) -> None:
        self.registry = registry
        self.serving = serving

    def get(self, version: str) -> ModelDetail:
        """The registered `version`, or the checkpoint served now when it is not
        registered; NotFoundError otherwise."""
        served = self.serving.state
        try:
            row: ModelVersionRow | None = self.registry.get(version)
        except NotFoundError:
            if version != served.model_version:
                raise
            row = None
        if row is None:
            folder = Path(self.serving.served_path)
            metadata = served.checkpoint.metadata
        else:
            folder = Path(row.path)
            metadata = _json(folder / METADATA_FILE) or {}
        report = _json(folder / REPORT_FILE) or {}
        return ModelDetail(
            version=version,
            status=row.status if row else "serving",
            serving=version == served.model_version,
            registered_at=row.registered_at if row else None,
            promoted_at=row.promoted_at if row else None,
            retired_at=row.retired_at if row else None,
            trained_at=metadata.get("trained_at"),
            data_cutoff=metadata.get("data_cutoff"),
            model_config=metadata.get("model_config", {}),
            train_config=metadata.get("train_config"),
            metrics=metadata.get("metrics", {}),
            baselines=metadata.get("baselines"),
            ablations=metadata.get("ablations"),
            explain=metadata.get("explain"),
            gate=metadata.get("gate") or (row.metrics.get("gate") if row else None),
            training=_training(report.get("training")),
        )

    def promote(self, version: str) -> ModelVersionRow:
        """Make `version` production (`ModelRegistry.promote`'s checks) and serve it in
        this worker before answering (as POST /admin/reload loads a checkpoint); the
        other workers find it within CATALOG_REFRESH_SECONDS."""
        row = self.registry.promote(version)
        self.serving.reload()
        return row


def _training(training: Any) -> dict[str, Any] | None:
    """The report's training summary without its ablations' histories."""
    if not isinstance(training, dict):
        return None
    return {k: v for k, v in training.items() if k != "ablations"}


def _json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`; None when it is missing or unreadable."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.debug("no %s: %s", path, exc)
        return None
    return value if isinstance(value, dict) else None
