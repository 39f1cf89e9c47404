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
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]


def timed_import(checkout: Path, admin_url: str, users: int, jobs: int) -> dict[str, float]:
    """Import the demo from `checkout` into a fresh database: seconds, peak RSS, counts."""
    name = f"jobrec_import_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    env = {**os.environ, "DATABASE_URL": url}
    python = sys.executable
    try:
        subprocess.run(
            [python, "-m", "app.cli", "db", "upgrade"], cwd=checkout, env=env, check=True
        )
        started = time.perf_counter()
        command = [python, "-m", "app.cli", "import", "demo", "--users", str(users)]
        proc = subprocess.Popen([*command, "--jobs", str(jobs)], cwd=checkout, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        if status != 0:
            return {"seconds": seconds, "peak_rss_gb": usage.ru_maxrss / 2**20, "failed": status}
        with create_engine(url).connect() as conn:
            rows = sum(
                conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("jobs", "users", "interactions")
            )
        return {"seconds": seconds, "peak_rss_gb": usage.ru_maxrss / 2**20, "rows": rows}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


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
