"""Kept answers for repeated /recommend requests: the cache on its own, then through real
HTTP on SQLite and PostgreSQL, where every write that changes an answer must reach it."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pytest

from app.db import session_scope
from app.main import create_app
from app.repositories import EventRepository, EventRow
from app.schemas import JobIn
from app.serving.results import ResultCache
from app.settings import Settings
from tests.support.builders import demo_store
from tests.support.databases import BACKENDS, new_database
from tests.support.server import serve

# -- the cache -----------------------------------------------------------------------------


def test_the_least_recently_used_answers_go_past_capacity():
    cache = ResultCache(owner=None, capacity=2)
    for key in ("a", "b"):
        assert cache.put(key, "u1", cache.ticket(), key.upper())
    assert cache.get("a") == "A"  # now "b" is the least recently used
    cache.put("c", "u2", cache.ticket(), "C")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    assert len(cache) == 2


def test_evicting_a_user_drops_their_answers_and_only_theirs():
    cache = ResultCache(owner=None, capacity=10)
    for key, user in (("a", "u1"), ("b", "u1"), ("c", "u2")):
        cache.put(key, user, cache.ticket(), key)
    cache.evict(["u1"])
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, "c")
    cache.put("a", "u1", cache.ticket(), "a2")  # read after the eviction: kept
    assert cache.get("a") == "a2"


def test_an_answer_read_before_its_user_changed_is_not_kept():
    cache = ResultCache(owner=None, capacity=10)
    before = cache.ticket()
    cache.evict(["u1"])
    assert not cache.put("a", "u1", before, "stale")
    assert cache.put("b", "u2", before, "other user")  # u2 did not change
    assert cache.get("a") is None


def test_forgetting_old_evictions_never_lets_a_stale_answer_in():
    cache = ResultCache(owner=None, capacity=3)
    before = cache.ticket()
    cache.evict(["u1"])
    cache.evict([f"x{i}" for i in range(10)])  # past capacity: the eviction log is cleared
    assert not cache.put("a", "u1", before, "stale")
    assert cache.put("a", "u1", cache.ticket(), "fresh")


def test_capacity_zero_keeps_nothing():
    cache = ResultCache(owner=None, capacity=0)
    assert not cache.put("a", "u1", cache.ticket(), "A")
    assert cache.get("a") is None


def test_the_cache_stays_consistent_under_concurrent_use():
    cache = ResultCache(owner=None, capacity=50)
    users = [f"u{i}" for i in range(20)]
    errors = []

    def work(seed: int) -> None:
        try:
            for i in range(3000):
                user = users[(seed * 7 + i) % len(users)]
                if i % 11 == 0:
                    cache.evict([user])
                else:
                    key = f"{user}/{i % 5}"
                    cache.put(key, user, cache.ticket(), key)
                    value = cache.get(key)
                    assert value is None or value == key
        except AssertionError as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache) <= 50
    keys = {k for ks in cache._keys_of.values() for k in ks}
    assert keys == set(cache._entries)


# -- through the service -------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def service(request, tmp_path_factory, pg_databases):
    url = new_database(request.param, tmp_path_factory.mktemp("kept"), pg_databases)
    engine, factory, model_path = demo_store(
        url, tmp_path_factory.mktemp("model") / "ckpt", users=60, jobs=80, seed=11, epochs=1
    )
    # no poll of the store unless a test asks for one: a write this process makes must
    # reach the next answer by itself
    app = create_app(
        Settings(database_url=url, model_path=model_path, catalog_refresh_seconds=3600.0)
    )
    with serve(app) as client:
        yield client, factory, app.state.services.serving
    engine.dispose()


def kept_answers(client) -> float:
    text = client.get("/metrics").text
    return float(re.search(r"^jobrec_kept_answers_total (\S+)$", text, re.M).group(1))


def recommend(client, headers=None, **body) -> tuple[list[tuple[str, float]], bool]:
    """(job id, score) of the answer, and whether it was a kept one."""
    before = kept_answers(client)
    r = client.post("/recommend", json={"max_recommendations": 5, **body}, headers=headers)
    assert r.status_code == 200, r.text
    return (
        [(x["job_id"], x["score"]) for x in r.json()["recommendations"]],
        kept_answers(client) == before + 1,
    )


def test_a_repeated_request_gets_the_same_answer_kept(service):
    client, _, _ = service
    first, kept = recommend(client, user_id="u3")
    assert first and not kept
    again, kept = recommend(client, user_id="u3")
    assert kept and again == first
    # another filter or another k is another request
    _, kept = recommend(client, user_id="u3", remote="exclude")
    assert not kept
    _, kept = recommend(client, user_id="u3", max_recommendations=4)
    assert not kept
    # the client can ask for a fresh answer
    fresh, kept = recommend(client, {"Cache-Control": "no-cache"}, user_id="u3")
    assert not kept and fresh == first
    batch = {"requests": [{"user_id": "u3", "max_recommendations": 5}]}
    before = kept_answers(client)
    r = client.post(
        "/recommend/batch", headers={"Cache-Control": "max-age=0, no-cache"}, json=batch
    )
    assert r.status_code == 200 and kept_answers(client) == before
    r = client.post("/recommend/batch", json=batch)
    assert r.status_code == 200 and kept_answers(client) == before + 1


def test_an_event_posted_here_reaches_the_next_answer(service):
    client, _, _ = service
    recommend(client, user_id="u4")
    first, kept = recommend(client, user_id="u4")
    assert kept
    top = first[0][0]
    r = client.post("/events", json={"user_id": "u4", "job_id": top, "type": "apply"})
    assert r.status_code == 201
    after, kept = recommend(client, user_id="u4")
    assert not kept and top not in [j for j, _ in after]


def test_a_profile_put_here_reaches_the_next_answer(service):
    client, _, _ = service
    recommend(client, user_id="u5")
    _, kept = recommend(client, user_id="u5")
    assert kept
    r = client.put("/users/u5", json={"skills": ["welding"], "location": "Austin, TX"})
    assert r.status_code == 200
    _, kept = recommend(client, user_id="u5")
    assert not kept


def test_another_workers_event_reaches_the_next_answer(service):
    """A write this process did not make (another worker, an import) is found by the
    poll of the store that runs with the catalog's."""
    client, factory, serving = service
    recommend(client, user_id="u6")
    first, kept = recommend(client, user_id="u6")
    assert kept
    top = first[0][0]
    with session_scope(factory) as session:
        EventRepository(session).add([EventRow("u6", top, "apply", datetime.now(UTC))])
    stale, kept = recommend(client, user_id="u6")
    assert kept and stale == first  # not polled yet
    serving.refresh()  # what the poller runs every CATALOG_REFRESH_SECONDS
    after, kept = recommend(client, user_id="u6")
    assert not kept and top not in [j for j, _ in after]
    again, kept = recommend(client, user_id="u6")
    assert kept and again == after
    serving.refresh()  # the change is still in the poll's window: evicted once only
    again, kept = recommend(client, user_id="u6")
    assert kept and again == after


