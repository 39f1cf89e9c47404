"""The model registry: checkpoints registered as versions (copied under the registry
folder, so a later training run cannot change them), one of them in production (what
every worker serves: each finds a newly promoted version within
CATALOG_REFRESH_SECONDS), old ones retired. The baselines (`popularity`, `content`)
are always there as models for experiments to name; they are not registered."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.errors import ConflictError, InvalidInputError, NotFoundError
from app.repositories.registry import ModelVersionRow, RegistryRepository
from app.serving.baselines import BASELINES
from ml.checkpoint import METADATA_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint

REPORT_FILES = ("report.json", "learning_curve.png")  # copied with the checkpoint when there


class ModelRegistry:
    def __init__(self, factory: sessionmaker[Session], folder: Path) -> None:
        self.factory = factory
        self.folder = folder

    def versions(self) -> list[ModelVersionRow]:
        """Every registered version, newest first."""
        with session_scope(self.factory) as session:
            return RegistryRepository(session).all()

    def get(self, version: str) -> ModelVersionRow:
        """NotFoundError when `version` is not registered."""
        with session_scope(self.factory) as session:
            row = RegistryRepository(session).get(version)
        if row is None:
            raise NotFoundError(f"model version {version!r} is not registered")
        return row

    def register(self, path: Path) -> tuple[ModelVersionRow, bool]:
        """Copy the checkpoint at `path` into the registry as its own version (once: a
        version registered before is returned as it is, with False). A retraining gate
        in its metadata is kept with its metrics."""
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as exc:
            raise InvalidInputError(f"not a checkpoint that loads: {exc}") from None
        version = checkpoint.version
        with session_scope(self.factory) as session:
            known = RegistryRepository(session).get(version)
        if known is not None:
            return known, False
        target = self._copy(path, version)
        metrics = {
            "metrics": checkpoint.metadata.get("metrics", {}),
            "baselines": checkpoint.metadata.get("baselines"),
            "trained_at": checkpoint.metadata.get("trained_at"),
            "data_fingerprint": checkpoint.metadata.get("data_fingerprint", ""),
            **({"gate": checkpoint.metadata["gate"]} if "gate" in checkpoint.metadata else {}),
        }
        with session_scope(self.factory) as session:
            created = RegistryRepository(session).add(version, str(target.resolve()), metrics)
        return self.get(version), created

    def _copy(self, path: Path, version: str) -> Path:
        """`path`'s checkpoint files in `<folder>/<version>`, written whole or not at all."""
        target = self.folder / version
        if (target / METADATA_FILE).is_file():
            return target
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self.folder))
        for name in (WEIGHTS_FILE, METADATA_FILE, *REPORT_FILES):
            if (path / name).is_file():
                shutil.copy2(path / name, staging / name)
        load_checkpoint(staging)  # the copy is whole
        staging.rename(target)
        return target

    def promote(self, version: str) -> ModelVersionRow:
        """Make `version` the production model (the one before stays registered)."""
        if version in BASELINES:
            raise ConflictError(
                f"{version!r} is a baseline: experiments may name it, it is not promoted"
            )
        row = self.get(version)
        if row.status == "retired":
            raise ConflictError(f"model version {version!r} is retired: register it again")
        try:
            load_checkpoint(row.path)
        except CheckpointError as exc:
            raise ConflictError(f"model version {version!r} no longer loads: {exc}") from None
        with session_scope(self.factory) as session:
            RegistryRepository(session).promote(version)
        return self.get(version)

    def retire(self, version: str) -> ModelVersionRow:
        """Retire `version`: no experiment may name it; the production one is refused."""
        row = self.get(version)
        if row.status == "production":
            raise ConflictError(
                f"model version {version!r} is in production: promote another version first"
            )
        with session_scope(self.factory) as session:
            RegistryRepository(session).retire(version)
        return self.get(version)

    def production(self) -> ModelVersionRow | None:
        with session_scope(self.factory) as session:
            return RegistryRepository(session).production()
