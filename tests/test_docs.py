"""The OpenAPI pages render every operation in a real browser with no internet."""

from __future__ import annotations

import pytest

from app.main import create_app
from app.settings import Settings
from tests.browser import offline_page
from tests.helpers import demo_store
from tests.server import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    engine, _, model_path = demo_store(f"sqlite:///{folder / 'store.db'}", folder / "model",
                                       users=40, jobs=30, seed=3, epochs=1)
    live = LiveServer(create_app(Settings(database_url=f"sqlite:///{folder / 'store.db'}",
                                          model_path=model_path))).start()
    yield live
    live.stop()
    engine.dispose()


def operations(server) -> list[tuple[str, str]]:
    """(tag, operationId) of every documented operation."""
    with server.client() as client:
        schema = client.get("/openapi.json").json()
    return [(op["tags"][0], op["operationId"]) for path in schema["paths"].values()
            for op in path.values()]


def test_swagger_ui_renders_every_operation_offline(server):
    ops = operations(server)
    assert len(ops) >= 10
    with offline_page(server.url) as (page, seen):
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        for tag, operation_id in ops:
            assert page.locator(f"#operations-{tag}-{operation_id}").count() == 1, \
                operation_id
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
