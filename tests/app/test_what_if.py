"""POST /recommend/what-if through real HTTP: `before` is /recommend's answer, `after` is
/recommend's answer once the same change is stored with PUT /users, rank and score
changes agree with both, suggested skills do what they claim, bad changes are 422."""

from __future__ import annotations

import pytest

from app.main import create_app
from app.settings import Settings
from tests.support.builders import demo_store
from tests.support.server import serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whatif")
    url = f"sqlite:///{folder / 'store.db'}"
    engine, _, model_path = demo_store(url, folder / "ckpt", users=150, jobs=120, seed=4, epochs=2)
    settings = Settings(database_url=url, model_path=model_path, catalog_refresh_seconds=0.0)
    with serve(create_app(settings)) as client:
        yield client
    engine.dispose()


def ids_scores(recs):
    return [r["job_id"] for r in recs], [r["score"] for r in recs]


def stored_profile(client, user_id: str) -> dict:
    """The user's profile as a PUT /users body."""
    user = client.get(f"/users/{user_id}").json()
    place = user["location"]
    body = {
        "headline": user["headline"],
        "skills": user["skills"],
        "current_company": user["current_company"],
        "location": {k: place[k] for k in ("city", "region", "country")} if place else None,
    }
    if user["desired_salary"]:
        salary = user["desired_salary"]
        body["desired_salary"] = {k: salary[k] for k in ("amount", "currency", "period")}
    return body


def test_before_is_recommend_and_after_is_recommend_once_stored(client):
    request = {"user_id": "u7", "max_recommendations": 8, "remote": "exclude"}
    changes = {
        "add_skills": ["Python", "sql"],
        "remove_skills": [],
        "location": "Seattle, WA",
        "desired_salary": {"amount": 95000},
    }
    answer = client.post("/recommend/what-if", json={**request, "changes": changes})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    now = client.post("/recommend", json=request, headers={"Cache-Control": "no-cache"}).json()
    ids, scores = ids_scores(result["before"])
    assert ids == ids_scores(now["recommendations"])[0]
    assert scores == pytest.approx(ids_scores(now["recommendations"])[1], abs=1e-5)

    profile = stored_profile(client, "u7")
    profile["skills"] = sorted({*profile["skills"], "python", "sql"})
    profile["location"] = "Seattle, WA"
    profile["desired_salary"] = {"amount": 95000}
    assert client.put("/users/u7", json=profile).status_code in (200, 201)
    later = client.post("/recommend", json=request, headers={"Cache-Control": "no-cache"}).json()
    after_ids, after_scores = ids_scores(result["after"])
    assert after_ids == ids_scores(later["recommendations"])[0]
    assert after_scores == pytest.approx(ids_scores(later["recommendations"])[1], abs=1e-5)
    before = {job: (i, s) for i, (job, s) in enumerate(zip(ids, scores, strict=True))}
    for i, r in enumerate(result["after"]):
        if r["job_id"] in before:
            assert r["rank_change"] == before[r["job_id"]][0] - i
            assert r["score_delta"] == pytest.approx(r["score"] - before[r["job_id"]][1], abs=1e-5)
        else:
            assert r["rank_change"] is None


def test_a_suggested_skill_raises_the_top_jobs_as_claimed(client):
    request = {"user_id": "u12", "max_recommendations": 5}
    result = client.post("/recommend/what-if", json={**request, "changes": {}}).json()
    suggestions = result["skill_suggestions"]
    assert suggestions and all(s["gain"] > 0 for s in suggestions)
    gains = [s["gain"] for s in suggestions]
    assert gains == sorted(gains, reverse=True)
    mine = set(client.get("/users/u12").json()["skills"])
    assert not mine & {s["skill"] for s in suggestions}
    best = suggestions[0]
    tried = client.post(
        "/recommend/what-if", json={**request, "changes": {"add_skills": [best["skill"]]}}
    ).json()
    mean = lambda recs: sum(r["score"] for r in recs) / len(recs)  # noqa: E731
    assert mean(tried["after"]) - mean(tried["before"]) == pytest.approx(best["gain"], abs=1e-5)
    new = {r["job_id"] for r in tried["after"]} - {r["job_id"] for r in tried["before"]}
    assert len(new) == best["jobs_gained"]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"add_skill": ["x"]}, "validation_error", "changes.add_skill"),
        ({"add_skills": [f"s{i}" for i in range(101)]}, "validation_error", "changes.add_skills"),
        ({"location": "Nowhereville"}, "unknown_place", "changes.location"),
    ],
)
def test_bad_changes_are_refused_naming_the_field(client, changes, code, field):
    r = client.post("/recommend/what-if", json={"user_id": "u7", "changes": changes})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code
    named = (
        error["details"]["field"]
        if code == "unknown_place"
        else [".".join(str(p) for p in d["loc"][1:]) for d in error["details"]]
    )
    assert field in named


def test_a_profile_alone_can_be_tried(client):
    body = {
        "user_id": "someone-new",
        "profile": {"skills": ["cooking"], "location": "San Francisco, CA"},
        "changes": {"add_skills": ["python", "sql"]},
    }
    result = client.post("/recommend/what-if", json=body)
    assert result.status_code == 200, result.text
    assert result.json()["before"] and result.json()["after"]
    unknown = client.post("/recommend/what-if", json={"user_id": "nobody", "changes": {}})
    assert unknown.status_code == 404
