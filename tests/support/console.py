"""The console's live service for its API and browser tests: the demo store, a tiny
checkpoint trained on it (registered, with a second version beside it), an API key and
a retraining schedule, served by uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from app.main import create_app
from app.services.registry import ModelRegistry
from app.settings import Settings
from ml.checkpoint import load_checkpoint, save_checkpoint
from tests.support.builders import demo_store
from tests.support.server import LiveServer

CONSOLE_KEY = "console-key-123"


@dataclass
class ConsoleService:
    server: LiveServer
    served: str  # the version trained at MODEL_PATH (registered, not promoted)
    other: str  # a second registered version (no training report)

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def console_service(folder: Path) -> Iterator[ConsoleService]:
    url = f"sqlite:///{folder / 'store.db'}"
    engine, factory, model_path = demo_store(
        url, folder / "model", users=60, jobs=40, seed=5, epochs=2
    )
    served = load_checkpoint(model_path)
    with torch.no_grad():  # a second model on the same features: another version
        served.model.bias -= 1.0
    other = save_checkpoint(folder / "other", served.model, served.space)["model_version"]
    registry = ModelRegistry(factory, folder / "registry")
    registry.register(model_path)
    registry.register(folder / "other")
    settings = Settings(
        database_url=url,
        model_path=model_path,
        model_registry_dir=folder / "registry",
        catalog_refresh_seconds=1.0,  # its poller runs beside the rest of the suite
        popularity_refresh_seconds=0.0,
        api_key=CONSOLE_KEY,
        retrain_every="2h",
        log_level="warning",
    )
    live = LiveServer(create_app(settings)).start()
    try:
        yield ConsoleService(live, served.version, other)
    finally:
        live.stop()
        engine.dispose()
