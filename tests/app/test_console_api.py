"""The endpoints the console added to the JSON API: a model version in full, promoting
one, and the service's status; the per-minute event counts on each backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.db import session_scope
from app.importers.demo import import_demo
from app.repositories.events import EventRepository
from tests.support.console import CONSOLE_KEY

KEY = {"X-API-Key": CONSOLE_KEY}


def test_events_per_minute_by_type_on_each_backend(factory):
    import_demo(factory, users=5, jobs=5, seed=1)
    with session_scope(factory) as session:
        rows = EventRepository(session).per_minute(datetime.now(UTC) - timedelta(minutes=5))
        later = EventRepository(session).per_minute(datetime.now(UTC) + timedelta(minutes=1))
    assert rows and later == []
    total = sum(count for _, _, count in rows)
    with session_scope(factory) as session:
        assert total == len(EventRepository(session).interactions())
    for minute, kind, _ in rows:
        assert minute.tzinfo is not None and minute.second == 0 and minute.microsecond == 0
        assert kind in {"impression", "view", "click", "apply", "save", "dismiss"}


@pytest.mark.slow
def test_a_model_version_in_full(console_service):
    with console_service.server.client() as client:
        detail = client.get(f"/models/{console_service.served}").json()
        other = client.get(f"/models/{console_service.other}").json()
        missing = client.get("/models/convfm-nope")
    assert detail["status"] == "registered" and detail["serving"] is True
    assert detail["trained_at"] and detail["metrics"]["auc"] > 0
    assert len(detail["training"]["epochs"]) == 2 and "loss" in detail["training"]["epochs"][0]
    assert set(detail["explain"]) >= {"importance", "conv_response", "fm_pairs"}
    assert detail["config"]["embedding_dim"] == 32 and "popularity" in detail["baselines"]
    assert other["serving"] is False and other["training"] is None
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.slow
def test_promoting_a_version_needs_the_key_and_serves_it(console_service):
    other, served = console_service.other, console_service.served
    with console_service.server.client() as client:
        refused = client.post(f"/models/{other}/promote")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert client.post("/models/popularity/promote", headers=KEY).status_code == 409
        assert client.post("/models/nope/promote", headers=KEY).status_code == 404
        promoted = client.post(f"/models/{other}/promote", headers=KEY)
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["production"] is True
        models = client.get("/models").json()
        assert models["production"] == other and models["serving"] == other
        back = client.post(f"/models/{served}/promote", headers=KEY)
        assert back.status_code == 200
        assert client.get("/models").json()["serving"] == served


@pytest.mark.slow
def test_the_status_an_operator_reads(console_service):
    with console_service.server.client() as client:
        answer = client.post("/recommend", json={"user_id": "123", "max_recommendations": 3})
        job = answer.json()["recommendations"][0]["job_id"]
        event = {"user_id": "123", "job_id": job, "type": "click"}
        assert client.post("/events", json=event, headers=KEY).status_code == 201
        status = client.get("/status").json()
    assert status["catalog_size"] > 0 and status["catalog_updated_at"]
    assert status["retrain_every"] == "2h" and status["last_gate"] is None
    clicks = [e for e in status["events"] if e["type"] == "click"]
    assert sum(e["count"] for e in clicks) >= 1
    recommend = next(r for r in status["latency"] if r["route"] == "/recommend")
    assert recommend["method"] == "POST" and recommend["count"] >= 1
    assert 0 < recommend["p50"] <= recommend["p95"] <= recommend["p99"]
