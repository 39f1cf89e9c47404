"""The FastAPI application factory (`create_app`), used by `jobrec serve` and the tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio.to_thread
import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import Session, sessionmaker

import ml
from app.api import errors
from app.api.deps import Services
from app.api.middleware import (
    AccessMiddleware,
    BodyLimitMiddleware,
    RateLimitMiddleware,
    RequestIdMiddleware,
)
from app.api.routes import (
    admin,
    docs,
    events,
    experiments,
    jobs,
    models,
    ops,
    recommend,
    users,
)
from app.api.security import API_KEY_REQUIRED
from app.console import install as install_console
from app.db import create_db_engine, session_factory
from app.errors import JobrecError
from app.logs import configure_logging
from app.metrics import Metrics
from app.migrate import is_migrated
from app.services.attribution import RecommendationIds
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
from app.serving.memory import release_memory
from app.serving.ranking import TwoStage
from app.serving.snapshots import SnapshotStore
from app.serving.state import Serving
from app.settings import Settings, get_settings
from ml.locations import gazetteer

log = logging.getLogger("jobrec")

DESCRIPTION = """
Job recommendations from a ConvFM model (linear + factorization machine + Conv1d over
field embeddings + deep MLP).

`POST /recommend` ranks every active job that passes the request's filters (salary,
location, radius, remote, companies, employment types, exclusions) for a user whose
skills, place and company come from the store, or from an inline `profile` for a new
user. Every error has the shape `{"error": {"code", "message", "details"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the lifespan loads the checkpoint and the catalog once, builds the
    services on them and starts the store poller."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        torch.set_num_threads(settings.torch_threads)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        engine = create_db_engine(settings.database_url, timeout=settings.db_timeout_seconds)
        try:
            if not is_migrated(engine):
                raise StartupError("the database has no schema: run `jobrec db upgrade`")
            gazetteer()  # load it now, not in the first request that names a place
            services = build_services(settings, session_factory(engine))
            app.state.services = services
            state = services.serving.state
            log.info("serving model %s with %d jobs", state.model_version, state.catalog.size)
            services.serving.start_polling()
            try:
                yield
            finally:
                services.serving.close()
                services.slates.close()
        finally:
            engine.dispose()

    app = FastAPI(
        title="jobrec",
        version=ml.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # operation ids are the route functions' names: recommend, put_user, ...
        generate_unique_id_function=lambda route: route.name,
        docs_url=None,  # served with local assets by app.api.routes.docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics = Metrics(
        lambda: app.state.services.serving.state if hasattr(app.state, "services") else None
    )
    errors.install(app)
    # added innermost first: a request meets request id, CORS, access log, size, rate
    if settings.rate_limit_per_second > 0:
        app.add_middleware(
            RateLimitMiddleware,
            rate=settings.rate_limit_per_second,
            burst=settings.rate_limit_burst,
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID", "Idempotency-Key"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestIdMiddleware)
    keyed = API_KEY_REQUIRED if settings.api_key else []
    app.include_router(
        recommend.router, dependencies=keyed if settings.recommend_requires_api_key else []
    )
    for module in (users, jobs, events, experiments, models):
        app.include_router(module.writes, dependencies=keyed)
    app.include_router(users.router)
    app.include_router(jobs.router)
    app.include_router(admin.router, dependencies=keyed)
    app.include_router(ops.router)
    app.include_router(models.router)
    app.include_router(experiments.router)
    docs.install(app)
    install_console(app)
    return app


class StartupError(JobrecError):
    """The service cannot start; the message says what to do."""


def build_services(settings: Settings, factory: sessionmaker[Session]) -> Services:
    """Load the checkpoint (raises CheckpointError) and the catalog, and the services on
    them; the scoring thread is warmed up."""
    serving = Serving.load(
        settings.model_path,
        factory,
        refresh_seconds=settings.catalog_refresh_seconds,
        max_delta=settings.catalog_max_delta,
        result_cache_size=settings.result_cache_size,
        popularity_refresh_seconds=settings.popularity_refresh_seconds,
        trending_half_life=timedelta(hours=settings.trending_half_life_hours),
        snapshots=SnapshotStore(folder) if (folder := settings.catalog_snapshot_dir) else None,
    )
    secret = settings.recommendation_secret
    ids = RecommendationIds.shared(factory, secret.get_secret_value() if secret else None)
    slates = SlateLog(
        factory,
        batch_size=settings.slate_log_batch,
        flush_seconds=settings.slate_log_flush_seconds,
        max_queue=settings.slate_log_queue,
    )
    recommend = RecommendService(serving, factory, TwoStage.of(settings), ids=ids, slates=slates)
    recommend.warm_up()
    release_memory()  # what loading and the warm-up freed
    registry = ModelRegistry(factory, settings.model_registry_dir)
    return Services(
        serving=serving,
        slates=slates,
        recommend=recommend,
        users=UserService(factory, serving),
        jobs=JobService(factory, serving),
        events=EventService(factory, serving, ids),
        models=ModelService(serving),
        registry=registry,
        experiments=ExperimentService(factory, serving),
        what_if=WhatIfService(recommend),
        health=HealthService(factory, serving),
        model_details=ModelDetails(registry, serving),
        status=StatusService(factory, serving),
    )
