"""What a fresh `POST /recommend` costs beside scoring: this checkout against another.

    python benchmarks/request_cost.py [--before DIR] [--jobs 10000] [--duration 10]
        [--folder /tmp/jobrec-profile]

The store and checkpoint of `benchmarks/serving.py` (built once in --folder). For each
checkout (`--before DIR`, a worktree of an earlier commit, first; then this one), one
after the other on this machine:

* in-process: the scorer's CPU per request (one torch thread; 200 users x 3, the whole
  10k catalog each), as `app.serving` calls it;
* `jobrec serve` with 2 workers x 1 torch thread, driven by wrk (Debian's package; an
  httpx client in its own process without it): GET /healthz and fresh POST /recommend
  (random demo users, k=10, `Cache-Control: no-cache`) at 1 connection (p50, and the
  server's CPU per request) and at 32 (requests/s, errors).

Prints a Markdown table and the issue's three ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO
from benchmarks.serving import (
    Server,
    build_store,
    request_bodies,
    run_httpx,
    run_wrk,
    train_checkpoint,
)

SCORER = """
import statistics, sys, time, torch
torch.set_num_threads(1)
from app.db import create_db_engine, session_factory, session_scope
from app.repositories import CatalogReader, EventRepository, JobRepository, UserRepository
from app.serving.catalog import Catalog
from ml.checkpoint import load_checkpoint
from ml.data import aggregate_feedback, attach_history
checkpoint = load_checkpoint(sys.argv[2])
factory = session_factory(create_db_engine(sys.argv[1]))
with session_scope(factory) as s:
    jobs = CatalogReader(s).jobs()
    users = UserRepository(s).records([f"u{i}" for i in range(1, 201)])
    feedback = aggregate_feedback(EventRepository(s).interactions())
    liked_ids = sorted({f.job_id for f in feedback if f.label > 0})
    liked = JobRepository(s).records(external_ids=liked_ids)
space = checkpoint.space
encoded = space.encode_users(attach_history(users, feedback, liked, space.config.max_history))
scorer = Catalog.build(jobs, checkpoint.model, space).base.scorer
for i in range(20):
    scorer.score(encoded, i)
started = time.process_time()
for _ in range(3):
    for i in range(200):
        scorer.score(encoded, i)
print((time.process_time() - started) / 600 * 1000)
"""


def measure(checkout: Path, url: str, model: Path, duration: float) -> dict[str, float]:
    scorer = subprocess.run(
        [sys.executable, "-c", SCORER, url, str(model)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    out = {"scorer_cpu_ms": float(scorer.stdout.strip().splitlines()[-1])}
    bodies = request_bodies(filtered=False)
    load = run_wrk if shutil.which("wrk") else run_httpx  # wrk: the client's own cost is tiny
    with Server(url, model, workers=2, threads=1, checkout=checkout) as server:
        load(server.base, "POST", "/recommend", bodies, 1, 2, True)  # warm
        health = load(server.base, "GET", "/healthz", None, 1, duration, False)
        cpu = server.cpu_s()
        one = load(server.base, "POST", "/recommend", bodies, 1, duration, True)
        out["server_cpu_ms"] = (server.cpu_s() - cpu) / one["requests"] * 1000
        many = load(server.base, "POST", "/recommend", bodies, 32, duration, True)
    out |= {
        "healthz_p50_ms": health["p50_ms"],
        "recommend_p50_ms": one["p50_ms"],
        "rps_32": many["rps"],
        "errors_32": many["errors"],
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/jobrec-profile"))
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    model = train_checkpoint(args.folder)
    url = build_store(args.folder / f"store-{args.jobs}.db", args.jobs)
    runs = ([("before", args.before)] if args.before else []) + [("this checkout", REPO)]
    print(
        "| checkout | scorer CPU ms | server CPU ms/request | CPU / scorer | /healthz p50 ms "
        "| /recommend p50 ms | p50 / healthz | req/s at 32 | errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, checkout in runs:
        m = measure(checkout, url, model, args.duration)
        print(
            f"| {label} | {m['scorer_cpu_ms']:.2f} | {m['server_cpu_ms']:.2f} | "
            f"{m['server_cpu_ms'] / m['scorer_cpu_ms']:.2f}x | {m['healthz_p50_ms']:.2f} | "
            f"{m['recommend_p50_ms']:.2f} | {m['recommend_p50_ms'] / m['healthz_p50_ms']:.1f}x | "
            f"{m['rps_32']:.0f} | {m['errors_32']} |",
            flush=True,
        )
        print(json.dumps(m), file=sys.stderr)


if __name__ == "__main__":
    main()
