"""The model registry: list the versions, read one in full, promote one."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Path

from app.api.deps import ServicesDep
from app.api.errors import responses
from app.api.schemas import ModelDetailOut, ModelsOut, ModelVersionOut
from app.repositories.registry import ModelVersionRow
from app.services.registry import BASELINES

router = APIRouter(tags=["models"])
writes = APIRouter(tags=["models"])  # X-API-Key when API_KEY

VersionPath = Path(min_length=1, max_length=120, description="a registered model version")


def version_out(row: ModelVersionRow) -> ModelVersionOut:
    return ModelVersionOut(
        version=row.version,
        kind="convfm",
        status=row.status,
        production=row.status == "production",
        registered_at=row.registered_at,
        promoted_at=row.promoted_at,
        retired_at=row.retired_at,
        metrics=row.metrics,
    )


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
    models = [version_out(r) for r in rows]
    models += [
        ModelVersionOut(version=name, kind="baseline", status="baseline", production=False)
        for name in BASELINES
    ]
    return ModelsOut(
        serving=services.serving.state.model_version, production=production, models=models
    )


@router.get(
    "/models/{version}",
    response_model=ModelDetailOut,
    summary="A model version in full",
    responses=responses(404, 422, 429, 503),
)
def get_model_version(services: ServicesDep, version: str = VersionPath) -> ModelDetailOut:
    """A registered version (or the checkpoint served from MODEL_PATH, status `serving`):
    training time, offline metrics against the baselines, the learning curve, feature
    importances, the convolution's response and FM interactions, the retraining gate."""
    detail = asdict(services.model_details.get(version))
    detail["config"] = detail.pop("model_config")
    return ModelDetailOut.model_validate(detail)


@writes.post(
    "/models/{version}/promote",
    response_model=ModelVersionOut,
    summary="Promote a model version",
    responses=responses(401, 404, 409, 422, 429, 503),
)
def promote_model(services: ServicesDep, version: str = VersionPath) -> ModelVersionOut:
    """Make a registered version the production model, as `jobrec models promote` does:
    this worker serves it at once, every other worker within CATALOG_REFRESH_SECONDS.
    A baseline, a retired version or one whose checkpoint no longer loads is 409."""
    return version_out(services.model_details.promote(version))