def test_a_fresh_answer_reads_the_user_again_only_when_their_version_changed(service):
    """The user's stored part is built once per version (one indexed read a request);
    a write made elsewhere changes the version, so a fresh request sees it at once."""
    client, factory, serving = service
    fresh = {"Cache-Control": "no-cache"}
    first, _ = recommend(client, fresh, user_id="u7")
    users = serving.users(serving.state)
    kept_user = users.get("u7")
    assert kept_user is not None and kept_user.record.user_id == "u7"
    again, _ = recommend(client, fresh, user_id="u7")
    assert again == first and users.get("u7") is kept_user  # the same version: reused
    top = first[0][0]
    with session_scope(factory) as session:  # another worker's write, not polled yet
        EventRepository(session).add([EventRow("u7", top, "apply", datetime.now(UTC))])
    after, kept = recommend(client, fresh, user_id="u7")
    assert not kept and top not in [j for j, _ in after]
    rebuilt = users.get("u7")
    assert rebuilt is not kept_user and top in rebuilt.seen


def test_a_changed_catalog_is_answered_afresh(service):
    client, _, _ = service
    recommend(client, user_id="u7")
    _, kept = recommend(client, user_id="u7")
    assert kept
    r = client.put(
        "/jobs/kept-new",
        json={"title": "Data Scientist", "location": "Remote", "skills": ["python", "sql"]},
    )
    assert r.status_code == 201
    _, kept = recommend(client, user_id="u7")
    assert not kept


def test_an_inline_profile_is_part_of_the_request(service):
    client, _, _ = service
    body = {"user_id": "visitor-1", "profile": {"skills": ["python"], "location": "Remote"}}
    recommend(client, **body)
    _, kept = recommend(client, **body)
    assert kept
    _, kept = recommend(
        client, user_id="visitor-1", profile={"skills": ["python", "sql"], "location": "Remote"}
    )
    assert not kept


def test_result_cache_size_zero_scores_every_request(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine, _, model_path = demo_store(
        url,
        tmp_path / "ckpt",
        users=20,
        jobs=30,
        seed=3,
        epochs=1,
        extra_jobs={"extra": JobIn(title="Analyst", location="Remote")},
    )
    app = create_app(Settings(database_url=url, model_path=model_path, result_cache_size=0))
    try:
        with serve(app) as client:
            first, kept = recommend(client, user_id="u1")
            again, kept_again = recommend(client, user_id="u1")
            assert not kept and not kept_again and again == first
    finally:
        engine.dispose()
