"""Dockerfile and docker-compose.yml, checked without a Docker engine: the compose file
(interpolated as Compose does) against the Compose Specification and, where they are
installed, by Compose v2 and v1 themselves; the Dockerfile's structure; and the image's
entry script run for real outside a container against PostgreSQL. `make test-docker`
(scripts/test-docker.sh) runs the stack itself in Docker."""

from __future__ import annotations

import os
import re
import shutil
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

from tests.support.paths import REPO
from tests.support.server import free_port

COMPOSE = REPO / "docker-compose.yml"
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
ENV_EXAMPLE = REPO / ".env.example"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, $NAME, $$
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_]\w*))"
)


def interpolate(value, env: dict[str, str]):
    """Compose's variable substitution over every string of the parsed file."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, given = match["op"] or "", env.get(name)
        missing = given is None or (op.startswith(":") and given == "")
        if op.endswith("-"):
            return match["arg"] if missing else given
        if op.endswith("?") and missing:
            raise KeyError(f"{name}: {match['arg']}")
        return given or ""

    return _VARIABLE.sub(substitute, value)


def env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose(env: dict[str, str] | None = None, text: str | None = None) -> dict:
    """The file (or `text`) as Compose reads it with `env` (default: .env.example's values),
    validated against the Compose Specification. The library refuses `name:tag@digest`,
    which Docker and Compose accept (the tag documents the digest): it sees name@digest."""
    parsed = yaml.safe_load(COMPOSE.read_text() if text is None else text)
    resolved = interpolate(parsed, env_example() if env is None else env)
    for service in resolved["services"].values():
        service["image"] = re.sub(r":[^/@:]+(@sha256:)", r"\1", service["image"])
    return PyCompose.from_yaml(yaml.safe_dump(resolved)).to_dict()


def test_compose_file_follows_the_compose_specification():
    compose()  # raises ValueError on anything the specification does not allow
    compose(
        {
            **env_example(),
            "BASE_IMAGE": "jobrec-base:bookworm",
            "DB_IMAGE": "jobrec-postgres:15",
            "BUILD_NETWORK": "host",
        }
    )
    text = COMPOSE.read_text()
    broken = text.replace("condition: service_healthy", "condition: service_sleepy", 1)
    with pytest.raises(ValueError, match="service_sleepy"):
        compose(text=broken)
    typo = text.replace("    ports:", "    portz:", 1)
    with pytest.raises(ValueError, match="portz"):
        compose(text=typo)


def test_compose_wires_database_init_and_api():
    services = compose()["services"]
    db, init, api = services["db"], services["init"], services["api"]
    assert "pg_isready" in str(db["healthcheck"]["test"])
    assert init["command"] == ["init"] and api["command"] == ["serve"]
    assert init["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "init": {"condition": "service_completed_successfully"},
    }
    assert api["ports"] == ["8001:8001"]
    for service in (init, api):
        url = service["environment"]["DATABASE_URL"]
        assert url == "postgresql+psycopg://jobrec@db:5432/jobrec"
        assert service["volumes"] == ["model:/app/var"]
    assert set(raw()["volumes"]) == {"pgdata", "model"}
    assert "/readyz" in str(api["healthcheck"]["test"])


def test_compose_builds_one_image_for_init_and_api():
    services = raw()["services"]
    assert [name for name, service in services.items() if "build" in service] == ["init"]
    assert services["init"]["image"] == services["api"]["image"]
    assert compose()["services"]["api"]["image"] == "jobrec:latest"


def test_compose_runs_with_compose_v1_too():
    """docker-compose 1.29 refuses a top-level `name:`; the project name comes from
    COMPOSE_PROJECT_NAME in .env instead."""
    assert "name" not in raw()
    assert env_example()["COMPOSE_PROJECT_NAME"] == "jobrec"


def test_compose_file_holds_no_password():
    text = COMPOSE.read_text()
    assert "jobrec:jobrec@" not in text
    services = raw()["services"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    for name in ("init", "api"):  # libpq reads the password from PGPASSWORD, not the URL
        environment = services[name]["environment"]
        assert environment["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:?")
        assert ":${POSTGRES_PASSWORD" not in environment["DATABASE_URL"]
    without = {k: v for k, v in env_example().items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        compose(without)
    assert (
        compose()["services"]["db"]["environment"]["POSTGRES_PASSWORD"]
        == env_example()["POSTGRES_PASSWORD"]
    )


def test_env_example_names_every_variable_the_compose_file_reads():
    used = {
        m["name"] or m["bare"] for m in _VARIABLE.finditer(COMPOSE.read_text()) if not m["escaped"]
    }
    # set in .env.example or shown there commented out
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))
    assert used - documented <= {"LOG_LEVEL", "JOBREC_IMAGE"}, used - documented
    for name in ("POSTGRES_PASSWORD", "API_KEY", "BASE_IMAGE", "DB_IMAGE"):
        assert name in documented


def test_compose_images_default_to_official_images_pinned_by_digest():
    services = compose({"POSTGRES_PASSWORD": "x"})["services"]
    assert services["db"]["image"].startswith("postgres@sha256:")  # 15-alpine, see compose()
    local = compose(
        {
            "POSTGRES_PASSWORD": "x",
            "DB_IMAGE": "jobrec-postgres:15",
            "BASE_IMAGE": "jobrec-base:bookworm",
        }
    )["services"]
    assert local["db"]["image"] == "jobrec-postgres:15"
    assert "postgres:15-alpine@sha256:" in raw()["services"]["db"]["image"]
    assert raw()["services"]["init"]["build"]["args"] == ["BASE_IMAGE"]


def test_compose_healthcheck_reads_the_port_from_the_environment():
    test = " ".join(raw()["services"]["api"]["healthcheck"]["test"])
    assert "os.environ" in test and "'PORT'" in test
    assert ":8001/" not in test


def test_docker_context_leaves_out_local_secrets_and_state():
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".env", ".venv", "var", ".git"):
        assert entry in ignored


def compose_command(version: int) -> list[str] | None:
    """Compose v2 (the docker plugin, or the binary `make test-docker` fetched) or v1."""
    candidates = {
        2: [["docker", "compose"], [str(REPO / "var" / "test-docker" / "bin" / "docker-compose")]],
        1: [["docker-compose"]],
    }[version]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        done = subprocess.run([*command, "version"], capture_output=True, text=True)
        if done.returncode == 0 and re.search(rf"\bv?{version}\.\d+", done.stdout):
            return command
    return None


@pytest.mark.parametrize("version", [2, 1], ids=["compose-v2", "compose-v1"])
def test_compose_itself_accepts_the_file(version, tmp_path):
    """`compose config` needs no daemon; skipped where that Compose is not installed."""
    command = compose_command(version)
    if command is None:
        pytest.skip(f"Compose v{version} is not installed")
    envfile = tmp_path / "compose.env"
    envfile.write_text(ENV_EXAMPLE.read_text())
    args = [
        *command,
        "--project-directory",
        str(REPO),
        "-f",
        str(COMPOSE),
        "--env-file",
        str(envfile),
    ]
    clean = {
        k: v
        for k, v in os.environ.items()
        if not re.match(r"(COMPOSE_|POSTGRES_|BASE_IMAGE|DB_IMAGE|API_KEY|JOBREC_)", k)
    }
    done = subprocess.run([*args, "config"], capture_output=True, text=True, env=clean)
    assert done.returncode == 0, done.stderr
    assert "change-me-to-a-long-random-string" in done.stdout
    envfile.write_text(ENV_EXAMPLE.read_text().replace("POSTGRES_PASSWORD=", "#"))
    refused = subprocess.run([*args, "config"], capture_output=True, text=True, env=clean)
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr


def dockerfile(path: Path = REPO / "Dockerfile") -> list[tuple[str, str]]:
    return [(i["instruction"], i["value"]) for i in DockerfileParser(str(path)).structure]


def test_dockerfile_is_multi_stage_cpu_only_and_non_root():
    instructions = dockerfile()
    froms = [v for k, v in instructions if k == "FROM"]
    assert len(froms) >= 2 and froms[-1].endswith("AS runtime")
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    users = [v for k, v in final if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " ".join(v for k, v in instructions if k == "RUN")
    # scripts/install.sh: the lock file and torch's CPU build, as `make install`
    assert "scripts/install.sh /opt/venv/bin/python 0" in runs
    install = (REPO / "scripts" / "install.sh").read_text()
    assert "torch_build=${TORCH:-cpu}" in install and "download.pytorch.org/whl/" in install
    assert ("ENV", "TORCH") not in instructions
    health = [v for k, v in final if k == "HEALTHCHECK"]
    assert health and "/readyz" in health[0] and "PORT" in health[0]
    assert ("EXPOSE", "8001") in final
    assert any(k == "ENTRYPOINT" and "jobrec-entrypoint" in v for k, v in final)
    copied = " ".join(v for k, v in instructions if k == "COPY")
    for package in ("ml", "app", "migrations", "docker/entrypoint.sh"):
        assert package in copied


def test_dockerfile_base_is_pinned_by_digest_and_chosen_by_a_build_argument():
    instructions = dockerfile()
    args = dict(v.split("=", 1) for k, v in instructions if k == "ARG" and "=" in v)
    assert DIGEST.search(args["DEFAULT_BASE_IMAGE"])
    assert args["DEFAULT_BASE_IMAGE"].startswith("python:3.11-slim@")
    assert args["BASE_IMAGE"] == ""  # empty or unset: the default (Compose v1 sends "")
    bases = [v.split()[0] for k, v in instructions if k == "FROM"]
    stages = [v.split()[-1] for k, v in instructions if k == "FROM"]
    assert all(b == "${BASE_IMAGE:-${DEFAULT_BASE_IMAGE}}" for b in bases if b not in stages)
    assert bases[0] == bases[-1] == "${BASE_IMAGE:-${DEFAULT_BASE_IMAGE}}"


def test_dockerfile_installs_dependencies_in_a_layer_before_the_source():
    instructions = dockerfile()

    def first(kind: str, needle: str) -> int:
        return next(i for i, (k, v) in enumerate(instructions) if k == kind and needle in v)

    lock, script = first("COPY", "requirements.lock"), first("COPY", "scripts/install.sh")
    wheels = first("COPY", "docker/wheels/")
    deps = first("RUN", "scripts/install.sh")
    source = min(
        i
        for i, (k, v) in enumerate(instructions)
        if k == "COPY" and v.split()[0] in ("ml", "app", "migrations", "README.md")
    )
    assert max(lock, script, wheels) < deps < source
    # the runtime stage takes the dependencies' virtualenv apart from the package
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    copies = [v for k, v in final if k == "COPY"]
    assert copies[:2] == ["--from=deps /opt/venv /opt/venv", "--from=build /pkg/ /"]
    assert any(k == "ENV" and "PIP_FIND_LINKS=/wheels" in v for k, v in instructions)
    assert (REPO / "docker" / "wheels" / ".gitkeep").exists()


def test_postgres_image_for_machines_without_docker_hub():
    instructions = dockerfile(REPO / "docker" / "postgres" / "Dockerfile")
    assert ("FROM", "${BASE_IMAGE}") in instructions
    runs = " ".join(v for k, v in instructions if k == "RUN")
    assert "postgresql-15" in runs and "create_main_cluster = false" in runs
    assert ("STOPSIGNAL", "SIGINT") in instructions
    assert any(k == "HEALTHCHECK" and "pg_isready" in v for k, v in instructions)
    entry = (REPO / "docker" / "postgres" / "entrypoint.sh").read_text()
    for name in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert name in entry


@pytest.mark.parametrize(
    "script",
    [
        "docker/entrypoint.sh",
        "docker/make-base.sh",
        "docker/postgres/entrypoint.sh",
        "scripts/test-docker.sh",
    ],
)
def test_scripts_are_valid_shell(script):
    path = REPO / script
    shell = "bash" if path.read_text().startswith("#!/usr/bin/env bash") else "sh"
    assert subprocess.run([shell, "-n", str(path)]).returncode == 0
    assert os.access(path, os.X_OK)


def test_make_test_docker_runs_the_script_and_ci_runs_it_when_docker_can_start():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test-docker:.*\n\tscripts/test-docker.sh", makefile, re.M)
    assert re.search(r"^\.PHONY:.*\btest-docker\b", makefile, re.M)
    ci = (REPO / ".ci" / "run").read_text()
    assert "scripts/test-docker.sh --ensure-docker" in ci and "make test-docker" in ci


def test_entry_script_serves_on_host_and_port_from_the_environment(tmp_path):
    """With a stand-in `jobrec` that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "jobrec").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "jobrec").chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    for env, expected in (
        ({}, "serve --host 0.0.0.0 --port 8001"),
        ({"HOST": "127.0.0.1", "PORT": "9000"}, "serve --host 127.0.0.1 --port 9000"),
    ):
        calls.unlink(missing_ok=True)
        done = subprocess.run(
            ["sh", str(ENTRYPOINT), "serve"],
            env={"PATH": path, **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert calls.read_text().splitlines() == ["db wait --timeout 60", expected]


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
        "HOST": "127.0.0.1",
        "JOBREC_DEMO_USERS": "80",
        "JOBREC_DEMO_JOBS": "60",
        "JOBREC_TRAIN_ARGS": f"--config {REPO / 'configs' / 'tiny.toml'} --epochs 1 "
        "--ablations none",
        "JOBREC_DB_WAIT_SECONDS": "10",
    }

    def run(*args):
        return subprocess.run(
            ["sh", str(ENTRYPOINT), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )

    first = run("init")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (tmp_path / "model" / "metadata.json").exists()
    second = run("init")
    assert second.returncode == 0 and "training skipped" in second.stdout
    assert "already has data" in second.stderr
    passthrough = run("jobrec", "--help")
    assert passthrough.returncode == 0 and "evaluate" in passthrough.stdout

    server = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
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
        answer = httpx.post(
            f"http://127.0.0.1:{port}/recommend",
            json={"user_id": "u1", "max_recommendations": 3},
            timeout=10,
        )
        assert answer.status_code == 200 and len(answer.json()["recommendations"]) == 3
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
