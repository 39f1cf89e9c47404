"""One catalog for all workers: memory and start-up with and without catalog snapshots.

    python benchmarks/catalog_memory.py [--sizes 200000,1000000] [--folder /tmp/jobrec-memory]

For each catalog size, a SQLite store with the demo plus synthetic jobs up to that size
(kept in --folder between runs, as is the checkpoint: 3 epochs on the demo), then
`jobrec serve` started in its own process, one run each:

* private: CATALOG_SNAPSHOT_DIR empty (each worker builds and holds its catalog), 1 and
  2 workers;
* snapshot, cold: an empty snapshot folder, 2 workers started together (one builds and
  writes, the other waits for it and maps the files);
* snapshot, warm: the snapshot the cold run wrote exists, 1 and 2 workers.

Each run: seconds to /readyz, each worker's "startup complete" after launch, then 200
fresh POST /recommend (so both workers have touched what a request reads), then the
proportional set size (PSS) of the server and its workers together: pages shared by
the workers (the mapped snapshot, the libraries) count once in all. Writes
docs/benchmarks/catalog-memory.md and .json.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.common import REPO, machine
from benchmarks.serving import FRESH, Server, build_store, request_bodies, train_checkpoint

REQUESTS = 200
HEADERS = {"Content-Type": "application/json", **FRESH}


def run(url: str, model: Path, workers: int, snapshots: str, requests: int) -> dict:
    """One server start: start-up, workers' ready times, PSS and RSS after requests."""
    env = {"CATALOG_SNAPSHOT_DIR": snapshots, "LOG_LEVEL": "info"}
    started = time.perf_counter()
    with Server(url, model, workers=workers, threads=1, env=env) as server:
        ready_s = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while len(_workers_ready(server, started)) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        bodies = request_bodies(filtered=False, n=requests)
        random.Random(2).shuffle(bodies)
        with httpx.Client(base_url=server.base, timeout=120) as client:
            for body in bodies:
                client.post("/recommend", content=body, headers=HEADERS).raise_for_status()
        return {
            "workers": workers,
            "snapshots": "private" if not snapshots else "snapshot",
            "startup_s": round(ready_s, 1),
            "workers_ready_s": _workers_ready(server, started),
            "pss_mb": round(server.pss_mb()),
            "rss_mb": round(server.rss_mb()),
            "catalog_size": server.catalog_size,
        }


def _workers_ready(server: Server, started: float) -> list[float]:
    """Seconds after launch at which each worker said its start-up was complete."""
    return sorted(
        round(at - started, 1)
        for at, line in list(server.lines)
        if "startup complete" in line.lower()
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/jobrec-memory"))
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    parser.add_argument(
        "--keep", action="store_true", help="keep the other sizes of the report in --out"
    )
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    model = train_checkpoint(args.folder)
    report: dict = {"machine": machine(), "date": datetime.now(UTC).isoformat(), "sizes": {}}
    earlier = args.out / "catalog-memory.json"
    if args.keep and earlier.is_file():
        report["sizes"] = json.loads(earlier.read_text())["sizes"]
    for size in (int(s) for s in args.sizes.split(",")):
        url = build_store(args.folder / f"store-{size}.db", size)
        snapshots = args.folder / f"snapshots-{size}"
        shutil.rmtree(snapshots, ignore_errors=True)
        runs = []
        for workers, folder in [
            (1, ""),
            (2, ""),
            (2, str(snapshots)),  # cold: nothing in the folder yet
            (1, str(snapshots)),
            (2, str(snapshots)),
        ]:
            entry = run(url, model, workers, folder, args.requests)
            entry["cold"] = bool(folder) and len(runs) == 2
            runs.append(entry)
            print(size, json.dumps(entry), flush=True)
        report["sizes"][str(size)] = runs
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "catalog-memory.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "catalog-memory.md").write_text(render(report, args))
    print(render(report, args))


def render(report: dict, args) -> str:
    lines = [
        "# One catalog for all workers: memory and start-up",
        "",
        f"`python benchmarks/catalog_memory.py --sizes {','.join(report['sizes'])}` on "
        f"{report['machine']}, "
        f"{report['date'][:10]}. `jobrec serve` with 1 torch thread per worker; PSS and RSS "
        f"of the server and its workers together after {args.requests} fresh POST "
        '/recommend; worker ready: each worker\'s "startup complete" after launch.',
        "",
        "| jobs | catalog | workers | start-up s (/readyz) | workers ready s | PSS MiB | RSS MiB |",
        "|---:|---|---:|---:|---|---:|---:|",
    ]
    sizes = sorted(report["sizes"].items(), key=lambda item: int(item[0]))
    for size, runs in sizes:
        for r in runs:
            kind = (
                "private"
                if r["snapshots"] == "private"
                else ("snapshot (cold: built)" if r["cold"] else "snapshot (warm: mapped)")
            )
            ready = ", ".join(f"{s:g}" for s in r["workers_ready_s"])
            lines.append(
                f"| {int(size):,} | {kind} | {r['workers']} | {r['startup_s']:g} | {ready} | "
                f"{r['pss_mb']:,} | {r['rss_mb']:,} |"
            )
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for size, runs in sizes:
        by = {(r["snapshots"], r["workers"], r["cold"]): r for r in runs}
        one, two = by[("snapshot", 1, False)], by[("snapshot", 2, False)]
        ratio = two["pss_mb"] / one["pss_mb"]
        private = by[("private", 2, False)]["pss_mb"] / by[("private", 1, False)]["pss_mb"]
        lines.append(
            f"| {int(size):,}: PSS 2 workers <= 1.35x 1 worker | {ratio:.2f}x "
            f"(private catalogs: {private:.2f}x) | {'met' if ratio <= 1.35 else 'not met'} |"
        )
        cold = by[("snapshot", 2, True)]["workers_ready_s"]
        if len(cold) == 2:
            lag = cold[1] - cold[0]
            lines.append(
                f"| {int(size):,}: second worker ready within 10 s of the first (cold) | "
                f"{lag:.1f} s | {'met' if lag <= 10 else 'not met'} |"
            )
        lines.append(
            f"| {int(size):,}: start-up with a snapshot < 60 s | {one['startup_s']:g} s "
            f"(building it: {by[('snapshot', 2, True)]['startup_s']:g} s) | "
            f"{'met' if one['startup_s'] < 60 else 'not met'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
