"""Typed dependencies: the services and the settings of the running app (built once, in
the lifespan, and kept on `app.state`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.services.events import EventService
from app.services.experiments import ExperimentService
from app.services.health import HealthService
from app.services.jobs import JobService
from app.services.model_details import ModelDetails
from app.services.models import ModelService
from app.services.recommend import RecommendService
from app.services.registry import ModelRegistry
from app.services.slates import SlateLog
from app.services.status import StatusService
from app.services.users import UserService
from app.services.what_if import WhatIfService
from app.serving.state import Serving
from app.settings import Settings


# async: nothing to wait for, so FastAPI calls them on the event loop instead of handing
# them to a worker thread (a thread hop costs more than the call)
async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True)
class Services:
    """Every service of one app, sharing its serving state and session factory."""

    serving: Serving
    slates: SlateLog
    recommend: RecommendService
    users: UserService
    jobs: JobService
    events: EventService
    models: ModelService
    registry: ModelRegistry
    experiments: ExperimentService
    what_if: WhatIfService
    health: HealthService
    model_details: ModelDetails
    status: StatusService


ServicesDep = Annotated[Services, Depends(_services)]
SettingsDep = Annotated[Settings, Depends(_settings)]
