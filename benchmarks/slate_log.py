"""What logging a slate costs a request: the recommendation id (HMAC) and the slate put
on the log's queue, timed per call while the log's writer thread writes the batches to
a real store (SQLite file, or --database-url), beside the same request work without it.

    python benchmarks/slate_log.py [--calls 20000] [--k 10] [--database-url URL]

The request path pays `issue` + `log`; the writes happen on the writer thread. Also
reported: how long the writer needs to drain what the calls queued (slates/s).
Writes docs/benchmarks/slate_log.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db import create_db_engine, session_factory
from app.migrate import upgrade
from app.repositories.slates import SlateRow
from app.services.attribution import RecommendationIds
from app.services.slates import SlateLog
from app.serving.filters import FilterSpec
from benchmarks.common import REPO, machine, temporary_store


def measure(factory, calls: int, k: int) -> dict:
    ids = RecommendationIds(b"benchmark secret of 32 bytes....")
    log = SlateLog(factory, batch_size=500, flush_seconds=0.2, max_queue=calls + 1)
    items = tuple((f"j{i}", 0.5) for i in range(k))
    spec = FilterSpec(location_preference="Austin, TX", companies=("Acme",))
    logged, bare = [], []
    for i in range(calls):
        user = f"u{i % 5000}"
        start = time.perf_counter_ns()
        rid = ids.issue(user)
        filters = {"k": k, **asdict(spec)}  # as RecommendService._served does
        log.log(SlateRow(rid, user, "v1", items, filters, datetime.now(UTC)))
        logged.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()  # what the request builds anyway
        SlateRow(str(i), user, "v1", items, {}, datetime.now(UTC))
        bare.append(time.perf_counter_ns() - start)
    queued = time.perf_counter()
    log.flush()
    drained = time.perf_counter() - queued
    log.close()
    q = statistics.quantiles
    return {
        "calls": calls,
        "k": k,
        "p50_us": statistics.median(logged) / 1e3,
        "p99_us": q(logged, n=100)[98] / 1e3,
        "bare_p50_us": statistics.median(bare) / 1e3,
        "written": log.written,
        "direct": log.direct,
        "lost": log.lost,
        "drain_seconds": drained,
    }


def render(r: dict, where: str) -> str:
    added = r["p50_us"] - r["bare_p50_us"]
    return "\n".join(
        [
            "# Slate logging on the request path",
            "",
            f"`python benchmarks/slate_log.py --calls {r['calls']} --k {r['k']}` on {where}; "
            f"{machine()}.",
            "",
            "| | per request |",
            "| --- | --- |",
            f"| recommendation id + slate queued, p50 | {r['p50_us']:.1f} us |",
            f"| the same, p99 | {r['p99_us']:.1f} us |",
            f"| building a slate row without id or filters, p50 | {r['bare_p50_us']:.1f} us |",
            f"| added to a request's p50 | {added / 1e3:.3f} ms (target: <= 0.5 ms) |",
            "",
            f"The writer thread stored all {r['written']} slates ({r['direct']} written by "
            f"a caller because the queue was full, {r['lost']} lost) and needed "
            f"{r['drain_seconds']:.1f} s after the last call to finish, "
            f"{r['calls'] / max(r['drain_seconds'], 1e-9):.0f} slates/s at most behind.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    args = parser.parse_args()
    if args.database_url:
        upgrade(args.database_url)
        engine = create_db_engine(args.database_url)
        result = measure(session_factory(engine), args.calls, args.k)
        where = engine.dialect.name
        engine.dispose()
    else:
        with temporary_store() as (_, factory, _):
            result = measure(factory, args.calls, args.k)
        where = "a SQLite file"
    text = render(result, where)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "slate_log.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
