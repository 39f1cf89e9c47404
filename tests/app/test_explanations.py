"""Explanations through real HTTP: every recommendation of an `explain` request is
explained, the contributions add up to its logit and the logit is its score's, the
reasons are true (skills the user and the job both have), and without `explain`
nothing changes."""

from __future__ import annotations

import math

import pytest

from app.main import create_app
from app.serving.explanations import Facts, reasons
from app.settings import Settings
from ml.checkpoint import load_checkpoint
from ml.locations import make_place
from ml.records import JobRecord, UserRecord
from tests.support.builders import demo_store
from tests.support.server import serve


def facts(**user) -> Facts:
    job = JobRecord(
        job_id="j1",
        title="Data Scientist",
        skills=("python", "sql", "tableau"),
        company="Acme",
        place=make_place("Oakland", "CA", "US"),
        salary_annual_max_usd=150_000.0,
    )
    past = JobRecord(job_id="j0", title="Data Analyst", skills=("sql", "tableau"))
    given = {"company": "acme", "desired_salary_usd": 120_000.0, "history": (past,), **user}
    record = UserRecord(
        user_id="u",
        skills=("python", "sql", "excel"),
        place=make_place("San Francisco", "CA", "US"),
        **given,
    )
    return Facts(
        record,
        job,
        {"python", "sql", "excel"},
        {"python", "sql", "tableau"},
        lambda j: list(j.skills),
    )


POSITIVE = {
    "skill_match": 0.9,
    "proximity": 0.5,
    "salary_fit": 0.3,
    "history_skill": 0.2,
    "job_company": 0.1,
    "job": 0.05,
}


def test_reasons_are_true_positive_and_ranked():
    found = reasons(POSITIVE, facts())
    assert [r.code for r in found] == ["skills_match", "near_you", "salary_fit"]
    assert found[0].data == {"skills": ["python", "sql"]}
    assert 10 < found[1].data["distance_km"] < 20  # Oakland from San Francisco
    assert found[2].data == {"salary_annual_max_usd": 150_000.0, "desired_salary_usd": 120_000.0}


def test_no_reason_without_its_facts_or_a_positive_contribution():
    negative = {**POSITIVE, "skill_match": -0.9, "proximity": -0.5}
    codes = [r.code for r in reasons(negative, facts())]
    assert codes == ["salary_fit", "similar_to_your_activity", "your_company_or_field"]
    poorer = reasons(POSITIVE, facts(desired_salary_usd=None))  # overrides the default
    assert "salary_fit" not in [r.code for r in poorer]
    activity = next(r for r in reasons(negative, facts()) if r.code == "similar_to_your_activity")
    assert activity.data == {"job_id": "j0", "title": "Data Analyst"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    url = f"sqlite:///{folder / 'store.db'}"
    engine, _, model_path = demo_store(url, folder / "ckpt", users=150, jobs=120, seed=9, epochs=2)
    yield url, model_path
    engine.dispose()


@pytest.fixture(scope="module")
def client(store):
    url, model_path = store
    with serve(create_app(Settings(database_url=url, model_path=model_path))) as client:
        yield client


@pytest.mark.slow
def test_two_stage_answers_are_explained_completely(store):
    """Past 100 candidates the first stage shortlists 100 jobs and ConvFM ranks those:
    each kept job's explanation still adds up to the logit of the score it was given."""
    url, model_path = store
    settings = Settings(
        database_url=url,
        model_path=model_path,
        two_stage_min_candidates=100,
        two_stage_shortlist=100,
    )
    with serve(create_app(settings)) as staged:
        for user in ("123", "u3", "u40"):
            body = {"user_id": user, "max_recommendations": 10, "explain": True}
            recs = staged.post("/recommend", json=body).json()["recommendations"]
            assert recs
            for r in recs:
                e = r["explanation"]
                assert sum(c["value"] for c in e["contributions"]) == pytest.approx(
                    e["logit"], abs=1e-4
                )
                assert 1 / (1 + math.exp(-e["logit"])) == pytest.approx(r["score"], abs=1e-4)


@pytest.mark.slow
def test_every_recommendation_is_explained_and_adds_up(client, store):
    body = {"user_id": "123", "max_recommendations": 10, "explain": True}
    answer = client.post("/recommend", json=body)
    assert answer.status_code == 200, answer.text
    plain = client.post("/recommend", json={**body, "explain": False}).json()
    recs = answer.json()["recommendations"]
    assert [r["job_id"] for r in recs] == [r["job_id"] for r in plain["recommendations"]]
    assert all(r["explanation"] is None for r in plain["recommendations"])
    # skills as the model reads them: stated, and found in the headline or the job's
    # title and description ("Machine Learning Engineer" asks for machine learning)
    space = load_checkpoint(store[1]).space
    me = client.get("/users/123").json()
    user_skills = set(space.user_skills(UserRecord("123", tuple(me["skills"]), me["headline"])))
    for r in recs:
        e = r["explanation"]
        total = sum(c["value"] for c in e["contributions"])
        assert total == pytest.approx(e["logit"], abs=1e-4)
        assert 1 / (1 + math.exp(-e["logit"])) == pytest.approx(r["score"], abs=1e-4)
        names = [c["name"] for c in e["contributions"]]
        assert names[0] == "bias" and names[-1] == "residual" and "job_skills" in names
        assert len(e["reasons"]) <= 3
        values = [reason["contribution"] for reason in e["reasons"]]
        assert all(v > 0 for v in values) and values == sorted(values, reverse=True)
        for reason in e["reasons"]:
            if reason["code"] == "skills_match":
                assert set(reason["skills"]) <= user_skills
            if reason["code"] == "near_you":
                assert reason["distance_km"] >= 0
        job = client.get(f"/jobs/{r['job_id']}").json()
        record = JobRecord(r["job_id"], job["title"], job["description"], tuple(job["skills"]))
        for reason in e["reasons"]:
            if reason["code"] == "skills_match":
                assert set(reason["skills"]) <= set(space.job_skills(record))


@pytest.mark.slow
def test_a_kept_answer_keeps_its_explanations(client):
    body = {"user_id": "u5", "max_recommendations": 5, "explain": True}
    first, again = (client.post("/recommend", json=body).json() for _ in range(2))
    assert [r["explanation"] for r in first["recommendations"]] == [
        r["explanation"] for r in again["recommendations"]
    ]
