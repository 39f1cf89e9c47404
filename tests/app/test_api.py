"""The HTTP service through real HTTP, on SQLite and PostgreSQL, with a real model.

Filters are checked against an independent oracle over the store's jobs: every returned
job must satisfy every filter, and when fewer than k jobs qualify, all of them must come
back.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from app.db import session_scope
from app.main import create_app
from app.repositories import CatalogReader, EventRepository, JobRepository, UserRepository
from app.schemas import JobIn
from app.settings import Settings
from ml.checkpoint import load_checkpoint
from ml.data import aggregate_feedback, attach_history
from ml.features import FIELDS
from ml.text import fold, name_key
from tests.support.builders import demo_store
from tests.support.databases import BACKENDS, new_database
from tests.support.server import serve

pytestmark = pytest.mark.slow
SHOWCASE = "123"
SF = (37.77493, -122.41942)  # the gazetteer's San Francisco

CURATED = {
    "c-sf-year": dict(
        title="Data Scientist",
        company="Curated Labs",
        location="San Francisco, CA",
        skills=["python", "sql"],
        salary={"min": 120000, "max": 150000},
        employment_type="full_time",
    ),
    "c-sf-low": dict(
        title="Data Analyst",
        company="Other Co",
        location="San Francisco, CA",
        salary={"min": 60000, "max": 80000},
        employment_type="part_time",
    ),
    "c-sf-hourly": dict(
        title="ML Contractor",
        location="san francisco, california",
        salary={"min": 50, "max": 60, "period": "hour"},
        employment_type="contract",
    ),
    "c-sf-none": dict(
        title="Data Engineer", location="San Francisco, CA", employment_type="full_time"
    ),
    "c-oakland": dict(
        title="Analytics Engineer",
        location="Oakland, CA",
        salary={"min": 110000, "max": 130000},
        employment_type="full_time",
    ),
    "c-sanjose": dict(
        title="Data Scientist", location="San Jose, CA", salary={"min": 130000, "max": 160000}
    ),
    "c-austin": dict(
        title="Warehouse Lead",
        location="Austin, TX",
        salary={"min": 30, "max": 40, "period": "hour"},
        employment_type="full_time",
    ),
    "c-remote": dict(
        title="Remote Data Scientist",
        company="Curated Labs",
        location="Remote",
        salary={"min": 140000, "max": 170000},
        employment_type="full_time",
    ),
    "c-remote-us": dict(title="Remote Analyst", location="Remote - US"),
    "c-toronto": dict(
        title="Data Scientist",
        location="Toronto, Ontario, Canada",
        salary={"min": 100000, "max": 120000, "currency": "CAD"},
    ),
    "c-montreal": dict(
        title="Analyste",
        location="Montréal, Canada",
        salary={"min": 4000, "max": 5000, "currency": "EUR", "period": "month"},
    ),
    "c-inactive": dict(
        title="Closed Data Scientist",
        location="San Francisco, CA",
        salary={"min": 200000, "max": 250000},
        active=False,
    ),
}


@pytest.fixture(scope="module", params=BACKENDS)
def service(request, tmp_path_factory, pg_databases):
    url = new_database(request.param, tmp_path_factory.mktemp("api"), pg_databases)
    engine, factory, model_path = demo_store(
        url,
        tmp_path_factory.mktemp("model") / "ckpt",
        users=150,
        jobs=120,
        seed=5,
        epochs=2,
        extra_jobs={k: JobIn(**v) for k, v in CURATED.items()},
    )
    app = create_app(Settings(database_url=url, model_path=model_path, catalog_refresh_seconds=0.0))
    with serve(app) as client:
        yield client, factory, model_path
    engine.dispose()


def catalog(factory):
    with session_scope(factory) as s:
        return CatalogReader(s).jobs(), {
            i.job_id for i in EventRepository(s).interactions(SHOWCASE)
        }


def km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def _place(j):
    p = j.record.place
    return (
        fold(p.city) if p and p.city else "",
        p.region_code if p else None,
        p.country if p else None,
    )


def near(j, centre, radius):
    p = j.record.place
    return bool(p and p.has_coordinates and km(*centre, p.latitude, p.longitude) <= radius)


# name -> (request fields, predicate on a CatalogJob); the oracle knows nothing of app.filters
FILTERS = {
    "salary_min": (
        {"salary_min": 100000},
        lambda j: (
            j.record.salary_annual_max_usd is not None and j.record.salary_annual_max_usd >= 100000
        ),
    ),
    "salary_min_or_unstated": (
        {"salary_min": 100000, "include_unspecified_salary": True},
        lambda j: (
            j.record.salary_annual_max_usd is None or j.record.salary_annual_max_usd >= 100000
        ),
    ),
    "salary_max": (
        {"salary_max": 90000},
        lambda j: (
            j.record.salary_annual_min_usd is not None and j.record.salary_annual_min_usd <= 90000
        ),
    ),
    "salary_max_130k": (
        {"salary_max": 130000},
        lambda j: (
            j.record.salary_annual_min_usd is not None and j.record.salary_annual_min_usd <= 130000
        ),
    ),
    "salary_hourly": (
        {"salary_min": 35, "salary_period": "hour"},
        lambda j: (j.record.salary_annual_max_usd or -1) >= 35 * 2080,
    ),
    "salary_eur": (
        {"salary_min": 80000, "salary_currency": "EUR"},
        lambda j: (j.record.salary_annual_max_usd or -1) >= 80000 * 1.08,
    ),
    "city": ({"location_preference": "San Francisco"}, lambda j: _place(j)[0] == "san francisco"),
    "city_any_case": (
        {"location_preference": "  SAN francisco "},
        lambda j: _place(j)[0] == "san francisco",
    ),
    "city_accents": ({"location_preference": "Montreal"}, lambda j: _place(j)[0] == "montreal"),
    "state_code": ({"location_preference": "CA"}, lambda j: _place(j)[1] == "CA"),
    "state_name": ({"location_preference": "texas"}, lambda j: _place(j)[1] == "TX"),
    "country": ({"location_preference": "Canada"}, lambda j: _place(j)[2] == "CA"),
    "remote_text": ({"location_preference": "Remote"}, lambda j: j.record.remote),
    "city_alias": ({"location_preference": "SF"}, lambda j: _place(j)[0] == "san francisco"),
    "area": ({"location_preference": "Bay Area"}, lambda j: near(j, SF, 75)),
    # one of the gazetteer's alternate names for San Francisco
    "city_variant": (
        {"location_preference": "San Fransisco"},
        lambda j: _place(j)[0] == "san francisco",
    ),
    "structured": (
        {"location": {"city": "Austin", "region": "Texas"}},
        lambda j: _place(j)[:2] == ("austin", "TX"),
    ),
    "radius_point": (
        {"location": {"latitude": SF[0], "longitude": SF[1], "radius_km": 25}},
        lambda j: near(j, SF, 25),
    ),
    "radius_city": (
        {"location": {"city": "San Francisco", "region": "CA", "radius_km": 60}},
        lambda j: near(j, SF, 60),
    ),
    "remote_only": ({"remote": "only"}, lambda j: j.record.remote),
    "remote_exclude": ({"remote": "exclude"}, lambda j: not j.record.remote),
    "companies": (
        {"companies": ["CURATED labs"]},
        lambda j: name_key(j.record.company) == "curated labs",
    ),
    "employment": (
        {"employment_types": ["contract", "part_time"]},
        lambda j: j.employment_type in ("contract", "part_time"),
    ),
    "exclude_ids": (
        {"exclude_job_ids": ["c-sf-year", "c-oakland"]},
        lambda j: j.job_id not in ("c-sf-year", "c-oakland"),
    ),
}
SINGLE = [(name,) for name in FILTERS]
PAIRS = [
    (a, b)
    for a, b in itertools.combinations(FILTERS, 2)
    if not set(FILTERS[a][0]) & set(FILTERS[b][0])
    and not (a.startswith("salary") and b.startswith("salary"))
]  # one period/currency
PAIRS.append(("salary_min", "salary_max_130k"))


def check(client, factory, names, k=100):
    body = {"user_id": SHOWCASE, "max_recommendations": k}
    for name in names:
        body.update(FILTERS[name][0])
    response = client.post("/recommend", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    jobs, seen = catalog(factory)
    expected = {
        j.job_id for j in jobs if j.job_id not in seen and all(FILTERS[n][1](j) for n in names)
    }
    got = [r["job_id"] for r in data["recommendations"]]
    assert len(got) == len(set(got)) <= k
    assert set(got) <= expected, f"{names}: returned jobs outside the filter"
    if len(expected) <= k:
        assert set(got) == expected, f"{names}: qualifying jobs were left out"
    else:
        assert len(got) == k
    scores = [r["score"] for r in data["recommendations"]]
    assert scores == sorted(scores, reverse=True)
    return data


@pytest.mark.parametrize("names", SINGLE + PAIRS, ids="+".join)
def test_filters_and_their_combinations(service, names):
    client, factory, _ = service
    check(client, factory, names)


def test_the_seed_request(service):
    client, factory, _ = service
    showcase = client.get(f"/users/{SHOWCASE}").json()  # as the README introduces them
    assert showcase["headline"] == "Data Scientist"
    assert showcase["location"]["label"] == "San Francisco, CA"
    seed = {
        "user_id": 123,
        "max_recommendations": 10,
        "location_preference": "San Francisco",
        "salary_min": 100000,
    }
    response = client.post("/recommend", json=seed)
    assert response.status_code == 200
    data = response.json()
    assert data["user_id"] == "123" and data["model_version"].startswith("convfm-")
    recs = data["recommendations"]
    assert 0 < len(recs) <= 10
    jobs = {j.job_id: j for j in catalog(factory)[0]}
    for r in recs:
        assert r["salary_annual_max_usd"] >= 100000
        assert jobs[r["job_id"]].record.place.city == "San Francisco"
        for field in (
            "job_id",
            "title",
            "company",
            "location",
            "salary_min",
            "salary_max",
            "salary_currency",
            "salary_period",
            "score",
        ):
            assert field in r
    assert response.headers["x-request-id"] == data["request_id"]


def test_served_scores_equal_the_model_on_each_pair_alone(service):
    client, factory, model_path = service
    data = client.post(
        "/recommend", json={"user_id": SHOWCASE, "max_recommendations": 20, "remote": "exclude"}
    ).json()
    checkpoint = load_checkpoint(model_path)
    with session_scope(factory) as s:
        user = UserRepository(s).records([SHOWCASE])
        jobs = {j.job_id: j.record for j in CatalogReader(s).jobs()}
        feedback = aggregate_feedback(EventRepository(s).interactions(SHOWCASE))
        liked = JobRepository(s).records(external_ids=[f.job_id for f in feedback if f.label > 0])
    space, model = checkpoint.space, checkpoint.model
    users = space.encode_users(attach_history(user, feedback, liked, space.config.max_history))
    assert len(users.history_keys[0].nonzero()) > 0  # the history is part of the check
    for rec in data["recommendations"]:
        x = space.pairs(
            users, torch.tensor([0]), space.encode_jobs([jobs[rec["job_id"]]]), torch.tensor([0])
        )
        assert abs(model.predict(x).item() - rec["score"]) < 1e-5


def test_seen_jobs_are_excluded_by_default(service):
    client, factory, _ = service
    _, seen = catalog(factory)
    assert seen
    default = client.post(
        "/recommend", json={"user_id": SHOWCASE, "max_recommendations": 100}
    ).json()
    assert not {r["job_id"] for r in default["recommendations"]} & seen
    everything = client.post(
        "/recommend",
        json={
            "user_id": SHOWCASE,
            "max_recommendations": 100,
            "exclude_seen": False,
            "location_preference": "San Francisco",
        },
    ).json()
    returned = {r["job_id"] for r in everything["recommendations"]}
    jobs, _ = catalog(factory)
    seen_in_sf = {j.job_id for j in jobs if j.job_id in seen and _place(j)[0] == "san francisco"}
    assert seen_in_sf and seen_in_sf <= returned


def test_unknown_user_is_404_with_the_error_shape(service):
    client, _, _ = service
    response = client.post("/recommend", json={"user_id": "nobody-here"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found" and "profile" in error["message"]


def test_inline_profile_cold_start(service):
    client, _, _ = service
    body = {
        "user_id": "visitor-1",
        "max_recommendations": 5,
        "profile": {
            "skills": ["python", "sql"],
            "location": "San Francisco, CA",
            "desired_salary": {"amount": 120000},
        },
    }
    response = client.post("/recommend", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["cold_start"] is True and len(data["recommendations"]) == 5
    # a stored user with a profile override is not a cold start
    stored = client.post(
        "/recommend", json={"user_id": SHOWCASE, "profile": {"location": "Austin, TX"}}
    ).json()
    assert stored["cold_start"] is False
    # a job with no interactions at all is scored from its content
    cold_job = client.post(
        "/recommend", json={"user_id": SHOWCASE, "companies": ["Curated Labs"], "remote": "exclude"}
    ).json()
    assert [r["job_id"] for r in cold_job["recommendations"]] == ["c-sf-year"]
    assert 0 < cold_job["recommendations"][0]["score"] < 1


def test_upserts_are_seen_by_the_next_request(service):
    client, _, _ = service
    job = {
        "title": "Zymurgist",
        "company": "Zeta Unique Brewing",
        "location": "Denver, CO",
        "salary": {"min": 90000, "max": 99000},
        "skills": ["chemistry"],
    }
    created = client.put("/jobs/new-job-1", json=job)
    assert created.status_code == 201 and created.json()["location"]["region_code"] == "CO"
    ask = {"user_id": SHOWCASE, "companies": ["Zeta Unique Brewing"]}
    assert [r["job_id"] for r in client.post("/recommend", json=ask).json()["recommendations"]] == [
        "new-job-1"
    ]
    updated = client.put("/jobs/new-job-1", json={**job, "location": "Boulder, CO"})
    assert updated.status_code == 200
    found = client.post("/recommend", json={**ask, "location_preference": "Boulder"}).json()
    assert [r["job_id"] for r in found["recommendations"]] == ["new-job-1"]
    client.put("/jobs/new-job-1", json={**job, "active": False})
    assert client.post("/recommend", json=ask).json()["recommendations"] == []
    assert client.get("/jobs/new-job-1").json()["active"] is False
    # a user created through the API is served without a profile
    user = client.put("/users/new-user-1", json={"skills": ["python"], "location": "Oakland, CA"})
    assert user.status_code == 201
    assert client.post("/recommend", json={"user_id": "new-user-1"}).status_code == 200
    again = client.put("/users/new-user-1", json={"skills": ["java"]})
    assert again.status_code == 200 and client.get("/users/new-user-1").json()["skills"] == ["java"]


@pytest.mark.parametrize(
    ("body", "field", "suggestion"),
    [
        ({"location_preference": "San Fransico"}, "location_preference", "San Francisco, CA"),
        ({"location_preference": "Nowhereville"}, "location_preference", None),
        ({"location_preference": "Sna Jose, CA"}, "location_preference", "San Jose, CA"),
        ({"location": {"city": "Austn", "region": "TX"}}, "location.city", "Austin, TX"),
        ({"location": {"city": "Nowhereville", "radius_km": 10}}, "location", None),
    ],
)
def test_an_unknown_place_is_422_naming_it_with_close_matches(service, body, field, suggestion):
    client, _, _ = service
    response = client.post("/recommend", json={"user_id": SHOWCASE, **body})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    value = body.get("location_preference") or body["location"]["city"]
    assert error["code"] == "unknown_place"
    assert value in error["message"] and field in error["message"]
    assert error["details"]["field"] == field
    if suggestion:
        assert error["details"]["suggestions"][0] == suggestion
        assert f"did you mean {suggestion}" in error["message"]
    batch = client.post(
        "/recommend/batch",
        json={"requests": [{"user_id": SHOWCASE, **body}, {"user_id": SHOWCASE}]},
    ).json()["results"]
    assert [item["status"] for item in batch] == [422, 200]
    assert batch[0]["error"]["details"] == error["details"]


def test_a_city_the_gazetteer_lacks_is_known_by_its_jobs(service):
    client, _, _ = service
    job = {"title": "Ranch Hand", "location": "Tinyburg Flats, WY", "salary": {"min": 1, "max": 2}}
    ask = {"user_id": SHOWCASE, "location_preference": "Tinyburg Flats"}
    assert client.post("/recommend", json=ask).status_code == 422
    assert client.put("/jobs/tiny-1", json=job).status_code == 201
    found = client.post("/recommend", json=ask)
    assert [r["job_id"] for r in found.json()["recommendations"]] == ["tiny-1"]
    client.put("/jobs/tiny-1", json={**job, "active": False})


def test_events(service):
    client, _, _ = service
    client.put("/users/event-user", json={"location": "San Francisco, CA"})
    ask = {"user_id": "event-user", "companies": ["Curated Labs"], "remote": "exclude"}
    assert [r["job_id"] for r in client.post("/recommend", json=ask).json()["recommendations"]] == [
        "c-sf-year"
    ]
    event = {
        "user_id": "event-user",
        "job_id": "c-sf-year",
        "type": "apply",
        "idempotency_key": "evt-1",
    }
    first = client.post("/events", json=event)
    assert first.status_code == 201 and first.json()["created"] is True
    retry = client.post("/events", json=event)
    assert retry.status_code == 200 and retry.json()["created"] is False
    assert client.post("/recommend", json=ask).json()["recommendations"] == []
    unknown = client.post("/events", json={**event, "user_id": "ghost", "idempotency_key": None})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    bad = client.post("/events", json={**event, "type": "like"})
    assert bad.status_code == 422


def test_batch_recommend(service):
    client, _, _ = service
    response = client.post(
        "/recommend/batch",
        json={
            "requests": [
                {"user_id": SHOWCASE, "max_recommendations": 2},
                {"user_id": "nobody"},
                {"user_id": "u1", "max_recommendations": 3, "location_preference": "Remote"},
            ]
        },
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 404, 200]
    assert len(results[0]["response"]["recommendations"]) == 2
    assert results[1]["error"]["code"] == "not_found"
    assert all(r["remote"] for r in results[2]["response"]["recommendations"])


@pytest.mark.parametrize(
    "body",
    [
        {"max_recommendations": 5},
        {"user_id": SHOWCASE, "max_recommendations": 0},
        {"user_id": SHOWCASE, "max_recommendations": 101},
        {"user_id": SHOWCASE, "salary_min": -5},
        {"user_id": SHOWCASE, "salary_min": 10, "salary_max": 5},
        {"user_id": SHOWCASE, "salary_currency": "XYZ"},
        {"user_id": SHOWCASE, "location": {"radius_km": 10}},
        {"user_id": SHOWCASE, "location": {"latitude": 91, "longitude": 0, "radius_km": 10}},
        {"user_id": SHOWCASE, "remote": "sometimes"},
        {"user_id": SHOWCASE, "unknown_field": 1},
        {"user_id": True},
        {"user_id": ""},
        {"user_id": SHOWCASE, "employment_types": ["gig"]},
        [1, 2, 3],
        "just a string",
    ],
)
def test_malformed_requests_get_422_with_the_error_shape(service, body):
    client, _, _ = service
    response = client.post("/recommend", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["message"]


def test_broken_json_and_unknown_routes(service):
    client, _, _ = service
    broken = client.post(
        "/recommend", content=b'{"user_id": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "validation_error"
    assert client.get("/nope").json()["error"]["code"] == "not_found"
    wrong = client.get("/recommend")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"
    # a path served by two routes (GET and PUT) names both
    delete = client.delete("/users/u1")
    assert delete.status_code == 405 and delete.headers["allow"] == "GET, PUT"
    assert client.post("/healthz").headers["allow"] == "GET"
    radius = client.post(
        "/recommend",
        json={"user_id": SHOWCASE, "location": {"city": "Nowhereville", "radius_km": 10}},
    )
    assert radius.status_code == 422 and "Nowhereville" in radius.json()["error"]["message"]
    missing = client.get("/jobs/does-not-exist")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_operations_endpoints_and_openapi(service):
    client, _, _ = service
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["catalog_size"] > 100
    model = client.get("/model").json()
    assert model["model_version"].startswith("convfm-") and "ndcg@10" in model["metrics"]
    assert model["config"]["embedding_dim"] == 32
    explain = model["explain"]  # computed at training time on the validation split
    assert set(explain["importance"]) == {f.name for f in FIELDS}
    assert explain["conv_response"]["positions"] and len(explain["fm_pairs"]) <= 10
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    recommend = schema["paths"]["/recommend"]["post"]
    assert {"200", "404", "422"} <= set(recommend["responses"])
    assert schema["components"]["schemas"]["RecommendRequest"]["examples"]
