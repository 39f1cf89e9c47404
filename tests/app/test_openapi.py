"""The OpenAPI document as clients use it: the pages render every operation in a real
browser with no internet, and a client generated from it works against the server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.main import create_app
from app.settings import Settings
from tests.support.browser import offline_page
from tests.support.builders import demo_store
from tests.support.server import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    engine, _, model_path = demo_store(
        f"sqlite:///{folder / 'store.db'}", folder / "model", users=40, jobs=30, seed=3, epochs=1
    )
    live = LiveServer(
        create_app(Settings(database_url=f"sqlite:///{folder / 'store.db'}", model_path=model_path))
    ).start()
    yield live
    live.stop()
    engine.dispose()


def operations(server) -> list[tuple[str, str]]:
    """(tag, operationId) of every documented operation."""
    with server.client() as client:
        schema = client.get("/openapi.json").json()
    return [
        (op["tags"][0], op["operationId"])
        for path in schema["paths"].values()
        for op in path.values()
    ]


def test_swagger_ui_renders_every_operation_offline(server):
    ops = operations(server)
    assert len(ops) >= 10
    with offline_page(server.url) as (page, seen):
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        for tag, operation_id in ops:
            assert page.locator(f"#operations-{tag}-{operation_id}").count() == 1, operation_id
        assert page.locator(".opblock").count() == len(ops)
    assert seen.blocked == [] and seen.errors == []


def test_redoc_renders_every_operation_offline(server):
    ops = operations(server)
    with offline_page(server.url) as (page, seen):
        response = page.goto(f"{server.url}/redoc")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector('[data-section-id^="operation/"]', timeout=30_000)
        for _, operation_id in ops:
            section = page.locator(f'[data-section-id="operation/{operation_id}"]')
            assert section.count() == 1, operation_id
    assert seen.blocked == [] and seen.errors == []


def test_operation_ids_are_names_for_people(server):
    ids = {operation_id for _, operation_id in operations(server)}
    assert {
        "recommend",
        "recommend_batch",
        "put_user",
        "get_user",
        "put_job",
        "get_job",
        "post_event",
        "reload_model",
        "healthz",
        "readyz",
        "get_model",
        "get_metrics",
        "list_models",
        "start_experiment",
        "list_experiments",
        "get_experiment",
        "stop_experiment",
        "experiment_report",
        "what_if",
        "get_model_version",
        "promote_model",
        "service_status",
    } == ids


def test_a_generated_client_calls_the_server(server, tmp_path, monkeypatch):
    """openapi-python-client, as an integrator would run it, on the served document."""
    with server.client() as client:
        (tmp_path / "openapi.json").write_text(client.get("/openapi.json").text)
    (tmp_path / "config.yml").write_text("post_hooks: []\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    run = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            "openapi.json",
            "--meta",
            "none",
            "--output-path",
            "jobrec_client",
            "--config",
            "config.yml",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout, run.stdout
    monkeypatch.syspath_prepend(str(tmp_path))
    from jobrec_client import Client
    from jobrec_client.api.jobs import get_job
    from jobrec_client.api.recommendations import recommend
    from jobrec_client.models import ErrorResponse, RecommendRequest, RecommendResponse

    api = Client(base_url=server.url, raise_on_unexpected_status=True)
    answer = recommend.sync(
        client=api,
        body=RecommendRequest(user_id=123, max_recommendations=5, location_preference="CA"),
    )
    assert isinstance(answer, RecommendResponse) and answer.user_id == "123"
    assert 0 < len(answer.recommendations) <= 5
    assert all(0 <= r.score <= 1 for r in answer.recommendations)
    job = get_job.sync(client=api, job_id=answer.recommendations[0].job_id)
    assert job.title == answer.recommendations[0].title
    missing = recommend.sync(client=api, body=RecommendRequest(user_id="nobody"))
    assert isinstance(missing, ErrorResponse) and missing.error.code == "not_found"
    unknown = recommend.sync_detailed(
        client=api, body=RecommendRequest(user_id=123, location_preference="Nowhereville")
    )
    assert unknown.status_code == 422 and unknown.parsed.error.code == "unknown_place"
    for name in [m for m in sys.modules if m.startswith("jobrec_client")]:
        del sys.modules[name]
