"""All settings in one object, read from the environment and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    """Environment variables (upper-case names) override these defaults."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'jobrec.db'}",
        description="SQLAlchemy URL; SQLite file by default, PostgreSQL in production "
        "(postgresql+psycopg://user:pass@host/db)",
    )
    model_path: Path = Field(
        default=VAR_DIR / "model",
        description="checkpoint directory: served until a registered version is promoted",
    )
    retrain_dir: Path = Field(
        default=VAR_DIR / "retrain",
        description="where `jobrec retrain` writes its candidates (registered ones are copied)",
    )
    retrain_every: str | None = Field(
        default=None,
        description="the trainer's schedule (`jobrec retrain --every`), shown by GET /status "
        "and /console/health; the trainer's own setting, given to the API too",
    )
    model_registry_dir: Path = Field(
        default=VAR_DIR / "models",
        description="where `jobrec models register` keeps its copy of each version",
    )
    host: str = "0.0.0.0"
    port: int = Field(default=8001, ge=1, le=65535)
    api_key: SecretStr | None = Field(
        default=None, description="when set, write and admin endpoints need the X-API-Key header"
    )
    recommend_requires_api_key: bool = Field(
        default=False,
        description="whether POST /recommend[/batch] needs X-API-Key too "
        "(only when API_KEY is set)",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="allowed browser origins, comma separated; empty: no CORS headers",
    )
    cors_allow_credentials: bool = False
    max_body_bytes: int = Field(
        default=1_000_000, ge=1_000, description="larger request bodies are refused with 413"
    )
    rate_limit_per_second: float = Field(
        default=0.0,
        ge=0.0,
        description="requests per second per API key (or client "
        "address without one); 0 turns rate limiting off",
    )
    rate_limit_burst: int = Field(
        default=100, ge=1, description="requests allowed at once above the steady rate"
    )
    db_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="longest wait for a pooled connection and "
        "longest statement (PostgreSQL); past it the request answers 503",
    )
    log_level: str = "info"
    log_format: Literal["json", "text"] = "json"
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes")
    torch_threads: int = Field(default=2, ge=1, le=256, description="intra-op threads")
    request_threads: int = Field(
        default=8,
        ge=1,
        le=256,
        description="threads per worker for blocking request "
        "work (database, scoring); scoring itself runs one request at a time, so more "
        "threads only hold more memory",
    )
    catalog_refresh_seconds: float = Field(
        default=1.0,
        ge=0.0,
        description="how often a worker checks the store for changed "
        "jobs and users and MODEL_PATH for a new checkpoint (a PUT /jobs, PUT /users or "
        "POST /events is visible at once in the worker that took it)",
    )
    two_stage_min_candidates: int = Field(
        default=20_000,
        ge=1,
        description="above this many candidates (after filters) a "
        "request is answered in two stages: a cheap first stage (the model's first-order "
        "and FM terms, pair fields included) shortlists, the full ConvFM re-ranks the "
        "shortlist; at or below it every candidate gets the exact ConvFM score",
    )
    two_stage_shortlist: int = Field(
        default=2000, ge=100, le=1_000_000, description="candidates the first stage keeps"
    )
    catalog_max_delta: int = Field(
        default=2000,
        ge=1,
        description="changed jobs kept beside the base catalog before it is rebuilt",
    )
    catalog_snapshot_dir: Path | None = Field(
        default=VAR_DIR / "snapshots",
        description="where the catalog is written once per checkpoint and catalog version "
        "and memory-mapped by every worker (one copy in RAM, and a restart that maps it "
        "instead of building); empty: each worker builds and holds its own",
    )
    demo_users: int = Field(
        default=2000,
        ge=1,
        le=1_000_000,
        description="users of `jobrec import demo` (u1..uN, plus the showcase user 123)",
    )
    demo_jobs: int = Field(
        default=1500, ge=1, le=1_000_000, description="jobs of `jobrec import demo` (j1..jN)"
    )
    demo_seed: int = Field(default=7, description="seed of `jobrec import demo`")
    result_cache_size: int = Field(
        default=10_000,
        ge=0,
        le=10_000_000,
        description="answers each worker keeps for "
        "repeated /recommend requests, until the model, the catalog or the user changes "
        "(another worker's writes reach it within catalog_refresh_seconds); 0 turns it "
        "off",
    )

    popularity_refresh_seconds: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        description="how often the baselines' popularity and trending are read again "
        "(while an experiment names one, or requests ask for trending)",
    )
    trending_half_life_hours: float = Field(
        default=72.0,
        gt=0,
        le=24 * 365,
        description="a click or application counts half as much for `trending` after this",
    )
    recommendation_secret: SecretStr | None = Field(
        default=None,
        description="the key that signs recommendation ids (at least 16 characters); "
        "unset: one made at random by the first worker and kept in the store, shared by "
        "every worker",
    )
    slate_log_batch: int = Field(
        default=500, ge=1, le=100_000, description="served slates written per transaction"
    )
    slate_log_flush_seconds: float = Field(
        default=0.2, gt=0, le=60, description="a served slate is written within about this"
    )
    slate_log_queue: int = Field(
        default=20_000,
        ge=1,
        le=10_000_000,
        description="slates waiting to be written, at most; past it a request writes its own",
    )

    @field_validator("api_key", "recommendation_secret", "catalog_snapshot_dir", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value is None or (isinstance(value, str) and not value.strip()) else value

    @field_validator("recommendation_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("RECOMMENDATION_SECRET needs at least 16 characters")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> Settings:
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError(
                "CORS_ORIGINS '*' cannot be combined with "
                "CORS_ALLOW_CREDENTIALS: list the origins explicitly"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
