"""All settings in one object, read from the environment and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    """Environment variables (upper-case names) override these defaults."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'jobrec.db'}",
        description="SQLAlchemy URL; SQLite file by default, PostgreSQL in production "
        "(postgresql+psycopg://user:pass@host/db)",
    )
    model_path: Path = Field(default=VAR_DIR / "model", description="checkpoint directory")
    host: str = "0.0.0.0"
    port: int = Field(default=8001, ge=1, le=65535)
    api_key: SecretStr | None = Field(
        default=None, description="when set, write and admin endpoints need X-API-Key"
    )
    log_level: str = "info"
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes")
    torch_threads: int = Field(default=2, ge=1, le=256, description="intra-op threads")
    catalog_refresh_seconds: float = Field(
        default=1.0, ge=0.0, description="how often requests check the store for changed "
        "jobs (a PUT /jobs is visible at once in the worker that took it)")
    two_stage_min_candidates: int = Field(
        default=200_000, ge=1, description="above this many candidates (after filters) a "
        "request is answered in two stages: a cheap first stage (job terms + FM inner "
        "product) shortlists, the full ConvFM re-ranks the shortlist")
    two_stage_shortlist: int = Field(default=5000, ge=100, le=1_000_000,
                                     description="candidates the first stage keeps")
    catalog_max_delta: int = Field(default=2000, ge=1, description="changed jobs kept "
                                   "beside the base catalog before it is rebuilt")


@lru_cache
def get_settings() -> Settings:
    return Settings()
