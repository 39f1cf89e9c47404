"""The model registry's rows: registered versions and which one is in production."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from app import models as m
from app.repositories.base import Repository, as_utc, utc


@dataclass(frozen=True)
class ModelVersionRow:
    version: str
    path: str
    status: str  # registered | production | retired
    metrics: dict[str, Any]
    registered_at: datetime
    promoted_at: datetime | None = None
    retired_at: datetime | None = None


def _row(r: m.ModelVersion) -> ModelVersionRow:
    return ModelVersionRow(
        version=r.version,
        path=r.path,
        status=r.status,
        metrics=r.metrics,
        registered_at=utc(r.registered_at),
        promoted_at=as_utc(r.promoted_at),
        retired_at=as_utc(r.retired_at),
    )


class RegistryRepository(Repository):
    def all(self) -> list[ModelVersionRow]:
        """Every registered version, newest first."""
        rows = self.session.scalars(
            select(m.ModelVersion).order_by(m.ModelVersion.registered_at.desc())
        )
        return [_row(r) for r in rows]

    def get(self, version: str) -> ModelVersionRow | None:
        row = self.session.get(m.ModelVersion, version)
        return _row(row) if row is not None else None

    def production(self) -> ModelVersionRow | None:
        row = self.session.scalars(
            select(m.ModelVersion).where(m.ModelVersion.status == "production")
        ).first()
        return _row(row) if row is not None else None

    def add(self, version: str, path: str, metrics: dict[str, Any]) -> bool:
        """Register `version` (False, nothing written, when it is already registered)."""
        table = m.table(m.ModelVersion)
        stmt = (
            self._insert(table)
            .values(
                version=version,
                path=path,
                status="registered",
                metrics=metrics,
                registered_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["version"])
            .returning(table.c.version)
        )
        return self.session.execute(stmt).first() is not None

    def promote(self, version: str) -> None:
        """`version` becomes production; the production one before it is registered."""
        self.session.execute(
            update(m.ModelVersion)
            .where(m.ModelVersion.status == "production")
            .values(status="registered")
        )
        self.session.execute(
            update(m.ModelVersion)
            .where(m.ModelVersion.version == version)
            .values(status="production", promoted_at=datetime.now(UTC), retired_at=None)
        )

    def retire(self, version: str) -> None:
        self.session.execute(
            update(m.ModelVersion)
            .where(m.ModelVersion.version == version)
            .values(status="retired", retired_at=datetime.now(UTC))
        )
