"""Importers: sources -> validated inputs (app.schemas) -> the repository layer.

Every importer is idempotent: entities are upserted by external id and events carry a
deterministic idempotency key, so running an import twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.repositories import CHUNK, EventRepository, EventRow, JobRepository, UserRepository
from app.schemas import JobIn, UserIn


@dataclass
class ImportResult:
    users: int = 0
    jobs: int = 0
    events_read: int = 0
    events_inserted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def write_all(
    factory: sessionmaker[Session],
    *,
    jobs: Sequence[tuple[str, JobIn]] = (),
    users: Sequence[tuple[str, UserIn]] = (),
    events: Sequence[EventRow] = (),
    batch: int = CHUNK * 10,
) -> ImportResult:
    """Upsert jobs and users, then insert events, committing batch by batch."""
    result = ImportResult()
    for start in range(0, len(jobs), batch):
        with session_scope(factory) as session:
            result.jobs += len(JobRepository(session).upsert(jobs[start : start + batch]))
    for start in range(0, len(users), batch):
        with session_scope(factory) as session:
            result.users += len(UserRepository(session).upsert(users[start : start + batch]))
    result.events_read = len(events)
    for start in range(0, len(events), batch):
        with session_scope(factory) as session:
            result.events_inserted += EventRepository(session).add(events[start : start + batch])
    return result
