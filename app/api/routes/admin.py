"""POST /admin/reload: swap in a new checkpoint and catalog without a restart."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.api.deps import RecommenderDep, SettingsDep
from app.api.errors import ReloadError, responses
from app.api.schemas import ReloadOut
from ml.checkpoint import CheckpointError

router = APIRouter(prefix="/admin", tags=["admin"])
log = logging.getLogger("jobrec.admin")


@router.post("/reload", response_model=ReloadOut, summary="Load a new model",
             responses=responses(401, 409, 429, 503))
async def reload_model(recommender: RecommenderDep, settings: SettingsDep) -> ReloadOut:
    """Load the checkpoint at MODEL_PATH (for example after `jobrec train`) and rebuild the
    catalog, then switch to both at once. Requests in flight finish on the old model.
    If the checkpoint cannot be loaded, the old model keeps serving and the 409 says why.
    """
    previous = recommender.state.model_version
    try:
        state = await run_in_threadpool(recommender.reload, settings.model_path)
    except CheckpointError as exc:
        log.warning("reload refused: %s", exc)
        raise ReloadError(f"the checkpoint was not loaded, the previous model keeps "
                          f"serving: {exc}") from None
    log.info("reloaded model %s -> %s", previous, state.model_version)
    return ReloadOut(previous_model_version=previous, model_version=state.model_version,
                     catalog_version=state.catalog.version, catalog_size=state.catalog.size)
