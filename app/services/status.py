"""What an operator looks at: the catalog and its freshness, events written per minute
by type, and the retraining gate's last decision (the registry's newest version that
went through `jobrec retrain`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.repositories.events import EventRepository
from app.repositories.registry import RegistryRepository
from app.serving.state import Serving


@dataclass(frozen=True)
class EventRate:
    minute: datetime
    type: str
    count: int


@dataclass(frozen=True)
class GateDecision:
    version: str  # the candidate it let in
    registered_at: datetime
    status: str
    gate: dict[str, Any]  # metric, candidate, production, tolerance, test_users, passed


@dataclass(frozen=True)
class Status:
    model_version: str
    catalog_version: str
    catalog_size: int
    catalog_updated_at: datetime | None  # newest job change the catalog holds
    window_minutes: int
    events: list[EventRate]
    last_gate: GateDecision | None


class StatusService:
    def __init__(self, factory: sessionmaker[Session], serving: Serving) -> None:
        self.factory = factory
        self.serving = serving

    def status(self, window_minutes: int = 30) -> Status:
        """The serving state and, over the last `window_minutes`, the events written."""
        state = self.serving.state
        since = datetime.now(UTC) - timedelta(minutes=window_minutes)
        with session_scope(self.factory) as session:
            rates = EventRepository(session).per_minute(since)
            versions = RegistryRepository(session).all()
        gated = next((r for r in versions if "gate" in r.metrics), None)
        return Status(
            model_version=state.model_version,
            catalog_version=state.catalog.version,
            catalog_size=state.catalog.size,
            catalog_updated_at=state.catalog.watermark,
            window_minutes=window_minutes,
            events=[EventRate(at, kind, count) for at, kind, count in rates],
            last_gate=GateDecision(
                gated.version, gated.registered_at, gated.status, gated.metrics["gate"]
            )
            if gated
            else None,
        )
