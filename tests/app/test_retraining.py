"""Continuous retraining on a real store and a real model: the production checkpoint
registered, a candidate trained on the new events, the gate deciding, the candidate
registered with its gate and then promoted or challenged; the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from app.db import session_scope
from app.repositories import EventRepository, EventRow
from app.services.experiments import ExperimentService
from app.services.registry import ModelRegistry
from app.services.retraining import Retrainer
from ml.checkpoint import load_checkpoint
from ml.retrain import NothingNewError
from tests.support.builders import demo_store
from tests.support.paths import REPO

pytestmark = pytest.mark.slow


@pytest.fixture
def store(db_url, tmp_path):
    engine, factory, model_path = demo_store(
        db_url, tmp_path / "ckpt", users=80, jobs=60, seed=8, epochs=1
    )
    registry = ModelRegistry(factory, tmp_path / "registry")
    retrainer = Retrainer(factory, registry, model_path=model_path, work_dir=tmp_path / "work")
    yield factory, registry, retrainer, model_path, db_url
    engine.dispose()


def new_events(factory, users: int = 30) -> None:
    """Clicks and applications after the production model's data cut-off."""
    now = datetime.now(UTC)
    rows = [
        EventRow(f"u{u}", f"j{(u * 7 + n) % 60 + 1}", kind, now - timedelta(minutes=n))
        for u in range(1, users + 1)
        for n, kind in enumerate(("click", "apply", "click"))
    ]
    with session_scope(factory) as session:
        EventRepository(session).add(rows)


def test_nothing_new_trains_nothing(store):
    _, registry, retrainer, model_path, _ = store
    with pytest.raises(NothingNewError):
        retrainer.run(tolerance=0.01, replay_share=0.3, epochs=1)
    production = registry.production()  # the served checkpoint was registered
    assert production.version == load_checkpoint(model_path).version


def test_a_candidate_that_passes_is_registered_and_challenges_production(store):
    factory, registry, retrainer, model_path, _ = store
    new_events(factory)
    outcome = retrainer.run(tolerance=1.0, replay_share=0.3, epochs=1, challenge=0.2)
    assert outcome.gate.passed and outcome.registered and outcome.gate.test_users > 0
    row = registry.get(outcome.candidate)
    assert row.metrics["gate"]["candidate"] == outcome.gate.candidate
    assert row.metrics["gate"]["production"] == outcome.gate.production
    candidate = load_checkpoint(row.path)
    assert candidate.metadata["warm_started_from"] == load_checkpoint(model_path).version
    experiment = ExperimentService(factory, None).get(outcome.experiment)
    assert {(v.model, v.traffic) for v in experiment.variants} == {
        (outcome.production, 0.8),
        (outcome.candidate, 0.2),
    }
    # a gate it cannot pass: nothing registered, production unchanged
    new_events(factory, users=10)
    failed = retrainer.run(tolerance=-1.0, replay_share=0.0, epochs=1, promote=True)
    assert not failed.gate.passed and not failed.registered
    assert registry.production().version == outcome.production
    assert failed.candidate not in {r.version for r in registry.versions()}


def test_the_command_line_promotes(store, tmp_path):
    factory, registry, _, model_path, url = store
    new_events(factory)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MODEL_PATH": str(model_path),
        "MODEL_REGISTRY_DIR": str(tmp_path / "registry"),
        "RETRAIN_DIR": str(tmp_path / "work"),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "retrain",
            "--epochs",
            "1",
            "--tolerance",
            "1",
            "--promote",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "gate passed" in run.stderr and "in production:" in run.stderr
    assert registry.production().version != load_checkpoint(model_path).version
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "retrain", "--every", "soon"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "--every must be a duration" in bad.stderr
