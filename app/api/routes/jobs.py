"""PUT /jobs/{job_id} and GET /jobs/{job_id}."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.convert import job_out
from app.api.deps import ServicesDep
from app.api.errors import BODY, responses
from app.api.schemas import IdPath, JobIn, JobOut

router = APIRouter(tags=["jobs"])  # reads: open
writes = APIRouter(tags=["jobs"])  # X-API-Key when API_KEY is set


@writes.put(
    "/jobs/{job_id}",
    response_model=JobOut,
    summary="Create or replace a job",
    responses={201: {"model": JobOut, "description": "created"}, **responses(401, *BODY, 429, 503)},
)
def put_job(job_id: IdPath, body: JobIn, services: ServicesDep, response: Response) -> JobOut:
    """Create or replace a job; the catalog is updated before this returns."""
    job, created = services.jobs.put(job_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return job_out(job)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    summary="Read a job",
    responses=responses(404, 422, 429, 503),
)
def get_job(job_id: IdPath, services: ServicesDep) -> JobOut:
    """A stored job, as normalised (place, skills, annualised salary), active or not."""
    return job_out(services.jobs.get(job_id))
