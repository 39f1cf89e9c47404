"""POST /events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from app.api.deps import ServicesDep
from app.api.errors import BODY, responses
from app.api.schemas import EventCreate, EventOut
from app.repositories import EventRow

writes = APIRouter(tags=["events"])  # X-API-Key when API_KEY is set


@writes.post(
    "/events",
    response_model=EventOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record an interaction",
    responses={
        200: {"model": EventOut, "description": "already recorded"},
        **responses(401, 404, *BODY, 429, 503),
    },
)
def post_event(
    body: EventCreate,
    services: ServicesDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=128,
            description="same as the body's `idempotency_key` (the body wins when both are sent)",
        ),
    ] = None,
) -> EventOut:
    """Record an interaction; the user's next recommendation counts it. An event that
    names a `recommendation_id` is attributed to that answer; one that was not issued to
    this user is refused (422, nothing written). 201 is sent only
    after the event is committed; a retry with the same idempotency key (the
    `Idempotency-Key` header or the body's `idempotency_key`) answers 200 and records
    nothing new, even when the retries race."""
    timestamp = body.timestamp or datetime.now(UTC)
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    created = services.events.record(
        EventRow(
            body.user_id,
            body.job_id,
            body.type,
            timestamp,
            body.idempotency_key or idempotency_key,
            recommendation_id=body.recommendation_id,
            position=body.position,
        )
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return EventOut(
        user_id=body.user_id,
        job_id=body.job_id,
        type=body.type,
        timestamp=timestamp,
        recommendation_id=body.recommendation_id,
        position=body.position,
        created=created,
    )
