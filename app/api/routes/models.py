"""GET /models: the model registry."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ServicesDep
from app.api.errors import responses
from app.api.schemas import ModelsOut, ModelVersionOut
from app.services.registry import BASELINES

router = APIRouter(tags=["models"])


@router.get(
    "/models",
    response_model=ModelsOut,
    summary="Registered model versions",
    responses=responses(429, 503),
)
def list_models(services: ServicesDep) -> ModelsOut:
    """Registered versions, newest first, the production one marked; then the baselines
    (`popularity`, `content`), which experiments may name as models. Versions are
    registered, promoted and retired with `jobrec models ...`."""
    rows = services.registry.versions()
    production = next((r.version for r in rows if r.status == "production"), None)
    models = [
        ModelVersionOut(
            version=r.version,
            kind="convfm",
            status=r.status,
            production=r.status == "production",
            registered_at=r.registered_at,
            promoted_at=r.promoted_at,
            retired_at=r.retired_at,
            metrics=r.metrics,
        )
        for r in rows
    ]
    models += [
        ModelVersionOut(version=name, kind="baseline", status="baseline", production=False)
        for name in BASELINES
    ]
    return ModelsOut(
        serving=services.serving.state.model_version, production=production, models=models
    )
