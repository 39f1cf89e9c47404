"""Small builders shared by the tests: records, feature spaces, random and trained models."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import torch

from ml.config import FeatureConfig, ModelConfig
from ml.data import aggregate_feedback, attach_history
from ml.features import FeatureSpace
from ml.locations import make_place
from ml.model import ConvFM
from ml.records import Interaction, JobRecord, UserRecord
from tests.support.paths import REPO

CITIES = [
    ("San Francisco", "CA"),
    ("Oakland", "CA"),
    ("Austin", "TX"),
    ("Boston", "MA"),
    ("Chicago", "IL"),
]
SKILLS = [
    "python",
    "sql",
    "java",
    "react",
    "nursing",
    "cashier",
    "forklift",
    "excel",
    "aws",
    "docker",
    "cooking",
    "sales",
]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def random_records(n_users: int = 12, n_jobs: int = 20, seed: int = 0):
    """Users (with their liked jobs as history), jobs (some remote, some without salary)
    and a few interactions each."""
    rng = random.Random(seed)
    places = [make_place(c, s, "US") for c, s in CITIES]
    jobs = [
        JobRecord(
            job_id=f"j{i}",
            title=rng.choice(["Data Engineer", "Nurse", "Cashier", "Cook"]),
            description="We use " + " and ".join(rng.sample(SKILLS, 2)),
            skills=tuple(rng.sample(SKILLS, rng.randint(0, 4))),
            company=rng.choice(["Acme", "Globex", None]),
            place=rng.choice([*places, None]),
            remote=rng.random() < 0.2,
            salary_annual_min_usd=None if i % 3 == 0 else 50_000.0 + 1000 * i,
            salary_annual_max_usd=None if i % 3 == 0 else 70_000.0 + 1000 * i,
        )
        for i in range(n_jobs)
    ]
    users = [
        UserRecord(
            user_id=f"u{i}",
            skills=tuple(rng.sample(SKILLS, rng.randint(1, 5))),
            headline=rng.choice(["data engineer", "cashier", ""]),
            place=rng.choice([*places, None]),
            company=rng.choice(["Acme", None]),
            desired_salary_usd=rng.choice([None, 60_000.0, 90_000.0]),
        )
        for i in range(n_users)
    ]
    interactions = []
    for u in users:
        for _ in range(rng.randint(1, 5)):
            interactions.append(
                Interaction(
                    timestamp=T0 + timedelta(hours=rng.randint(0, 500)),
                    user_id=u.user_id,
                    job_id=rng.choice(jobs).job_id,
                    type=rng.choice(["view", "click", "apply", "save", "dismiss", "impression"]),
                )
            )
    users = attach_history(users, aggregate_feedback(interactions), jobs, depth=16)
    return users, jobs, interactions


def fitted_space(users, jobs, interactions, **config) -> FeatureSpace:
    pairs = [(e.user_id, e.job_id) for e in interactions]
    return FeatureSpace.fit(users, jobs, pairs, FeatureConfig(min_skill_count=1, **config))


def random_model(space: FeatureSpace, config: ModelConfig | None = None, seed: int = 0):
    """A ConvFM with random weights and BatchNorm statistics (as after training)."""
    torch.manual_seed(seed)
    model = ConvFM(space.vocab_sizes(), config or ModelConfig(embedding_dim=32, conv_filters=32))
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.2)
        for table in [*model.embeddings.values(), *model.weights.values()]:
            table.weight[0].zero_()  # padding stays zero, as in training
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def demo_store(
    url: str,
    model_dir: Path,
    *,
    users: int,
    jobs: int,
    seed: int,
    epochs: int,
    extra_jobs: dict | None = None,
):
    """A migrated store at `url` with the demo data (and `extra_jobs`, id -> JobIn) and a
    tiny checkpoint trained on it at `model_dir`: (engine, session factory, checkpoint)."""
    from app.db import create_db_engine, session_factory, session_scope
    from app.importers.demo import import_demo
    from app.migrate import upgrade
    from app.repositories import JobRepository

    upgrade(url)
    engine = create_db_engine(url)
    factory = session_factory(engine)
    import_demo(factory, users=users, jobs=jobs, seed=seed)
    if extra_jobs:
        with session_scope(factory) as session:
            JobRepository(session).upsert(list(extra_jobs.items()))
    return engine, factory, train_tiny(factory, model_dir, epochs=epochs)


def train_tiny(factory, out: Path, epochs: int) -> Path:
    """A checkpoint of configs/tiny.toml (no ablations) trained on the store at `out`."""
    from app.services.training import training_records
    from ml.config import Config
    from ml.experiment import run_training

    records = training_records(factory)
    config = Config.load(
        REPO / "configs" / "tiny.toml", **{"train.epochs": epochs, "train.ablations": []}
    )
    run_training(*records, config, out, progress=False)
    return out


def demo_records(folder: Path, *, users: int, jobs: int, seed: int):
    """(users, jobs, interactions) of a demo store migrated and imported in `folder`."""
    from app.db import create_db_engine, session_factory
    from app.importers.demo import import_demo
    from app.migrate import upgrade
    from app.services.training import training_records

    url = f"sqlite:///{folder / 'store.db'}"
    upgrade(url)
    factory = session_factory(create_db_engine(url))
    import_demo(factory, users=users, jobs=jobs, seed=seed)
    return training_records(factory)


def serving(state, factory, model_path: Path, **overrides):
    """A `Serving` of `state` with the tests' settings (any of them overridden)."""
    from app.serving.state import Serving

    settings = {
        "refresh_seconds": 1.0,
        "max_delta": 2000,
        "result_cache_size": 100,
        "popularity_refresh_seconds": 30,
        "trending_half_life": timedelta(hours=72),
    }
    return Serving(state, factory, model_path=model_path, **(settings | overrides))
