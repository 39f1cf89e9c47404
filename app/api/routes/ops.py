"""Health, readiness and the model's description."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import Services, ServicesDep, SettingsDep
from app.api.errors import responses
from app.api.schemas import HealthOut, ModelOut, ReadyOut, StatusOut
from app.api.schemas.ops import EventRateOut, GateOut, RouteLatencyOut
from app.settings import Settings

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness")
async def healthz() -> HealthOut:
    """The process is alive (no dependency is checked)."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, summary="Readiness", responses=responses(503))
def readyz(services: ServicesDep) -> ReadyOut:
    """200 only when the model is loaded and the database answers."""
    state = services.health.ready()
    return ReadyOut(
        status="ready",
        model_version=state.model_version,
        catalog_version=state.catalog.version,
        catalog_size=state.catalog.size,
    )


@router.get(
    "/model", response_model=ModelOut, summary="The serving model", responses=responses(429)
)
def get_model(services: ServicesDep) -> ModelOut:
    """The serving model: version, configuration, offline metrics, training time."""
    state = services.serving.state
    meta = state.checkpoint.metadata
    return ModelOut(
        model_version=state.model_version,
        trained_at=meta.get("trained_at"),
        created_at=meta["created_at"],
        config=meta["model_config"],
        train_config=meta.get("train_config"),
        metrics=meta.get("metrics", {}),
        baselines=meta.get("baselines"),
        data_fingerprint=meta.get("data_fingerprint", ""),
        catalog_version=state.catalog.version,
        catalog_size=state.catalog.size,
        explain=meta.get("explain"),
    )


@router.get(
    "/status",
    response_model=StatusOut,
    summary="What an operator checks",
    responses=responses(429, 503),
)
def service_status(request: Request, services: ServicesDep, settings: SettingsDep) -> StatusOut:
    """The catalog's size and freshness, events written per minute by type over the last
    30 minutes, this worker's latency percentiles per route, the retraining schedule and
    the gate's last decision (the page /console/health shows it)."""
    return status_out(request, services, settings)


def status_out(request: Request, services: Services, settings: Settings) -> StatusOut:
    """The status service's answer with this worker's latency and the schedule."""
    status = services.status.status()
    return StatusOut(
        model_version=status.model_version,
        catalog_version=status.catalog_version,
        catalog_size=status.catalog_size,
        catalog_updated_at=status.catalog_updated_at,
        window_minutes=status.window_minutes,
        events=[EventRateOut(minute=e.minute, type=e.type, count=e.count) for e in status.events],
        latency=[
            RouteLatencyOut(
                route=r.route, method=r.method, count=r.count, p50=p50, p95=p95, p99=p99
            )
            for r in request.app.state.metrics.latency()
            for p50, p95, p99 in [r.seconds]
        ],
        retrain_every=settings.retrain_every,
        last_gate=GateOut(**vars(status.last_gate)) if status.last_gate else None,
    )


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        }
    },
)
def get_metrics(request: Request) -> Response:
    """Prometheus metrics: request latency by route and status, scored candidates,
    recommendation lists, the serving model version and the catalog size."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
