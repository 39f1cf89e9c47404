"""Users, jobs and events: PUT/GET /users/{id}, PUT/GET /jobs/{id}, POST /events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response, status

from app.api.convert import job_out, user_out
from app.api.deps import RecommenderDep, SessionDep
from app.api.errors import BODY, responses
from app.api.schemas import EventCreate, EventOut, JobIn, JobOut, UserIn, UserOut
from app.recommender import NotFoundError
from app.repositories import EventRow, Store

router = APIRouter()  # reads: open
writes = APIRouter()  # upserts and events: X-API-Key when API_KEY is set
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f/]+$",
                             description="the source's own id")]


@writes.put("/users/{user_id}", response_model=UserOut, tags=["users"],
            summary="Create or replace a user",
            responses={201: {"model": UserOut, "description": "created"},
                       **responses(401, *BODY, 429, 503)})
def put_user(user_id: IdPath, body: UserIn, session: SessionDep,
             response: Response, recommender: RecommenderDep) -> UserOut:
    """Create or replace a user's profile; the next recommendation uses it."""
    store = Store(session)
    created = store.get_user(user_id) is None
    store.upsert_users([(user_id, body)])
    session.commit()
    recommender.user_changed(user_id)
    session.expire_all()
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return user_out(store.get_user(user_id))


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"],
            summary="Read a user", responses=responses(404, 422, 429, 503))
def get_user(user_id: IdPath, session: SessionDep) -> UserOut:
    """The stored profile of a user, as normalised (place, skills, annual salary)."""
    user = Store(session).get_user(user_id)
    if user is None:
        raise NotFoundError(f"user {user_id!r} not found")
    return user_out(user)


@writes.put("/jobs/{job_id}", response_model=JobOut, tags=["jobs"],
            summary="Create or replace a job",
            responses={201: {"model": JobOut, "description": "created"},
                       **responses(401, *BODY, 429, 503)})
def put_job(job_id: IdPath, body: JobIn, session: SessionDep, response: Response,
            recommender: RecommenderDep) -> JobOut:
    """Create or replace a job; the catalog is updated before this returns."""
    store = Store(session)
    created = store.get_job(job_id) is None
    store.upsert_jobs([(job_id, body)])
    session.commit()
    session.expire_all()
    recommender.refresh_catalog(session, force=True)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return job_out(store.get_job(job_id))


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"], summary="Read a job",
            responses=responses(404, 422, 429, 503))
def get_job(job_id: IdPath, session: SessionDep) -> JobOut:
    """A stored job, as normalised (place, skills, annualised salary), active or not."""
    job = Store(session).get_job(job_id)
    if job is None:
        raise NotFoundError(f"job {job_id!r} not found")
    return job_out(job)


@writes.post("/events", response_model=EventOut, status_code=status.HTTP_201_CREATED,
             tags=["events"], summary="Record an interaction",
             responses={200: {"model": EventOut, "description": "already recorded"},
                        **responses(401, 404, *BODY, 429, 503)})
def post_event(body: EventCreate, session: SessionDep, response: Response,
               recommender: RecommenderDep,
               idempotency_key: Annotated[str | None, Header(
                   min_length=1, max_length=128, description="same as the body's "
                   "`idempotency_key` (the body wins when both are sent)")] = None,
               ) -> EventOut:
    """Record an interaction; the user's next recommendation counts it. 201 is sent only
    after the event is committed; a retry with the same idempotency key (the
    `Idempotency-Key` header or the body's `idempotency_key`) answers 200 and records
    nothing new, even when the retries race."""
    key = body.idempotency_key or idempotency_key
    timestamp = body.timestamp or datetime.now(UTC)
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    inserted = Store(session).add_events([EventRow(body.user_id, body.job_id, body.type,
                                                   timestamp, key)])
    session.commit()
    if inserted:
        recommender.user_changed(body.user_id)
    else:
        response.status_code = status.HTTP_200_OK
    return EventOut(user_id=body.user_id, job_id=body.job_id, type=body.type,
                    timestamp=timestamp, created=bool(inserted))
