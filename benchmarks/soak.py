"""Load and soak: `jobrec serve` under a mixed workload, bounded in time, on loopback.

    python benchmarks/soak.py [--duration 60] [--connections 32]

A temporary SQLite store gets the demo data and a checkpoint of the default
configuration (3 epochs); the server runs as `jobrec serve` runs it. For --duration
seconds, --connections concurrent clients send a mix of POST /recommend (70%, some with
filters), POST /events (20%, each with its own Idempotency-Key) and PUT /jobs or
PUT /users upserts (10%). It reports errors (anything but the expected 2xx),
p50/p99 per kind, requests/s, the server's resident memory every few seconds, and checks
that every accepted event is in the store exactly once. Writes docs/benchmarks/soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlalchemy import func, select

from app import models as m
from app.db import create_db_engine, session_factory, session_scope
from benchmarks.common import REPO, machine
from benchmarks.serving import DEMO_JOBS, DEMO_USERS, Server, build_store, train_checkpoint

MIX = (("recommend", 0.7), ("event", 0.2), ("upsert", 0.1))
TITLES = ("Data Engineer", "Barista", "Warehouse Associate", "Registered Nurse", "Cook")
CITIES = ("Austin, TX", "San Francisco, CA", "Chicago, IL", "New York, NY", "Remote")


def request_for(kind: str, rng: random.Random) -> tuple[str, str, dict, dict]:
    user = f"u{rng.randint(1, DEMO_USERS)}"
    if kind == "recommend":
        body: dict = {"user_id": user, "max_recommendations": 10}
        if rng.random() < 0.5:
            body |= {"salary_min": 40000, "location_preference": rng.choice(CITIES[:-1])}
        return "POST", "/recommend", body, {}
    if kind == "event":
        return (
            "POST",
            "/events",
            {
                "user_id": user,
                "job_id": f"j{rng.randint(1, DEMO_JOBS)}",
                "type": rng.choice(["view", "click", "save", "apply"]),
            },
            {"Idempotency-Key": uuid.uuid4().hex},
        )
    if rng.random() < 0.5:
        return (
            "PUT",
            f"/jobs/soak-{rng.randint(1, 200)}",
            {
                "title": rng.choice(TITLES),
                "location": rng.choice(CITIES),
                "skills": rng.sample(["python", "sql", "excel", "customer service"], 2),
                "salary": {"min": rng.randint(30, 90) * 1000, "period": "year"},
            },
            {},
        )
    return (
        "PUT",
        f"/users/soak-{rng.randint(1, 200)}",
        {"location": rng.choice(CITIES), "skills": ["sql", "excel"]},
        {},
    )


async def client_loop(client: httpx.AsyncClient, deadline: float, seed: int, out: list) -> None:
    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        method, path, body, headers = request_for(kind, rng)
        started = time.perf_counter()
        try:
            response = await client.request(method, path, json=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        out.append((kind, status, time.perf_counter() - started))


async def sample_rss(server: Server, deadline: float, samples: list) -> None:
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        samples.append((round(time.perf_counter() - start, 1), server.rss_mb()))
        await asyncio.sleep(5)


async def drive(server: Server, duration: float, connections: int) -> tuple[list, list]:
    out: list = []
    rss: list = []
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=server.base, limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + duration
        await asyncio.gather(
            sample_rss(server, deadline, rss),
            *(client_loop(client, deadline, i, out) for i in range(connections)),
        )
    rss.append((duration, server.rss_mb()))
    return out, rss


def summarise(results: list, duration: float) -> dict:
    expected = {"recommend": {200}, "event": {201}, "upsert": {200, 201}}
    summary: dict = {"requests": len(results), "rps": len(results) / duration, "kinds": {}}
    for kind, _ in MIX:
        rows = [(s, t) for k, s, t in results if k == kind]
        times = sorted(t for _, t in rows)
        errors = [s for s, _ in rows if s not in expected[kind]]
        summary["kinds"][kind] = {
            "requests": len(rows),
            "errors": len(errors),
            "error_kinds": sorted({str(e) for e in errors}),
            "p50_ms": statistics.median(times) * 1000 if times else 0.0,
            "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))] * 1000 if times else 0.0,
        }
    summary["errors"] = sum(k["errors"] for k in summary["kinds"].values())
    summary["events_accepted"] = sum(1 for k, s, _ in results if k == "event" and s == 201)
    return summary


def event_rows(url: str) -> int:
    engine = create_db_engine(url)
    with session_scope(session_factory(engine)) as session:
        n = session.execute(select(func.count()).select_from(m.Interaction)).scalar_one()
    engine.dispose()
    return n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="reuse the checkpoint kept there by `serving.py --keep` (or keep this run's)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobrec-soak-") as tmp:
        folder = Path(tmp)
        model = train_checkpoint(args.keep or folder)
        url = build_store(folder / "store.db", DEMO_JOBS)
        rows_before = event_rows(url)
        with Server(url, model, None, None) as server:
            results, rss = asyncio.run(drive(server, args.duration, args.connections))
        summary = summarise(results, args.duration)
        summary["events_in_store"] = event_rows(url) - rows_before
    summary["rss_mb"] = rss
    text = render(summary, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.md").write_text(text)
    (args.out / "soak.json").write_text(json.dumps(summary, indent=1))
    print(text)
    if summary["errors"] or summary["events_in_store"] != summary["events_accepted"]:
        sys.exit(1)


def render(summary: dict, args) -> str:
    rss = summary["rss_mb"]
    lines = [
        "# Load and soak",
        "",
        f"Measured on {machine()}; client (async httpx, {args.connections} connections) "
        "and server on the same machine, loopback.",
        "",
        "Command:",
        "",
        f"    python benchmarks/soak.py --duration {args.duration:g} "
        f"--connections {args.connections}",
        "",
        f"{summary['requests']:,} requests in {args.duration:g} s "
        f"({summary['rps']:.0f} req/s), **{summary['errors']} errors**.",
        "",
        "| request | share | requests | errors | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, share in MIX:
        k = summary["kinds"][kind]
        lines.append(
            f"| {kind} | {share:.0%} | {k['requests']:,} | {k['errors']} | "
            f"{k['p50_ms']:.1f} | {k['p99_ms']:.1f} |"
        )
    lines += [
        "",
        f"Events: {summary['events_accepted']:,} answered 201, {summary['events_in_store']:,} "
        "new rows in the store"
        + (
            " (none lost, none doubled)."
            if summary["events_in_store"] == summary["events_accepted"]
            else " (MISMATCH)."
        ),
        "",
        f"Server RSS: {rss[0][1]:.0f} MiB at the start, {rss[-1][1]:.0f} MiB at the end "
        f"(max {max(r for _, r in rss):.0f} MiB); samples (s, MiB): "
        + ", ".join(f"({t:g}, {r:.0f})" for t, r in rss)
        + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
