"""The FastAPI application factory (`create_app`), used by `jobrec serve` and the tests."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import anyio.to_thread
import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import ml
from app.api import errors
from app.api.middleware import (
    AccessMiddleware,
    BodyLimitMiddleware,
    RateLimitMiddleware,
    RequestIdMiddleware,
)
from app.api.routes import admin, docs, entities, ops, recommend
from app.api.security import API_KEY_REQUIRED
from app.db import create_db_engine, session_factory
from app.logs import configure_logging
from app.metrics import Metrics
from app.migrate import is_migrated
from app.recommender import Recommender, TwoStage
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


class StartupError(RuntimeError):
    """The service cannot start; the message says what to do."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the lifespan loads the checkpoint and the catalog once."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        torch.set_num_threads(settings.torch_threads)
        anyio.to_thread.current_default_thread_limiter().total_tokens = \
            settings.request_threads
        engine = create_db_engine(settings.database_url, timeout=settings.db_timeout_seconds)
        try:
            if not is_migrated(engine):
                raise StartupError("the database has no schema: run `jobrec db upgrade`")
            factory = session_factory(engine)
            gazetteer()  # load it now, not in the first request that names a place
            app.state.session_factory = factory
            app.state.recommender = Recommender.start(
                settings.model_path, factory, refresh_seconds=settings.catalog_refresh_seconds,
                max_delta=settings.catalog_max_delta,
                two_stage=TwoStage(settings.two_stage_min_candidates,
                                   settings.two_stage_shortlist),
                result_cache_size=settings.result_cache_size)
            state = app.state.recommender.state
            log.info("serving model %s with %d jobs", state.model_version, state.catalog.size)
            yield
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
        lambda: app.state.recommender.state if hasattr(app.state, "recommender") else None)
    errors.install(app)
    # added innermost first: a request meets request id, CORS, access log, size, rate
    if settings.rate_limit_per_second > 0:
        app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit_per_second,
                           burst=settings.rate_limit_burst)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_credentials=settings.cors_allow_credentials,
                           allow_methods=["GET", "POST", "PUT"],
                           allow_headers=["Content-Type", "X-API-Key", "X-Request-ID",
                                          "Idempotency-Key"],
                           expose_headers=["X-Request-ID", "Retry-After"])
    app.add_middleware(RequestIdMiddleware)
    keyed = API_KEY_REQUIRED if settings.api_key else []
    app.include_router(recommend.router,
                       dependencies=keyed if settings.recommend_requires_api_key else [])
    app.include_router(entities.writes, dependencies=keyed)
    app.include_router(entities.router)
    app.include_router(admin.router, dependencies=keyed)
    app.include_router(ops.router)
    docs.install(app)
    return app
