"""`jobrec import demo` into PostgreSQL, timed: this checkout beside another one.

    python benchmarks/import_speed.py --users 1000 --jobs 20000 [--before DIR]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Each run gets a fresh database (created, migrated, dropped), runs
`python -m app.cli import demo` in its own process from the checkout's folder, and
reports the wall time, rows per second (jobs + users + events) and the process's peak
RSS. `--before DIR` is a checkout of an earlier commit (e.g. `git worktree add
/tmp/before <commit>`), run first with the same sizes, so both are measured in one run on
one machine. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, fresh_postgres, stored_rows


def timed_import(checkout: Path, admin_url: str, users: int, jobs: int) -> dict[str, float]:
    """Import the demo from `checkout` into a fresh database: seconds, peak RSS, counts."""
    with fresh_postgres(admin_url, checkout, "jobrec_import") as url:
        env = {**os.environ, "DATABASE_URL": url}
        started = time.perf_counter()
        command = [sys.executable, "-m", "app.cli", "import", "demo", "--users", str(users)]
        proc = subprocess.Popen([*command, "--jobs", str(jobs)], cwd=checkout, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        if status != 0:
            return {"seconds": seconds, "peak_rss_gb": usage.ru_maxrss / 2**20, "failed": status}
        return {
            "seconds": seconds,
            "peak_rss_gb": usage.ru_maxrss / 2**20,
            "rows": stored_rows(url),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--before", type=Path, default=None)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    runs = [("before", args.before)] if args.before else []
    runs.append(("this checkout", REPO))
    print("| checkout | users | jobs | seconds | rows/s | peak RSS (GB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, checkout in runs:
        got = timed_import(checkout, args.admin_url, args.users, args.jobs)
        rate = f"{got['rows'] / got['seconds']:,.0f}" if "rows" in got else "failed"
        print(
            f"| {label} | {args.users} | {args.jobs} | {got['seconds']:.1f} | {rate} | "
            f"{got['peak_rss_gb']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
