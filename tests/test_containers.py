"""Dockerfile and docker-compose.yml, checked without a Docker engine: the compose file
against the Compose Specification, the Dockerfile's structure, and the image's entry
script run for real outside a container against PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from compose_spec import PyCompose
from dockerfile_parse import DockerfileParser

from tests.conftest import REPO
from tests.server import free_port

COMPOSE = REPO / "docker-compose.yml"
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"


def compose() -> dict:
    return PyCompose.from_yaml(COMPOSE.read_text()).to_dict()


def test_compose_file_follows_the_compose_specification():
    compose()  # raises ValueError on anything the specification does not allow
    broken = COMPOSE.read_text().replace("condition: service_healthy",
                                         "condition: service_sleepy", 1)
    with pytest.raises(ValueError, match="service_sleepy"):
        PyCompose.from_yaml(broken)
    typo = COMPOSE.read_text().replace("    ports:", "    portz:", 1)
    with pytest.raises(ValueError, match="portz"):
        PyCompose.from_yaml(typo)


def test_compose_wires_database_init_and_api():
    services = compose()["services"]
    db, init, api = services["db"], services["init"], services["api"]
    assert "pg_isready" in str(db["healthcheck"]["test"])
    assert init["command"] == ["init"] and api["command"] == ["serve"]
    assert init["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["depends_on"] == {"db": {"condition": "service_healthy"},
                                 "init": {"condition": "service_completed_successfully"}}
    assert api["ports"] == ["8001:8001"]
    assert init["image"] == api["image"]
    for service in (init, api):
        url = service["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://") and "@db:5432/" in url
        assert service["volumes"] == ["model:/app/var"]
    raw = yaml.safe_load(COMPOSE.read_text())
    assert set(raw["volumes"]) == {"pgdata", "model"}
    assert "/readyz" in str(api["healthcheck"]["test"])


def test_dockerfile_is_multi_stage_cpu_only_and_non_root():
    parser = DockerfileParser(str(REPO / "Dockerfile"))
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    froms = [v for k, v in instructions if k == "FROM"]
    assert len(froms) >= 2 and froms[-1].endswith("AS runtime")
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM"):]
    users = [v for k, v in final if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " ".join(v for k, v in instructions if k == "RUN")
    assert "torch==2.13.0" in runs and "download.pytorch.org/whl/cpu" in runs
    health = [v for k, v in final if k == "HEALTHCHECK"]
    assert health and "/readyz" in health[0]
    assert ("EXPOSE", "8001") in final
    assert any(k == "ENTRYPOINT" and "jobrec-entrypoint" in v for k, v in final)
    copied = " ".join(v for k, v in instructions if k == "COPY")
    for package in ("ml", "app", "migrations", "docker/entrypoint.sh"):
        assert package in copied


def test_entry_script_is_valid_shell():
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)]).returncode == 0
    assert os.access(ENTRYPOINT, os.X_OK)


@pytest.mark.slow
@pytest.mark.postgresql
def test_entry_script_initialises_and_serves_against_postgresql(pg_databases, tmp_path):
    if pg_databases is None:
        pytest.skip("PostgreSQL not reachable (set TEST_DATABASE_URL to run this)")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": pg_databases.create(),
        "MODEL_PATH": str(tmp_path / "model"),
        "PORT": str(port),
        "JOBREC_DEMO_USERS": "80",
        "JOBREC_DEMO_JOBS": "60",
        "JOBREC_TRAIN_ARGS": f"--config {REPO / 'configs' / 'tiny.toml'} --epochs 1 "
                             "--ablations none",
        "JOBREC_DB_WAIT_SECONDS": "10",
    }

    def run(*args):
        return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)

    first = run("init")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (tmp_path / "model" / "metadata.json").exists()
    second = run("init")
    assert second.returncode == 0 and "training skipped" in second.stdout
    assert "already has data" in second.stderr
    passthrough = run("jobrec", "--help")
    assert passthrough.returncode == 0 and "evaluate" in passthrough.stdout

    server = subprocess.Popen(["sh", str(ENTRYPOINT), "serve"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.5)
        assert ready.json()["catalog_size"] > 0
        answer = httpx.post(f"http://127.0.0.1:{port}/recommend",
                            json={"user_id": "u1", "max_recommendations": 3}, timeout=10)
        assert answer.status_code == 200 and len(answer.json()["recommendations"]) == 3
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
