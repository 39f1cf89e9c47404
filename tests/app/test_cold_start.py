"""Cold start: the service's inline-profile path ranks a new user exactly as the
offline cold-start evaluation (`ml.cold_start`) does, through real HTTP."""

from __future__ import annotations

import pytest
import torch

from app.main import create_app
from app.services.training import training_records
from app.settings import Settings
from benchmarks.unseen import inline_profile
from ml.checkpoint import load_checkpoint
from ml.cold_start import as_new_users, cold_start_evaluation, first_positives
from ml.data import aggregate_feedback
from ml.scoring import CatalogScorer
from tests.support.builders import demo_store
from tests.support.server import serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cold")
    engine, factory, model = demo_store(
        f"sqlite:///{folder / 'store.db'}", folder / "ckpt", users=120, jobs=90, seed=8, epochs=2
    )
    app = create_app(
        Settings(
            database_url=f"sqlite:///{folder / 'store.db'}",
            model_path=model,
            catalog_refresh_seconds=0.0,
        )
    )
    with serve(app) as client:
        yield client, factory, load_checkpoint(model)
    engine.dispose()


def test_an_inline_profile_ranks_as_the_offline_cold_start(store):
    client, factory, checkpoint = store
    users, jobs, interactions = training_records(factory)
    targets = first_positives(aggregate_feedback(interactions))
    catalog_jobs = [j for j in jobs if j.active]
    catalog = checkpoint.space.encode_jobs(catalog_jobs)
    scorer = CatalogScorer(checkpoint.model, checkpoint.space, catalog)
    picked = [u for u in users if u.has_profile and u.user_id in targets][:6]
    assert len(picked) == 6
    for user in picked:
        stored = client.get(f"/users/{user.user_id}")
        assert stored.status_code == 200, stored.text
        response = client.post(
            "/recommend",
            json={
                "user_id": f"new-{user.user_id}",
                "profile": inline_profile(stored.json()),
                "max_recommendations": 10,
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["cold_start"] is True
        offline = scorer.score_many(checkpoint.space.encode_users(as_new_users([user])), [0])[0]
        top = torch.topk(offline, 10)
        served = body["recommendations"]
        assert [r["job_id"] for r in served] == [catalog.ids[i] for i in top.indices.tolist()]
        torch.testing.assert_close(
            torch.tensor([r["score"] for r in served]),
            top.values.float(),
            rtol=0,
            atol=1e-5,
        )


def test_the_cold_start_evaluation_ranks_users_from_their_profile_alone(store):
    _, factory, checkpoint = store
    users, jobs, interactions = training_records(factory)
    report = cold_start_evaluation(checkpoint, users, jobs, interactions, k=10, boot=100)
    with_profile = {u.user_id for u in users if u.has_profile}
    targets = first_positives(aggregate_feedback(interactions))
    assert report["users"] == len(with_profile & set(targets))
    for metrics in report["models"].values():
        low, high = metrics["hr@10"]["interval"]
        assert 0.0 <= low <= metrics["hr@10"]["mean"] <= high <= 1.0
    hr = {name: metrics["hr@10"]["mean"] for name, metrics in report["models"].items()}
    best = max(hr["location-popularity"], hr["tfidf+location"])
    assert report["convfm_hr@10_over_best_baseline"] == pytest.approx(hr["convfm"] / best)
