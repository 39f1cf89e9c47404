"""A flame graph of fresh `POST /recommend` requests, end to end, in the server.

    pip install py-spy==0.4.3        # the sampling profiler (not a project dependency)
    python benchmarks/profile_request.py [--jobs 10000] [--seconds 20]
        [--folder /tmp/jobrec-profile] [--out docs/benchmarks/request-profile.svg]

Builds (or reuses, in --folder) the store and checkpoint of `benchmarks/serving.py`,
starts `jobrec serve` with one worker and one torch thread, and samples it with py-spy
(every thread, 250 Hz, native frames off) while one client sends fresh requests (random
demo users, k=10, `Cache-Control: no-cache`) one after the other. Writes the flame graph
as SVG and prints the server CPU per request.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.common import REPO
from benchmarks.serving import DEMO_USERS, FRESH, Server, build_store, train_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/jobrec-profile"))
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs" / "benchmarks" / "request-profile.svg"
    )
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: pip install py-spy==0.4.3")
    args.folder.mkdir(parents=True, exist_ok=True)
    model = train_checkpoint(args.folder)
    url = build_store(args.folder / f"store-{args.jobs}.db", args.jobs)
    rng = random.Random(3)
    with Server(url, model, workers=1, threads=1) as server:
        worker = max(server.pids())  # the uvicorn worker (the one process with workers=1)
        with httpx.Client(base_url=server.base, timeout=30) as client:
            for _ in range(20):  # warm
                client.post("/recommend", json={"user_id": "u1"}, headers=FRESH)
            record = ["record", "--pid", str(worker), "--rate", "250", "--threads"]
            output = ["--format", "flamegraph", "--output", str(args.out), "--nonblocking"]
            duration = ["--duration", str(int(args.seconds))]
            recorder = subprocess.Popen(
                [spy, *record, *output, *duration], stdout=subprocess.DEVNULL
            )
            time.sleep(1.0)
            cpu_before, sent = server.cpu_s(), 0
            deadline = time.perf_counter() + args.seconds - 2
            while time.perf_counter() < deadline:
                body = {"user_id": f"u{rng.randint(1, DEMO_USERS)}", "max_recommendations": 10}
                client.post("/recommend", json=body, headers=FRESH).raise_for_status()
                sent += 1
            cpu = server.cpu_s() - cpu_before
            recorder.wait()
    print(
        json.dumps(
            {"requests": sent, "server_cpu_ms_per_request": round(1000 * cpu / sent, 2)},
            indent=1,
        )
    )
    print(f"flame graph: {args.out}")


if __name__ == "__main__":
    main()
