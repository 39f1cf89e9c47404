"""The model registry: register (a copy), promote, retire, its rules; the command line;
and the workers following the production version through real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from app.db import create_db_engine, session_factory
from app.errors import ConflictError, InvalidInputError, NotFoundError
from app.main import create_app
from app.services.registry import ModelRegistry
from app.settings import Settings
from ml.checkpoint import load_checkpoint, save_checkpoint
from tests.support.builders import demo_store, fitted_space, random_model, random_records
from tests.support.databases import BACKENDS, new_database
from tests.support.paths import REPO
from tests.support.server import serve


def checkpoints(folder, n: int) -> list:
    """n checkpoints of different random models on one feature space."""
    users, jobs, interactions = random_records()
    space = fitted_space(users, jobs, interactions)
    paths = []
    for seed in range(n):
        path = folder / f"ckpt{seed}"
        save_checkpoint(path, random_model(space, seed=seed), space, metrics={"ndcg@10": 0.1})
        paths.append(path)
    return paths


@pytest.fixture
def registry(db_url, tmp_path):
    engine = create_db_engine(db_url)
    yield ModelRegistry(session_factory(engine), tmp_path / "registry")
    engine.dispose()


def test_register_copies_the_checkpoint_once(registry, tmp_path):
    (path,) = checkpoints(tmp_path, 1)
    row, created = registry.register(path)
    assert created and row.status == "registered" and row.metrics["metrics"]["ndcg@10"] == 0.1
    assert row.path != str(path) and load_checkpoint(row.path).version == row.version
    (path / "weights.safetensors").unlink()  # the registry's copy does not need it
    assert load_checkpoint(row.path).version == row.version
    again, created = registry.register(registry.folder / row.version)
    assert not created and again == row
    with pytest.raises(InvalidInputError, match="not a checkpoint"):
        registry.register(tmp_path / "nothing")


def test_promote_and_retire_keep_one_production_version(registry, tmp_path):
    a, b = (registry.register(p)[0].version for p in checkpoints(tmp_path, 2))
    assert registry.production() is None
    assert registry.promote(a).status == "production"
    assert registry.promote(b).status == "production"
    assert registry.get(a).status == "registered" and registry.production().version == b
    with pytest.raises(ConflictError, match="in production"):
        registry.retire(b)
    assert registry.retire(a).status == "retired"
    with pytest.raises(ConflictError, match="retired"):
        registry.promote(a)
    with pytest.raises(ConflictError, match="baseline"):
        registry.promote("popularity")
    with pytest.raises(NotFoundError):
        registry.promote("convfm-nope")
    assert [r.version for r in registry.versions()] == [b, a]


@pytest.mark.slow
def test_the_command_line(db_url, tmp_path):
    (path,) = checkpoints(tmp_path, 1)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "MODEL_REGISTRY_DIR": str(tmp_path / "registry"),
    }

    def jobrec(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "models", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

    version = load_checkpoint(path).version
    assert jobrec("register", str(path)).stdout.strip() == f"registered: {version}"
    assert jobrec("promote", version).stdout.strip() == f"in production: {version}"
    listed = jobrec("list").stdout
    assert version in listed and "production" in listed and "popularity" in listed
    refused = jobrec("retire", version)
    assert refused.returncode == 1 and "promote another version first" in refused.stderr


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_worker_follows_the_promoted_version(backend, tmp_path, pg_databases):
    url = new_database(backend, tmp_path, pg_databases)
    engine, factory, model_path = demo_store(
        url, tmp_path / "ckpt", users=60, jobs=50, seed=4, epochs=1
    )
    served = load_checkpoint(model_path)
    with torch.no_grad():  # another model on the same features: a new version
        served.model.bias += 0.5
    other = save_checkpoint(tmp_path / "other", served.model, served.space)["model_version"]
    settings = Settings(
        database_url=url,
        model_path=model_path,
        model_registry_dir=tmp_path / "registry",
        catalog_refresh_seconds=0.0,
    )
    registry = ModelRegistry(factory, settings.model_registry_dir)
    with serve(create_app(settings)) as first, serve(create_app(settings)) as second:
        listed = first.get("/models").json()
        assert (
            listed["production"] is None
            and listed["serving"] == load_checkpoint(model_path).version
        )
        assert [m["version"] for m in listed["models"]] == ["popularity", "content", "trending"]
        registry.register(tmp_path / "other")
        registry.promote(other)
        for client in (first, second):
            deadline = time.monotonic() + 30
            while client.get("/model").json()["model_version"] != other:
                assert time.monotonic() < deadline, "the worker did not switch"
                time.sleep(0.1)
            answer = client.post("/recommend", json={"user_id": "u1"}).json()
            assert answer["model_version"] == other
        listed = first.get("/models").json()
        assert listed["production"] == other and listed["serving"] == other
        assert listed["models"][0] == {
            **listed["models"][0],
            "version": other,
            "production": True,
            "kind": "convfm",
        }
    engine.dispose()
