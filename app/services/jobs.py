"""Jobs: create or replace a posting (the catalog follows before the call returns), read
one."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app import models as m
from app.db import session_scope
from app.errors import NotFoundError
from app.repositories import JobRepository
from app.schemas import JobIn
from app.serving.state import Serving


class JobService:
    def __init__(self, factory: sessionmaker[Session], serving: Serving) -> None:
        self.factory = factory
        self.serving = serving

    def put(self, job_id: str, job: JobIn) -> tuple[m.Job, bool]:
        """Create or replace the job; returns the stored job and whether it is new. The
        serving catalog has it (or no longer ranks it) when this returns."""
        with session_scope(self.factory) as session:
            jobs = JobRepository(session)
            created = jobs.get(job_id) is None
            jobs.upsert([(job_id, job)])
        self.serving.refresh()
        return self.get(job_id), created

    def get(self, job_id: str) -> m.Job:
        """The stored job (place, company and skills loaded); NotFoundError if none."""
        with session_scope(self.factory) as session:
            job = JobRepository(session).get(job_id)
        if job is None:
            raise NotFoundError(f"job {job_id!r} not found")
        return job
