#!/bin/sh
# Entry point of the jobrec image.
#   init   wait for the database, migrate, load the demo (JOBREC_DEMO=1, the default)
#          and train a checkpoint at MODEL_PATH unless one exists; then exit
#   serve  wait for the database and serve the API on $HOST:$PORT (0.0.0.0:8001); warns
#          when API_KEY is empty, since writes and /admin are then open to the network
#   other  run that command (e.g. `jobrec evaluate --json -`)
set -eu

: "${MODEL_PATH:=var/model}"
: "${PORT:=8001}"
: "${HOST:=0.0.0.0}"
: "${JOBREC_DB_WAIT_SECONDS:=60}"
: "${JOBREC_DEMO:=1}"
: "${JOBREC_DEMO_USERS:=2000}"
: "${JOBREC_DEMO_JOBS:=1500}"
: "${JOBREC_TRAIN_ARGS:=--ablations none}"
export MODEL_PATH PORT HOST

command="${1:-serve}"
case "$command" in
    init)
        jobrec db wait --timeout "$JOBREC_DB_WAIT_SECONDS"
        jobrec db upgrade
        if [ "$JOBREC_DEMO" = "1" ]; then
            jobrec import demo --if-empty --users "$JOBREC_DEMO_USERS" --jobs "$JOBREC_DEMO_JOBS"
        fi
        if [ -f "$MODEL_PATH/metadata.json" ]; then
            echo "checkpoint found at $MODEL_PATH: training skipped"
        else
            # shellcheck disable=SC2086  # JOBREC_TRAIN_ARGS holds several flags
            jobrec train --out "$MODEL_PATH" --no-progress $JOBREC_TRAIN_ARGS
        fi
        ;;
    serve)
        case "$HOST" in
            127.*|localhost|::1|\[::1\]) ;;
            *)
                if [ -z "${API_KEY:-}" ]; then
                    echo "WARNING: API_KEY is empty and the API listens on $HOST:$PORT," \
                        "beyond loopback: PUT /users, PUT /jobs, POST /events and /admin/*" \
                        "are open to anyone who reaches this port. Set API_KEY" \
                        "(see .env.example) to require the X-API-Key header." >&2
                fi
                ;;
        esac
        jobrec db wait --timeout "$JOBREC_DB_WAIT_SECONDS"
        exec jobrec serve --host "$HOST" --port "$PORT"
        ;;
    *)
        exec "$@"
        ;;
esac
