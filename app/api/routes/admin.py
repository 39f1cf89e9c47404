"""POST /admin/reload: swap in a new checkpoint and catalog without a restart."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.api.deps import ServicesDep
from app.api.errors import responses
from app.api.schemas import ReloadOut

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=ReloadOut,
    summary="Load a new model",
    responses=responses(401, 409, 429, 503),
)
async def reload_model(services: ServicesDep) -> ReloadOut:
    """Load the checkpoint at MODEL_PATH (for example after `jobrec train`) and rebuild the
    catalog, then switch to both at once. Requests in flight finish on the old model.
    If the checkpoint cannot be loaded, the old model keeps serving and the 409 says why.
    """
    previous, state = await run_in_threadpool(services.models.reload)
    return ReloadOut(
        previous_model_version=previous,
        model_version=state.model_version,
        catalog_version=state.catalog.version,
        catalog_size=state.catalog.size,
    )
