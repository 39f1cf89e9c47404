"""The repository layer: one module per aggregate (users, jobs, events) and the catalog
reads of serving; every read and write of the store goes through them. A service opens
the session, uses the repositories it needs and commits."""

from app.repositories.base import CHUNK, as_utc, counts
from app.repositories.catalog import CatalogJob, CatalogReader
from app.repositories.events import EventRepository, EventRow
from app.repositories.jobs import JobRepository
from app.repositories.users import UserRepository

__all__ = [
    "CHUNK",
    "CatalogJob",
    "CatalogReader",
    "EventRepository",
    "EventRow",
    "JobRepository",
    "UserRepository",
    "as_utc",
    "counts",
]
