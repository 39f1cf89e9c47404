"""The experiments resource: start, list, read, stop, report."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Path, status

from app.api.deps import ServicesDep
from app.api.errors import BODY, responses
from app.api.schemas.experiments import (
    ComparisonOut,
    ExperimentIn,
    ExperimentOut,
    ExperimentReportOut,
    VariantOut,
    VariantReportOut,
)
from app.repositories.experiments import ExperimentRow, Variant

router = APIRouter(prefix="/experiments", tags=["experiments"])
writes = APIRouter(prefix="/experiments", tags=["experiments"])  # X-API-Key when API_KEY

NamePath = Path(min_length=1, max_length=64, description="the experiment's name")


def experiment_out(row: ExperimentRow) -> ExperimentOut:
    return ExperimentOut(
        name=row.name,
        control=row.control,
        variants=[VariantOut(name=v.name, model=v.model, traffic=v.traffic) for v in row.variants],
        status=row.status,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
    )


@writes.post(
    "",
    response_model=ExperimentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Start an experiment",
    responses=responses(401, 409, *BODY, 429, 503),
)
def start_experiment(body: ExperimentIn, services: ServicesDep) -> ExperimentOut:
    """Split users between models: each user gets one variant, the same one in every
    worker while the experiment runs, in proportion to the traffic shares (summing to
    1). A model is a registered version or a baseline (422 `unknown_model` otherwise);
    one experiment runs at a time (409)."""
    variants = tuple(Variant(v.name, v.model, v.traffic) for v in body.variants)
    return experiment_out(services.experiments.start(body.name, body.control, variants))


@router.get("", response_model=list[ExperimentOut], summary="List experiments")
def list_experiments(services: ServicesDep) -> list[ExperimentOut]:
    """Every experiment, newest first."""
    return [experiment_out(row) for row in services.experiments.all()]


@router.get(
    "/{name}",
    response_model=ExperimentOut,
    summary="Read an experiment",
    responses=responses(404, 422, 429),
)
def get_experiment(services: ServicesDep, name: str = NamePath) -> ExperimentOut:
    return experiment_out(services.experiments.get(name))


@writes.post(
    "/{name}/stop",
    response_model=ExperimentOut,
    summary="Stop an experiment",
    responses=responses(401, 404, 422, 429, 503),
)
def stop_experiment(services: ServicesDep, name: str = NamePath) -> ExperimentOut:
    """Stop it: every user gets the production model again (its report stays)."""
    return experiment_out(services.experiments.stop(name))


@router.get(
    "/{name}/report",
    response_model=ExperimentReportOut,
    summary="An experiment's results",
    responses=responses(404, 422, 429, 503),
)
def experiment_report(services: ServicesDep, name: str = NamePath) -> ExperimentReportOut:
    """Per variant: users, slates served, slates with a click and with an apply, CTR and
    apply rate with 95% Wilson intervals, click rates per position, catalog coverage and
    diversity; each variant against the control: lift, its 95% interval and the p-value
    of a two-proportion z-test."""
    report = services.experiments.report(name)
    return ExperimentReportOut(
        experiment=experiment_out(report.experiment),
        variants=[VariantReportOut.model_validate(asdict(v)) for v in report.variants],
        comparisons=[ComparisonOut.model_validate(asdict(c)) for c in report.comparisons],
    )
