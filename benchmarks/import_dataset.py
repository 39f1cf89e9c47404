"""`jobrec import dataset` timed: validation alone and the whole import into PostgreSQL,
this checkout beside another one.

    python benchmarks/import_dataset.py --jobs 200000 --users 5000 --events 100000
        [--before DIR] [--folder DIR]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

A dataset folder in the canonical format (docs/dataset.md) is generated once from a
fixed seed (or reused with `--folder`). For each checkout, two processes run from the
checkout's folder: `read_dataset` (reading and validating every row) and
`import_dataset` into a fresh database (created, migrated, dropped); each reports its
wall time and peak RSS. `--before DIR` (repeatable) is a checkout of an earlier commit
(e.g. `git worktree add /tmp/before-dataset <commit>`), run first, so all are measured
in one run on one machine. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, fresh_postgres, stored_rows

TITLES = [
    "Data Scientist",
    "Software Engineer",
    "Registered Nurse",
    "Line Cook",
    "Warehouse Associate",
    "Cashier",
    "Sales Representative",
    "Product Manager",
    "Forklift Operator",
    "Customer Service Agent",
]
LEVELS = ["", "Senior ", "Junior ", "Lead ", "Staff "]
SKILLS = [
    "python", "sql", "java", "react", "aws", "docker", "excel", "nursing", "cooking",
    "sales", "forklift", "cashier", "spark", "kubernetes", "tableau", "customer service",
]  # fmt: skip
CITIES = [
    "Austin, TX", "Boston, MA", "Chicago, IL", "Seattle, WA", "Denver, CO",
    "San Francisco, CA", "New York, NY", "Atlanta, GA", "Paris, France", "Remote - US",
]  # fmt: skip
TYPES = ["view", "view", "view", "click", "save", "apply", "dismiss", "impression"]
EMPLOYMENT = ["", "full_time", "part_time", "contract", "temporary", "internship"]


def _pick(rng: np.random.Generator, options: list[str], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _skills(rng: np.random.Generator, n: int) -> list[str]:
    counts = rng.integers(0, 7, n)
    chosen = _pick(rng, SKILLS, int(counts.sum()))
    ends = np.cumsum(counts)
    return [";".join(chosen[end - k : end]) for k, end in zip(counts, ends, strict=True)]


def _stamps(rng: np.random.Generator, n: int) -> np.ndarray:
    start = np.datetime64("2024-01-01T00:00:00")
    seconds = rng.integers(0, 365 * 86400, n).astype("timedelta64[s]")
    return np.datetime_as_string(start + seconds, unit="s")


def write_dataset(folder: Path, jobs: int, users: int, events: int, seed: int = 0) -> None:
    """A valid dataset of the given sizes in `folder` (jobs.csv, users.csv,
    interactions.csv), the same for the same arguments."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    hourly = rng.random(jobs) < 0.2
    low = np.where(hourly, rng.integers(15, 40, jobs), rng.integers(30, 150, jobs) * 1000)
    has_pay = rng.random(jobs) < 0.7
    structured = rng.random(jobs) < 0.2
    titles = _pick(rng, LEVELS, jobs) + _pick(rng, TITLES, jobs)
    pd.DataFrame(
        {
            "job_id": [f"job{i}" for i in range(jobs)],
            "title": titles,
            "description": titles + " wanted.\nWe use " + _pick(rng, SKILLS, jobs) + " daily.",
            "company": [f"Company {k}" for k in rng.integers(0, 2000, jobs)],
            "location": np.where(structured, "", _pick(rng, CITIES, jobs)),
            "city": np.where(structured, "Austin", ""),
            "region": np.where(structured, "TX", ""),
            "remote": np.where(rng.random(jobs) < 0.1, "true", ""),
            "skills": _skills(rng, jobs),
            "salary_min": np.where(has_pay, low.astype(str), ""),
            "salary_max": np.where(has_pay, (low * 13 // 10).astype(str), ""),
            "salary_period": np.where(has_pay & hourly, "hour", ""),
            "employment_type": _pick(rng, EMPLOYMENT, jobs),
            "posted_at": _stamps(rng, jobs),
            "active": np.where(rng.random(jobs) < 0.05, "false", ""),
        }
    ).to_csv(folder / "jobs.csv", index=False)
    wants = rng.random(users) < 0.6
    desired = (rng.integers(40, 200, users) * 1000).astype(str)
    pd.DataFrame(
        {
            "user_id": [f"user{i}" for i in range(users)],
            "headline": _pick(rng, TITLES, users),
            "location": _pick(rng, CITIES, users),
            "skills": _skills(rng, users),
            "desired_salary": np.where(wants, desired, ""),
        }
    ).to_csv(folder / "users.csv", index=False)
    pd.DataFrame(
        {
            "user_id": [f"user{i}" for i in rng.integers(0, users, events)],
            "job_id": [f"job{i}" for i in rng.integers(0, jobs, events)],
            "type": _pick(rng, TYPES, events),
            "timestamp": np.char.add(_stamps(rng, events).astype(str), "Z"),
        }
    ).to_csv(folder / "interactions.csv", index=False)


STEP = {
    "validate": "from app.importers.dataset import read_dataset\nread_dataset({folder!r})",
    "import": (
        "from app.db import create_db_engine, session_factory\n"
        "from app.importers.dataset import import_dataset\n"
        "import_dataset(session_factory(create_db_engine({url!r})), {folder!r})"
    ),
}


def timed(checkout: Path, step: str, folder: Path, url: str) -> dict[str, float]:
    """Run `step` from `checkout` in its own process: seconds and peak RSS (GB)."""
    code = (
        "import json, time\nstarted = time.perf_counter()\n"
        + STEP[step].format(folder=str(folder), url=url)
        + "\nprint(json.dumps(time.perf_counter() - started))"
    )
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=checkout, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{step} from {checkout} failed ({status})")
    return {"seconds": float(json.loads(out)), "peak_rss_gb": usage.ru_maxrss / 2**20}


def measure(checkout: Path, folder: Path, admin_url: str, rows: int) -> list[str]:
    """The table's two lines of one checkout."""
    lines = []
    with fresh_postgres(admin_url, checkout, "jobrec_dataset") as url:
        for step in ("validate", "import"):
            got = timed(checkout, step, folder, url)
            lines.append(
                f"| {step} | {got['seconds']:.1f} | {rows / got['seconds']:,.0f} | "
                f"{got['peak_rss_gb']:.2f} |"
            )
        lines[-1] += f" {stored_rows(url):,} |"
        lines[0] += " |"
    return lines


def commit(checkout: Path) -> str:
    """The checkout's commit (short), "+" when its tracked files have changes."""
    git = ["git", "-C", str(checkout)]
    sha = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"], capture_output=True).returncode
    return sha.stdout.strip() + ("+" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=None, help="reuse this dataset")
    parser.add_argument(
        "--before", type=Path, action="append", default=[], help="an earlier checkout (repeatable)"
    )
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    runs = [(f"before ({commit(path)})", path) for path in args.before]
    runs.append((f"this checkout ({commit(REPO)})", REPO))
    rows = args.jobs + args.users + args.events
    with tempfile.TemporaryDirectory(prefix="jobrec-dataset-") as scratch:
        folder = args.folder or Path(scratch)
        if args.folder is None:
            write_dataset(folder, args.jobs, args.users, args.events, args.seed)
        print(f"{args.jobs} jobs, {args.users} users, {args.events} events ({rows:,} rows)\n")
        print("| checkout | step | seconds | rows/s | peak RSS (GB) | rows stored |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for label, checkout in runs:
            for line in measure(checkout, folder, args.admin_url, rows):
                print(f"| {label} {line}", flush=True)


if __name__ == "__main__":
    main()
