"""What training reads from the store: every user, job and interaction."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.repositories import EventRepository, JobRepository, UserRepository
from ml.records import Interaction, JobRecord, UserRecord


def training_records(
    factory: sessionmaker[Session],
) -> tuple[list[UserRecord], list[JobRecord], list[Interaction]]:
    """(users, jobs, interactions) as model records, read in one transaction."""
    with session_scope(factory) as session:
        return (
            UserRepository(session).records(),
            JobRepository(session).records(),
            EventRepository(session).interactions(),
        )
