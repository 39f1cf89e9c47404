"""Attributed feedback: every answer has a recommendation id and is logged as a slate;
events that name it are attributed, and ids not issued to the event's user are refused.
Unit tests of the ids and the slate log on a real store, then the service through real
HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app import models as m
from app.db import create_db_engine, session_factory, session_scope
from app.main import create_app
from app.repositories.slates import SlateRepository, SlateRow
from app.services.attribution import InvalidRecommendationError, RecommendationIds
from app.services.slates import SlateLog
from app.settings import Settings
from tests.support.builders import demo_store
from tests.support.databases import BACKENDS, new_database
from tests.support.server import serve

SECRET = b"0123456789abcdef0123"


# -- recommendation ids --------------------------------------------------------------


def test_an_id_is_accepted_for_its_user_only():
    ids = RecommendationIds(SECRET)
    rid = ids.issue("u1")
    assert len(rid) == 42 and rid != ids.issue("u1")
    ids.check(rid, "u1")
    with pytest.raises(InvalidRecommendationError, match="issued to another user, not to 'u2'"):
        ids.check(rid, "u2")


@pytest.mark.parametrize(
    "forge",
    [
        lambda rid: rid[:-1] + ("A" if rid[-1] != "A" else "B"),  # signature changed
        lambda rid: "A" + rid[1:] if rid[0] != "A" else "B" + rid[1:],  # nonce changed
        lambda rid: "not-an-id",
        lambda rid: "",
    ],
)
def test_an_id_not_issued_here_is_refused(forge):
    ids = RecommendationIds(SECRET)
    with pytest.raises(InvalidRecommendationError, match="not issued by this service") as err:
        ids.check(forge(ids.issue("u1")), "u1")
    assert err.value.status == 422 and err.value.details["field"] == "recommendation_id"


def test_another_secret_does_not_accept_the_id():
    rid = RecommendationIds(SECRET).issue("u1")
    with pytest.raises(InvalidRecommendationError, match="not issued"):
        RecommendationIds(b"another secret of 16+ bytes").check(rid, "u1")


@pytest.fixture
def store(db_url):
    engine = create_db_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def test_workers_share_the_stored_secret(store):
    first, second = RecommendationIds.shared(store), RecommendationIds.shared(store)
    second.check(first.issue("u1"), "u1")
    configured = RecommendationIds.shared(store, "a configured secret")
    with pytest.raises(InvalidRecommendationError):
        configured.check(first.issue("u1"), "u1")


# -- the slate log -------------------------------------------------------------------


def slate(i: int, user: str = "u1") -> SlateRow:
    return SlateRow(
        id=f"s{i}",
        user_id=user,
        model_version="v1",
        items=(("j1", 0.9), ("j2", 0.5)),
        filters={"k": 2, "remote": "include"},
        served_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


def stored_slates(factory) -> int:
    with session_scope(factory) as session:
        return SlateRepository(session).count()


def test_slates_are_written_in_batches_and_read_back(store):
    log = SlateLog(store, batch_size=50, flush_seconds=0.05, max_queue=1000)
    for i in range(120):
        log.log(slate(i))
    log.flush()
    assert stored_slates(store) == 120 and log.written == 120 and log.direct == 0
    with session_scope(store) as session:
        back = SlateRepository(session).get("s7")
    assert back == slate(7)
    log.close()


@contextmanager
def writer_held(log: SlateLog) -> Iterator[threading.Event]:
    """The log's writer thread stops inside its next write until the block ends; yields
    the event set once it is there."""
    entered, release = threading.Event(), threading.Event()
    original = log._write

    def held(slates):
        if threading.current_thread() is log._writer and not release.is_set():
            entered.set()
            release.wait(30)
        original(slates)

    log._write = held
    try:
        yield entered
    finally:
        release.set()


def test_a_full_queue_writes_in_the_request_and_close_drains(store):
    log = SlateLog(store, batch_size=10, flush_seconds=60, max_queue=5)
    with writer_held(log) as entered:
        log.log(slate(0))
        assert entered.wait(10)
        for i in range(1, 9):  # 5 fit in the queue, 3 are written by the caller
            log.log(slate(i))
        assert log.direct == 3 and stored_slates(store) == 3
    log.close()
    assert stored_slates(store) == 9 and log.lost == 0


def test_close_wakes_a_waiting_writer(store):
    log = SlateLog(store, batch_size=10, flush_seconds=600, max_queue=10)
    log.log(slate(0))
    log.flush()  # the writer now waits up to 600 s for the next slate
    log.close(timeout=60)
    assert not log._writer.is_alive() and stored_slates(store) == 1


def test_concurrent_logging_writes_every_slate_once(store):
    log = SlateLog(store, batch_size=64, flush_seconds=0.01, max_queue=32)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: log.log(slate(i)), range(800)))
    log.close()
    assert stored_slates(store) == 800 == log.written and log.lost == 0


# -- through real HTTP ---------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def service(request, tmp_path_factory, pg_databases):
    url = new_database(request.param, tmp_path_factory.mktemp("feedback"), pg_databases)
    engine, factory, model_path = demo_store(
        url, tmp_path_factory.mktemp("model") / "ckpt", users=80, jobs=60, seed=3, epochs=1
    )
    settings = Settings(database_url=url, model_path=model_path, catalog_refresh_seconds=0.0)
    app = create_app(settings)
    with serve(app) as client:
        yield client, factory, app, url, model_path
    engine.dispose()


def events_of(factory, recommendation_id: str) -> list[tuple[str, int | None]]:
    with session_scope(factory) as session:
        rows = session.execute(
            select(m.Interaction.type, m.Interaction.position).where(
                m.Interaction.recommendation_id == recommendation_id
            )
        )
        return [tuple(r) for r in rows]


def event_count(factory) -> int:
    with session_scope(factory) as session:
        return session.scalar(select(func.count()).select_from(m.Interaction))


@pytest.mark.slow
def test_every_answer_has_its_own_id_and_is_logged(service):
    client, factory, app, *_ = service
    body = {"user_id": "123", "max_recommendations": 5}
    first, again = (client.post("/recommend", json=body).json() for _ in range(2))
    assert first["variant"] is None and first["model_version"] == again["model_version"]
    assert first["recommendation_id"] != again["recommendation_id"]  # a kept answer too
    app.state.services.slates.flush()
    with session_scope(factory) as session:
        logged = SlateRepository(session).get(first["recommendation_id"])
    assert logged is not None and logged.user_id == "123"
    assert logged.model_version == first["model_version"]
    assert [job for job, _ in logged.items] == [r["job_id"] for r in first["recommendations"]]
    assert [s for _, s in logged.items] == pytest.approx(
        [r["score"] for r in first["recommendations"]], abs=1e-6
    )
    assert logged.filters["k"] == 5 and logged.filters["exclude_seen"] is True


@pytest.mark.slow
def test_batch_items_get_ids_of_their_own(service):
    client, *_ = service
    answer = client.post(
        "/recommend/batch", json={"requests": [{"user_id": "u1"}, {"user_id": "u2"}]}
    ).json()
    ids = [item["response"]["recommendation_id"] for item in answer["results"]]
    assert len(set(ids)) == 2


@pytest.mark.slow
def test_events_are_attributed_before_the_slate_is_written(service):
    client, factory, app, *_ = service
    slates = app.state.services.slates
    with writer_held(slates) as entered:
        client.post("/recommend", json={"user_id": "u4"})  # the writer stops in this one
        assert entered.wait(10)
        answer = client.post("/recommend", json={"user_id": "u5", "max_recommendations": 3})
        rid = answer.json()["recommendation_id"]
        job = answer.json()["recommendations"][1]["job_id"]
        event = {"user_id": "u5", "job_id": job, "type": "click", "recommendation_id": rid}
        r = client.post("/events", json={**event, "position": 2})
        with session_scope(factory) as session:
            assert SlateRepository(session).get(rid) is None  # still queued
    assert r.status_code == 201, r.text
    assert r.json()["recommendation_id"] == rid and r.json()["position"] == 2
    assert events_of(factory, rid) == [("click", 2)]
    slates.flush()
    with session_scope(factory) as session:
        assert SlateRepository(session).get(rid) is not None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e, rid: {**e, "user_id": "u7"}, "issued to another user"),
        (lambda e, rid: {**e, "recommendation_id": rid[:-2] + "AA"}, "not issued by this"),
    ],
)
def test_an_id_of_another_user_or_made_up_is_refused_and_nothing_written(service, change, message):
    client, factory, *_ = service
    answer = client.post("/recommend", json={"user_id": "u6", "max_recommendations": 2}).json()
    rid = answer["recommendation_id"]
    event = {
        "user_id": "u6",
        "job_id": answer["recommendations"][0]["job_id"],
        "type": "click",
        "recommendation_id": rid,
    }
    before = event_count(factory)
    r = client.post("/events", json=change(event, rid))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_recommendation_id" and message in error["message"]
    assert error["details"]["field"] == "recommendation_id"
    assert event_count(factory) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [{"position": 1}, {"recommendation_id": "x"}, {"recommendation_id": "a" * 42, "position": 0}],
)
def test_malformed_attribution_is_a_validation_error(service, extra):
    client, factory, *_ = service
    before = event_count(factory)
    r = client.post("/events", json={"user_id": "u6", "job_id": "j1", "type": "click", **extra})
    assert r.status_code == 422 and event_count(factory) == before


@pytest.mark.slow
def test_concurrent_events_on_one_slate_are_all_counted(service):
    client, factory, *_ = service
    answer = client.post("/recommend", json={"user_id": "u9", "max_recommendations": 5}).json()
    rid = answer["recommendation_id"]
    jobs = [r["job_id"] for r in answer["recommendations"]]

    def post(i: int) -> int:
        event = {
            "user_id": "u9",
            "job_id": jobs[i % len(jobs)],
            "type": "click",
            "recommendation_id": rid,
            "position": i % len(jobs) + 1,
            "idempotency_key": f"concurrent-{rid}-{i // 2}",
        }  # each sent twice
        return client.post("/events", json=event).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, range(40)))
    assert sorted(set(codes)) == [200, 201] and codes.count(201) == 20
    assert len(events_of(factory, rid)) == 20


@pytest.mark.slow
def test_another_worker_accepts_the_id(service):
    client, _, _, url, model_path = service
    rid = client.post("/recommend", json={"user_id": "u3"}).json()["recommendation_id"]
    other = create_app(Settings(database_url=url, model_path=model_path))
    with serve(other) as second:
        job = second.post("/recommend", json={"user_id": "u3"}).json()["recommendations"][0]
        r = second.post(
            "/events",
            json={
                "user_id": "u3",
                "job_id": job["job_id"],
                "type": "view",
                "recommendation_id": rid,
            },
        )
    assert r.status_code == 201, r.text
