"""PUT /users/{user_id} and GET /users/{user_id}."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.convert import user_out
from app.api.deps import ServicesDep
from app.api.errors import BODY, responses
from app.api.schemas import IdPath, UserIn, UserOut

router = APIRouter(tags=["users"])  # reads: open
writes = APIRouter(tags=["users"])  # X-API-Key when API_KEY is set


@writes.put(
    "/users/{user_id}",
    response_model=UserOut,
    summary="Create or replace a user",
    responses={
        201: {"model": UserOut, "description": "created"},
        **responses(401, *BODY, 429, 503),
    },
)
def put_user(user_id: IdPath, body: UserIn, services: ServicesDep, response: Response) -> UserOut:
    """Create or replace a user's profile; the next recommendation uses it."""
    user, created = services.users.put(user_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return user_out(user)


@router.get(
    "/users/{user_id}",
    response_model=UserOut,
    summary="Read a user",
    responses=responses(404, 422, 429, 503),
)
def get_user(user_id: IdPath, services: ServicesDep) -> UserOut:
    """The stored profile of a user, as normalised (place, skills, annual salary)."""
    return user_out(services.users.get(user_id))
