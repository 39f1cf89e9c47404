#!/bin/sh
# Entry point of the jobrec image.
#   init   wait for the database, migrate, load the demo (JOBREC_DEMO=1, the default)
#          and train a checkpoint at MODEL_PATH unless one exists; then exit
#   serve  wait for the database and serve the API on $HOST:$PORT (0.0.0.0:8001); the
#          server warns at start when API_KEY is empty (writes and /admin are then open)
#   retrain  wait for the database and retrain every $RETRAIN_EVERY (2h) with
#          $RETRAIN_ARGS (e.g. "--challenge 0.2" or "--promote")
#   other  run that command (e.g. `jobrec evaluate --json -`)
set -eu

: "${MODEL_PATH:=var/model}"
: "${PORT:=8001}"
: "${HOST:=0.0.0.0}"
: "${JOBREC_DB_WAIT_SECONDS:=60}"
: "${JOBREC_DEMO:=1}"
: "${JOBREC_DEMO_USERS:=2000}"
: "${JOBREC_DEMO_JOBS:=1500}"
: "${JOBREC_TRAIN_ARGS:=--config configs/demo.toml}"
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
        jobrec db wait --timeout "$JOBREC_DB_WAIT_SECONDS"
        exec jobrec serve --host "$HOST" --port "$PORT"
        ;;
    retrain)
        jobrec db wait --timeout "$JOBREC_DB_WAIT_SECONDS"
        # shellcheck disable=SC2086  # RETRAIN_ARGS holds several flags
        exec jobrec retrain --every "${RETRAIN_EVERY:-2h}" ${RETRAIN_ARGS:-}
        ;;
    *)
        exec "$@"
        ;;
esac
