"""A/B experiments: deterministic assignment, the report's statistics against
brute-force formulas, and the whole loop through real HTTP (start, rules, variants
served by their models, attributed events, report, stop, the command line)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pandas as pd
import pytest
import torch
from scipy.stats import norm

from app.main import create_app
from app.repositories.experiments import ExperimentRow, Variant
from app.services.registry import ModelRegistry
from app.services.reports import Rate, comparisons, variant_reports
from app.serving.variants import assign
from app.settings import Settings
from ml.checkpoint import load_checkpoint, save_checkpoint
from tests.support.builders import demo_store
from tests.support.databases import BACKENDS, new_database
from tests.support.paths import REPO
from tests.support.server import serve


def experiment(name: str, shares: tuple[float, ...]) -> ExperimentRow:
    variants = tuple(Variant(f"v{i}", f"m{i}", s) for i, s in enumerate(shares))
    return ExperimentRow(name, "v0", variants, "running", datetime.now(UTC))


def test_assignment_is_deterministic_and_follows_the_shares():
    exp = experiment("e1", (0.3, 0.7))
    users = [f"u{i}" for i in range(20_000)]
    first = [assign(exp, u).name for u in users]
    assert first == [assign(exp, u).name for u in users]
    share = Counter(first)["v0"] / len(users)
    assert abs(share - 0.3) < 0.015  # 4.6 standard errors
    other = [assign(experiment("e2", (0.3, 0.7)), u).name for u in users]
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 0.3 * len(users)


def wilson(k: int, n: int, z: float = norm.ppf(0.975)) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_report_numbers_match_brute_force():
    slates = pd.DataFrame(
        [
            {
                "id": f"s{i}",
                "user_id": f"u{i % 7}",
                "variant": "a" if i < 40 else "b",
                "items": [[f"j{(i + p) % 15}", 0.5] for p in range(3 if i % 2 else 5)],
            }
            for i in range(100)
        ]
    )
    events = pd.DataFrame(
        [
            {"recommendation_id": f"s{i}", "type": "click", "position": 1 + i % 3}
            for i in range(0, 100, 3)
        ]
        + [{"recommendation_id": f"s{i}", "type": "click", "position": 2} for i in range(0, 30, 6)]
        + [{"recommendation_id": f"s{i}", "type": "apply", "position": 1} for i in range(0, 100, 9)]
        + [{"recommendation_id": "s1", "type": "view", "position": None}],
    )
    companies = {f"j{j}": f"c{j % 4}" if j % 5 else None for j in range(15)}
    a, b = variant_reports([("a", "m1"), ("b", "m2")], slates, events, companies, 30)
    for report, ids in ((a, range(40)), (b, range(40, 100))):
        ids = {f"s{i}" for i in ids}
        mine = events[events.recommendation_id.isin(ids)]
        clicked = mine[mine.type == "click"].recommendation_id.nunique()
        applied = mine[mine.type == "apply"].recommendation_id.nunique()
        assert (report.slates, report.clicked_slates, report.applied_slates) == (
            len(ids),
            clicked,
            applied,
        )
        assert report.clicks == (mine.type == "click").sum()
        assert report.ctr.value == clicked / len(ids)
        assert (report.ctr.ci_low, report.ctr.ci_high) == pytest.approx(wilson(clicked, len(ids)))
        own = slates[slates.id.isin(ids)]
        assert report.users == own.user_id.nunique()
        jobs = {job for items in own["items"] for job, _ in items}
        assert report.coverage == len(jobs) / 30
        per_slate = [len({companies[j] or j for j, _ in items}) for items in own["items"]]
        assert report.diversity == pytest.approx(sum(per_slate) / len(per_slate))
        first = report.position_ctr[1]  # position 2
        shown = sum(len(items) >= 2 for items in own["items"])
        at = ((mine.type == "click") & (mine.position == 2)).sum()
        assert first == {"position": 2, "slates": shown, "clicks": at, "rate": at / shown}
    (ctr, _) = comparisons(a, [b])
    p1, p2 = b.clicked_slates / b.slates, a.clicked_slates / a.slates
    pooled = (b.clicked_slates + a.clicked_slates) / (a.slates + b.slates)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / a.slates + 1 / b.slates))
    assert ctr.lift == pytest.approx(p1 / p2 - 1)
    assert ctr.p_value == pytest.approx(2 * norm.sf(abs(z)))
    assert ctr.ci_low < ctr.lift < ctr.ci_high


def test_an_empty_variant_reports_no_rates():
    empty = pd.DataFrame(columns=["id", "user_id", "variant", "items"])
    (report,) = variant_reports(
        [("a", "m")], empty, pd.DataFrame(columns=["recommendation_id", "type", "position"]), {}, 10
    )
    assert report.slates == 0 and report.ctr == Rate(None, None, None)


# -- through real HTTP -----------------------------------------------------------------

KEY = {"X-API-Key": "test-key-123"}


@pytest.fixture(scope="module", params=BACKENDS)
def service(request, tmp_path_factory, pg_databases):
    folder = tmp_path_factory.mktemp("experiments")
    url = new_database(request.param, folder, pg_databases)
    engine, factory, model_path = demo_store(
        url, folder / "ckpt", users=120, jobs=80, seed=6, epochs=1
    )
    served = load_checkpoint(model_path)
    with torch.no_grad():  # a second model on the same features: a new version
        served.model.bias -= 1.0
    other = save_checkpoint(folder / "other", served.model, served.space)["model_version"]
    settings = Settings(
        database_url=url,
        model_path=model_path,
        model_registry_dir=folder / "registry",
        catalog_refresh_seconds=0.0,
        popularity_refresh_seconds=0.0,
        api_key="test-key-123",
    )
    registry = ModelRegistry(factory, settings.model_registry_dir)
    registry.register(folder / "other")
    app = create_app(settings)
    with serve(app) as client:
        yield client, app, url, load_checkpoint(model_path).version, other, folder
    engine.dispose()


def body(name: str, variants: list[tuple[str, str, float]], control: str | None = None) -> dict:
    return {
        "name": name,
        "control": control or variants[0][0],
        "variants": [{"name": n, "model": m, "traffic": t} for n, m, t in variants],
    }


@pytest.mark.slow
def test_starting_an_experiment_is_checked(service):
    client, _, _, served, _, _ = service
    good = body("checked", [("a", served, 0.5), ("b", "popularity", 0.5)])
    assert client.post("/experiments", json=good).status_code == 401
    for bad, field in (
        (body("x", [("a", served, 0.5), ("b", "nope", 0.5)]), "variants[1].model"),
        (body("x", [("a", served, 0.5), ("b", "popularity", 0.4)]), "variants"),
        (body("x", [("a", served, 0.5), ("b", "popularity", 0.5)], control="c"), "control"),
    ):
        r = client.post("/experiments", json=bad, headers=KEY)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["field"] == field
    assert client.post("/experiments", json=good, headers=KEY).status_code == 201
    again = body("second", [("a", served, 0.5), ("b", "content", 0.5)])
    assert client.post("/experiments", json=again, headers=KEY).status_code == 409
    assert client.post("/experiments", json=good, headers=KEY).status_code == 409
    assert client.post("/experiments/checked/stop").status_code == 401
    stopped = client.post("/experiments/checked/stop", headers=KEY).json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"]
    assert client.get("/experiments/nothing").status_code == 404


@pytest.mark.slow
def test_each_user_gets_their_variants_model_and_the_report_counts_it(service, tmp_path):
    client, app, url, served, other, _ = service
    variants = [("control", served, 0.4), ("popular", "popularity", 0.3), ("new", other, 0.3)]
    r = client.post("/experiments", json=body("loop", variants), headers=KEY)
    assert r.status_code == 201, r.text
    row = app.state.services.experiments.get("loop")
    model_of = {name: model for name, model, _ in variants}
    served_per_variant: Counter = Counter()
    clicks: Counter = Counter()
    for i in range(1, 61):
        user = f"u{i}"
        answer = client.post("/recommend", json={"user_id": user, "max_recommendations": 5})
        assert answer.status_code == 200, answer.text
        answer = answer.json()
        variant = assign(row, user).name
        assert answer["variant"] == variant and answer["model_version"] == model_of[variant]
        scores = [r["score"] for r in answer["recommendations"]]
        assert all(0 <= s <= 1 for s in scores) and scores == sorted(scores, reverse=True)
        served_per_variant[variant] += 1
        if i % 2 and answer["recommendations"]:
            top = answer["recommendations"][0]
            event = {
                "user_id": user,
                "job_id": top["job_id"],
                "type": "click",
                "recommendation_id": answer["recommendation_id"],
                "position": 1,
            }
            assert client.post("/events", json=event, headers=KEY).status_code == 201
            clicks[variant] += 1
    serving = app.state.services.serving  # the new model shares the served catalog's
    _, view = serving.variants.model(other)  # jobs, filter columns and features
    shown = serving.state.catalog
    assert view.base.scorer.jobs is shown.base.scorer.jobs
    assert view.base.columns is shown.base.columns and view.base.scorer is not shown.base.scorer
    remote = client.post(
        "/recommend", json={"user_id": "u3", "remote": "only", "max_recommendations": 50}
    ).json()
    assert all(r["remote"] for r in remote["recommendations"])  # baselines filter too
    served_per_variant[assign(row, "u3").name] += 1
    app.state.services.slates.flush()
    report = client.get("/experiments/loop/report").json()
    by_name = {v["name"]: v for v in report["variants"]}
    for name in model_of:
        assert by_name[name]["slates"] == served_per_variant[name]
        assert by_name[name]["clicked_slates"] == clicks[name]
        assert by_name[name]["position_ctr"][0]["clicks"] == clicks[name]
    assert {(c["variant"], c["metric"]) for c in report["comparisons"]} == {
        ("popular", "ctr"),
        ("popular", "apply_rate"),
        ("new", "ctr"),
        ("new", "apply_rate"),
    }
    env = {**os.environ, "DATABASE_URL": url}
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "experiments",
            "report",
            "loop",
            "--plot",
            str(tmp_path / "loop.png"),
            "--json",
            str(tmp_path / "loop.json"),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "loop.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "loop.json").read_text())
    assert [v["slates"] for v in saved["variants"]] == [v["slates"] for v in report["variants"]]
    assert client.post("/experiments/loop/stop", headers=KEY).status_code == 200
    after = client.post("/recommend", json={"user_id": "u1"}).json()
    assert after["variant"] is None and after["model_version"] == served


def test_trending_decays_each_event_by_its_age(db_url):
    from datetime import timedelta

    from app.db import create_db_engine, session_factory, session_scope
    from app.repositories import EventRepository, EventRow, JobRepository, UserRepository
    from app.repositories.catalog import PopularityReader
    from app.schemas import JobIn, UserIn

    engine = create_db_engine(db_url)
    factory = session_factory(engine)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with session_scope(factory) as session:
        JobRepository(session).upsert([(f"j{i}", JobIn(title=f"Job {i}")) for i in range(3)])
        UserRepository(session).upsert([("u1", UserIn()), ("u2", UserIn())])
        events = [
            ("u1", "j0", "click", 0),
            ("u2", "j0", "apply", 24),
            ("u1", "j1", "click", 72),
            ("u1", "j2", "view", 0),
            ("u2", "j2", "click", 24 * 30),  # too old: left out
        ]
        EventRepository(session).add(
            [EventRow(u, j, t, now - timedelta(hours=h)) for u, j, t, h in events]
        )
    with session_scope(factory) as session:
        scores = PopularityReader(session).trending(now, timedelta(hours=72))
    assert scores == pytest.approx({"j0": 1.0 + 3.0 * 0.5 ** (24 / 72), "j1": 0.5})
    engine.dispose()


@pytest.mark.slow
def test_an_unknown_user_gets_trending_jobs_when_asking_for_them(service):
    client, *_ = service
    ask = {"user_id": "someone-new", "max_recommendations": 5}
    assert client.post("/recommend", json=ask).status_code == 404
    jobs = [
        r["job_id"]
        for r in client.post("/recommend", json={"user_id": "u2"}).json()["recommendations"]
    ][:3]
    for n, job in enumerate(jobs):  # 20, 14, 8 applications: above what tests before did
        for _ in range(20 - 6 * n):
            event = {"user_id": "u2", "job_id": job, "type": "apply"}
            assert client.post("/events", json=event, headers=KEY).status_code == 201
    deadline = datetime.now(UTC).timestamp() + 20
    while True:
        answer = client.post("/recommend", json={**ask, "fallback": "trending"}).json()
        got = [r["job_id"] for r in answer["recommendations"]]
        if got[:3] == jobs or datetime.now(UTC).timestamp() > deadline:
            break
    assert answer["fallback"] == "trending" and answer["model_version"] == "trending"
    assert got[:3] == jobs
    scores = [r["score"] for r in answer["recommendations"]]
    assert scores[0] == pytest.approx(1.0) and scores == sorted(scores, reverse=True)
    remote = client.post(
        "/recommend", json={**ask, "fallback": "trending", "remote": "only"}
    ).json()
    assert remote["recommendations"] and all(r["remote"] for r in remote["recommendations"])
